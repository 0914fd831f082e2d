"""Encoder inputs shaped like the crop (``input_fit="area"``): TinyViT at any size, decoding on a
non-square embedding grid, the resize rule, and the mapping back to image pixels."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from SpinalSAMR1Lib import metrics
from SpinalSAMR1Lib.errors import UserError
from SpinalSAMR1Lib.evaluation import box_from_mask
from SpinalSAMR1Lib.io import read_image_2d
from SpinalSAMR1Lib.model import load_model, save_adapter, tinyvit_size
from SpinalSAMR1Lib.predictor import Predictor, resized_shape
from SpinalSAMR1Lib.training import TrainConfig
from SpinalSAMR1Lib.training.trainer import prepare_model


@pytest.fixture()
def area_model(lite_model):
    old = lite_model.info.input_fit, lite_model.info.crop_margin
    lite_model.info.input_fit, lite_model.info.crop_margin = "area", 0.1
    yield lite_model
    lite_model.info.input_fit, lite_model.info.crop_margin = old


@pytest.mark.slow
def test_tinyvit_at_256_is_the_vendored_forward(lite_model):
    x = torch.rand(1, 3, 256, 256, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        reference = lite_model.image_encoder(x)
        ours = tinyvit_size.encode(lite_model.image_encoder, x)
    torch.testing.assert_close(ours, reference, rtol=0, atol=0)


@pytest.mark.slow
def test_tinyvit_takes_tall_inputs_and_rejects_odd_sizes(lite_model):
    x = torch.rand(1, 3, 380, 160)
    with torch.no_grad():
        emb = tinyvit_size.encode(lite_model.image_encoder, x)
    assert emb.shape == (1, 256, 95, 40) and torch.isfinite(emb).all()
    with pytest.raises(ValueError, match="multiples of 4"):
        tinyvit_size.stage_sizes((258, 256))


@pytest.mark.slow
def test_grid_decoder_matches_the_square_decoder_on_a_square_grid(lite_model):
    """On the 64 x 64 grid, the general path (prompt rescaling, cropped positional encoding, dense
    no-mask embedding) must reproduce SAM's own decoding."""
    emb = torch.randn(1, 256, 64, 64, generator=torch.Generator().manual_seed(1))
    box = torch.tensor([[30.0, 40.0, 150.0, 220.0]])
    pts, labels = torch.tensor([[[90.0, 120.0], [10.0, 10.0]]]), torch.tensor([[1, 0]])
    with torch.no_grad():
        for args in ((None, None, box), (pts, labels, None), (pts, labels, box)):
            a = lite_model.decode(emb, *args, None, False)
            b = lite_model._decode_on_grid(emb, *args, None, False)
            torch.testing.assert_close(a[0], b[0], atol=1e-3, rtol=1e-4)
            torch.testing.assert_close(a[1], b[1], atol=1e-4, rtol=1e-4)


def test_area_fit_resize_rule():
    # a tall sagittal crop: same pixel budget as the square, proportions kept, sides multiples of 4
    nh, nw = resized_shape(689, 288, 256, fit="area")
    assert nh % 4 == 0 and nw % 4 == 0 and nh * nw <= 256 * 256
    assert nh * nw > 0.9 * 256 * 256 and nh / 256 > 1.45  # ~1.5 x the square fit's 256 rows
    assert abs(nh / nw - 689 / 288) < 0.1
    # squares stay 256 x 256; physical spacing counts; extreme strips are capped at 2 x the size
    assert resized_shape(300, 300, 256, fit="area") == (256, 256)
    assert resized_shape(100, 200, 256, aspect=2.0, fit="area") == (256, 256)
    assert max(resized_shape(2000, 50, 256, fit="area")) <= 512


@pytest.mark.slow
def test_area_fit_maps_masks_back_to_image_pixels(area_model, shared_data):
    """A tall slice (the axial vertebra above a blank copy): the area-fit encoder input is tall, and
    the mask lands on the vertebra's pixels, agreeing with the square fit."""
    root = shared_data / "spine_ct_slices" / "axial"
    image = read_image_2d(root / "image" / "Case1_10.png")
    ref = read_image_2d(root / "mask" / "Case1_10.png") > 0
    tall = np.concatenate([image, np.zeros_like(image)], axis=0)
    tall_ref = np.concatenate([ref, np.zeros_like(ref)], axis=0)
    box = box_from_mask(tall_ref)
    pred = Predictor(area_model)
    pred.set_image(tall)
    out = pred.predict(box=box)
    (enc,) = pred._cache.values()
    assert enc.frame_hw == enc.resized_hw and enc.frame_hw != (256, 256)
    assert tuple(enc.embedding.shape[-2:]) == (enc.frame_hw[0] // 4, enc.frame_hw[1] // 4)
    refined = pred.predict(box=box, mask_logits=out.logits)  # the mask input takes the same frame
    area_model.info.input_fit = "square"
    square = Predictor(area_model)
    square.set_image(tall)
    reference = square.predict(box=box).mask
    assert not out.mask[ref.shape[0] :].any()
    assert metrics.dice(out.mask[: ref.shape[0]], ref) > 0.7
    assert metrics.dice(out.mask, reference) > 0.75  # zero-shot, the two fits differ in detail only
    assert metrics.dice(refined.mask[: ref.shape[0]], ref) > 0.7


@pytest.mark.slow
def test_area_budget_scales_the_input_and_travels_with_the_adapter(tmp_path):
    """--input-area 1.5: the encoder input of a tall crop holds ~1.5 x the square's pixels (proportions
    kept, extreme strips still capped), the adapter records the budget and its predictor uses it."""
    nh, nw = resized_shape(689, 288, 256, fit="area", area=1.5)
    assert nh % 4 == 0 and nw % 4 == 0 and 1.35 * 256 * 256 < nh * nw <= 1.5 * 256 * 256
    assert abs(nh / nw - 689 / 288) < 0.1 and nh > 1.15 * resized_shape(689, 288, 256, fit="area")[0]
    assert max(resized_shape(2000, 50, 256, fit="area", area=1.5)) <= 512

    model = prepare_model(TrainConfig(input_fit="area", input_area=1.5, device="cpu"))
    loaded = load_model("litemedsam", adapter=save_adapter(model, tmp_path / "a.safetensors"))
    assert loaded.info.input_area == 1.5
    image = np.full((400, 160), 60.0, np.float32)
    image[100:300, 40:120] = 200.0
    pred = Predictor(loaded)
    pred.set_image(image)
    pred.predict(box=np.array([40, 100, 120, 300]))
    (enc,) = pred._cache.values()
    assert enc.resized_hw == enc.frame_hw
    assert enc.resized_hw[0] * enc.resized_hw[1] > 1.35 * 256 * 256
    with pytest.raises(UserError, match="--input-area: an input area other than 1 applies to the area fit"):
        prepare_model(TrainConfig(input_fit="square", input_area=1.5, device="cpu"))
