"""``spinalsam-r1 report``: the spine report of a vertebra label map (heights, compression, bone HU)."""

from __future__ import annotations

import argparse
from pathlib import Path


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
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    from ..geometry import resample_nearest
    from ..io import read_volume
    from ..report import spine_report, write_report

    ct, seg = read_volume(args.ct), read_volume(args.seg)
    labels = resample_nearest(seg.array, seg.ijk_to_ras, ct.shape, ct.ijk_to_ras)
    report = spine_report(labels, ct.ijk_to_ras, ct.array)
    paths = write_report(args.output, report, labels, ct.ijk_to_ras, ct.array, overwrite=args.overwrite)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print_table(report)
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0


def _print_table(report: dict) -> None:
    def f(v, fmt="{:.1f}"):
        return "-" if v is None else fmt.format(v)

    print(f"{'level':<7}{'ml':>7}{'Ha':>7}{'Hm':>7}{'Hp':>7}{'loss':>7}{'grade':>6}{'HU':>8}")
    for r in report["vertebrae"]:
        print(
            f"{r['level']:<7}{f(r['volume_ml']):>7}{f(r['height_anterior_mm']):>7}{f(r['height_middle_mm']):>7}"
            f"{f(r['height_posterior_mm']):>7}{f(r['height_loss'], '{:.0%}'):>7}{f(r['genant_grade'], '{}'):>6}"
            f"{f(r['body_hu_mean'], '{:.0f}'):>8}"
        )
    if report["lordosis_l1_l5_deg"] is not None:
        print(f"lumbar lordosis (L1-L5): {report['lordosis_l1_l5_deg']:.1f} deg")
    for x in report["findings"]:
        detail = (
            f"height loss {x['height_loss']:.0%}" if "height_loss" in x else f"{x['body_hu_mean']:.0f} HU"
        )
        print(f"finding: {x['level']} {x['finding']} ({detail})")
