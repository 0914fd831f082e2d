"""``spinalsam-r1 evaluate``: metrics of prompted segmentation against ground truth (2D folders or 3D)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import UserError
from .common import add_model_args, add_volume_args, fmt, load_predictor, write_json


def register(sub) -> None:
    p = sub.add_parser(
        "evaluate",
        help="evaluate against ground-truth masks",
        description="2D: --images DIR --masks DIR (same file names). 3D: --volume F --labels F --label-ids N ...",
    )
    p.add_argument("--images", type=Path, help="folder of 2D images")
    p.add_argument("--masks", type=Path, help="folder of 2D masks with the same file names")
    p.add_argument("--volume", type=Path, help="3D image (NIfTI, NRRD, MHA or DICOM folder)")
    p.add_argument("--labels", type=Path, help="3D label map; resampled onto --volume by physical position")
    p.add_argument("--label-ids", type=int, nargs="+", help="label values to evaluate (3D)")
    add_volume_args(p)
    p.add_argument(
        "--view",
        nargs="+",
        default=None,
        choices=("axial", "sagittal", "coronal"),
        help="3D: force the view(s) of the vertebra mode (several are fused; default: the mode's own)",
    )
    p.add_argument(
        "--prompt",
        choices=("box", "points"),
        default="box",
        help="prompt derived from the ground truth; 3D: the label's tight box, or one click at its "
        "deepest interior point",
    )
    p.add_argument(
        "--val-fraction",
        type=float,
        default=None,
        help="2D: only the last fraction of the slices (natural file order), i.e. the validation "
        "split of `spinalsam-r1 train --val-fraction F`",
    )
    p.add_argument("--json", type=Path, help="write per-image results and means to this JSON file")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --json file")
    p.add_argument("--quiet", action="store_true", help="print only the summary")
    add_model_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .. import evaluation as ev

    two_d = args.images is not None or args.masks is not None
    three_d = args.volume is not None or args.labels is not None
    if two_d == three_d:
        raise UserError("give either --images and --masks (2D) or --volume, --labels and --label-ids (3D)")
    if args.json and args.json.exists() and not args.overwrite:
        raise UserError(f"{args.json} exists; pass --overwrite to replace it")
    predictor = load_predictor(args, vertebra=three_d)
    show = None if args.quiet else _print_row
    if not args.quiet:
        print(f"{'image':<24} {'dice':>7} {'iou':>7} {'msd':>8} {'hd95':>8} {'sec':>6}")
    if two_d:
        if not (args.images and args.masks):
            raise UserError("2D evaluation needs both --images and --masks")
        rows = ev.evaluate_slices(
            predictor, args.images, args.masks, args.prompt, progress=show, tail_fraction=args.val_fraction
        )
        unit = "px"
    else:
        rows = _evaluate_3d(args, predictor, show)
        unit = "mm"
    result = ev.report(rows)
    result.update(model=predictor.model.info.name, prompt=args.prompt, distance_unit=unit)
    _print_summary(ev.summary(rows), unit, len(rows), result["seconds_per_image"])
    if args.json:
        write_json(args.json, result, overwrite=args.overwrite)
        print(f"wrote {args.json}")
    return 0


def _evaluate_3d(args, predictor, show):
    from .. import evaluation as ev
    from ..geometry import resample_nearest
    from ..io import read_volume

    if not (args.volume and args.labels and args.label_ids):
        raise UserError("3D evaluation needs --volume, --labels and --label-ids")
    volume, seg = read_volume(args.volume, args.series), read_volume(args.labels)
    labels = resample_nearest(seg.array, seg.ijk_to_ras, volume.shape, volume.ijk_to_ras)
    return ev.evaluate_volume(
        predictor,
        volume,
        labels,
        args.label_ids,
        args.view and tuple(args.view),
        args.prompt,
        progress=show,
        stride_mm=args.stride_mm,
    )


def _print_row(row) -> None:
    print(
        f"{row.name:<24} {row.dice:7.4f} {row.iou:7.4f} {fmt(row.msd, 2):>8} {fmt(row.hd95, 2):>8} {row.seconds:6.2f}"
    )
    sys.stdout.flush()


def _print_summary(summary: dict, unit: str, n: int, seconds: float) -> None:
    print(f"mean ± sd over {n}:")
    for name, s in summary.items():
        u = f" {unit}" if name in ("msd", "hd95") else ""
        dropped = f" ({s['dropped']} undefined)" if s["dropped"] else ""
        print(f"  {name:<5} {s['mean']:.4f} ± {s['sd']:.4f}{u}{dropped}")
    print(f"  time  {seconds:.3f} s per image")
