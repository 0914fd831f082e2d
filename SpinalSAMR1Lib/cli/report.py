"""``spinalsam-r1 report``: the spine report of a vertebra label map (heights, compression, bone HU)."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import add_series_arg


def register(sub) -> None:
    p = sub.add_parser(
        "report",
        help="spine report of a label map: body heights, compression, volume, trabecular HU, lordosis",
        description="Measure every vertebra of a label map in VerSe numbering (20..24 = L1..L5) on its CT "
        "and write DIR/report.json, report.csv and report.png (a sagittal picture). Labels are aligned with "
        "the CT by physical position.",
    )
    p.add_argument("seg", type=Path, help="vertebra label map (NIfTI, NRRD ...), VerSe label values")
    p.add_argument("--ct", type=Path, required=True, help="the CT the labels belong to (HU, grid, picture)")
    p.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    p.add_argument("--overwrite", action="store_true", help="replace existing report files")
    p.add_argument("--json", action="store_true", help="print the report as JSON instead of a table")
    add_series_arg(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    from ..atomic import check_writable
    from ..errors import UserError
    from ..geometry import resample_nearest
    from ..io import read_volume
    from ..report import format_table, spine_report, write_report

    if args.output.exists() and not args.output.is_dir():
        raise UserError(f"-o {args.output} is a file; the report needs a folder")
    for name in ("report.json", "report.csv", "report.png"):
        check_writable(args.output / name, args.overwrite)  # before reading and measuring anything
    ct, seg = read_volume(args.ct, args.series), read_volume(args.seg)
    labels = resample_nearest(seg.array, seg.ijk_to_ras, ct.shape, ct.ijk_to_ras)
    report = spine_report(labels, ct.ijk_to_ras, ct.array)
    paths = write_report(args.output, report, labels, ct.ijk_to_ras, ct.array, overwrite=args.overwrite)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(format_table(report))
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0
