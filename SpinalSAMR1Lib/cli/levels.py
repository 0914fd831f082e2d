"""``spinalsam-r1 segment CT -o OUT --levels L1-L5 --anchor L3 R A S`` (or ``--levels auto``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import UserError
from .common import load_predictor, write_json


def sidecar_path(output: Path) -> Path:
    """``OUT.nii.gz`` -> ``OUT.json`` (beside the label map, same stem)."""
    name = output.name
    for ext in (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd"):
        if name.lower().endswith(ext):
            return output.with_name(name[: -len(ext)] + ".json")
    return output.with_name(output.stem + ".json")


def _anchor(values: list[str]) -> tuple[str, list[float]]:
    level, *coords = values
    try:
        return level, [float(v) for v in coords]
    except ValueError:
        raise UserError(
            f"--anchor takes a level and three numbers (R A S, mm), got {' '.join(values)}"
        ) from None


def run_levels(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ..atomic import check_writable
    from ..io import read_volume, write_labelmap
    from ..levels import format_levels, level_range, segment_levels
    from ..volume import Cancelled
    from .segment import save_partial, stop_on_ctrl_c

    if args.levels is None:
        raise UserError("--anchor goes with --levels (e.g. --levels L1-L5 --anchor L3 R A S)")
    auto = args.levels.strip().lower() == "auto"
    if not auto and args.anchor is None:
        raise UserError(
            "--levels needs --anchor LEVEL R A S (a click inside one named vertebra), or --levels auto"
        )
    if auto and args.anchor is not None:
        raise UserError("--levels auto finds the vertebrae itself; leave out --anchor (or give a range)")
    if args.box or args.points or args.negative or args.prompts or args.propagate or args.roi_slices:
        raise UserError(
            "--levels takes its prompt from --anchor; leave out --box, --points and the other modes"
        )
    levels = None if auto else level_range(args.levels)
    level, point = (None, None) if auto else _anchor(args.anchor)  # a typo is found before the model loads
    sidecar = sidecar_path(args.output)
    check_writable(sidecar, args.overwrite)
    vol = read_volume(args.input, args.series)
    predictor = load_predictor(args, vertebra=True)
    views = None if args.view is None else tuple(args.view)
    with tqdm(unit="vertebra", desc="levels") as bar, stop_on_ctrl_c() as stop:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()

        common = dict(
            predictor=predictor, views=views, stride_mm=args.stride_mm, progress=progress, cancel=stop
        )
        try:
            if auto:
                from ..auto_levels import segment_levels_auto

                result = segment_levels_auto(vol.array, vol.ijk_to_ras, **common)
            else:
                result = segment_levels(vol.array, vol.ijk_to_ras, point, level, levels, **common)
        except Cancelled as exc:
            return save_partial(args, exc.partial, vol)
    print(format_levels(result))
    write_labelmap(args.output, result.labels, vol, overwrite=args.overwrite)
    write_json(sidecar, result.sidecar(), overwrite=args.overwrite)
    print(f"wrote {args.output} and {sidecar}")
    return 0
