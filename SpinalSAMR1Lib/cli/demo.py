"""``spinalsam-r1 demo``: every vertebra of a real CT, found, segmented and named without a click.

The CT is TotalSegmentator's public example (Apache-2.0, shipped in ``resources/demo``). The demo runs
``segment --levels auto``, writes the VerSe-numbered label map with its sidecar, the spine report and an
overlay picture, prints the tables and, when TotalSegmentator's own vertebra labels for this CT are at
hand (``--reference``, or the development data beside the repository), how the two agree.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from ..errors import UserError
from .common import add_model_args, load_predictor, write_json

DEMO_CT = Path(__file__).resolve().parents[1] / "resources" / "demo" / "example_ct.nii.gz"
# TotalSegmentator's vertebra labels of the demo CT, present in a development checkout only.
DEV_REFERENCE = (
    Path(__file__).resolve().parents[3]
    / "shared"
    / "data"
    / "totalseg_example"
    / "example_ct_vertebrae.nii.gz"
)
# TotalSegmentator "total" classes -> VerSe values (26 = S1 -> sacrum).
TOTALSEG_TO_VERSE = {26: 26, 27: 24, 28: 23, 29: 22, 30: 21, 31: 20, 32: 19, 33: 18, 34: 17, 35: 16}
OUTPUT_FILES = ("levels.nii.gz", "levels.json", "report.json", "report.csv", "report.png", "overlay.png")


def register(sub) -> None:
    p = sub.add_parser(
        "demo",
        help="find, segment and name every vertebra of a built-in real CT (no input needed)",
        description="Runs the level-by-level mode without a click (--levels auto) on TotalSegmentator's example "
        "CT (shipped, Apache-2.0): writes levels.nii.gz (VerSe numbering) with levels.json, the spine report "
        "(report.json/.csv/.png) and overlay.png, and compares the names with TotalSegmentator's labels when "
        "they are available.",
    )
    p.add_argument(
        "--out", type=Path, default=Path("spinalsam_demo"), help="output folder (default: %(default)s)"
    )
    p.add_argument("--overwrite", action="store_true", help="replace earlier demo outputs in --out")
    p.add_argument("--ct", type=Path, default=DEMO_CT, help="another CT to run the demo on")
    p.add_argument(
        "--reference",
        type=Path,
        default=None,
        help="TotalSegmentator vertebra labels of the CT to compare with (default: the development data's, "
        "for the built-in CT, when present)",
    )
    add_model_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ..auto_levels import segment_levels_auto
    from ..io import read_volume, write_labelmap
    from ..levels import format_levels
    from ..report import format_table, spine_report, write_report
    from .levels import sidecar_path

    existing = [n for n in OUTPUT_FILES if (args.out / n).exists()]
    if existing and not args.overwrite:
        raise UserError(
            f"{args.out} already holds demo results ({existing[0]}, ...); pass --overwrite or --out DIR"
        )
    reference = args.reference or (DEV_REFERENCE if args.ct == DEMO_CT and DEV_REFERENCE.is_file() else None)
    vol = read_volume(args.ct)
    predictor = load_predictor(args, vertebra=True)
    print(f"CT: {args.ct.name}, {' x '.join(map(str, vol.array.shape[::-1]))} voxels")
    print(
        f"model: {predictor.model.info.name} on {predictor.model.device}; finding the vertebrae (no click) ..."
    )
    t0 = time.perf_counter()
    with tqdm(unit="vertebra", desc="levels") as bar:

        def progress(done: int, total: int) -> None:
            bar.total, bar.n = total, done
            bar.refresh()

        result = segment_levels_auto(vol.array, vol.ijk_to_ras, predictor=predictor, progress=progress)
    elapsed = time.perf_counter() - t0
    print(format_levels(result))
    args.out.mkdir(parents=True, exist_ok=True)
    ow = args.overwrite
    write_labelmap(args.out / "levels.nii.gz", result.labels, vol, overwrite=ow)
    write_json(sidecar_path(args.out / "levels.nii.gz"), result.sidecar(), overwrite=ow)
    if result.levels:
        report = spine_report(result.labels, vol.ijk_to_ras, vol.array)
        write_report(args.out, report, result.labels, vol.ijk_to_ras, vol.array, overwrite=ow)
        print(format_table(report))
    _write_overlay(args.out / "overlay.png", vol, result, ow)
    if reference is not None:
        _compare(result, read_volume(reference), vol)
    else:
        print("(TotalSegmentator's labels for this CT are not at hand: --reference FILE compares with them)")
    print(
        f"{len(result.levels)} vertebrae in {elapsed:.0f} s; wrote {', '.join(OUTPUT_FILES)} to {args.out}/"
    )
    return 0


def _compare(result, reference, vol) -> None:
    """Per level: Dice and centroid distance against TotalSegmentator's label of the same name."""
    from .. import geometry as geo
    from .. import metrics
    from ..anatomy import level_name

    ref = geo.resample_nearest(reference.array, reference.ijk_to_ras, vol.array.shape, vol.ijk_to_ras)
    verse = np.zeros(ref.shape, np.uint8)
    for ts, value in TOTALSEG_TO_VERSE.items():
        verse[ref == ts] = value
    print("agreement with TotalSegmentator (a model, not ground truth):")
    print(f"{'level':<6} {'dice':>6} {'centroid mm':>11}")
    hits = 0
    for lv in result.levels:
        theirs = verse == lv.label
        if not theirs.any():
            print(f"{lv.name:<6} {'-':>6} {'-':>11}   (TotalSegmentator has no {lv.name})")
            continue
        centroid = geo.mask_centroid_ras(theirs, vol.ijk_to_ras)
        distance = float(np.linalg.norm(np.array(lv.centroid_ras) - centroid))
        hits += distance <= 20.0
        print(f"{lv.name:<6} {metrics.dice(result.labels == lv.label, theirs):6.3f} {distance:11.1f}")
    theirs_levels = sorted({level_name(v) for v in np.unique(verse) if v and v != 26})
    print(
        f"same name within 20 mm: {hits} of {len(result.levels)} found; TotalSegmentator has {', '.join(theirs_levels)}"
    )


