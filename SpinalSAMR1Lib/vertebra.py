"""One vertebra of a CT volume in 3D, from one click or one ROI: the product's default 3D mode.

Two ways in, one way out:

- **ROI** (a 3D box around the vertebra): every slice inside the ROI, in each of ``views``, is prompted
  with the ROI's box; the models answer with the vertebra's section or with nothing (trained so: a box
  on a disc or beyond the vertebra's ends has an empty target). The views' probabilities are averaged.
- **Click** (positive points, optional negatives): the clicked slice is segmented from the points, then
  again from the mask's box (the crop shows the vertebra at full detail), then the walk goes both ways
  along the view's normal, prompting each slice with the previous section's box, and stops where the
  model says "empty" (or the section jumps in size). The walk's extent then becomes an ROI for the other
  views when ``views`` has more than one.

The result is one connected 3D object (the component holding the click, or the largest), inside the ROI
when one is given, as a uint8 (0/1) label map on the input's voxel grid. Every slice is encoded once per
request: the predictor's cache is keyed by the slice's pixels.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from . import geometry as geo
from .errors import InputError
from .evaluation import box_from_mask
from .predictor import Predictor
from .volume import (
    WALK_PAD_PX,
    CancelFn,
    Cancelled,
    ProgressFn,
    Prompts,
    get_predictor,
    prompt_slice,
    resolve_window,
    set_volume_slice,
)

# Measured by leave-one-case-out on the VerSe development cases (box prompts, per-vertebra 3D Dice):
# sagittal alone beat axial, coronal and every average of them; slices 6-9 mm apart, interpolated, cost
# about 0.02 Dice (within the spread) for half to a third of the time. See MODEL_CARD.md, "One vertebra in 3D".
DEFAULT_VIEWS: tuple[str, ...] = ("sagittal",)
CLICK_MODES = ("walk", "sweep")  # walk: LOCO 0.55 vs 0.57 (within the spread) in a quarter of the time
DEFAULT_STRIDE_MM = 3.0  # every slice of 3 mm data, every third of 1 mm data
MIN_AREA_PX = 10  # a section smaller than this is "nothing here"
MAX_GROWTH = 2.5  # a walk stops when a section is more than this times the previous one (a neighbour)
MAX_HALF_EXTENT_MM = 60.0  # a walk stops this far from the click: a lumbar vertebra is ~90 mm wide
ROI_MARGIN_MM = 3.0  # margin around a click's walk when it becomes the ROI of further views
# The box around a click on its slice, per patient axis (L-R, A-P, S-I), mm: a lumbar vertebra with its
# processes, but only one body high (an 80 mm S-I box held three bodies and the walk took the neighbours).
CLICK_BOX_MM = np.array([80.0, 80.0, 36.0])


@dataclass
class _Job:
    """What every slice of one request shares."""

    array: np.ndarray
    ijk_to_ras: np.ndarray
    predictor: Predictor
    window: tuple[float, float] | None
    cache_key: Hashable | None
    progress: ProgressFn | None
    cancel: CancelFn | None
    stride_mm: float = 0.0
    done: int = 0
    total: int = 0

    def step(self, labels_so_far: np.ndarray | Callable[[], np.ndarray]) -> None:
        """Count one slice; on a cancel, raise with the labels so far (a callable is called only then)."""
        if self.cancel is not None and self.cancel():
            raise Cancelled(labels_so_far() if callable(labels_so_far) else labels_so_far)
        self.done += 1
        if self.progress is not None:
            self.progress(self.done, max(self.total, self.done))

    def set_slice(self, frame: geo.ViewFrame, index: int) -> None:
        set_volume_slice(
            self.predictor, self.array, self.ijk_to_ras, frame, index, self.window, self.cache_key
        )


def segment_vertebra(
    array: np.ndarray,
    ijk_to_ras: np.ndarray,
    prompts: Prompts,
    views: tuple[str, ...] | str | None = None,
    model=None,
    predictor: Predictor | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    cache_key: Hashable | None = None,
    window: tuple[float, float] | str | None = "auto",
    stride_mm: float | None = None,
    click: str = "walk",
) -> np.ndarray:
    """The 3D mask (uint8 0/1, (k, j, i) like ``array``) of the vertebra the prompts point at.

    ``prompts``: an ROI, positive points (RAS mm) with optional negatives, or both (points then pick
    the component). ``views``: one view name or several to fuse (default :data:`DEFAULT_VIEWS`); a
    click walks in the first. ``stride_mm``: segment slices about this far apart and interpolate in
    between (0: every slice; default :data:`DEFAULT_STRIDE_MM`); a walk then finds its ends slice by slice. ``progress(done, total)`` after every slice; ``cancel()`` returning True
    raises :class:`~SpinalSAMR1Lib.volume.Cancelled` with the partial mask. ``click``: what a click
    without an ROI gives: ``"sweep"`` (the walk's extent becomes an ROI that every view sweeps, like a
    box) or ``"walk"`` (the walk's sections themselves, plus the other views over its extent).
    """
    if click not in CLICK_MODES:
        raise InputError(f"click must be one of {', '.join(CLICK_MODES)}, got {click!r}")
    views = (views,) if isinstance(views, str) else tuple(views or DEFAULT_VIEWS)
    for v in views:
        if v not in geo.VIEWS:
            raise InputError(f"unknown view {v!r}; expected one of {', '.join(geo.VIEWS)}")
    stride_mm = DEFAULT_STRIDE_MM if stride_mm is None else float(stride_mm)
    if not stride_mm >= 0:
        raise InputError(f"stride_mm must be >= 0 mm, got {stride_mm}")
    job = _Job(
        array,
        ijk_to_ras,
        predictor or get_predictor(model),
        resolve_window(array, window, cache_key),
        cache_key,
        progress,
        cancel,
        stride_mm,
    )
    # Only the box that can hold the answer is kept at the grid's size (a 512 x 512 x 600 CT in a few GB:
    # float32 probabilities of the whole grid alone are 630 MB); the model still sees whole slices.
    votes = 0
    roi = prompts.roi
    if roi is None:
        walked = _walk_from_click(job, prompts, views[0])
        if not walked.any():
            return walked.astype(np.uint8)
        roi = _roi_around(walked, ijk_to_ras, ROI_MARGIN_MM)
    box = geo.VoxelBox.around_roi(roi, ijk_to_ras, array.shape)
    prob = np.zeros(box.shape, np.float32)
    if prompts.roi is None and click == "walk":
        prob += walked[box.slices]
        votes += 1
        views = views[1:]
    for view in views:
        prob += _roi_probabilities(job, roi, view, box, prob)
        votes += 1
    mask = prob >= 0.5 * votes
    box_to_ras = box.ijk_to_ras(ijk_to_ras)
    if prompts.roi is not None:
        mask &= _inside_roi(prompts.roi, box_to_ras, box.shape)
    # Enclosed cavities (dark trabecular bone the model missed) are filled; the spinal canal is a tunnel
    # open at both ends, not a cavity, so it stays empty.
    mask = ndimage.binary_fill_holes(_one_object(mask, prompts, box_to_ras))
    return box.paste(mask.astype(np.uint8), array.shape)


# -- ROI: every slice of the box, in one view ----------------------------------------------------------
def _roi_probabilities(
    job: _Job, roi: geo.Roi, view: str, box: geo.VoxelBox, partial: np.ndarray
) -> np.ndarray:
    """Float32 probabilities, in ``box`` of the grid, from prompting the slices inside ``roi`` with its
    box in ``view``: slices about ``job.stride_mm`` apart (both ends included), linearly interpolated in
    between. ``partial``: the votes so far (in ``box``), kept by a cancel."""
    frame = geo.view_frame(job.ijk_to_ras, job.array.shape, view)
    slice_box, (first, last) = geo.roi_to_box(roi, job.ijk_to_ras, frame)
    step = _slices_per_stride(job, frame)
    indices = sorted({*range(first, last + 1, step), last})
    out = np.zeros(box.shape, np.float32)
    job.total += len(indices)
    before = None  # (index, probabilities) of the slice done last
    for index in indices:
        # a cancel keeps the slices done so far
        job.step(lambda: box.paste((partial > 0) | (out >= 0.5), job.array.shape))
        job.set_slice(frame, index)
        now = _probability(job.predictor.predict(box=slice_box).logits)
        box.insert_slice(out, frame, index, now)
        if before is not None:
            a, done_a = before
            for between in range(a + 1, index):
                t = (between - a) / (index - a)
                box.insert_slice(out, frame, between, (1 - t) * done_a + t * now)
        before = (index, now)
    return out


# -- click: walk from the clicked slice -------------------------------------------------------------------
def _walk_from_click(job: _Job, prompts: Prompts, view: str) -> np.ndarray:
    """(k, j, i) bool: the clicked slice, then slices ``stride_mm`` apart both ways, each prompted with the
    previous section's box, and single slices where the vertebra seems to end (between strides: the
    nearer section); never more than ``MAX_HALF_EXTENT_MM`` from the click."""
    frame = geo.view_frame(job.ijk_to_ras, job.array.shape, view)
    start = prompt_slice(prompts, job.ijk_to_ras, frame)
    if not 0 <= start < frame.num_slices:
        raise InputError(f"the click lies outside the volume ({view} slice {start} of {frame.num_slices})")
    c = geo.ras_to_slice_coords(prompts.points_ras, job.ijk_to_ras, frame)
    on = np.abs(c[:, 0] - start) <= 0.5  # the points of the clicked slice (as segment_slice takes them)
    xy, labels = c[on, 1:3], prompts.labels[on]
    out = np.zeros(job.array.shape, bool)
    job.total += 8  # a first guess; the walk's length is known only at its end
    job.step(out)
    job.set_slice(frame, start)
    first = _first_section(job, frame, xy, labels)
    box = box_from_mask(first, WALK_PAD_PX)
    if box is None or first.sum() < MIN_AREA_PX:
        return out
    seed = job.predictor.predict(points_xy=xy, labels=labels, box=box).mask  # the crop, at full detail
    if seed.sum() < MIN_AREA_PX:
        seed = first
    geo.insert_slice(out, frame, start, seed)
    step = _slices_per_stride(job, frame)
    normal_mm = float(geo.spacing_ijk(job.ijk_to_ras)[frame.normal_ijk])
    reach = int(MAX_HALF_EXTENT_MM / normal_mm)  # the sacrum or the pelvis would otherwise be walked whole
    for direction in (1, -1):
        prev, at, stride = seed, start, step
        while True:
            # Strides of ``step`` slices until the vertebra seems to end, then single slices to its end.
            index = at + direction * stride
            mask = None
            if 0 <= index < frame.num_slices and abs(index - start) <= reach:
                mask = _walk_step(job, frame, index, prev, out, pad=WALK_PAD_PX * stride)
            if mask is None:
                if stride == 1:
                    break
                stride = 1
                continue
            _fill_between(out, frame, at, index, prev, mask)
            prev, at = mask, index
    return out


def _walk_step(job: _Job, frame: geo.ViewFrame, index: int, prev: np.ndarray, out, pad: float):
    """The section on slice ``index`` from the previous section's box, or None where the walk stops
    ("nothing here", or a jump in size: a neighbour)."""
    job.step(out)
    job.set_slice(frame, index)
    mask = job.predictor.predict(box=box_from_mask(prev, pad)).mask
    area = int(mask.sum())
    if area < MIN_AREA_PX or area > MAX_GROWTH * max(int(prev.sum()), 1):
        return None
    return mask


def _slices_per_stride(job: _Job, frame: geo.ViewFrame) -> int:
    normal_mm = float(geo.spacing_ijk(job.ijk_to_ras)[frame.normal_ijk])
    return max(1, int(round(job.stride_mm / normal_mm)))


def _fill_between(out: np.ndarray, frame: geo.ViewFrame, a: int, b: int, mask_a, mask_b) -> None:
    """Slice ``b``'s section, and between ``a`` and ``b`` the nearer one's (both at the midpoint)."""
    geo.insert_slice(out, frame, b, mask_b)
    lo, hi = sorted((a, b))
    for index in range(lo + 1, hi):
        t = abs(index - a) / abs(b - a)
        geo.insert_slice(out, frame, index, (mask_a if t <= 0.5 else False) | (mask_b if t >= 0.5 else False))


def _first_section(job: _Job, frame: geo.ViewFrame, xy: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The clicked slice's section: the points inside a vertebra-sized box around the positive ones
    (the model knows loose boxes from ROIs; a lone point on a whole slice is ambiguous), else the points
    alone."""
    rows_mm, cols_mm = geo.pixel_spacing(job.ijk_to_ras, frame)
    _, right, down = geo.screen_axes_ras(frame.view)
    side_mm = (CLICK_BOX_MM[np.argmax(np.abs(right))], CLICK_BOX_MM[np.argmax(np.abs(down))])
    centre = xy[labels == 1].mean(axis=0)
    half = np.array([side_mm[0] / 2 / cols_mm, side_mm[1] / 2 / rows_mm])
    h, w = frame.slice_shape
    box = np.concatenate([np.maximum(centre - half, 0), np.minimum(centre + half, [w - 1, h - 1])])
    mask = job.predictor.predict(points_xy=xy, labels=labels, box=box).mask
    if mask.sum() >= MIN_AREA_PX:
        return mask
    return job.predictor.predict(points_xy=xy, labels=labels, multimask=len(xy) == 1).mask


