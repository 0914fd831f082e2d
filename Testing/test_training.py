"""Training pieces: prompt simulation, the cached encoder split, and a tiny end-to-end run with resume."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from SpinalSAMR1Lib.errors import UserError
from SpinalSAMR1Lib.model import LoraSettings, inject_lora, load_model, read_adapter, save_adapter
from SpinalSAMR1Lib.model.adapter import encoder_norm_statistics
from SpinalSAMR1Lib.training import TrainConfig, split_tail_per_view, train
from SpinalSAMR1Lib.training import prompts as pr
from SpinalSAMR1Lib.training.data import Sample
from SpinalSAMR1Lib.training.encoder_split import EncoderSplit
from SpinalSAMR1Lib.training.trainer import prepare_model


def _blobs(h=96, w=128):
    mask = np.zeros((h, w), bool)
    mask[20:50, 20:50] = True
    mask[60:90, 70:120] = True
    image = np.where(mask, 200.0, 90.0).astype(np.float32) + np.random.default_rng(0).normal(0, 5, (h, w))
    return image.astype(np.float32), mask


def test_prompt_simulation_stays_valid():
    rng = np.random.default_rng(0)
    _, mask = _blobs()
    box = pr.box_from_mask(mask)
    for _ in range(50):
        j = pr.jitter_box(box, mask.shape, rng)
        assert 0 <= j[0] <= j[2] <= mask.shape[1] - 1 and 0 <= j[1] <= j[3] <= mask.shape[0] - 1
    comp = pr.component_target(mask, rng)
    assert comp is not None and comp.sum() in (30 * 30, 30 * 50) and not (comp & ~mask).any()
    xy, labels = pr.random_points(mask, rng, n_pos=2, n_neg=3)
    inside = mask[xy[:, 1].astype(int), xy[:, 0].astype(int)]
    np.testing.assert_array_equal(inside, labels == 1)
    pred = mask.copy()
    pred[60:90, 70:120] = False  # missed the second blob
    point, label = pr.correction_point(pred, mask)
    assert label == 1 and mask[int(point[1]), int(point[0])] and not pred[int(point[1]), int(point[0])]
    assert pr.correction_point(mask, mask) is None


@pytest.mark.slow
def test_encoder_split_caches_frozen_stages_and_is_exact(fresh_lite_model):
    model = fresh_lite_model
    inject_lora(model.image_encoder, LoraSettings(rank=2, layers=("layers.3",)))
    for name, p in model.image_encoder.named_parameters():
        p.requires_grad = "lora_" in name
    split = EncoderSplit(model.image_encoder, "litemedsam")
    assert [n for n, _ in split.prefix_stages] == ["patch_embed", "layers.0", "layers.1", "layers.2"]
    x = torch.rand(1, 3, 256, 256)
    with torch.no_grad():
        torch.testing.assert_close(split.suffix(split.prefix(x)), model.image_encoder(x))


def test_split_tail_holds_back_the_end_of_each_view():
    samples = [
        Sample(f"{v}/{i}", v, np.zeros((2, 2)), np.zeros((2, 2), bool)) for v in ("a", "b") for i in range(10)
    ]
    train_s, val_s = split_tail_per_view(samples, 0.2)
    assert [s.name for s in val_s] == ["a/8", "a/9", "b/8", "b/9"] and len(train_s) == 16


def _tiny_config(tmp_path, **settings) -> TrainConfig:
    """One epoch on the CPU, LoRA on the last stage only, writing to tmp_path/run."""
    return TrainConfig(
        out=str(tmp_path / "run"), epochs=1, lora_layers=("layers.3",), seed=0, device="cpu", **settings
    )


@pytest.mark.slow
def test_tiny_training_run_writes_adapter_and_resumes(tmp_path, lite_model):
    image, mask = _blobs()
    samples = [Sample(f"axial/{i}", "axial", image, mask) for i in range(2)]
    cfg = _tiny_config(tmp_path, variants=1, batch_size=2, max_stretch=1.5)
    result = train(cfg, samples, samples[:1], log=lambda *_: None)
    run = tmp_path / "run"
    for name in (
        "best.safetensors",
        "last.safetensors",
        "state.pt",
        "history.json",
        "curves.png",
        "samples.png",
    ):
        assert (run / name).exists(), name
    tensors, meta = read_adapter(run / "best.safetensors")
    assert any("lora_" in k for k in tensors) and any(k.startswith("cbam.") for k in tensors)
    assert json.loads(meta["crop_margin"]) == 0.1 and json.loads(meta["max_stretch"]) == 1.5
    assert len(result["history"]) == 1 and 0 <= result["history"][0]["val"]["axial/box"] <= 1
    # The stages after the LoRA layer ran in training mode: their BatchNorm statistics moved and the
    # adapter carries them, so the loaded model is the one that was validated.
    stats = {k: v for k, v in tensors.items() if k.endswith("running_mean") and ".layers.3." in k}
    base_stats = encoder_norm_statistics(lite_model)
    assert stats and any(not torch.equal(v, base_stats[k]) for k, v in stats.items())
    cfg.epochs = 2
    resumed = train(cfg, samples, samples[:1], resume=True, log=lambda *_: None)
    assert [h["epoch"] for h in resumed["history"]] == [0, 1]
    model = load_model("litemedsam", adapter=run / "last.safetensors")
    assert model.info.adapter and model.cbam is not None and model.info.max_stretch == 1.5


@pytest.mark.slow
def test_frozen_norm_keeps_the_encoder_statistics_and_trains_lora(tmp_path, lite_model):
    """--frozen-norm: BatchNorm runs on its stored statistics in training, so they do not move (the
    model trained is the one inference runs) while LoRA still learns."""
    image, mask = _blobs()
    samples = [Sample(f"axial/{i}", "axial", image, mask) for i in range(2)]
    cfg = _tiny_config(tmp_path, variants=1, batch_size=2, frozen_norm=True)
    train(cfg, samples, samples[:1], log=lambda *_: None)
    tensors, _ = read_adapter(tmp_path / "run" / "last.safetensors")
    base_stats = encoder_norm_statistics(lite_model)
    stats = {k: v for k, v in tensors.items() if k.endswith(("running_mean", "running_var"))}
    assert stats and all(torch.equal(v, base_stats[k]) for k, v in stats.items())
    assert any(v.abs().max() > 0 for k, v in tensors.items() if "lora_B" in k)  # LoRA B starts at zero


@pytest.mark.slow
def test_init_adapter_gains_lora_on_the_stages_it_lacks(tmp_path, lite_model):
    """--init-adapter with more --lora-layers than the adapter has: its LoRA is kept, the missing stages get
    zero-started LoRA (the model starts as the adapter's), and the saved file carries both."""
    init = prepare_model(TrainConfig(lora_layers=("layers.3",), device="cpu"))
    with torch.no_grad():
        for name, p in init.image_encoder.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05)  # a "trained" adapter, so keeping it is visible
    init_path = save_adapter(init, tmp_path / "init.safetensors")

    model = prepare_model(
        TrainConfig(init_adapter=str(init_path), lora_layers=("layers.2", "layers.3"), device="cpu")
    )
    assert model.info.lora.layers == ("layers.2", "layers.3")
    trainable = [n for n, p in model.image_encoder.named_parameters() if p.requires_grad]
    assert any(n.startswith("layers.2.") for n in trainable) and any(
        n.startswith("layers.3.") for n in trainable
    )
    x = torch.rand(1, 3, 256, 256)
    with torch.no_grad():
        expected = load_model("litemedsam", adapter=init_path).image_encoder(x)
        assert torch.allclose(model.image_encoder(x), expected, atol=1e-5)
        assert not torch.allclose(lite_model.image_encoder(x), expected, atol=1e-3)

    saved = save_adapter(model, tmp_path / "more.safetensors")
    tensors, _ = read_adapter(saved)
    assert sum("layers.2." in k and "lora_A" in k for k in tensors) > 0
    assert load_model("litemedsam", adapter=saved).info.lora.layers == ("layers.2", "layers.3")
    with pytest.raises(UserError, match="--lora-layers"):
        prepare_model(TrainConfig(init_adapter=str(init_path), lora_layers=(), device="cpu"))


