"""Arguments and helpers shared by several sub-commands."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from ..errors import UserError


def add_model_args(parser: argparse.ArgumentParser) -> None:
    """--model, --checkpoint, --adapter, --device, --backend."""
    from ..model.names import DEFAULT_VERTEBRA_MODEL
    from ..model.registry import DEFAULT_MODEL, MODEL_NAMES

    g = parser.add_argument_group("model")
    g.add_argument(
        "--model",
        choices=MODEL_NAMES,
        default=None,
        help=f"model name (default: {DEFAULT_MODEL}, and {DEFAULT_VERTEBRA_MODEL} for one vertebra in 3D; "
        "detected from --checkpoint when given)",
    )
    g.add_argument(
        "--checkpoint",
        type=Path,
        help="base weights file (.pth) for vit_b/vit_l/vit_h (SAM, MedSAM, SpinalSAM-R1)",
    )
    g.add_argument("--adapter", type=Path, help="LoRA/CBAM adapter file (.safetensors) to apply")
    g.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: CUDA when available)")
    g.add_argument(
        "--backend",
        choices=("auto", "torch", "openvino"),
        default=None,
        help="where the image encoder runs on the CPU (default auto: OpenVINO when installed, else torch)",
    )


def add_series_arg(parser: argparse.ArgumentParser) -> None:
    """--series: which DICOM series of a folder to read (io.read_volume refuses to guess)."""
    parser.add_argument(
        "--series", metavar="UID", help="the DICOM series to read when the folder holds several"
    )


def add_volume_args(parser: argparse.ArgumentParser) -> None:
    """--series and --stride-mm, for commands that run the 3D vertebra mode on a CT."""
    add_series_arg(parser)
    parser.add_argument(
        "--stride-mm",
        type=float,
        default=None,
        metavar="MM",
        help="3D vertebra mode: segment slices about this far apart and interpolate between them "
        "(0: every slice; default 3, vertebra.DEFAULT_STRIDE_MM: not imported here, it needs torch)",
    )


def load_predictor(args: argparse.Namespace, vertebra: bool = False):
    """Model + Predictor from the model arguments. ``vertebra``: the 3D vertebra mode, whose default
    model (when no --model, --checkpoint or --adapter is given) is the one trained on single vertebrae."""
    from ..model import load_model
    from ..model.names import DEFAULT_VERTEBRA_MODEL
    from ..predictor import Predictor

    name = args.model
    if vertebra and name is None and args.checkpoint is None and args.adapter is None:
        name = DEFAULT_VERTEBRA_MODEL
    model = load_model(name, args.checkpoint, args.adapter, args.device)
    return Predictor(model, backend=getattr(args, "backend", None))


def finite_or_none(obj):
    """Replace inf/nan floats by None so that the JSON is standard (null = undefined distance)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [finite_or_none(v) for v in obj]
    return obj


def write_json(path: Path, data, overwrite: bool = False) -> None:
    """Write JSON atomically; refuse to replace an existing file unless ``overwrite``."""
    from ..atomic import atomic_path

    with atomic_path(path, overwrite, ".json") as tmp:
        tmp.write_text(json.dumps(finite_or_none(data), indent=2, ensure_ascii=False), encoding="utf-8")


def fmt(value: float, digits: int = 4) -> str:
    return "inf" if math.isinf(value) else f"{value:.{digits}f}"


def add_recipe_args(p: argparse.ArgumentParser) -> None:
    """--config/--dry-run: run a training recipe (SpinalSAMR1Lib.training.recipe) instead of one run."""
    p.add_argument(
        "--config",
        metavar="RECIPE",
        help="run the stages of a training recipe (a .toml file, or a shipped one by name: spinal, vertebra) "
        "instead of the options below; {data} in it is --data",
    )
    p.add_argument("--dry-run", action="store_true", help="with --config: print the stages' commands only")


def run_recipe(args: argparse.Namespace, command: str) -> int:
    """Run each stage of ``args.config`` through ``command``'s own parser and function, in turn."""
    import shlex

    from ..training.recipe import load_recipe
    from . import build_parser

    recipe = load_recipe(args.config, args.data)
    if recipe.command != command:
        raise UserError(
            f"{recipe.path} is a recipe of {recipe.command}: run spinalsam-r1 {recipe.command} --config"
        )
    device = ["--device", args.device] if getattr(args, "device", None) else []
    for n, argv in enumerate(recipe.stages, 1):
        print(
            f"stage {n} of {len(recipe.stages)}: spinalsam-r1 {command} {shlex.join(argv + device)}",
            flush=True,
        )
        try:
            stage = build_parser(stage=True).parse_args([command, *argv, *device])
        except UserError as exc:
            raise UserError(f"{recipe.path} stage {n}: {exc}") from exc
        if stage.config:
            raise UserError(f"{recipe.path}: a stage cannot name another recipe")
        if not args.dry_run:
            code = stage.func(stage)
            if code:
                return code
    return 0