# -- helpers ----------------------------------------------------------------------------------------------
def _probability(logits: np.ndarray) -> np.ndarray:
    return (1.0 / (1.0 + np.exp(-np.clip(logits, -30, 30)))).astype(np.float32)


def _roi_around(mask: np.ndarray, ijk_to_ras: np.ndarray, margin_mm: float) -> geo.Roi:
    """RAS-aligned ROI around a mask's voxels (their corners), grown by ``margin_mm``."""
    return geo.label_roi(mask, 1, ijk_to_ras, margin_mm)  # a bool mask: no uint8 copy of the grid


def _inside_roi(roi: geo.Roi, ijk_to_ras: np.ndarray, shape_kji: tuple[int, ...]) -> np.ndarray:
    """(k, j, i) bool: voxels whose centres lie inside the ROI. Only the voxels of the ROI's bounding box
    in voxel space are tested (the box is convex, so its corners bound it)."""
    inside = np.zeros(shape_kji, bool)
    corners_ijk = geo.ras_to_ijk_points(roi.corners(), ijk_to_ras)
    lo = np.maximum(np.floor(corners_ijk.min(axis=0)).astype(int), 0)
    hi = np.minimum(np.ceil(corners_ijk.max(axis=0)).astype(int), np.array(shape_kji[::-1]) - 1)
    if np.any(hi < lo):
        return inside
    ii, jj, kk = np.meshgrid(*(np.arange(a, b + 1) for a, b in zip(lo, hi, strict=True)), indexing="ij")
    ijk = np.stack([ii.ravel(), jj.ravel(), kk.ravel()], 1).astype(float)
    hit = roi.contains(geo.ijk_to_ras_points(ijk, ijk_to_ras))
    inside[kk.ravel()[hit], jj.ravel()[hit], ii.ravel()[hit]] = True
    return inside


def _one_object(mask: np.ndarray, prompts: Prompts, ijk_to_ras: np.ndarray) -> np.ndarray:
    """The connected component (26-connected) holding the most positive points, else the largest."""
    lab, n = ndimage.label(mask, structure=np.ones((3, 3, 3), bool))
    if n <= 1:
        return mask
    sizes = np.bincount(lab.ravel())
    sizes[0] = 0
    positive = prompts.points_ras[prompts.labels == 1]
    if len(positive):
        ijk = np.rint(geo.ras_to_ijk_points(positive, ijk_to_ras)).astype(int)
        hits = [
            lab[k, j, i]
            for i, j, k in ijk
            if 0 <= k < mask.shape[0] and 0 <= j < mask.shape[1] and 0 <= i < mask.shape[2]
        ]
        hits = [h for h in hits if h > 0]
        if hits:
            return lab == np.bincount(hits).argmax()
    return lab == int(sizes.argmax())
