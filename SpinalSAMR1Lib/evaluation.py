"""Evaluation against ground truth: prompts simulated from reference masks, metrics per image or volume.

Prompt rules (fixed so that numbers are comparable between models and runs):
- ``box``: the tight bounding box (x_min, y_min, x_max, y_max) of all foreground pixels.
- ``points``: one positive point per connected component (8-connected in 2D) of at least
  ``MIN_COMPONENT_PX`` pixels, at the maximum of its Euclidean distance transform.
Surface distances of 2D slice folders are in pixels (their spacing is unknown); 3D ones in mm.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from . import geometry as geo
from . import metrics
from .errors import InputError, UserError
from .io import IMAGE_2D_SUFFIXES, Volume, read_image_2d
from .predictor import Predictor

PROMPT_KINDS = ("box", "points")
MIN_COMPONENT_PX = 100
METRIC_NAMES = ("dice", "iou", "msd", "hd95")


@dataclass
class Row:
    """Metrics of one image (or one label of a volume) and the time its prediction took."""

    name: str
    dice: float
    iou: float
    msd: float
    hd95: float
    seconds: float


def box_from_mask(mask: np.ndarray, pad: float = 0.0) -> np.ndarray | None:
    """Tight (x_min, y_min, x_max, y_max) pixel box of a 2D mask's foreground, grown by ``pad`` pixels on
    every side within the image; None when empty."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    box = np.array([xs.min(), ys.min(), xs.max(), ys.max()], float)
    if pad:
        h, w = mask.shape
        box = np.clip(box + [-pad, -pad, pad, pad], 0, [w - 1, h - 1, w - 1, h - 1])
    return box


def points_from_mask(mask: np.ndarray, min_size: int = MIN_COMPONENT_PX) -> np.ndarray:
    """One (x, y) point per component of >= ``min_size`` pixels at its distance-transform maximum."""
    lab, n = ndimage.label(mask, structure=np.ones((3, 3), bool))
    points = []
    for comp in range(1, n + 1):
        region = lab == comp
        if region.sum() < min_size:
            continue
        dist = ndimage.distance_transform_edt(region)
        y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
        points.append((float(x), float(y)))
    return np.array(points, float).reshape(-1, 2)


def score(pred: np.ndarray, ref: np.ndarray, spacing=None) -> dict[str, float]:
    """Dice, IoU, MSD and HD95 of one prediction (distances in units of ``spacing``, else pixels)."""
    return {
        "dice": metrics.dice(pred, ref),
        "iou": metrics.iou(pred, ref),
        "msd": metrics.mean_surface_distance(pred, ref, spacing),
        "hd95": metrics.hd95(pred, ref, spacing),
    }


def predict_2d(
    predictor: Predictor, image: np.ndarray, ref: np.ndarray, prompt: str, window: tuple | str | None = "auto"
) -> np.ndarray:
    """Predict a 2D mask with prompts derived from ``ref`` (see module docstring); ``window`` as in
    :func:`~SpinalSAMR1Lib.intensity.to_model_range` (None for images already in 0..255)."""
    from .intensity import to_model_range

    predictor.set_image(to_model_range(image, window))
    if prompt == "box":
        box = box_from_mask(ref)
        return np.zeros_like(ref, bool) if box is None else predictor.predict(box=box).mask
    points = points_from_mask(ref)
    if len(points) == 0:
        return np.zeros_like(ref, bool)
    return predictor.predict(points_xy=points, labels=np.ones(len(points), int)).mask


def slice_pairs(images_dir: Path, masks_dir: Path) -> list[tuple[Path, Path]]:
    """(image, mask) paths with the same file name in both folders, sorted naturally by name."""
    for d in (images_dir, masks_dir):
        if not d.is_dir():
            raise UserError(f"not a folder: {d}")
    images = {p.name: p for p in images_dir.iterdir() if p.name.lower().endswith(IMAGE_2D_SUFFIXES)}
    pairs = [(images[n], masks_dir / n) for n in images if (masks_dir / n).is_file()]
    if not pairs:
        raise UserError(f"no image in {images_dir} has a mask of the same name in {masks_dir}")
    return sorted(pairs, key=lambda pair: _natural_key(pair[0].name))


def check_pair_sizes(pairs: list[tuple[Path, Path]]) -> None:
    """Refuse, from the files' headers (no pixels read, no model needed), a pair whose image and mask
    differ in size or a file that is not an image."""
    import SimpleITK as sitk

    reader = sitk.ImageFileReader()
    for image_path, mask_path in pairs:
        sizes = []
        for path in (image_path, mask_path):
            reader.SetFileName(str(path))
            try:
                reader.ReadImageInformation()
            except RuntimeError:
                raise UserError(f"cannot read image {path}") from None
            sizes.append(tuple(reader.GetSize()))
        if sizes[0][:2] != sizes[1][:2]:
            (w, h), (mw, mh) = sizes[0][:2], sizes[1][:2]
            raise UserError(f"{image_path.name}: image {w} x {h} and mask {mw} x {mh} differ in size")


def split_tail(items: list, fraction: float) -> tuple[list, list]:
    """(head, tail): the last ``fraction`` of ``items`` (rounded) is the tail. Validation uses the tail of
    slices in file order because neighbouring slices are nearly identical: a random split would leak."""
    if not 0 <= fraction <= 1:
        raise UserError(f"the validation fraction must be between 0 and 1, got {fraction}")
    cut = len(items) - int(round(len(items) * fraction))
    return items[:cut], items[cut:]


