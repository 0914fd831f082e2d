"""Fine-tuning SAM-family models with LoRA + CBAM on spine CT (``spinalsam-r1 train``)."""

from .data import Sample, load_slice_folder, load_volume_slices, parse_label_ids, split_tail_per_view
from .trainer import TrainConfig, train, validate

__all__ = [
    "Sample",
    "TrainConfig",
    "load_slice_folder",
    "load_volume_slices",
    "parse_label_ids",
    "split_tail_per_view",
    "train",
    "validate",
]
