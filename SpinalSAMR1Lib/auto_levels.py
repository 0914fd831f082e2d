"""Levels without a click: find the spine in the CT, seed the walk of :mod:`.levels`, name from anatomy.

- **Finding the spine** (no training; Automatic MedSAM's idea of prompts from the image, done with CT
  physics instead of a learnt prompt module): the vertebral column is the bone that runs through every
  axial slice near the body's left-right middle. Cortical bone (> ``CORTEX_HU``) is averaged over the
  axial slices; weighted by a Gaussian of the distance to the body's R-L centre (arms lie at the sides and
  persist too), its maximum is the column. On each axial slice, the front ``BODY_DEPTH_MM`` of the bone (> ``BONE_HU``)
  within ``COLUMN_RADIUS_MM`` of the column is that level's vertebral body; its centre is the body point.
- **Seed**: the body point on the axial slice with the most body bone within ``SEED_SEARCH_MM`` of the
  middle of the column's S-I range (a disc shows little bone).
- **Walk**: :func:`~SpinalSAMR1Lib.levels.segment_levels`'s walk, unnamed, to both ends.
- **Names** (unconfirmed): the lowest vertebra found is L5 (the walk stops at the sacrum, which is not a
  vertebral body of this size); the others follow upwards. When the volume ends below the lowest
  vertebra the guess is weaker and it says so. "This is L4" renames them all.

Measured on the development CTs: the column point lies inside a labelled vertebra (or its disc) on every
axial slice of the four CTs (VerSe 006, 007, 008 and TotalSegmentator's example).
"""

from __future__ import annotations

from collections.abc import Hashable

import numpy as np
from scipy import ndimage

from . import geometry as geo
from .commands.schema import LEVEL_INDEX, LEVELS
from .errors import InputError
from .levels import LevelsResult, _make_walk, _result, _walk_spine
from .predictor import Predictor
from .volume import CancelFn, ProgressFn

CORTEX_HU = 300.0
BONE_HU = 150.0
TISSUE_HU = -300.0
MIDLINE_SIGMA_MM = 40.0
COLUMN_RADIUS_MM = 50.0
BODY_DEPTH_MM = 30.0  # front-to-back depth of a lumbar vertebral body (25-35 mm)
MIN_BODY_MM2 = 200.0  # less bone than this near the column: no vertebra on that slice
SEED_SEARCH_MM = 20.0
_UNNAMED_START = 100  # spine positions of an unnamed walk: the seed's, with room both ways
_L5 = LEVEL_INDEX["L5"]


def find_column(array: np.ndarray, ijk_to_ras: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The vertebral body per axial slice where the column has bone: ``(slice indices (N,), body centres
    RAS (N, 3), body bone areas mm^2 (N,))``, smoothed at 1 mm (see the module doc)."""
    frame = geo.view_frame(ijk_to_ras, array.shape, "axial")
    rows_mm, cols_mm = geo.pixel_spacing(ijk_to_ras, frame)
    normal_mm = float(geo.spacing_ijk(ijk_to_ras)[frame.normal_ijk])
    stack = np.stack([geo.extract_slice(array, frame, k) for k in range(frame.num_slices)]).astype(np.float32)
    stack = ndimage.gaussian_filter(stack, (1.0 / normal_mm, 1.0 / rows_mm, 1.0 / cols_mm))
    persistence = ndimage.gaussian_filter((stack > CORTEX_HU).mean(0), (8.0 / rows_mm, 8.0 / cols_mm))
    tissue_cols = np.nonzero((stack > TISSUE_HU).mean(0) > 0.5)[1]
    if not len(tissue_cols) or persistence.max() <= 0:
        raise InputError("no bone found in the CT (is it a CT in Hounsfield units?)")
    rr, cc = np.mgrid[: persistence.shape[0], : persistence.shape[1]]
    midline = np.exp(-(((cc - tissue_cols.mean()) * cols_mm / MIDLINE_SIGMA_MM) ** 2))
    r0, c0 = np.unravel_index(int(np.argmax(persistence * midline)), persistence.shape)
    near = ((rr - r0) * rows_mm) ** 2 + ((cc - c0) * cols_mm) ** 2 <= COLUMN_RADIUS_MM**2
    indices, coords, areas = [], [], []
    for k in range(frame.num_slices):
        bone = (stack[k] > BONE_HU) & near
        if bone.sum() * rows_mm * cols_mm < MIN_BODY_MM2:
            continue
        r, c = np.nonzero(bone)
        top = np.percentile(r, 2)  # rows grow posteriorly: the body is the front of the bone
        front = r <= top + BODY_DEPTH_MM / rows_mm
        indices.append(k)
        coords.append((k, float(np.median(c[front])), float(top + 0.5 * BODY_DEPTH_MM / rows_mm)))
        areas.append(float(front.sum() * rows_mm * cols_mm))
    if not indices:
        raise InputError("no vertebral column found in the CT")
    points = geo.slice_coords_to_ras(np.array(coords), ijk_to_ras, frame)
    return np.array(indices), points, np.array(areas)


def spine_seed(array: np.ndarray, ijk_to_ras: np.ndarray) -> np.ndarray:
    """(3,) RAS mm of a point inside a vertebral body near the middle of the column (see module doc)."""
    _, points, areas = find_column(array, ijk_to_ras)
    z = points[:, 2]
    middle = 0.5 * (z.min() + z.max())
    close = np.abs(z - middle) <= SEED_SEARCH_MM
    best = np.argmax(np.where(close, areas, -np.inf))
    return points[best]


def segment_levels_auto(
    array: np.ndarray,
    ijk_to_ras: np.ndarray,
    *,
    model=None,
    predictor: Predictor | None = None,
    views: tuple[str, ...] | str | None = None,
    stride_mm: float | None = None,
    refind: bool = True,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    cache_key: Hashable | None = None,
    window: tuple[float, float] | str | None = "auto",
) -> LevelsResult:
    """Every vertebra of the CT, named from anatomy (unconfirmed), as a :class:`LevelsResult`."""
    seed = spine_seed(array, ijk_to_ras)
    walk = _make_walk(array, ijk_to_ras, model, predictor, views, stride_mm, cancel, cache_key, window)
    bounds = (_UNNAMED_START - len(LEVELS), _UNNAMED_START + len(LEVELS))
    chain, stops = _walk_spine(walk, seed, _UNNAMED_START, bounds, refind, progress, named=False)
    lowest = max(chain)
    shift = _L5 - lowest  # the lowest vertebra found is L5
    named = {LEVELS[pos + shift]: f for pos, f in chain.items() if 0 <= pos + shift < len(LEVELS) - 1}
    stops = dict(stops)
    stops["naming"] = (
        "the lowest vertebra found is taken for L5 (names unconfirmed)"
        if "out of the volume" not in stops.get("caudal", "")
        else "the volume ends below the lowest vertebra found, which is taken for L5: names are a guess"
    )
    return _result(walk, named, stops, confirmed=False)
