"""Prompt simulation that matches real use: jittered boxes, points from the ground truth, refinement clicks.

All coordinates are image pixels (x, y); boxes (x_min, y_min, x_max, y_max).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..evaluation import box_from_mask, points_from_mask


def jitter_box(
    box: np.ndarray,
    shape: tuple[int, int],
    rng: np.random.Generator,
    fraction: float = 0.04,
    pixels: float = 3.0,
) -> np.ndarray:
    """Move each side of ``box`` by up to ``fraction`` of the box size plus ``pixels``, within the image."""
    w, h = box[2] - box[0] + 1, box[3] - box[1] + 1
    limit = np.array([w, h, w, h]) * fraction + pixels
    out = box + rng.uniform(-1, 1, 4) * limit
    out[[0, 2]] = np.clip(np.sort(out[[0, 2]]), 0, shape[1] - 1)
    out[[1, 3]] = np.clip(np.sort(out[[1, 3]]), 0, shape[0] - 1)
    return out


def component_target(mask: np.ndarray, rng: np.random.Generator, min_pixels: int = 100) -> np.ndarray | None:
    """One random connected component (8-connected, >= ``min_pixels``) of ``mask``; None if there is none."""
    lab, n = ndimage.label(mask, structure=np.ones((3, 3), bool))
    sizes = ndimage.sum(mask, lab, range(1, n + 1))
    big = [i + 1 for i, s in enumerate(sizes) if s >= min_pixels]
    if len(big) < 2:
        return None  # a single component is the whole-structure case
    return lab == rng.choice(big)


def random_points(
    mask: np.ndarray, rng: np.random.Generator, n_pos: int, n_neg: int, near: np.ndarray | None = None
):
    """(xy (N, 2), labels (N,)): one point at each component's centre plus ``n_pos`` random interior points
    and ``n_neg`` background points within the structure's (dilated) box."""
    pts = [points_from_mask(mask)]
    labels = [np.ones(len(pts[0]), int)]
    ys, xs = np.nonzero(mask)
    if n_pos and len(xs):
        pick = rng.integers(0, len(xs), n_pos)
        pts.append(np.stack([xs[pick], ys[pick]], 1).astype(float))
        labels.append(np.ones(n_pos, int))
    region = near if near is not None else mask
    box = box_from_mask(region)
    if n_neg and box is not None:
        pad = 0.15 * max(box[2] - box[0], box[3] - box[1])
        x0, y0 = max(0, int(box[0] - pad)), max(0, int(box[1] - pad))
        x1, y1 = min(mask.shape[1], int(box[2] + pad) + 1), min(mask.shape[0], int(box[3] + pad) + 1)
        bys, bxs = np.nonzero(~mask[y0:y1, x0:x1])
        if len(bxs):
            pick = rng.integers(0, len(bxs), n_neg)
            pts.append(np.stack([bxs[pick] + x0, bys[pick] + y0], 1).astype(float))
            labels.append(np.zeros(n_neg, int))
    return np.concatenate(pts), np.concatenate(labels)


def correction_point(pred: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, int] | None:
    """The click a user would make next: the centre of the largest error region; label 1 where the model
    missed foreground, 0 where it added background. None when the prediction is perfect."""
    best = None
    for err, label in ((target & ~pred, 1), (pred & ~target, 0)):
        if not err.any():
            continue
        dist = ndimage.distance_transform_edt(np.pad(err, 1))[1:-1, 1:-1]
        if best is None or dist.max() > best[0]:
            y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
            best = (dist.max(), np.array([x, y], float), label)
    return None if best is None else (best[1], best[2])
