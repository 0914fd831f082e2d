"""``spinalsam-r1 train-vertebra``: the vertebra-aware adapter, chosen by leave-one-case-out."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import UserError
from .common import add_recipe_args, run_recipe


def register(sub) -> None:
    p = sub.add_parser(
        "train-vertebra",
        help="train the vertebra-aware adapter (per-vertebra targets) with leave-one-case-out scores",
        description="Reads verse/ (expert per-vertebra CTs), totalseg_example/ and spine_ct_slices/ under "
        "--data; encodes every sample once with the starting adapter's frozen encoder, then trains CBAM and "
        "the mask decoder: once per held-out expert case (scored in 3D with box and click prompts) and once on "
        "everything (the exported adapter).",
    )
    p.add_argument(
        "--data", type=Path, default=Path("../shared/data"), help="data folder (default: %(default)s)"
    )
    p.add_argument(
        "--out", type=Path, default=Path("runs/vertebra"), help="run folder (default: %(default)s)"
    )
    p.add_argument("--init-adapter", type=Path, help="starting adapter (default: the shipped spinal)")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--variants", type=int, default=1, help="augmented copies per volume sample")
    p.add_argument(
        "--slice-variants", type=int, default=3, help="augmented copies per 2D slice-folder sample"
    )
    p.add_argument("--step-mm", type=float, default=5.0, help="distance between sampled slices")
    p.add_argument(
        "--views",
        nargs="+",
        default=["axial", "sagittal"],
        choices=("axial", "sagittal", "coronal"),
        help="views of the volume samples",
    )
    p.add_argument(
        "--max-upscale", type=float, default=1.5, help="encoder input pixels per crop pixel, at most"
    )
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-loco", action="store_true", help="skip the leave-one-case-out folds")
    p.add_argument(
        "--prompts",
        nargs="+",
        default=["box", "points"],
        choices=("box", "points"),
        help="prompt kinds scored in the folds",
    )
    p.add_argument("--export", type=Path, help="copy the final adapter to this path")
    p.add_argument("--overwrite", action="store_true", help="let --export replace an existing file")
    add_recipe_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import shutil

    from ..atomic import atomic_path
    from ..training.vertebra_fit import VertebraConfig
    from ..training.vertebra_fit import run as run_training

    if args.config:
        return run_recipe(args, "train-vertebra")
    if not args.data.is_dir():
        raise UserError(f"--data: no such folder: {args.data}")
    if args.export and args.export.exists() and not args.overwrite:
        raise UserError(f"{args.export} exists; pass --overwrite to replace it with this run's adapter")
    if args.init_adapter and not args.init_adapter.is_file():
        raise UserError(f"--init-adapter: no such file: {args.init_adapter}")
    cfg = VertebraConfig(
        data=str(args.data),
        out=str(args.out),
        init_adapter=None if args.init_adapter is None else str(args.init_adapter),
        epochs=args.epochs,
        variants=args.variants,
        slice_variants=args.slice_variants,
        step_mm=args.step_mm,
        views=tuple(args.views),
        max_upscale=args.max_upscale,
        lr=args.lr,
        seed=args.seed,
        loco=not args.no_loco,
        prompts=tuple(args.prompts),
    )
    run_training(cfg, log=lambda text: print(text, flush=True))
    if args.export:
        with atomic_path(args.export, args.overwrite, ".safetensors") as tmp:
            shutil.copyfile(args.out / "vertebra.safetensors", tmp)
        print(f"exported {args.export}")
    return 0