def _natural_key(name: str) -> list:
    import re

    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def evaluate_slices(
    predictor: Predictor,
    images_dir: Path,
    masks_dir: Path,
    prompt: str = "box",
    progress: Callable[[Row], None] | None = None,
    tail_fraction: float | None = None,
) -> list[Row]:
    """Evaluate every image/mask pair of two folders; one :class:`Row` per image.

    ``tail_fraction``: only the last fraction of the pairs in natural name order (the validation split
    that ``spinalsam-r1 train`` holds back with the same fraction).
    """
    if prompt not in PROMPT_KINDS:
        raise UserError(f"--prompt must be one of {', '.join(PROMPT_KINDS)}")
    pairs = slice_pairs(Path(images_dir), Path(masks_dir))
    if tail_fraction is not None:
        pairs = split_tail(pairs, tail_fraction)[1]
    rows = []
    for image_path, mask_path in pairs:
        image, ref = read_image_2d(image_path), read_image_2d(mask_path) > 0
        if image.shape != ref.shape:
            raise UserError(f"{image_path.name}: image {image.shape} and mask {ref.shape} differ in size")
        t0 = time.perf_counter()
        pred = predict_2d(predictor, image, ref, prompt)
        row = Row(image_path.name, seconds=time.perf_counter() - t0, **score(pred, ref))
        rows.append(row)
        if progress is not None:
            progress(row)
    return rows


def evaluate_volume(
    predictor: Predictor,
    volume: Volume,
    labels: np.ndarray,
    label_ids: list[int],
    view: str | None = None,
    prompt: str = "box",
    progress: Callable[[Row], None] | None = None,
    stride_mm: float | None = None,
) -> list[Row]:
    """Evaluate the 3D vertebra mode (:func:`~SpinalSAMR1Lib.vertebra.segment_vertebra`) on each label id,
    as a user would prompt it: ``box`` is the label's tight 3D box (an ROI), ``points`` one positive click
    at the label's deepest interior point (:func:`deepest_point_ras`). ``view`` forces one view (default:
    the mode's own); ``stride_mm`` as in the mode (None: its default). Distances in mm; ``labels`` must already be on ``volume``'s grid."""
    from .vertebra import segment_vertebra
    from .volume import Prompts

    rows = []
    spacing = geo.spacing_kji(volume.ijk_to_ras)
    for label in label_ids:
        ref = labels == label
        if not ref.any():
            raise UserError(f"label {label} is not present in the label map")
        if prompt == "box":
            prompts = Prompts(roi=geo.label_roi(labels, label, volume.ijk_to_ras))
        else:
            prompts = Prompts(points_ras=deepest_point_ras(ref, volume.ijk_to_ras)[None], labels=[1])
        t0 = time.perf_counter()
        pred = (
            segment_vertebra(
                volume.array, volume.ijk_to_ras, prompts, views=view, predictor=predictor, stride_mm=stride_mm
            )
            > 0
        )
        row = Row(f"label {label}", seconds=time.perf_counter() - t0, **score(pred, ref, spacing))
        rows.append(row)
        if progress is not None:
            progress(row)
    return rows


def deepest_point_ras(ref: np.ndarray, ijk_to_ras: np.ndarray) -> np.ndarray:
    """(3,) RAS of the voxel of a 3D mask farthest from its surface, in mm (the maximum of the Euclidean
    distance transform with the voxel spacing): where a user clicks to mean "this vertebra"."""
    # Only the mask's bounding box, padded with one background layer, is transformed (the levels walk calls
    # this once per vertebra on whole CTs): for a voxel inside, the nearest background voxel outside the
    # box is never nearer than its projection onto the padding layer, so the distances are exact.
    ref = np.asarray(ref, bool)
    kji = np.argwhere(ref)
    if not len(kji):
        raise InputError("the mask is empty: it has no deepest point")
    lo, hi = kji.min(axis=0), kji.max(axis=0) + 1
    box = ref[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
    dist = ndimage.distance_transform_edt(np.pad(box, 1), sampling=geo.spacing_kji(ijk_to_ras))[
        1:-1, 1:-1, 1:-1
    ]
    k, j, i = np.array(np.unravel_index(int(np.argmax(dist)), dist.shape)) + lo
    return geo.ijk_to_ras_points(np.array([[i, j, k]], float), ijk_to_ras)[0]


def summary(rows: list[Row]) -> dict[str, dict[str, float]]:
    """Mean and sample SD of every metric over rows (non-finite distances dropped and counted)."""
    out = {}
    for name in METRIC_NAMES:
        s = metrics.summarize([getattr(r, name) for r in rows])
        out[name] = {"mean": s.mean, "sd": s.sd, "n": s.n, "dropped": s.dropped}
    return out


def report(rows: list[Row]) -> dict:
    """JSON-ready ``{"per_image": [...], "mean": {...}, "sd": {...}}``."""
    s = summary(rows)
    return {
        "per_image": [asdict(r) for r in rows],
        "mean": {k: v["mean"] for k, v in s.items()},
        "sd": {k: v["sd"] for k, v in s.items()},
        "seconds_per_image": float(np.mean([r.seconds for r in rows])) if rows else float("nan"),
    }
