"""Fine-tuning loop: LoRA on the encoder, CBAM on the embedding, the mask decoder (and optionally a
high-resolution detail branch); base weights frozen. A run can start from an existing adapter.

Each training sample is expanded into ``variants`` fixed augmentations (intensity, anatomically valid
flips, box jitter, crop scale). The frozen part of the encoder is run once per variant and cached, the
trainable part every step. Prompts (box, points, a refinement click with the previous mask) are drawn
fresh every step. Validation runs the real :class:`~SpinalSAMR1Lib.predictor.Predictor` on held-back
slices with the evaluation protocol, so the numbers are what ``spinalsam-r1 evaluate`` would print.
"""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import UserError
from ..model import LoraSettings, SpineSAM, inject_lora, load_model, save_adapter
from ..model.adapter import encoder_norm_statistics
from ..model.lora import extend_lora
from ..predictor import (
    Predictor,
    crop_rect,
    crop_to_low_res,
    model_grey_levels,
    model_input,
    to_input_frame,
)
from . import prompts as pr
from .data import Sample
from .encoder_split import EncoderSplit

FLIP_VIEWS = ("axial", "coronal")  # left-right mirror is anatomically plausible there, not in sagittal


@dataclass
class TrainConfig:
    """Everything that defines a run (saved as config.json in the run folder)."""

    out: str = "runs/spinal"
    base: str = "litemedsam"
    use_lora: bool = True
    use_cbam: bool = True
    tune_decoder: bool = True
    use_detail: bool = False
    frozen_norm: bool = False  # encoder BatchNorm uses its running statistics in training too
    init_adapter: str | None = None  # start from this adapter's weights (its LoRA kept, lora_layers added)
    lora_rank: int = 8
    lora_alpha: float = 16.0
    lora_layers: tuple[str, ...] = ("layers.2", "layers.3")
    crop_margin: float | None = 0.1
    max_stretch: float = 1.0
    input_fit: str = "square"
    input_area: float = 1.0  # area fit: encoder pixel budget in units of image_size ** 2
    max_upscale: float | None = None  # area fit: at most this many input pixels per crop pixel
    epochs: int = 10
    variants: int = 4
    batch_size: int = 4
    lr: float = 3e-4
    weight_decay: float = 1e-2
    box_fraction: float = 0.7
    refine_fraction: float = 0.5
    seed: int = 0
    time_limit_min: float | None = None
    device: str | None = None
    extra: dict = field(default_factory=dict)


@dataclass
class Variant:
    """One cached augmented input: prefix features and the target in the model's input frame."""

    feat: torch.Tensor
    taps: tuple[torch.Tensor, torch.Tensor] | None  # the detail branch's inputs (float16), if it is used
    target: torch.Tensor  # (h, w) mask fraction 0..1 in the low-res frame: 256 x 256 for square inputs
    box: np.ndarray | None  # (4,) in the input frame; None for point-prompt variants
    single_point: bool
    input_hw: tuple[int, int]  # the encoder input's (H, W)
    frame_per_low_res: float  # input-frame pixels per low-res pixel (S / 256 square, 1 area)


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def prepare_model(cfg: TrainConfig) -> SpineSAM:
    """Base model (or base + ``cfg.init_adapter``) with LoRA/CBAM/detail added and exactly the adapter
    parameters trainable."""
    model = load_model(cfg.base, adapter=cfg.init_adapter, device=cfg.device)
    if cfg.init_adapter and model.info.input_fit != cfg.input_fit:
        raise UserError(
            f"--init-adapter {Path(cfg.init_adapter).name} uses --input-fit {model.info.input_fit}; "
            f"train it with the same input fit, not {cfg.input_fit}"
        )
    model.requires_grad_(False)
    if cfg.use_lora:
        if model.info.lora is None:
            settings = LoraSettings(rank=cfg.lora_rank, alpha=cfg.lora_alpha, layers=tuple(cfg.lora_layers))
            inject_lora(model.image_encoder, settings)
            model.info.lora = settings
        else:
            try:
                model.info.lora = extend_lora(model.image_encoder, model.info.lora, tuple(cfg.lora_layers))
            except ValueError as err:
                raise UserError(f"--init-adapter: {err} with --lora-layers") from None
        for name, p in model.image_encoder.named_parameters():
            p.requires_grad = "lora_" in name
    if cfg.use_cbam:
        (model.cbam or model.add_cbam()).requires_grad_(True)
    if cfg.use_detail:
        (model.detail or model.add_detail()).requires_grad_(True)
    if cfg.tune_decoder:
        model.mask_decoder.requires_grad_(True)
    model.info.crop_margin = cfg.crop_margin
    model.info.max_stretch = cfg.max_stretch
    if cfg.input_fit == "area" and cfg.max_stretch != 1.0:
        raise UserError("--max-stretch applies to the square input only; leave it at 1 with --input-fit area")
    try:
        model.set_input_fit(cfg.input_fit, cfg.input_area, cfg.max_upscale)
    except UserError as exc:
        raise UserError(f"--input-fit / --input-area: {exc}") from None
    model.info.name = "spinal"
    return model.to(model.device)


