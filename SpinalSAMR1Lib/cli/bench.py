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
        description="Runs the 2D evaluation with each model on the same slices, in this one process, and "
        "prints seconds per image, Dice and the time ratio to the first model.",
    )
    s.add_argument("--images", type=Path, required=True)
    s.add_argument("--masks", type=Path, required=True)
    s.add_argument(
        "--models", nargs="+", default=None, help="model names (default: litemedsam and the default model)"
    )
    s.add_argument("--prompt", choices=("box", "points"), default="box")
    s.add_argument("--limit", type=int, default=None, help="use only the first N slices")
    s.add_argument("--repeats", type=int, default=1, help="alternate the models this many times")
    s.set_defaults(func=run_speed)
    import importlib

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
    from ..predictor import Predictor

    names = list(dict.fromkeys(args.models or ["litemedsam", DEFAULT_MODEL]))
    pairs = slice_pairs(args.images, args.masks)[: args.limit]
    if not pairs:
        raise UserError("no slices to benchmark")
    data = [(read_image_2d(i), read_image_2d(m) > 0) for i, m in pairs]
    predictors = {}
    for n in names:
        before = _peak_rss_mb()
        predictors[n] = Predictor(load_model(n))
        predictors[n].rss_growth = _peak_rss_mb() - before
    times = {n: 0.0 for n in names}
    dices = {n: [] for n in names}
    for _ in range(max(1, args.repeats)):
        for n in names:  # alternate models so drift in machine load hits all of them alike
            pred = predictors[n]
            for image, ref in data:
                pred.clear_cache()
                t0 = time.perf_counter()
                mask = predict_2d(pred, image, ref, args.prompt)
                times[n] += time.perf_counter() - t0
                dices[n].append(score(mask, ref)["dice"])
    count = len(data) * max(1, args.repeats)
    base = times[names[0]] / count
    print(f"{len(data)} slices x {max(1, args.repeats)} repeats, prompt {args.prompt}")
    print(f"{'model':<12} {'s/image':>8} {'ratio':>6} {'dice':>7} {'peak RSS growth MB':>19}")
    for n in names:
        per = times[n] / count
        mean_dice = sum(dices[n]) / len(dices[n])
        print(f"{n:<12} {per:8.3f} {per / base:6.3f} {mean_dice:7.4f} {predictors[n].rss_growth:19.1f}")
    return 0
