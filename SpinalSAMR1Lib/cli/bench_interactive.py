"""``spinalsam-r1 bench interactive``: what a user waits for, per encoder backend, in one run.

On one CT (default: the demo's, shipped with the package) and the vertebra model: model load, the
encoder on new sagittal slices, a click on a slice already seen (p50/p95, the decoder alone), the first
click on a new slice, one vertebra in 3D from a click, and optionally the levels walk; each with its ratio
to torch fp32 measured in this same run, and the peak memory. A table, and ``--json FILE``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from ..errors import UserError

CLICKS = 40  # decoder calls timed on one seen slice
NEW_SLICES = 6  # sagittal slices encoded anew


def register(bsub) -> None:
    from .demo import DEMO_CT

    s = bsub.add_parser(
        "interactive",
        help="interactive latencies per encoder backend (encoder, click, first click, vertebra, levels)",
        description=__doc__.split("\n\n")[1],
    )
    s.add_argument("--ct", type=Path, default=DEMO_CT, help="CT volume (default: the demo's)")
    s.add_argument(
        "--backends", nargs="+", choices=("torch", "openvino"), default=None,
        help="encoder backends (default: torch, and openvino when installed)",
    )  # fmt: skip
    s.add_argument(
        "--levels", action="store_true", help="also time the levels walk without a click (minutes)"
    )
    s.add_argument("--device", default=None, help="torch device (default: cuda when present, else cpu)")
    s.add_argument("--json", type=Path, help="write the figures to this file too")
    s.add_argument("--overwrite", action="store_true", help="let --json replace an existing file")
    s.set_defaults(func=run)


def _seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _sagittal_slices(vol, count: int):
    """``count`` distinct sagittal slice indices around the spine's R-L position, and the frame."""
    from .. import geometry as geo
    from ..auto_levels import spine_seed

    frame = geo.view_frame(vol.ijk_to_ras, vol.array.shape, "sagittal")
    seed = spine_seed(vol.array, vol.ijk_to_ras)
    centre = int(geo.points_to_slice(seed[None], vol.ijk_to_ras, frame)[0][0])
    indices = [
        int(np.clip(centre + d, 0, frame.num_slices - 1)) for d in range(-count // 2, count - count // 2)
    ]
    return frame, list(dict.fromkeys(indices)), seed


def measure(vol, model, backend: str, with_levels: bool) -> dict:
    """The figures of one backend, in seconds."""
    from .. import geometry as geo
    from ..auto_levels import segment_levels_auto
    from ..predictor import Predictor
    from ..vertebra import segment_vertebra
    from ..volume import Prompts, resolve_window, set_volume_slice

    out: dict = {}
    predictor = Predictor(model, backend=backend)
    frame, indices, seed = _sagittal_slices(vol, NEW_SLICES + 1)
    window = resolve_window(vol.array, "auto", None)
    click = geo.points_to_slice(seed[None], vol.ijk_to_ras, frame)[1][0]  # (x, y) on its sagittal slice

    def first_click(index: int) -> None:
        set_volume_slice(predictor, vol.array, vol.ijk_to_ras, frame, index, window)
        predictor.predict(points_xy=click[None], labels=[1])

    out["warm-up (compile, first encode)"] = _seconds(lambda: first_click(indices[0]))
    out["first click on a new slice, p50"] = float(
        np.median([_seconds(lambda i=i: first_click(i)) for i in indices[1:]])
    )
    rng = np.random.default_rng(0)
    jitter = rng.normal(0, 3, (CLICKS, 2))
    clicks = [
        _seconds(lambda d=d: predictor.predict(points_xy=(click + d)[None], labels=[1])) for d in jitter
    ]
    out["click on a seen slice, p50"] = float(np.percentile(clicks, 50))
    out["click on a seen slice, p95"] = float(np.percentile(clicks, 95))
    out["encoder per slice (first click - seen click)"] = (
        out["first click on a new slice, p50"] - out["click on a seen slice, p50"]
    )
    predictor.clear_cache()
    prompts = Prompts(points_ras=seed[None], labels=[1])
    out["one vertebra in 3D from a click"] = _seconds(
        lambda: segment_vertebra(vol.array, vol.ijk_to_ras, prompts, predictor=predictor)
    )
    if with_levels:
        predictor.clear_cache()
        out["levels without a click"] = _seconds(
            lambda: segment_levels_auto(vol.array, vol.ijk_to_ras, predictor=predictor)
        )
    return out


def run(args: argparse.Namespace) -> int:
    from ..atomic import atomic_path
    from ..io import read_volume
    from ..model.openvino_encoder import openvino_available
    from .bench import _peak_rss_mb

    if args.json and args.json.exists() and not args.overwrite:
        raise UserError(f"{args.json} exists; pass --overwrite to replace it")
    backends = args.backends or (["torch", "openvino"] if openvino_available() else ["torch"])
    if "openvino" in backends and not openvino_available():
        raise UserError("openvino is not installed: pip install 'spinalsam-r1[fast]'")
    backends = ["torch", *[b for b in backends if b != "torch"]]  # torch fp32 is the reference
    from ..model import load_model

    vol = read_volume(args.ct)
    start = time.perf_counter()
    model = load_model("vertebra", device=args.device)
    load = time.perf_counter() - start
    print(f"CT: {args.ct.name}, {' x '.join(map(str, vol.array.shape[::-1]))} voxels; vertebra model")
    results = {}
    for backend in backends:
        print(f"timing {backend} ...", flush=True)
        results[backend] = measure(vol, model, backend, args.levels)
    reference = results["torch"]
    print(f"\n{'':<46}" + "".join(f"{b:>12}{'ratio':>7}" for b in backends))
    for name in reference:
        cells = "".join(
            f"{results[b][name]:>12.3f}{reference[name] / results[b][name]:>6.1f}x" for b in backends
        )
        print(f"{name:<46}{cells}")
    peak = _peak_rss_mb()
    print(
        f"model load {load:.1f} s, peak memory (RSS) {peak:.0f} MB. Seconds; ratio: torch fp32 time over this"
    )
    print(
        "backend's, measured in this run. The warm-up includes OpenVINO's conversion (cached on disk after)."
    )
    if args.json:
        report = {"ct": str(args.ct), "model_load_s": load, "seconds": results, "peak_rss_mb": peak,
                  "ratios": {b: {k: reference[k] / v for k, v in r.items()} for b, r in results.items()}}  # fmt: skip
        with atomic_path(args.json, args.overwrite, ".json") as tmp:
            Path(tmp).write_text(json.dumps(report, indent=2))
    return 0
