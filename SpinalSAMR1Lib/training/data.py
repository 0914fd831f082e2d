"""Training samples: 2D slices with binary masks from slice folders and from labelled CT volumes.

Volumes are sliced in all three views through :mod:`SpinalSAMR1Lib.geometry` (the same code as
inference), windowed with the same default window, and keep their physical pixel size so the model sees
true proportions. Labels are aligned with their image by physical position, never by array index.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import geometry as geo
from ..errors import UserError
from ..evaluation import slice_pairs
from ..evaluation import split_tail as evaluation_split_tail
from ..intensity import choose_window, to_model_range
from ..io import read_image_2d, read_volume


@dataclass
class Sample:
    """One 2D training example: grey image 0..255 (H, W), boolean mask (H, W) and where it came from."""

    name: str
    view: str
    image: np.ndarray
    mask: np.ndarray
    pixel_spacing: tuple[float, float] = (1.0, 1.0)  # (row, column) mm
    source: str = "slices"  # "slices" (a 2D folder), "volume" (union of labels) or "instance" (one vertebra)
    box: np.ndarray | None = None  # the prompt box (pixels) when it is not the mask's own; mask may be empty


def load_slice_folder(root: Path, view: str) -> list[Sample]:
    """Samples from ``root/image`` and ``root/mask`` (same file names), e.g. spine_ct_slices/axial."""
    samples = []
    for image_path, mask_path in slice_pairs(Path(root) / "image", Path(root) / "mask"):
        image = to_model_range(read_image_2d(image_path))
        mask = read_image_2d(mask_path) > 0
        if image.shape != mask.shape:
            raise UserError(f"{image_path}: image and mask sizes differ")
        samples.append(Sample(f"{view}/{image_path.stem}", view, image, mask))
    return samples


def parse_label_ids(text: str) -> list[int]:
    """Label ids from text such as "25-50" or "27,28,29,30"."""
    ids: list[int] = []
    try:
        for part in text.split(","):
            if "-" in part:
                lo, hi = (int(v) for v in part.split("-"))
                ids.extend(range(lo, hi + 1))
            elif part.strip():
                ids.append(int(part))
    except ValueError as exc:
        raise UserError(f"bad label ids {text!r}; use e.g. 25-50 or 27,28,29") from exc
    return ids


def load_volume_slices(
    volume_path: Path,
    labels_path: Path,
    label_ids: list[int],
    views: tuple[str, ...] = geo.VIEWS,
    min_pixels: int = 150,
    min_side_mm: float = 80.0,
    stride: int = 2,
) -> list[Sample]:
    """2D samples from a CT and its label map: the union of ``label_ids`` is the foreground.

    Every ``stride``-th slice with at least ``min_pixels`` foreground pixels is kept, in each view whose
    slices are at least ``min_side_mm`` on their shorter side (thin slabs give no useful context).
    """
    vol, seg = read_volume(volume_path), read_volume(labels_path)
    labels = geo.resample_nearest(seg.array, seg.ijk_to_ras, vol.shape, vol.ijk_to_ras)
    fg = np.isin(labels, label_ids)
    window = choose_window(vol.array)
    samples = []
    for view in views:
        frame = geo.view_frame(vol.ijk_to_ras, vol.shape, view)
        spacing = geo.pixel_spacing(vol.ijk_to_ras, frame)
        rows, cols = frame.slice_shape
        if min(rows * spacing[0], cols * spacing[1]) < min_side_mm:
            continue
        kept = [i for i in range(frame.num_slices) if geo.extract_slice(fg, frame, i).sum() >= min_pixels]
        for index in kept[::stride]:
            image = to_model_range(geo.extract_slice(vol.array, frame, index), window)
            mask = geo.extract_slice(fg, frame, index)
            samples.append(
                Sample(f"{Path(volume_path).name}/{view}/{index}", view, image, mask, spacing, "volume")
            )
    return samples


def split_tail_per_view(samples: list[Sample], fraction: float) -> tuple[list[Sample], list[Sample]]:
    """(train, validation): per view, the last ``fraction`` of the samples in file order validate
    (see :func:`SpinalSAMR1Lib.evaluation.split_tail`)."""
    train, val = [], []
    for view in dict.fromkeys(s.view for s in samples):
        head, tail = evaluation_split_tail([s for s in samples if s.view == view], fraction)
        train += head
        val += tail
    return train, val