@pytest.mark.slow
def test_area_fit_training_batches_inputs_of_different_shapes(tmp_path):
    """With inputs shaped like their crops, a batch mixes sizes: each runs on its own and the adapter
    records the fit, so the loaded model encodes the same way."""
    image, mask = _blobs()
    tall_image, tall_mask = np.concatenate([image, image]), np.concatenate([mask, mask])
    samples = [
        Sample("sagittal/0", "sagittal", tall_image, tall_mask),
        Sample("axial/0", "axial", image, mask),
    ]
    cfg = _tiny_config(tmp_path, variants=2, batch_size=4, input_fit="area", box_fraction=1.0)
    result = train(cfg, samples, samples, log=lambda *_: None)
    _, meta = read_adapter(tmp_path / "run" / "last.safetensors")
    assert meta["input_fit"] == "area"
    assert 0 <= result["history"][0]["val"]["sagittal/box"] <= 1
    model = load_model("litemedsam", adapter=tmp_path / "run" / "last.safetensors")
    assert model.info.input_fit == "area"
    with pytest.raises(UserError, match="square input only"):
        prepare_model(TrainConfig(input_fit="area", max_stretch=2.0, device="cpu"))


def test_soft_low_res_target_keeps_the_boundary_between_grid_cells():
    """The decoder target is each cell's mask fraction: it keeps the mask's area, and its upsampled
    zero crossing (as the predictor maps logits back) follows the full-resolution boundary more closely
    than a thresholded target does."""
    import torch.nn.functional as F

    from SpinalSAMR1Lib.metrics import dice
    from SpinalSAMR1Lib.training.trainer import _target_low_res

    yy, xx = np.mgrid[:200, :120]
    mask = ((yy - 97.3) / 71.0) ** 2 + ((xx - 58.6) / 37.0) ** 2 < 1  # ellipse, edges off the cell grid
    rect, resized = (0, 0, 120, 200), (100, 60)  # 2 image pixels per low-res cell
    soft = _target_low_res(mask, rect, resized, resized, resized)
    assert soft.shape == (100, 60) and 0 <= float(soft.min()) and float(soft.max()) <= 1
    assert 0 < int(((soft > 0) & (soft < 1)).sum())  # boundary cells are fractional
    assert abs(float(soft.sum()) * 4 - mask.sum()) < 1e-3 * mask.sum()

    def dice_after_upsampling(target: torch.Tensor) -> float:
        logits = F.interpolate((target - 0.5)[None, None], (200, 120), mode="bilinear", align_corners=False)
        return dice(logits[0, 0].numpy() > 0, mask)

    assert dice_after_upsampling(soft) > dice_after_upsampling((soft > 0.5).float()) + 0.002
    assert dice_after_upsampling(soft) > 0.99


