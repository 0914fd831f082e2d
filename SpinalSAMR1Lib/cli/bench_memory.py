"""``spinalsam-r1 bench memory``: the peak memory of one vertebra on a large CT, against a budget.

Builds a synthetic lumbar CT (the phantom, default 512 x 512 x 600 voxels, int16, 300 MiB), then runs
``spinalsam-r1 segment`` on it in a fresh process for each prompt (a click and an ROI around the phantom's
L3) and reads that process's peak resident memory (Linux's VmHWM), so the phantom's own construction
does not count. Prints peak / budget, time and Dice against the phantom's L3.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ..errors import UserError

BUDGET_GB = 4.0  # issue 18: a 512 x 512 x 600 CT segments a vertebra within 4 GB
SPACING_MM = (0.42, 0.42, 0.32)  # (i, j, k): 512 x 512 x 600 voxels hold the phantom's lumbar spine


def register(bsub) -> None:
    s = bsub.add_parser(
        "memory",
        help="peak memory of one vertebra (click and ROI) on a large synthetic CT, against a budget",
        description=__doc__.split("\n\n")[1],
    )
    s.add_argument(
        "--shape", nargs=3, type=int, default=(600, 512, 512), metavar=("K", "J", "I"),
        help="voxels of the synthetic CT, (k, j, i) (default 600 512 512)",
    )  # fmt: skip
    s.add_argument("--budget-gb", type=float, default=BUDGET_GB, help="memory budget (default 4)")
    s.add_argument("--model", default="vertebra", help="model (default: vertebra)")
    s.add_argument("--json", type=Path, help="write the figures to this file too")
    s.add_argument("--overwrite", action="store_true", help="let --json replace an existing file")
    s.set_defaults(func=run)


# Runs the CLI and prints the process's own high-water mark last. VmHWM belongs to the address space
# made at exec, so the parent's memory (here: the phantom) does not count, as it does in ru_maxrss.
_CHILD = (
    "import re, sys\n"
    "from SpinalSAMR1Lib.cli import main\n"
    "rc = main(sys.argv[1:])\n"
    "kb = re.search(r'VmHWM:\\s*(\\d+)', open('/proc/self/status').read()).group(1)\n"
    "print('VmHWM', kb, flush=True)\n"
    "raise SystemExit(rc)\n"
)


def _segment_peak_mb(args: list[str]) -> tuple[float, float]:
    """Run ``spinalsam-r1 ARGS`` in a fresh process: (its peak resident memory in MB, seconds)."""
    start = time.perf_counter()
    # Read as UTF-8 whatever the locale: the child's progress bar draws with block characters.
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, *args], capture_output=True, encoding="utf-8", errors="replace"
    )
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        last = proc.stderr.strip().splitlines()[-1:] or ["(no message)"]
        raise UserError(f"segment failed (exit {proc.returncode}): {last[0]}")
    kb = [line.split()[1] for line in proc.stdout.splitlines() if line.startswith("VmHWM ")]
    if not kb:
        raise UserError("this system does not report a process's peak memory (/proc/self/status)")
    return int(kb[-1]) / 1024.0, seconds


def run(args: argparse.Namespace) -> int:
    from .. import geometry as geo
    from .. import metrics
    from ..atomic import atomic_path
    from ..io import read_volume, write_volume
    from ..phantom import make_lumbar_phantom

    if args.json and args.json.exists() and not args.overwrite:
        raise UserError(f"{args.json} exists; pass --overwrite to replace it")
    if min(args.shape) < 64:
        raise UserError(f"--shape must be at least 64 voxels per axis, got {' '.join(map(str, args.shape))}")
    # The default size's field of view (215 x 215 x 192 mm) at any size, so the spine always fits.
    fov_ijk = np.array(SPACING_MM) * (512, 512, 600)
    spacing = tuple(float(v) for v in fov_ijk / np.array(args.shape[::-1]))
    print(f"building a {' x '.join(map(str, args.shape[::-1]))} synthetic CT ...", flush=True)
    ph = make_lumbar_phantom(seed=2, shape_kji=tuple(args.shape), spacing=spacing)
    truth = ph.labels == ph.label_value("L3")
    click = geo.mask_centroid_ras(truth, ph.ijk_to_ras)
    roi = geo.label_roi(ph.labels, ph.label_value("L3"), ph.ijk_to_ras, 2.0)
    corners = np.r_[roi.center - roi.size / 2, roi.center + roi.size / 2]
    rows = []
    with tempfile.TemporaryDirectory(prefix="spinalsam_bench_memory_") as tmp:
        ct = Path(tmp) / "ct.nii"
        write_volume(ct, ph.image.astype(np.int16), ph.ijk_to_ras)
        del ph
        gb = ct.stat().st_size / 2**30
        for name, prompt in (("click", ["--points", *click]), ("ROI", ["--box", *corners])):
            out = Path(tmp) / f"{name}.nii.gz"
            words = [f"{v:.2f}" if not isinstance(v, str) else v for v in prompt]
            print(f"vertebra from a {name} ...", flush=True)
            peak, seconds = _segment_peak_mb(
                ["segment", str(ct), "-o", str(out), *words, "--model", args.model]
            )
            mask = read_volume(out).array.astype(bool)
            dice = metrics.dice(mask, truth)
            rows.append({"prompt": name, "peak_rss_mb": peak, "seconds": seconds, "dice_l3": dice})
    budget_mb = args.budget_gb * 1024
    print(f"\nCT {' x '.join(map(str, args.shape[::-1]))} int16 ({gb:.2f} GiB); budget {args.budget_gb:g} GB")
    print(f"{'prompt':<8}{'peak RSS MB':>12}{'/ budget':>10}{'seconds':>9}{'Dice L3':>9}")
    for r in rows:
        ratio = r["peak_rss_mb"] / budget_mb
        print(
            f"{r['prompt']:<8}{r['peak_rss_mb']:>12.0f}{ratio:>10.2f}{r['seconds']:>9.0f}{r['dice_l3']:>9.3f}"
        )
    print("Peak RSS of the segment process alone (model, CT, output writing), read from the OS.")
    if args.json:
        report = {"shape_kji": list(args.shape), "budget_gb": args.budget_gb, "runs": rows}
        with atomic_path(args.json, args.overwrite, ".json") as tmp_json:
            tmp_json.write_text(json.dumps(report, indent=2))
    over = [r["prompt"] for r in rows if r["peak_rss_mb"] > budget_mb]
    print(f"over the budget: {', '.join(over)}" if over else "every run within the budget")
    return 0
