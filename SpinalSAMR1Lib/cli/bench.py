"""``spinalsam-r1 bench``: benchmarks that print ratios measured in one run."""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

from ..errors import UserError


def register(sub) -> None:
    p = sub.add_parser("bench", help="benchmarks (speed of models, chat command accuracy)")
    bsub = p.add_subparsers(dest="bench", metavar="BENCH", required=True)
    s = bsub.add_parser(
        "speed",
        help="time evaluate on the same slices with several models in one run",
        description="Runs the 2D evaluation with each model and encoder backend on the same slices, in this one "
        "process, and prints seconds per image (each slice encoded anew), Dice, peak memory growth and the "
        "time ratio to the first (torch) entry.",
    )
    s.add_argument("--images", type=Path, required=True)
    s.add_argument("--masks", type=Path, required=True)
    s.add_argument(
        "--models", nargs="+", default=None, help="model names (default: litemedsam and the default model)"
    )
    s.add_argument("--prompt", choices=("box", "points"), default="box")
    s.add_argument("--limit", type=int, default=None, help="use only the first N slices")
    s.add_argument("--repeats", type=int, default=1, help="alternate the models this many times")
    s.add_argument(
        "--backends",
        nargs="+",
        choices=("torch", "openvino"),
        default=None,
        help="encoder backends to time for each model (default: torch, and openvino when installed)",
    )
    s.set_defaults(func=run_speed)
    import importlib

    from . import bench_interactive, bench_memory

    bench_interactive.register(bsub)
    bench_memory.register(bsub)

    try:
        bench_commands = importlib.import_module(".bench_commands", __package__)
    except ModuleNotFoundError:
        return  # the chat command layer is not part of this build
    bench_commands.register(bsub)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_speed(args: argparse.Namespace) -> int:
    from ..evaluation import predict_2d, score, slice_pairs
    from ..io import read_image_2d
    from ..model import DEFAULT_MODEL, load_model
    from ..model.openvino_encoder import openvino_available
    from ..predictor import Predictor

    names = list(dict.fromkeys(args.models or ["litemedsam", DEFAULT_MODEL]))
    backends = args.backends or (["torch", "openvino"] if openvino_available() else ["torch"])
    pairs = slice_pairs(args.images, args.masks)[: args.limit]
    if not pairs:
        raise UserError("no slices to benchmark")
    data = [(read_image_2d(i), read_image_2d(m) > 0) for i, m in pairs]
    predictors, growth = {}, {}
    for n in names:
        before = _peak_rss_mb()
        model = load_model(n)
        for b in backends:
            key = f"{n}/{b}"
            predictors[key] = Predictor(model, backend=b)
            pred = predictors[key]
            pred.set_image(data[0][0])  # warm-up, untimed: OpenVINO converts (or loads) the encoder here
            predict_2d(pred, data[0][0], data[0][1], args.prompt)
            growth[key] = _peak_rss_mb() - before
    keys = list(predictors)
    times = {k: 0.0 for k in keys}
    dices = {k: [] for k in keys}
    for _ in range(max(1, args.repeats)):
        for k in keys:  # alternate models so drift in machine load hits all of them alike
            pred = predictors[k]
            for image, ref in data:
                pred.clear_cache()
                t0 = time.perf_counter()
                mask = predict_2d(pred, image, ref, args.prompt)
                times[k] += time.perf_counter() - t0
                dices[k].append(score(mask, ref)["dice"])
    count = len(data) * max(1, args.repeats)
    base = times[keys[0]] / count
    print(
        f"{len(data)} slices x {max(1, args.repeats)} repeats, prompt {args.prompt}; ratio: time / {keys[0]}"
    )
    print(f"{'model/backend':<20} {'s/image':>8} {'ratio':>6} {'dice':>7} {'peak RSS growth MB':>19}")
    for k in keys:
        per = times[k] / count
        mean_dice = sum(dices[k]) / len(dices[k])
        print(f"{k:<20} {per:8.3f} {per / base:6.3f} {mean_dice:7.4f} {growth[k]:19.1f}")
    return 0
