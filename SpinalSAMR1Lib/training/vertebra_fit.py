"""Training the vertebra-aware adapter, and choosing it by leave-one-case-out (``spinalsam-r1 train-vertebra``).

Data (a folder laid out like ``../shared/data``): the expert-labelled CTs of ``verse/`` (per-vertebra
targets, :mod:`.instances`), TotalSegmentator's ``totalseg_example/example_ct`` with its vertebra labels
(predictions: training signal only, never a test case) and the 2D slice folders of
``spine_ct_slices/`` (whole-spine targets, so a box around several vertebrae still gives them all).

Recipe: the encoder of the starting adapter (``spinal``: LiteMedSAM + LoRA) stays frozen, so every
augmented input is encoded once and its embedding cached (float16); CBAM and the mask decoder are
trained from the starting adapter's weights. Because the embeddings do not depend on the fold, one
cache serves every leave-one-case-out fold and the final model: each fold only re-trains the decoder
on the other cases and is scored on its held-out case with the product's 3D mode
(:func:`SpinalSAMR1Lib.evaluation.evaluate_volume`, box and click prompts).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..errors import UserError
from ..model import save_adapter
from .data import Sample, load_slice_folder, split_tail_per_view
from .encoder_split import EncoderSplit
from .instances import load_vertebra_samples
from .trainer import TrainConfig, Variant, make_variant, prepare_model, set_seed, train_step, validate


@dataclass
class Case:
    """One labelled CT: ``expert`` cases are scored by leave-one-case-out, the others only train."""

    name: str
    ct: Path
    labels: Path
    expert: bool = True


@dataclass
class VertebraConfig:
    """Everything that defines a vertebra training run (saved as config.json and in the adapter)."""

    data: str = "../shared/data"
    out: str = "runs/vertebra"
    init_adapter: str | None = None  # default: the shipped spinal adapter
    epochs: int = 2
    variants: int = 1  # augmented copies of each volume sample (slice-folder samples: see slice_variants)
    slice_variants: int = 3
    step_mm: float = 5.0
    views: tuple[str, ...] = ("axial", "sagittal")  # views of the volume samples
    beyond: int = 2
    max_upscale: float | None = 1.5
    batch_size: int = 8
    lr: float = 2e-4
    seed: int = 0
    loco: bool = True
    prompts: tuple[str, ...] = ("box", "points")
    extra: dict = field(default_factory=dict)


def find_cases(data: Path) -> list[Case]:
    """The labelled CTs under ``data``: ``verse/sub-*_ct.nii.gz`` (expert) and TotalSegmentator's example."""
    cases = []
    for ct in sorted((data / "verse").glob("sub-*_ct.nii.gz")):
        labels = ct.with_name(ct.name.replace("_ct.nii.gz", "_seg-vert_msk.nii.gz"))
        if labels.is_file():
            cases.append(Case(ct.name.split("_")[0], ct, labels, expert=True))
    ts = data / "totalseg_example"
    if (ts / "example_ct.nii.gz").is_file() and (ts / "example_ct_vertebrae.nii.gz").is_file():
        cases.append(
            Case("totalseg_example", ts / "example_ct.nii.gz", ts / "example_ct_vertebrae.nii.gz", False)
        )
    if not any(c.expert for c in cases):
        raise UserError(f"no expert-labelled CTs (verse/sub-*_ct.nii.gz) under {data}")
    return cases


def slice_folder_samples(data: Path) -> tuple[list[Sample], list[Sample]]:
    """(train, validation) of the 2D slice folders, with the split ``spinalsam-r1 train`` uses (last 20 %)."""
    samples = []
    for view in ("axial", "sagittal", "coronal"):
        folder = data / "spine_ct_slices" / view
        if folder.is_dir():
            samples += load_slice_folder(folder, view)
    return split_tail_per_view(samples, 0.2)


def _train_config(cfg: VertebraConfig) -> TrainConfig:
    from ..model import SPINAL_ADAPTER

    return TrainConfig(
        out=cfg.out,
        init_adapter=cfg.init_adapter or str(SPINAL_ADAPTER),
        use_lora=False,  # the starting adapter's LoRA stays, frozen: the whole encoder is cached
        use_cbam=True,
        tune_decoder=True,
        input_fit="area",
        max_upscale=cfg.max_upscale,
        batch_size=cfg.batch_size,
        lr=cfg.lr,
        seed=cfg.seed,
        refine_fraction=0.15,
    )


