"""The high-resolution detail branch: its taps, neutrality at init, adapter round trip, training."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from SpinalSAMR1Lib.errors import UserError
from SpinalSAMR1Lib.model import build_backbone, load_model, read_adapter, save_adapter, tinyvit_size
from SpinalSAMR1Lib.model.detail import DetailBranch
from SpinalSAMR1Lib.predictor import Predictor
from SpinalSAMR1Lib.training import TrainConfig, train
from SpinalSAMR1Lib.training.data import Sample
from SpinalSAMR1Lib.training.encoder_split import EncoderSplit
from SpinalSAMR1Lib.training.trainer import prepare_model

BOX = torch.tensor([[10.0, 30.0, 140.0, 330.0]])  # in a 380 x 164 (tall, area-fit) input frame


def _tall_input():
    return torch.rand(1, 3, 380, 164, generator=torch.Generator().manual_seed(1))


@pytest.fixture()
def lite_encoder(lite_model):
    """The shared LiteMedSAM's encoder (running it at any size leaves it unchanged)."""
    return lite_model.image_encoder


@pytest.mark.slow
def test_taps_are_the_encoders_own_stage0_maps(lite_encoder):
    """encode_with_taps gives the same embedding as the plain forward, and its taps are stage 0's
    full-resolution features and output folded with the right (rows, cols)."""
    enc = lite_encoder
    x = _tall_input()
    with torch.no_grad():
        emb, stem, stage0 = tinyvit_size.encode_with_taps(enc, x)
        torch.testing.assert_close(emb, tinyvit_size.encode(enc, x))
        ref_stem = enc.patch_embed(x)
        for block in enc.layers[0].blocks:
            ref_stem = block(ref_stem)
        ref_tokens = enc.layers[0](enc.patch_embed(x))
    assert stem.shape == (1, 64, 380, 164) and stage0.shape == (1, 128, 190, 82)
    torch.testing.assert_close(stem, ref_stem)
    # token k of the output is row k // 82, column k % 82 of the map
    torch.testing.assert_close(stage0[0, :, 3, 5], ref_tokens[0, 3 * 82 + 5])


@pytest.mark.slow
def test_new_detail_branch_leaves_the_model_unchanged_until_it_learns(tmp_path, fresh_lite_model):
    model = fresh_lite_model
    x = _tall_input()
    with torch.no_grad():
        emb = model.encode(x)
        before = model.decode(emb, None, None, BOX)[0]
        model.add_detail()
        emb2, detail = model.encode_parts(x)
        assert detail.shape == (1, 16, 380, 164) and model.add_detail() is model.detail
        torch.testing.assert_close(model.decode(emb2, None, None, BOX, detail_bchw=detail)[0], before)
        with pytest.raises(RuntimeError, match="detail map"):
            model.decode(emb2, None, None, BOX)
        with pytest.raises(RuntimeError, match="encode_parts"):
            model.encode(x)
        torch.nn.init.normal_(model.detail.fuse[-1].weight, std=0.05)
        after = model.decode(emb2, None, None, BOX, detail_bchw=detail)[0]
    assert (after - before).abs().max() > 0.05  # once trained, the branch does change the mask
    path = save_adapter(model, tmp_path / "d.safetensors")
    tensors, meta = read_adapter(path)
    assert meta["detail"] == "true" and tensors["detail.fuse.2.weight"].dtype == torch.float32
    loaded = load_model("litemedsam", adapter=path)
    assert loaded.detail is not None and loaded.info.detail
    with torch.no_grad():
        emb3, detail3 = loaded.encode_parts(x)
        torch.testing.assert_close(loaded.decode(emb3, None, None, BOX, detail_bchw=detail3)[0], after)
    pred = Predictor(loaded)  # the predictor carries the detail map with the cached embedding
    image = np.random.default_rng(0).uniform(0, 255, (300, 200)).astype(np.float32)
    pred.set_image(image)
    assert pred.predict(box=np.array([20, 30, 150, 280])).mask.shape == (300, 200)


@pytest.mark.slow
def test_detail_branch_needs_litemedsam_and_a_matching_grid():
    with pytest.raises(UserError, match="litemedsam"):
        build_backbone("vit_b").add_detail()
    with pytest.raises(ValueError, match="does not match"):
        DetailBranch().refine(torch.zeros(1, 32, 8, 8), torch.zeros(1, 16, 4, 4))


@pytest.mark.slow
def test_split_taps_equal_the_inference_taps():
    model = prepare_model(
        TrainConfig(lora_layers=("layers.3",), input_fit="area", use_detail=True, device="cpu")
    )
    split = EncoderSplit(model.image_encoder, "litemedsam")
    x = _tall_input()
    with torch.no_grad():
        feat, stem, stage0 = split.prefix_with_taps(x)
        emb, ref_stem, ref_stage0 = tinyvit_size.encode_with_taps(model.image_encoder, x)
        torch.testing.assert_close(split.suffix(feat, (380, 164)), emb)
    torch.testing.assert_close(stem, ref_stem)
    torch.testing.assert_close(stage0, ref_stage0)


@pytest.mark.slow
def test_training_from_an_adapter_with_the_detail_branch(tmp_path):
    """A run can start from an adapter (its LoRA kept, not injected twice) and learn the detail branch."""
    init = prepare_model(TrainConfig(lora_layers=("layers.3",), input_fit="area", device="cpu"))
    init_path = save_adapter(init, tmp_path / "init.safetensors")
    h, w = 160, 96
    mask = np.zeros((h, w), bool)
    mask[30:130, 25:70] = True
    image = np.where(mask, 200.0, 70.0).astype(np.float32)
    samples = [Sample(f"sagittal/{i}", "sagittal", image, mask) for i in range(2)]
    cfg = TrainConfig(
        out=str(tmp_path / "run"),
        epochs=1,
        variants=2,
        batch_size=2,
        input_fit="area",
        use_detail=True,
        init_adapter=str(init_path),
        lora_layers=("layers.3",),  # the adapter's own stages: no LoRA added
        device="cpu",
        seed=0,
    )
    with pytest.raises(UserError, match="same input fit"):
        prepare_model(TrainConfig(init_adapter=str(init_path), input_fit="square", device="cpu"))
    train(cfg, samples, samples[:1], log=lambda *_: None)
    tensors, meta = read_adapter(tmp_path / "run" / "last.safetensors")
    assert meta["detail"] == "true" and meta["input_fit"] == "area"
    assert sum("lora_A" in k for k in tensors) == sum("lora_A" in k for k in read_adapter(init_path)[0])
    assert tensors["detail.fuse.2.weight"].abs().max() > 0  # the zero-initialised output layer learned
