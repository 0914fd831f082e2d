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
    if args.json:
        from ..atomic import check_writable

        check_writable(args.json, args.overwrite)
    # The inputs' problems are found before the model is loaded (seconds) and anything is evaluated.
    if two_d:
        if not (args.images and args.masks):
            raise UserError("2D evaluation needs both --images and --masks")
        pairs = ev.slice_pairs(args.images, args.masks)
        if args.val_fraction is not None:
            pairs = ev.split_tail(pairs, args.val_fraction)[1]
        ev.check_pair_sizes(pairs)
    else:
        volume, labels = _read_3d(args)
    predictor = load_predictor(args, vertebra=three_d)
    show = None if args.quiet else _print_row
    if not args.quiet:
        print(f"{'image':<24} {'dice':>7} {'iou':>7} {'msd':>8} {'hd95':>8} {'sec':>6}")
    if two_d:
        rows = ev.evaluate_slices(
            predictor, args.images, args.masks, args.prompt, progress=show, tail_fraction=args.val_fraction
        )
        unit = "px"
    else:
        rows = ev.evaluate_volume(
            predictor,
            volume,
            labels,
            args.label_ids,
            args.view and tuple(args.view),
            args.prompt,
            progress=show,
            stride_mm=args.stride_mm,
        )
        unit = "mm"
    result = ev.report(rows)
    result.update(model=predictor.model.info.name, prompt=args.prompt, distance_unit=unit)
    _print_summary(ev.summary(rows), unit, len(rows), result["seconds_per_image"])
    if args.json:
        write_json(args.json, result, overwrite=args.overwrite)
        print(f"wrote {args.json}")
    return 0


def _read_3d(args):
    """The volume and its labels resampled onto it (by physical position), every --label-ids present."""
    import numpy as np

    from ..geometry import resample_nearest
    from ..intensity import require_contrast
    from ..io import read_volume

    if not (args.volume and args.labels and args.label_ids):
        raise UserError("3D evaluation needs --volume, --labels and --label-ids")
    volume, seg = read_volume(args.volume, args.series), read_volume(args.labels)
    require_contrast(volume.array, str(args.volume))
    labels = resample_nearest(seg.array, seg.ijk_to_ras, volume.shape, volume.ijk_to_ras)
    for label in args.label_ids:
        if (labels == label).any():
            continue
        if (seg.array == label).any():
            raise UserError(
                f"label {label} of {args.labels} lies outside {args.volume}: the label map is on another "
                "grid that does not cover that part of the volume (they are aligned by physical position)"
            )
        present = [int(v) for v in np.unique(seg.array) if v != 0]
        shown = ", ".join(map(str, present[:20])) + (" ..." if len(present) > 20 else "")
        raise UserError(f"label {label} is not in {args.labels} (it has {shown or 'no labels'})")
    return volume, labels


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
