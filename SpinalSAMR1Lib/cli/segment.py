"""``spinalsam-r1 segment``: segment a CT volume (or a 2D image) from box/point prompts."""

from __future__ import annotations

import argparse
import signal
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..errors import UserError
from .common import add_model_args, add_volume_args, load_predictor


def register(sub) -> None:
    p = sub.add_parser(
        "segment",
        help="segment a volume or image from prompts",
        description="Volumes: prompts in RAS mm (--box R A S R A S as two opposite corners, --points R A S ...) "
        "or from Slicer markups files (--prompts F.mrk.json). 2D images: --box x0 y0 x1 y1 and --points x y "
        "in pixels. The output label map has exactly the input's geometry.",
    )
    p.add_argument(
        "input", type=Path, help="CT volume (NIfTI, NRRD, MHA, DICOM folder) or 2D image (PNG ...)"
    )
    p.add_argument(
        "-o", "--output", type=Path, required=True, help="output label map (.nii.gz, .nrrd) or mask (.png)"
    )
    add_volume_args(p)
    p.add_argument(
        "--view",
        nargs="+",
        default=None,
        choices=("axial", "sagittal", "coronal"),
        help="slicing view(s) for volumes; several are fused in the vertebra mode (default: the mode's own; "
        "axial for --slice-only, --propagate and --roi-slices)",
    )
    p.add_argument(
        "--box", type=float, nargs="+", metavar="V", help="box: 6 RAS mm values (volume) or 4 pixels (2D)"
    )
    p.add_argument(
        "--points", type=float, nargs="+", metavar="V", help="positive points: R A S triples or x y pairs"
    )
    p.add_argument(
        "--negative", type=float, nargs="+", metavar="V", help="negative points, same form as --points"
    )
    p.add_argument("--prompts", type=Path, nargs="+", help="Slicer .mrk.json files (points; ROI as box)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--propagate",
        action="store_true",
        help="whole-structure propagation from the prompted slice (instead of the vertebra mode)",
    )
    mode.add_argument("--slice-only", action="store_true", help="segment only the prompted slice")
    mode.add_argument(
        "--roi-slices",
        action="store_true",
        help="every slice of the box, whole structure (instead of the vertebra mode)",
    )
    p.add_argument(
        "--levels",
        metavar="RANGE",
        help="level by level: every vertebra of RANGE (L1-L5, T12-L2, L3), each named, walking from --anchor; "
        "'auto' finds them without a click. Writes a VerSe-numbered label map and OUTPUT's .json sidecar",
    )
    p.add_argument(
        "--anchor",
        nargs=4,
        metavar=("LEVEL", "R", "A", "S"),
        help="with --levels: a click inside one vertebra (RAS mm) and its level, e.g. --anchor L3 10 -30 95",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    add_model_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..atomic import check_writable
    from ..io import IMAGE_2D_SUFFIXES

    check_writable(args.output, args.overwrite)  # before any work: not after an hour of segmenting
    if args.stride_mm is not None and not args.stride_mm >= 0:
        raise UserError(f"--stride-mm must be 0 (every slice) or more, got {args.stride_mm:g}")
    if args.levels is not None or args.anchor is not None:
        from .levels import run_levels

        if args.input.name.lower().endswith(IMAGE_2D_SUFFIXES):
            raise UserError("--levels needs a CT volume, not a 2D image")
        return run_levels(args)
    if args.input.name.lower().endswith(IMAGE_2D_SUFFIXES):
        return _run_2d(args)
    return _run_3d(args)


def _triples(values, what: str) -> np.ndarray:
    if not values:
        return np.zeros((0, 3))
    if len(values) % 3:
        raise UserError(f"{what} needs R A S triples (a multiple of 3 numbers), got {len(values)}")
    return np.asarray(values, float).reshape(-1, 3)


def _volume_prompts(args):
    from ..geometry import Roi
    from ..io import read_markups
    from ..volume import Prompts

    pos, neg = _triples(args.points, "--points"), _triples(args.negative, "--negative")
    points, labels = [pos, neg], [np.ones(len(pos), int), np.zeros(len(neg), int)]
    roi = None
    if args.box:
        if len(args.box) != 6:
            raise UserError("--box for a volume takes 6 numbers: two opposite corners R A S R A S (mm)")
        a, b = np.asarray(args.box[:3]), np.asarray(args.box[3:])
        flat = [axis for axis, d in zip("RAS", np.abs(b - a), strict=True) if d == 0]
        if flat:
            raise UserError(
                f"--box has zero size along {', '.join(flat)}: give two opposite corners R A S R A S"
            )
        roi = Roi(center=(a + b) / 2, size=np.abs(b - a))
    if args.prompts:
        mk = read_markups(args.prompts)
        points.append(mk.points_ras)
        labels.append(mk.labels)
        if mk.rois:
            if roi is not None or len(mk.rois) > 1:
                raise UserError("give one box: either --box or a single ROI in --prompts")
            roi = mk.rois[0]
    try:
        return Prompts(np.concatenate(points), np.concatenate(labels), roi)
    except ValueError as exc:
        raise UserError(str(exc)) from exc


def _run_3d(args) -> int:
    from tqdm import tqdm

    from .. import geometry as geo
    from ..intensity import require_contrast
    from ..io import read_volume, write_labelmap
    from ..vertebra import DEFAULT_VIEWS, segment_vertebra
    from ..volume import Cancelled, check_prompts, segment_slice, segment_volume

    vol = read_volume(args.input, args.series)
    prompts = _volume_prompts(args)
    view = (args.view or ["axial"])[0]
    one_view = args.slice_only or args.propagate or args.roi_slices
    require_contrast(vol.array, str(args.input))  # the input's problems before the model is loaded
    check_prompts(prompts, vol.shape, vol.ijk_to_ras, [view] if one_view else args.view or DEFAULT_VIEWS)
    predictor = load_predictor(args, vertebra=not one_view)
    if args.slice_only:
        res = segment_slice(vol.array, vol.ijk_to_ras, prompts, view, predictor=predictor)
        labels = np.zeros(vol.shape, np.uint8)
        geo.insert_slice(labels, res.frame, res.index, res.mask.astype(np.uint8))
        print(f"{view} slice {res.index}: {int(res.mask.sum())} pixels, score {res.score:.3f}")
    else:
        with tqdm(unit="slice", desc="segmenting") as bar, stop_on_ctrl_c() as stop:

            def progress(done: int, total: int) -> None:
                bar.total = total
                bar.n = done
                bar.refresh()

            common = dict(progress=progress, predictor=predictor, cancel=stop)
            try:
                if args.propagate or args.roi_slices:
                    labels = segment_volume(
                        vol.array, vol.ijk_to_ras, prompts, view, propagate=args.propagate, **common
                    )
                else:
                    views = None if args.view is None else tuple(args.view)
                    labels = segment_vertebra(
                        vol.array, vol.ijk_to_ras, prompts, views=views, stride_mm=args.stride_mm, **common
                    )
            except Cancelled as exc:
                return save_partial(args, exc.partial, vol)
        if not labels.any():
            print("nothing found at the prompt: the output is empty")
        ml = float(labels.sum()) * float(np.prod(geo.spacing_ijk(vol.ijk_to_ras))) / 1000.0
        print(f"segmented {int(labels.sum())} voxels ({ml:.1f} ml)")
    write_labelmap(args.output, labels, vol, overwrite=args.overwrite)
    print(f"wrote {args.output}")
    return 0


@contextmanager
def stop_on_ctrl_c():
    """Yield a ``cancel()`` for volume jobs: the first Ctrl-C makes it True (the job stops after its
    slice and the partial result is kept), a second one interrupts at once."""
    state = {"stop": False}

    def handler(signum, frame):
        if state["stop"]:
            raise KeyboardInterrupt
        state["stop"] = True
        print("\nstopping after this slice (Ctrl-C again to abort)", file=sys.stderr)

    try:
        previous = signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread (an embedding application): no handler of ours
        previous = None
    try:
        yield lambda: state["stop"]
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def save_partial(args, partial: np.ndarray, vol) -> int:
    """Interrupted: the output is not written; what was done goes beside it as NAME.partial.EXT."""
    from ..io import write_labelmap

    name = args.output.name
    stem, ext = (
        (name[: -len(".nii.gz")], ".nii.gz")
        if name.endswith(".nii.gz")
        else (args.output.stem, args.output.suffix)
    )
    target = args.output.with_name(f"{stem}.partial{ext}")
    n = 1
    while target.exists() and not args.overwrite:  # never replace a file nobody asked us to
        n += 1
        target = args.output.with_name(f"{stem}.partial-{n}{ext}")
    write_labelmap(target, np.asarray(partial).astype(np.uint8), vol, overwrite=args.overwrite)
    print(
        f"interrupted: {args.output} was not written; the slices done so far are in {target}", file=sys.stderr
    )
    return 130


def _run_2d(args) -> int:
    from ..intensity import require_contrast, to_model_range
    from ..io import read_image_2d, write_png

    if args.prompts or args.propagate or args.roi_slices or args.view:
        raise UserError("--prompts, --view, --propagate and --roi-slices apply to volumes, not 2D images")
    if not args.output.name.lower().endswith(".png"):
        raise UserError("a 2D mask is written as .png")
    image = read_image_2d(args.input)
    require_contrast(image, str(args.input))
    box = None
    if args.box:
        if len(args.box) != 4:
            raise UserError("--box for a 2D image takes 4 numbers: x_min y_min x_max y_max (pixels)")
        box = _checked_box(np.asarray(args.box, float), image.shape[:2])
    if any(len(v) % 2 for v in (args.points or [], args.negative or [])):
        raise UserError("2D points take x y pairs (pixels)")
    pts = [np.asarray(v, float).reshape(-1, 2) for v in (args.points or [], args.negative or [])]
    labels = np.concatenate([np.ones(len(pts[0]), int), np.zeros(len(pts[1]), int)])
    xy = np.concatenate(pts)
    if box is None and not (labels == 1).any():
        raise UserError("give --box and/or at least one positive point")
    h, w = image.shape[:2]
    for x, y in pts[0]:
        if not (0 <= x <= w - 1 and 0 <= y <= h - 1):
            raise UserError(f"the point {x:g} {y:g} lies outside the {w} x {h} image")
    predictor = load_predictor(args)
    predictor.set_image(to_model_range(image))
    pred = predictor.predict(points_xy=xy if len(xy) else None, labels=labels if len(xy) else None, box=box)
    write_png(args.output, pred.mask.astype(np.uint8) * 255, overwrite=args.overwrite)
    print(f"mask: {int(pred.mask.sum())} pixels, score {pred.score:.3f}; wrote {args.output}")
    return 0


def _checked_box(box: np.ndarray, image_hw: tuple[int, int]) -> np.ndarray:
    """A 2D box (x_min, y_min, x_max, y_max) that has an area and overlaps the image, else a UserError."""
    x0, y0, x1, y1 = box
    h, w = image_hw
    if x1 < x0 or y1 < y0:
        raise UserError(f"--box {x0:g} {y0:g} {x1:g} {y1:g} is inverted: give x_min y_min x_max y_max")
    if x1 == x0 or y1 == y0:
        raise UserError(f"--box {x0:g} {y0:g} {x1:g} {y1:g} has zero area")
    if x1 < 0 or y1 < 0 or x0 > w - 1 or y0 > h - 1:
        raise UserError(f"--box {x0:g} {y0:g} {x1:g} {y1:g} lies outside the {w} x {h} image")
    return box