@pytest.mark.slow
def test_instance_samples_keep_their_box_and_may_have_an_empty_target(tmp_path):
    """A sample with its own box (one vertebra; a neighbour inside the box is background) trains on that
    box; an empty target ("nothing here") is kept and trained, where a sample without a box is dropped."""
    from SpinalSAMR1Lib.training.trainer import make_variant, train_step

    image, mask = _blobs()
    one = mask.copy()
    one[60:90, 70:120] = False  # the target is the first blob; the box covers both
    box = np.array([10.0, 10.0, 125.0, 93.0])
    cfg = _tiny_config(tmp_path, use_lora=False, input_fit="area", crop_margin=0.1, batch_size=2)
    model = prepare_model(cfg)
    split = EncoderSplit(model.image_encoder, model.info.backbone)
    rng = np.random.default_rng(0)
    kept = Sample("axial/one", "axial", image, one, box=box, source="instance")
    empty = Sample("axial/none", "axial", image, np.zeros_like(mask), box=box, source="instance")
    variants = [make_variant(model, split, s, cfg, rng) for s in (kept, empty, kept, empty)]
    assert all(v is not None for v in variants)
    assert variants[1].target.sum() == 0 and variants[0].target.sum() > 0
    for v in variants:
        assert (
            v.box is not None and v.box[2] - v.box[0] > 0.7 * v.input_hw[1]
        )  # the given box, not the blob's
    assert (
        make_variant(model, split, Sample("axial/x", "axial", image, np.zeros_like(mask)), cfg, rng) is None
    )
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    scaler = torch.amp.GradScaler("cuda", enabled=False)
    loss = train_step(model, split, variants[:2], optimizer, scaler, rng, cfg)
    assert np.isfinite(loss) and loss > 0