def cache_variants(
    model, split: EncoderSplit, samples: list[Sample], copies: int, tcfg: TrainConfig, rng, log: Callable
) -> list[Variant]:
    """Encode ``copies`` augmented variants of each sample once; embeddings kept in float16."""
    out = []
    t0 = time.perf_counter()
    for n, s in enumerate(samples):
        for _ in range(copies):
            v = make_variant(model, split, s, tcfg, rng)
            if v is not None:
                v.feat = v.feat.half()
                out.append(v)
        if (n + 1) % 100 == 0:
            log(f"  encoded {n + 1}/{len(samples)} samples ({time.perf_counter() - t0:.0f} s)")
    return out


def fit(model, split, variants: list[Variant], start: dict, epochs: int, tcfg: TrainConfig, rng, log) -> None:
    """Train CBAM + decoder on ``variants`` for ``epochs``, from the weights in ``start`` (cosine lr)."""
    import math

    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, t in start.items():
            params[name].copy_(t)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=tcfg.lr, weight_decay=tcfg.weight_decay)
    scaler = torch.amp.GradScaler("cuda", enabled=model.device.type == "cuda")
    steps = math.ceil(len(variants) / tcfg.batch_size)
    total = max(1, steps * epochs)
    sched = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * min(1.0, s / total)))
    )
    for epoch in range(epochs):
        order = rng.permutation(len(variants))
        losses = []
        t0 = time.perf_counter()
        for step in range(steps):
            batch = [variants[i] for i in order[step * tcfg.batch_size : (step + 1) * tcfg.batch_size]]
            losses.append(train_step(model, split, batch, optimizer, scaler, rng, tcfg))
            sched.step()
        log(f"  epoch {epoch + 1}/{epochs}: loss {np.mean(losses):.4f} ({time.perf_counter() - t0:.0f} s)")
    model.eval()


def score_case(model, case: Case, prompts: tuple[str, ...], log) -> dict[str, list[dict]]:
    """Per-vertebra rows of the 3D mode on one case, for each prompt kind."""
    from ..evaluation import evaluate_volume
    from ..geometry import resample_nearest
    from ..io import read_volume
    from ..predictor import Predictor
    from .instances import vertebra_ids

    vol, seg = read_volume(case.ct), read_volume(case.labels)
    labels = resample_nearest(seg.array, seg.ijk_to_ras, vol.shape, vol.ijk_to_ras)
    predictor = Predictor(model, cache_mb=512)
    out = {}
    for prompt in prompts:
        rows = evaluate_volume(predictor, vol, labels, vertebra_ids(labels), prompt=prompt)
        out[prompt] = [asdict(r) | {"case": case.name} for r in rows]
        dice = [r.dice for r in rows]
        log(f"  {case.name} {prompt}: Dice {np.mean(dice):.4f} ({', '.join(f'{d:.3f}' for d in dice)})")
    return out


