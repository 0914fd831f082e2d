"""``spinalsam-r1 train``: fine-tune LoRA + CBAM (+ decoder) on spine slices and labelled volumes."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import UserError
from .common import add_recipe_args, run_recipe


def register(sub) -> None:
    p = sub.add_parser(
        "train",
        help="fine-tune an adapter (LoRA + CBAM) on spine CT",
        description="Slice folders hold image/ and mask/ subfolders with the same file names; their view is "
        "taken from the folder name (axial, sagittal, coronal). Volumes are given as CT, label map and label "
        "ids (e.g. 25-50), and are sliced in all three views. The last --val-fraction of each view's slices "
        "(in file order) validate.",
    )
    p.add_argument(
        "--slices", type=Path, nargs="*", default=[], help="view folders, e.g. data/spine_ct_slices/axial"
    )
    p.add_argument(
        "--volume",
        nargs=3,
        action="append",
        default=[],
        metavar=("CT", "LABELS", "IDS"),
        help="a CT, its label map and the label ids to use (repeatable)",
    )
    p.add_argument("--out", type=Path, default=Path("runs/spinal"), help="run folder (default: %(default)s)")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--variants", type=int, default=4, help="cached augmentations per sample")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--no-lora", action="store_true", help="do not train LoRA (ablation)")
    p.add_argument("--no-cbam", action="store_true", help="do not add CBAM (ablation)")
    p.add_argument("--no-decoder", action="store_true", help="keep the mask decoder frozen")
    p.add_argument(
        "--detail",
        action="store_true",
        help="add and train the high-resolution detail branch (early encoder features into the mask decoder)",
    )
    p.add_argument(
        "--frozen-norm",
        action="store_true",
        help="keep the encoder's BatchNorm statistics fixed while training (inference uses them as they are)",
    )
    p.add_argument(
        "--init-adapter",
        type=Path,
        help="start from this adapter's weights instead of the bare base model (its LoRA stays; stages of "
        "--lora-layers it lacks get new LoRA of its rank)",
    )
    p.add_argument("--lora-rank", type=int, default=8)
    p.add_argument("--lora-alpha", type=float, default=16.0)
    p.add_argument(
        "--lora-layers",
        nargs="*",
        default=["layers.2", "layers.3"],
        help="encoder stages that get LoRA (empty = all attention layers)",
    )
    p.add_argument(
        "--crop-margin",
        type=float,
        default=0.1,
        help="encode a crop this much larger than the box "
        "(fraction of its size per side); negative = whole slice",
    )
    p.add_argument(
        "--max-stretch",
        type=float,
        default=1.0,
        help="scale the short side of the encoded crop up by up to this factor (1 = keep proportions)",
    )
    p.add_argument(
        "--input-fit",
        choices=("square", "area"),
        default="square",
        help="encoder input: SAM's padded square, or shaped like the crop with the same pixel count "
        "(area; litemedsam only: a tall sagittal crop keeps 1.5 x the resolution; see --input-area)",
    )
    p.add_argument(
        "--input-area",
        type=float,
        default=1.0,
        help="with --input-fit area: the encoder's pixel budget in units of the square's (e.g. 1.5 = "
        "1.22 x the resolution for 1.5 x the encoder time); stored in the adapter",
    )
    p.add_argument("--val-fraction", type=float, default=0.2)
    p.add_argument(
        "--time-limit", type=float, default=None, help="stop after the epoch that passes N minutes"
    )
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None)
    p.add_argument("--export", type=Path, help="copy the best adapter to this path at the end")
    p.add_argument("--overwrite", action="store_true", help="let --export replace an existing file")
    p.add_argument(
        "--data",
        type=Path,
        default=Path("../shared/data"),
        help="data folder of a recipe (default: %(default)s)",
    )
    add_recipe_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import shutil

    from ..atomic import atomic_path
    from ..geometry import VIEWS
    from ..training import (
        TrainConfig,
        load_slice_folder,
        load_volume_slices,
        parse_label_ids,
        split_tail_per_view,
        train,
    )

    if args.config:
        return run_recipe(args, "train")
    if not args.slices and not args.volume:
        raise UserError("give training data: --slices and/or --volume")
    if (args.out / "state.pt").exists() and not args.resume:
        raise UserError(f"{args.out} holds a run; pass --resume to continue it or choose another --out")
    if args.init_adapter and not args.init_adapter.is_file():
        raise UserError(f"--init-adapter: no such file: {args.init_adapter}")
    if args.export and args.export.exists() and not args.overwrite:  # say so now, not after the run
        raise UserError(f"{args.export} exists; pass --overwrite to replace it with this run's adapter")
    samples = []
    for folder in args.slices:
        view = folder.name.lower()
        if view not in VIEWS:
            raise UserError(f"cannot tell the view of {folder}: name the folder axial, sagittal or coronal")
        samples += load_slice_folder(folder, view)
    train_s, val_s = split_tail_per_view(samples, args.val_fraction)
    for ct, labels, ids in args.volume:
        train_s += load_volume_slices(Path(ct), Path(labels), parse_label_ids(ids))
    print(f"{len(train_s)} training and {len(val_s)} validation slices")
    cfg = TrainConfig(
        out=str(args.out),
        use_lora=not args.no_lora,
        use_cbam=not args.no_cbam,
        tune_decoder=not args.no_decoder,
        use_detail=args.detail,
        frozen_norm=args.frozen_norm,
        init_adapter=None if args.init_adapter is None else str(args.init_adapter),
        lora_rank=args.lora_rank,
        lora_alpha=args.lora_alpha,
        lora_layers=tuple(args.lora_layers),
        crop_margin=None if args.crop_margin < 0 else args.crop_margin,
        max_stretch=args.max_stretch,
        input_fit=args.input_fit,
        input_area=args.input_area,
        epochs=args.epochs,
        variants=args.variants,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        time_limit_min=args.time_limit,
        device=args.device,
        extra={"slices": [str(s) for s in args.slices], "volumes": args.volume},
    )
    result = train(cfg, train_s, val_s, resume=args.resume)
    print(
        f"best validation box Dice {result['best_box_dice']:.4f} after {result['minutes']:.1f} min; run in {args.out}"
    )
    if args.export:
        with atomic_path(args.export, args.overwrite, ".safetensors") as tmp:
            shutil.copyfile(args.out / "best.safetensors", tmp)
        print(f"exported {args.export}")
    return 0