# -- variants -----------------------------------------------------------------------------------------
def _augment_image(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Intensity jitter on 0..255 grey levels: contrast, brightness and gamma (a window change)."""
    x = np.clip(image, 0, 255) / 255.0
    x = np.clip(x ** rng.uniform(0.8, 1.25) * rng.uniform(0.85, 1.15) + rng.uniform(-0.05, 0.05), 0, 1)
    return (x * 255.0).astype(np.float32)


def _target_low_res(mask: np.ndarray, rect, resized, frame_hw, low_res_hw) -> torch.Tensor:
    """The crop's mask in the decoder's low-res frame (the predictor's mapping, :func:`crop_to_low_res`),
    as the fraction of each low-res cell inside the mask (0..1).

    Soft, not thresholded: a binary target moves every boundary to the cell grid, and a model that fits it
    exactly still loses ~1.5 % Dice on a sagittal slice once its logits are upsampled to the image; the
    fraction puts the logits' zero crossing where the boundary is inside the cell (~0.5 % loss).
    """
    x0, y0, x1, y1 = rect
    t = torch.from_numpy(mask[y0:y1, x0:x1].astype(np.float32))[None, None]
    return crop_to_low_res(t, resized, frame_hw, low_res_hw, "area")[0, 0].clamp(0.0, 1.0)


def make_variant(
    model: SpineSAM, split: EncoderSplit, sample: Sample, cfg: TrainConfig, rng
) -> Variant | None:
    if sample.box is None and not sample.mask.any():
        return None  # without a prompt box of its own, an empty sample has nothing to prompt
    image, mask, given_box = _augment_image(sample.image, rng), sample.mask, sample.box
    if sample.view in FLIP_VIEWS and rng.random() < 0.5:
        image, mask = image[:, ::-1].copy(), mask[:, ::-1].copy()
        if given_box is not None:
            last = mask.shape[1] - 1
            given_box = np.array([last - given_box[2], given_box[1], last - given_box[0], given_box[3]])
    image = model_grey_levels(image, model.info.normalization)  # the predictor's own preparation
    h, w = mask.shape
    aspect = sample.pixel_spacing[0] / sample.pixel_spacing[1]
    given = given_box is not None  # an instance sample: its box, and a target that may be empty
    use_box = given or rng.random() < cfg.box_fraction
    target = mask
    if use_box:
        comp = pr.component_target(mask, rng) if not given and rng.random() < 0.15 else None
        target = mask if comp is None else comp
        box = pr.jitter_box(given_box if given else pr.box_from_mask(target), (h, w), rng)
        rect = (
            (0, 0, w, h)
            if cfg.crop_margin is None
            else crop_rect(box, (h, w), cfg.crop_margin * rng.uniform(0.6, 1.6), aspect=aspect)
        )
    else:
        rect = (0, 0, w, h)
    if not given and not target.any():
        return None
    crop = torch.from_numpy(np.ascontiguousarray(image[rect[1] : rect[3], rect[0] : rect[2]]))
    x, resized = model_input(model, crop, aspect)
    taps = None
    if model.detail is not None:
        feat, stem, stage0 = split.prefix_with_taps(x)
        taps = (stem[0].half().cpu(), stage0[0].half().cpu())
    else:
        feat = split.prefix(x)
    frame_hw = tuple(x.shape[-2:])
    low_res_hw = (256, 256) if model.info.input_fit == "square" else frame_hw
    box_in = None
    if use_box:
        box_in = to_input_frame(np.asarray(box, float).reshape(2, 2), rect, resized).reshape(4)
    n_comp = len(pr.points_from_mask(target))
    target_low = _target_low_res(target, rect, resized, frame_hw, low_res_hw)
    per_low = frame_hw[0] / low_res_hw[0]
    return Variant(feat[0].cpu(), taps, target_low, box_in, n_comp <= 1, frame_hw, per_low)


# -- one step -----------------------------------------------------------------------------------------
def _loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Dice + BCE per sample, (B,) from (B, 256, 256) logits and 0/1 targets."""
    prob = torch.sigmoid(logits)
    inter = (prob * target).sum((-1, -2))
    dice = 1 - (2 * inter + 1) / (prob.sum((-1, -2)) + target.sum((-1, -2)) + 1)
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none").mean((-1, -2))
    return dice + bce


def _hard_iou(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    pred = logits > 0
    t = target > 0.5
    inter = (pred & t).sum((-1, -2)).float()
    union = (pred | t).sum((-1, -2)).float()
    return torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union))


def _point_prompts(target: np.ndarray, rng, scale: float):
    n_pos, n_neg = int(rng.integers(0, 3)), int(rng.integers(0, 3))
    xy, lab = pr.random_points(target, rng, n_pos, n_neg)
    return xy * scale, lab


def _decode_one(model, emb, detail, variant: Variant, rng, cfg):
    """Prompt, decode, optionally refine once; returns (loss, low-res logits of the last round)."""
    dev = emb.device
    target = variant.target.to(dev)
    tnp = variant.target.numpy() > 0.5
    scale = variant.frame_per_low_res
    pts = lab = box = None
    multimask = False
    if variant.box is not None:
        box = torch.as_tensor(variant.box + rng.uniform(-1, 1, 4) * scale, dtype=torch.float32, device=dev)[
            None
        ]
        if rng.random() < 0.2 and tnp.any():
            pts, lab = pr.random_points(tnp, rng, 1, int(rng.integers(0, 2)))
            pts = pts * scale
    else:
        pts, lab = _point_prompts(tnp, rng, scale)
        multimask = len(pts) == 1
    p_t = None if pts is None else torch.as_tensor(pts, dtype=torch.float32, device=dev)[None]
    l_t = None if lab is None else torch.as_tensor(lab, dtype=torch.int64, device=dev)[None]
    logits, iou = model.decode(emb, p_t, l_t, box, None, multimask, detail)
    losses = _loss(logits[0], target.expand_as(logits[0]))
    best = int(torch.argmin(losses))
    loss = losses[best] + F.mse_loss(iou[0], _hard_iou(logits[0].detach(), target.expand_as(logits[0])))
    last = logits[:, best : best + 1]
    if rng.random() < cfg.refine_fraction:
        click = pr.correction_point(last[0, 0].detach().cpu().numpy() > 0, tnp)
        if click is not None:
            xy = click[0][None] * scale
            pts = xy if pts is None else np.concatenate([pts, xy])
            lab = np.array([click[1]]) if lab is None else np.concatenate([lab, [click[1]]])
            p_t = torch.as_tensor(pts, dtype=torch.float32, device=dev)[None]
            l_t = torch.as_tensor(lab, dtype=torch.int64, device=dev)[None]
            logits2, iou2 = model.decode(emb, p_t, l_t, box, last.detach(), False, detail)
            loss = (
                loss
                + _loss(logits2[0], target[None])[0]
                + F.mse_loss(iou2[0], _hard_iou(logits2[0].detach(), target[None]))
            )
    return loss


def _detail_maps(model, group: list[Variant], dev) -> torch.Tensor | None:
    """(B, 16, H, W) detail maps of a group of same-size variants, or None without a detail branch."""
    if model.detail is None:
        return None
    stem = torch.stack([v.taps[0] for v in group]).to(dev).float()
    stage0 = torch.stack([v.taps[1] for v in group]).to(dev).float()
    return model.detail.features(stem, stage0)


def _freeze_norm(model: SpineSAM) -> None:
    """Put the image encoder's BatchNorm layers in eval mode.

    Area-fit inputs of different shapes train one image at a time, so a BatchNorm layer in training mode
    normalises each image by its own statistics while inference uses the running ones: a sagittal
    training slice scored 0.914 in eval mode against 0.928 with its own statistics (shipped adapter).
    Frozen, training optimises the function inference computes (and the statistics stay the loaded ones).
    """
    for module in model.image_encoder.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.eval()


def train_step(model, split, batch: list[Variant], optimizer, scaler, rng, cfg) -> float:
    model.train()
    if cfg.frozen_norm:
        _freeze_norm(model)
    dev = model.device
    optimizer.zero_grad(set_to_none=True)
    # inputs of one size run as one batch; area-fit inputs (each shaped like its crop) one by one
    groups = [batch] if len({v.input_hw for v in batch}) == 1 else [[v] for v in batch]
    with torch.autocast(device_type="cuda", dtype=torch.float16, enabled=dev.type == "cuda"):
        loss = 0.0
        for group in groups:
            emb = split.suffix(torch.stack([v.feat for v in group]).to(dev).float(), group[0].input_hw)
            if model.cbam is not None:
                emb = model.cbam(emb)
            detail = _detail_maps(model, group, dev)
            loss = loss + sum(
                _decode_one(model, emb[i : i + 1], None if detail is None else detail[i : i + 1], v, rng, cfg)
                for i, v in enumerate(group)
            )
        loss = loss / len(batch)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    return float(loss.detach())


# -- validation ---------------------------------------------------------------------------------------
def validate(model: SpineSAM, samples: list[Sample]) -> dict:
    """Mean Dice per view and prompt kind with the inference path (Predictor + evaluation protocol)."""
    from ..evaluation import predict_2d, score

    model.eval()
    pred = Predictor(model, cache_mb=64)
    out: dict[str, list[float]] = {}
    for s in samples:
        for prompt in ("box", "points"):
            mask = predict_2d(pred, s.image, s.mask, prompt, window=None)  # samples are already 0..255
            out.setdefault(f"{s.view}/{prompt}", []).append(score(mask, s.mask)["dice"])
    result = {k: float(np.mean(v)) for k, v in out.items()}
    boxes = [v for k, v in result.items() if k.endswith("/box")]
    result["box_mean"] = float(np.mean(boxes)) if boxes else float("nan")
    result["box_min"] = float(np.min(boxes)) if boxes else float("nan")
    return result


def _view_repeats(samples: list[Sample], variants: int) -> dict[str, int]:
    """Variants per slice-folder sample so that every view contributes about as many training inputs as
    the largest one (the sagittal and coronal folders are smaller and harder than the axial one)."""
    counts: dict[str, int] = {}
    for s in samples:
        if s.source != "volume":
            counts[s.view] = counts.get(s.view, 0) + 1
    largest = max(counts.values(), default=1)
    return {v: max(variants, math.ceil(variants * largest / n)) for v, n in counts.items()} | {
        v: variants for v in ("axial", "sagittal", "coronal") if v not in counts
    }


# -- the run ------------------------------------------------------------------------------------------
def _trainable(model):
    return [p for p in model.parameters() if p.requires_grad]


def _save_state(path: Path, model, optimizer, epoch: int, history: list) -> None:
    state = {
        "epoch": epoch,
        "history": history,
        "params": {n: p.detach().cpu() for n, p in model.named_parameters() if p.requires_grad},
        "norm_stats": {n: t.detach().cpu() for n, t in encoder_norm_statistics(model).items()},
        "optimizer": optimizer.state_dict(),
    }
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def train(
    cfg: TrainConfig, train_samples: list[Sample], val_samples: list[Sample], resume: bool = False, log=print
) -> dict:
    """Run (or resume) training; writes adapters, state, history and PNG reports to ``cfg.out``."""
    from tqdm import tqdm

    from .report import plot_curves, plot_samples

    if not train_samples:
        raise UserError("no training samples")
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    set_seed(cfg.seed)
    model = prepare_model(cfg)
    split = EncoderSplit(model.image_encoder, model.info.backbone)
    log(f"trainable parameters: {sum(p.numel() for p in _trainable(model)):,}; {split.describe()}")
    optimizer = torch.optim.AdamW(_trainable(model), lr=cfg.lr, weight_decay=cfg.weight_decay)
    scaler = torch.amp.GradScaler("cuda", enabled=model.device.type == "cuda")
    history: list[dict] = []
    start_epoch = 0
    state_path = out / "state.pt"
    if resume and state_path.exists():
        state = torch.load(state_path, map_location="cpu", weights_only=False)
        params = dict(model.named_parameters())
        stats = encoder_norm_statistics(model)
        with torch.no_grad():
            for n, t in state["params"].items():
                params[n].copy_(t)
            for n, t in state.get("norm_stats", {}).items():
                stats[n].copy_(t)
        optimizer.load_state_dict(state["optimizer"])
        history, start_epoch = state["history"], state["epoch"] + 1
        log(f"resumed after epoch {start_epoch}")
    (out / "config.json").write_text(json.dumps(asdict(cfg), indent=2))
    t_start = time.perf_counter()
    rng = np.random.default_rng(cfg.seed)
    log(f"caching {cfg.variants} variants of {len(train_samples)} samples ...")
    variants = []
    repeats = _view_repeats(train_samples, cfg.variants)
    for s in tqdm(train_samples, desc="variants", unit="sample"):
        for _ in range(cfg.variants if s.source == "volume" else repeats[s.view]):
            v = make_variant(model, split, s, cfg, rng)
            if v is not None:
                variants.append(v)
    best = max([h["val"]["box_mean"] for h in history], default=-1.0)
    steps_per_epoch = math.ceil(len(variants) / cfg.batch_size)
    total_steps = steps_per_epoch * cfg.epochs
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: (
            0.5 * (1 + math.cos(math.pi * min(1.0, (step + start_epoch * steps_per_epoch) / total_steps)))
        ),
    )
    for epoch in range(start_epoch, cfg.epochs):
        order = rng.permutation(len(variants))
        losses = []
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="step")
        for step in bar:
            batch = [variants[i] for i in order[step * cfg.batch_size : (step + 1) * cfg.batch_size]]
            losses.append(train_step(model, split, batch, optimizer, scaler, rng, cfg))
            scheduler.step()
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}")
        val = validate(model, val_samples) if val_samples else {"box_mean": float("nan")}
        elapsed = (time.perf_counter() - t_start) / 60
        history.append({"epoch": epoch, "loss": float(np.mean(losses)), "val": val, "minutes": elapsed})
        log(
            f"epoch {epoch + 1}: loss {np.mean(losses):.4f}; val {json.dumps({k: round(v, 4) for k, v in val.items()})}; {elapsed:.1f} min"
        )
        provenance = {"recipe": "train", "config": asdict(cfg), "epoch": epoch}
        save_adapter(model, out / "last.safetensors", extra=provenance)
        if val["box_mean"] > best or not val_samples:
            best = val["box_mean"]
            save_adapter(model, out / "best.safetensors", extra={**provenance, "val": val})
        _save_state(state_path, model, optimizer, epoch, history)
        (out / "history.json").write_text(json.dumps(history, indent=2))
        plot_curves(history, out / "curves.png")
        if cfg.time_limit_min and elapsed > cfg.time_limit_min:
            log(f"time limit of {cfg.time_limit_min} min reached after epoch {epoch + 1}")
            break
    if val_samples:
        plot_samples(model, val_samples, out / "samples.png")
    return {"history": history, "best_box_dice": best, "minutes": (time.perf_counter() - t_start) / 60}