def run(cfg: VertebraConfig, log: Callable = print) -> dict:
    """Cache, run the leave-one-case-out folds (``cfg.loco``), train the final adapter on every case."""
    data, out = Path(cfg.data), Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    random.seed(cfg.seed)
    set_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    tcfg = _train_config(cfg)
    model = prepare_model(tcfg)
    split = EncoderSplit(model.image_encoder, model.info.backbone)
    start = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    cases = find_cases(data)
    slice_train, slice_val = slice_folder_samples(data)
    log(
        f"cases: {', '.join(c.name + ('' if c.expert else ' (train only)') for c in cases)}; {split.describe()}"
    )
    t0 = time.perf_counter()
    cached: dict[str, list[Variant]] = {}
    for case in cases:

        def encode(case=case):
            samples = load_vertebra_samples(
                case.ct, case.labels, views=cfg.views, step_mm=cfg.step_mm, beyond=cfg.beyond, case=case.name
            )
            log(f"{case.name}: {len(samples)} samples")
            return cache_variants(model, split, samples, cfg.variants, tcfg, rng, log)

        cached[case.name] = _on_disk(out / "cache", case.name, _cache_key(cfg, model, case.ct), encode, log)
    log(f"slice folders: {len(slice_train)} training slices x {cfg.slice_variants}")
    cached["slices"] = _on_disk(
        out / "cache",
        "slices",
        _cache_key(cfg, model, data / "spine_ct_slices"),
        lambda: cache_variants(model, split, slice_train, cfg.slice_variants, tcfg, rng, log),
        log,
    )
    log(f"encoded everything in {(time.perf_counter() - t0) / 60:.1f} min")
    result: dict = {"config": asdict(cfg), "folds": {}}
    if cfg.loco:
        for held in [c for c in cases if c.expert]:
            log(f"fold: {held.name} held out")
            train_v = [v for name, vs in cached.items() if name != held.name for v in vs]
            fit(model, split, train_v, start, cfg.epochs, tcfg, rng, log)
            save_adapter(model, out / f"fold-{held.name}.safetensors", extra={"held_out": held.name})
            result["folds"][held.name] = score_case(model, held, cfg.prompts, log)
            (out / "result.json").write_text(json.dumps(result, indent=2))
        result["loco"] = loco_table(result["folds"])
        log(json.dumps(result["loco"], indent=2))
    log("final model: every case")
    fit(model, split, [v for vs in cached.values() for v in vs], start, cfg.epochs, tcfg, rng, log)
    result["slice_validation"] = validate(model, slice_val) if slice_val else {}
    log(
        f"slice-folder validation: {json.dumps({k: round(v, 4) for k, v in result['slice_validation'].items()})}"
    )
    extra = {
        "recipe": "train-vertebra",
        "config": asdict(cfg),
        "loco": result.get("loco"),
        "slice_validation": result["slice_validation"],
    }
    save_adapter(model, out / "vertebra.safetensors", extra=extra)
    (out / "result.json").write_text(json.dumps(result, indent=2))
    result["minutes"] = (time.perf_counter() - t0) / 60
    log(f"wrote {out / 'vertebra.safetensors'} and {out / 'result.json'} ({result['minutes']:.1f} min)")
    return result


def _cache_key(cfg: VertebraConfig, model, source: Path) -> str:
    """What the cached embeddings of one source depend on: the sampling, the encoder and its input rule."""
    import hashlib

    what = (
        str(source), cfg.views, cfg.step_mm, cfg.beyond, cfg.max_upscale, cfg.variants, cfg.slice_variants,
        cfg.seed, model.info.base_digest, str(model.info.adapter), model.info.crop_margin,
    )  # fmt: skip
    return hashlib.blake2b(repr(what).encode(), digest_size=8).hexdigest()


def _on_disk(folder: Path, name: str, key: str, make: Callable[[], list[Variant]], log) -> list[Variant]:
    """Variants from ``folder/name-key.pt`` when a run with the same key encoded them, else encoded and
    saved there (a few GB for every case: a second run skips the encoder entirely)."""
    path = folder / f"{name}-{key}.pt"
    if path.is_file():
        log(f"{name}: cached embeddings from {path}")
        return torch.load(path, map_location="cpu", weights_only=False)
    variants = make()
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(variants, tmp)
    tmp.replace(path)
    return variants


def loco_table(folds: dict[str, dict[str, list[dict]]]) -> dict:
    """Per prompt: mean, sd and min of per-vertebra Dice and HD95 over every held-out vertebra, and per case."""
    table: dict = {}
    prompts = {p for f in folds.values() for p in f}
    for prompt in sorted(prompts):
        rows = [r for f in folds.values() for r in f.get(prompt, [])]
        dice = np.array([r["dice"] for r in rows])
        hd = np.array([r["hd95"] for r in rows if r["hd95"] is not None and np.isfinite(r["hd95"])])
        table[prompt] = {
            "vertebrae": len(rows),
            "dice_mean": float(dice.mean()),
            "dice_sd": float(dice.std(ddof=1)) if len(dice) > 1 else 0.0,
            "dice_min": float(dice.min()),
            "hd95_mean_mm": float(hd.mean()) if len(hd) else None,
            "seconds_mean": float(np.mean([r["seconds"] for r in rows])),
            "per_case_dice": {
                c: float(np.mean([r["dice"] for r in f.get(prompt, [])])) for c, f in folds.items()
            },
        }
    return table
