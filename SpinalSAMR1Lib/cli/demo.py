"""``spinalsam-r1 demo``: segment every vertebra of a synthetic lumbar CT phantom; needs no input."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from ..errors import UserError
from .common import add_model_args, load_predictor, write_json

OUTPUT_FILES = (
    "phantom_ct.nii.gz",
    "reference_labels.nii.gz",
    "segmentation.nii.gz",
    "overlay.png",
    "metrics.json",
)


def register(sub) -> None:
    p = sub.add_parser(
        "demo",
        help="segment a built-in synthetic lumbar CT (no input needed)",
        description="Builds a synthetic lumbar CT phantom (L1-L5), segments each vertebra from a box "
        "(ROI) slice by slice, writes NIfTI results and a PNG overlay, and prints Dice and IoU per vertebra.",
    )
    p.add_argument(
        "--out", type=Path, default=Path("spinalsam_demo"), help="output folder (default: %(default)s)"
    )
    p.add_argument("--overwrite", action="store_true", help="replace earlier demo outputs in --out")
    p.add_argument("--view", default="axial", choices=("axial", "sagittal", "coronal"))
    p.add_argument("--seed", type=int, default=0, help="phantom seed (default: %(default)s)")
    p.add_argument(
        "--levels",
        nargs="+",
        default=["L1", "L2", "L3", "L4", "L5"],
        help="consecutive vertebrae to build and segment, superior first (default: L1-L5)",
    )
    add_model_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .. import metrics
    from ..geometry import label_roi
    from ..io import Volume, write_labelmap, write_volume
    from ..phantom import make_lumbar_phantom
    from ..volume import Prompts, segment_volume

    existing = [n for n in OUTPUT_FILES if (args.out / n).exists()]
    if existing and not args.overwrite:
        raise UserError(
            f"{args.out} already holds demo results ({existing[0]}, ...); pass --overwrite or --out DIR"
        )
    print("building the synthetic lumbar CT phantom ...")
    ph = make_lumbar_phantom(seed=args.seed, levels=args.levels)
    vol = Volume(ph.image, ph.ijk_to_ras)
    predictor = load_predictor(args)
    print(f"model: {predictor.model.info.name} on {predictor.model.device}; view: {args.view}")
    seg = np.zeros(ph.labels.shape, np.uint8)
    rows, t0 = [], time.perf_counter()
    spacing = ph.spacing_kji
    with tqdm(total=len(ph.levels), unit="vertebra", desc="segmenting") as bar:
        for value, level in enumerate(ph.levels, start=1):
            prompts = Prompts(roi=label_roi(ph.labels, value, ph.ijk_to_ras, margin_mm=2.0))
            bar.set_postfix_str(level)
            mask = segment_volume(vol.array, vol.ijk_to_ras, prompts, view=args.view, predictor=predictor) > 0
            seg[mask & (seg == 0)] = value
            ref = ph.labels == value
            rows.append(
                {
                    "level": level,
                    "dice": metrics.dice(mask, ref),
                    "iou": metrics.iou(mask, ref),
                    "msd_mm": metrics.mean_surface_distance(mask, ref, spacing),
                }
            )
            bar.update(1)
    elapsed = time.perf_counter() - t0
    args.out.mkdir(parents=True, exist_ok=True)
    ow = args.overwrite
    write_volume(args.out / "phantom_ct.nii.gz", ph.image, ph.ijk_to_ras, overwrite=ow)
    write_labelmap(args.out / "reference_labels.nii.gz", ph.labels, vol, overwrite=ow)
    write_labelmap(args.out / "segmentation.nii.gz", seg, vol, overwrite=ow)
    _write_overlay(args.out / "overlay.png", ph, seg, overwrite=ow)
    _print_table(rows, elapsed)
    write_json(
        args.out / "metrics.json",
        {
            "model": predictor.model.info.name,
            "view": args.view,
            "per_vertebra": rows,
            "mean_dice": float(np.mean([r["dice"] for r in rows])),
            "seconds": elapsed,
        },
        overwrite=ow,
    )
    print(f"wrote {', '.join(OUTPUT_FILES)} to {args.out}/")
    return 0


def _print_table(rows: list[dict], elapsed: float) -> None:
    print(f"{'vertebra':<9} {'dice':>7} {'iou':>7} {'msd mm':>7}")
    for r in rows:
        print(f"{r['level']:<9} {r['dice']:7.4f} {r['iou']:7.4f} {r['msd_mm']:7.2f}")
    mean = {k: float(np.mean([r[k] for r in rows])) for k in ("dice", "iou", "msd_mm")}
    print(f"{'mean':<9} {mean['dice']:7.4f} {mean['iou']:7.4f} {mean['msd_mm']:7.2f}   ({elapsed:.1f} s)")


def _write_overlay(path: Path, ph, seg: np.ndarray, overwrite: bool) -> None:
    """Mid-sagittal slice: reference outline in white over the predicted labels in colour."""
    from .. import geometry as geo
    from ..intensity import BONE_WINDOW, apply_window
    from ..io import write_png
    from ..overlay import boundary, overlay, zoom_nearest

    frame = geo.view_frame(ph.ijk_to_ras, ph.image.shape, "sagittal")
    centre = int(np.median(np.nonzero(ph.labels)[2 - frame.normal_ijk]))
    gray = apply_window(geo.extract_slice(ph.image, frame, centre), *BONE_WINDOW)
    ref = geo.extract_slice(ph.labels, frame, centre) > 0
    rgb = overlay(gray, geo.extract_slice(seg, frame, centre), outline=boundary(ref))
    sp = geo.spacing_ijk(ph.ijk_to_ras)
    factor = 3.0  # enlarge for viewing; rows/cols scaled by their mm spacing so anatomy is not squashed
    rgb = zoom_nearest(rgb, factor * sp[frame.row_ijk] / sp.min(), factor * sp[frame.col_ijk] / sp.min())
    write_png(path, rgb, overwrite=overwrite)