def _write_overlay(path: Path, vol, result, overwrite: bool) -> None:
    """Mid-sagittal and mid-coronal slices side by side, each level filled in its colour and named."""
    from PIL import Image, ImageDraw

    from .. import geometry as geo
    from ..anatomy import level_color
    from ..intensity import BONE_WINDOW, apply_window
    from ..io import write_png
    from ..overlay import overlay, zoom_nearest
    from ..report import MIN_PICTURE_PX_PER_MM

    panels = []
    for view in ("sagittal", "coronal"):
        frame = geo.view_frame(vol.ijk_to_ras, vol.array.shape, view)
        if result.levels:
            mid = np.median(np.array([lv.centroid_ras for lv in result.levels]), axis=0)
            index = int(
                np.clip(
                    np.rint(geo.ras_to_slice_coords(mid[None], vol.ijk_to_ras, frame)[0, 0]),
                    0,
                    frame.num_slices - 1,
                )
            )
        else:
            index = frame.num_slices // 2
        gray = apply_window(geo.extract_slice(vol.array, frame, index), *BONE_WINDOW)
        colours = {lv.label: level_color(lv.name) for lv in result.levels}
        rgb = overlay(gray, geo.extract_slice(result.labels, frame, index), alpha=0.55, colours=colours)
        rows_mm, cols_mm = geo.pixel_spacing(vol.ijk_to_ras, frame)
        scale = max(2.0 / min(rows_mm, cols_mm), MIN_PICTURE_PX_PER_MM)
        big = zoom_nearest(rgb, rows_mm * scale, cols_mm * scale)
        image = Image.fromarray(big)
        draw = ImageDraw.Draw(image)
        for lv in result.levels:
            _, x, y = geo.ras_to_slice_coords(np.array([lv.centroid_ras]), vol.ijk_to_ras, frame)[0]
            name = lv.name if lv.confirmed else f"{lv.name}?"
            draw.text((x * cols_mm * scale + 30, y * rows_mm * scale - 6), name, fill=(255, 255, 255))
        draw.text((6, 6), view, fill=(255, 255, 0))
        panels.append(np.asarray(image))
    height = max(p.shape[0] for p in panels)
    panels = [np.pad(p, ((0, height - p.shape[0]), (0, 4), (0, 0))) for p in panels]
    write_png(path, np.concatenate(panels, axis=1), overwrite=overwrite)
