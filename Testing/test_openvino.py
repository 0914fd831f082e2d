"""The OpenVINO encoder backend against torch: same embeddings, same masks, cached by the weights."""

from __future__ import annotations

import os
import types

import openvino  # noqa: F401 - in the test extra (CI installs it): missing, this file fails, it is not skipped
import pytest
import torch

from SpinalSAMR1Lib import metrics
from SpinalSAMR1Lib.errors import UserError
from SpinalSAMR1Lib.evaluation import box_from_mask
from SpinalSAMR1Lib.io import read_image_2d
from SpinalSAMR1Lib.model.openvino_encoder import OpenVinoEncoder, cache_dir, model_digest, resolve_backend
from SpinalSAMR1Lib.predictor import Predictor


@pytest.fixture(scope="module")
def private_cache(tmp_path_factory):
    """One cache folder for this module (a conversion takes 10-30 s), not the user's."""
    old = os.environ.get("SPINALSAM_CACHE_DIR")
    os.environ["SPINALSAM_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    yield cache_dir()
    if old is None:
        del os.environ["SPINALSAM_CACHE_DIR"]
    else:
        os.environ["SPINALSAM_CACHE_DIR"] = old


def _fake(device="cpu", detail=False):
    return types.SimpleNamespace(device=torch.device(device), info=types.SimpleNamespace(detail=detail))


def test_backend_choice(monkeypatch):
    monkeypatch.delenv("SPINALSAM_BACKEND", raising=False)
    assert resolve_backend(_fake(), None) == "openvino"  # auto, installed, CPU
    assert resolve_backend(_fake(), "torch") == "torch"
    assert resolve_backend(_fake(detail=True), "auto") == "torch"  # the detail branch stays on torch
    assert resolve_backend(_fake("meta"), "auto") == "torch"  # not a CPU model
    monkeypatch.setenv("SPINALSAM_BACKEND", "torch")
    assert resolve_backend(_fake(), None) == "torch"
    with pytest.raises(UserError, match="unknown backend"):
        resolve_backend(_fake(), "tensorrt")
    with pytest.raises(UserError, match="detail branch"):
        resolve_backend(_fake(detail=True), "openvino")


@pytest.mark.slow
def test_embeddings_match_torch_on_square_and_area_fit_inputs(spinal_model, private_cache):
    encoder = OpenVinoEncoder(spinal_model)
    # 256: windows padded at every stage; 224: none padded (56, 28, 14 tokens are multiples of 7)
    for shape in ((1, 3, 256, 256), (1, 3, 224, 224), (1, 3, 392, 164), (1, 3, 164, 392)):
        x = torch.rand(shape) * 4 - 2
        with torch.inference_mode():
            ref = spinal_model.encode_parts(x)[0]
        out = encoder(x)
        assert out.shape == ref.shape
        assert float((out - ref).abs().max()) < 1e-4 * max(1.0, float(ref.abs().max()))
    assert (private_cache / model_digest(spinal_model) / "encoder.xml").is_file()


@pytest.mark.slow
def test_masks_match_torch_on_development_slices(spinal_model, shared_data, private_cache):
    torch_p = Predictor(spinal_model, backend="torch")
    ov_p = Predictor(spinal_model, backend="openvino")
    dices = []
    for view, names in (("axial", ("Case1_05", "Case1_20", "Case1_35")), ("sagittal", ("RN2", "RN14"))):
        root = shared_data / "spine_ct_slices" / view
        for name in names:
            image = read_image_2d(root / "image" / f"{name}.png")
            box = box_from_mask(read_image_2d(root / "mask" / f"{name}.png") > 0)
            masks = []
            for p in (torch_p, ov_p):
                p.set_image(image)
                masks.append(p.predict(box=box).mask)
            dices.append(metrics.dice(*masks))
    assert min(dices) >= 0.998, dices


@pytest.mark.slow
def test_the_cache_is_keyed_by_every_weight(spinal_model, lite_model, private_cache):
    OpenVinoEncoder(spinal_model)
    first = sorted(p.name for p in private_cache.iterdir())
    OpenVinoEncoder(spinal_model)  # read back, not converted again
    assert sorted(p.name for p in private_cache.iterdir()) == first
    assert model_digest(spinal_model) in first and not any(".tmp" in name for name in first)
    assert model_digest(spinal_model) != model_digest(lite_model)
