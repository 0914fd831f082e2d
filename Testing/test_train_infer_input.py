"""Training and inference give the model the same input for the same slice and box (issue 19).

The project was bitten once by a training/inference mismatch; now one set of functions
(``predictor.model_grey_levels``, ``crop_rect``, ``model_input``, ``to_input_frame``) prepares both. These
tests hold the trainer's random choices at "no change" and compare what the encoder and the decoder
receive on each side, on a real development slice.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from SpinalSAMR1Lib import predictor as predictor_module
from SpinalSAMR1Lib.evaluation import box_from_mask
from SpinalSAMR1Lib.io import read_image_2d
from SpinalSAMR1Lib.predictor import Predictor, to_input_frame
from SpinalSAMR1Lib.training import trainer
from SpinalSAMR1Lib.training.data import Sample
from SpinalSAMR1Lib.training.encoder_split import EncoderSplit
from SpinalSAMR1Lib.training.trainer import TrainConfig, make_variant


class _NoChange:
    """An rng whose draws leave an augmentation at identity: factors 1, offsets 0, no flip."""

    def uniform(self, low, high, size=None):
        value = 1.0 if low > 0 else 0.0
        return value if size is None else np.full(size, value)

    def random(self):
        return 0.99


def _slice(shared_data):
    root = shared_data / "spine_ct_slices" / "sagittal"
    name = sorted((root / "image").iterdir())[0].name
    image = read_image_2d(root / "image" / name).astype(np.float32)
    mask = read_image_2d(root / "mask" / name) > 0
    return image, mask


@pytest.mark.slow
@pytest.mark.parametrize("scale", [1.0, 0.5])  # as stored, and a darker slice ("unit" models rescale it)
def test_the_encoder_and_decoder_get_the_same_input_in_training_and_inference(
    vertebra_model, shared_data, monkeypatch, scale
):
    image, mask = _slice(shared_data)
    image = image * scale
    box = box_from_mask(mask, 0.0)
    spacing = (1.0, 0.8)
    seen: dict[str, list] = {"train": [], "infer": []}

    def recording(side):
        def wrapped(model, crop, aspect=1.0):
            x, resized = real(model, crop, aspect)
            seen[side].append((x.detach().cpu().clone(), resized))
            return x, resized

        return wrapped

    real = predictor_module.model_input
    monkeypatch.setattr(trainer, "model_input", recording("train"))
    monkeypatch.setattr(predictor_module, "model_input", recording("infer"))
    cfg = TrainConfig(crop_margin=vertebra_model.info.crop_margin)
    sample = Sample("sagittal/0", "sagittal", image, mask, spacing, "instance", box)
    split = EncoderSplit(vertebra_model.image_encoder, vertebra_model.info.backbone)
    variant = make_variant(vertebra_model, split, sample, cfg, _NoChange())

    predictor = Predictor(vertebra_model, backend="torch")
    predictor.set_image(image, pixel_spacing=spacing)
    predictor.predict(box=box)
    (x_train, resized_train), (x_infer, resized_infer) = seen["train"][0], seen["infer"][0]
    assert resized_train == resized_infer and x_train.shape == x_infer.shape
    # the trainer's identity augmentation goes through x / 255 * 255: float rounding only
    torch.testing.assert_close(x_train, x_infer, atol=1e-4, rtol=0)
    enc = predictor._encoded(predictor._rect_for(box))
    np.testing.assert_allclose(
        variant.box, to_input_frame(box.reshape(2, 2), enc.rect, enc.resized_hw).reshape(4)
    )
    assert variant.input_hw == enc.frame_hw and tuple(variant.target.shape) == enc.low_res_hw


def test_box_and_points_map_into_the_input_the_same_way():
    """``to_input_frame`` is SAM's rule: scale about the crop's corner, no half-pixel shift."""
    rect, resized = (10, 20, 110, 70), (100, 200)  # a 100 x 50 crop shown at 200 x 100
    xy = np.array([[10.0, 20.0], [110.0, 70.0], [60.0, 45.0]])
    np.testing.assert_allclose(to_input_frame(xy, rect, resized), [[0, 0], [200, 100], [100, 50]])
