"""Segmentation of CT volumes slice by slice in one view, from RAS prompts: the public Python API.

Example (Slicer's Python console or any script)::

    import SpinalSAMR1Lib as ss
    vol = ss.read_volume("ct.nii.gz")
    roi = ss.Roi(center=[10.0, -30.0, 95.0], size=[50.0, 45.0, 30.0])
    labels = ss.segment_volume(vol.array, vol.ijk_to_ras, ss.Prompts(roi=roi), view="axial")
    ss.write_labelmap("L3.nii.gz", labels, vol)

Prompts are world (RAS, mm) coordinates; results are label maps on the input's voxel grid.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

import numpy as np

from . import geometry as geo
from .errors import Cancelled, InputError
from .evaluation import box_from_mask
from .intensity import choose_window, to_model_range
from .predictor import Predictor
from .predictor_cache import PREDICTORS, model_key

ProgressFn = Callable[[int, int], None]
WALK_PAD_PX = 2.0  # propagation prompts the next slice with the previous mask's box grown by this
CancelFn = Callable[[], bool]
PREFETCH_SLICES = 2  # slices on each side of the shown one that prefetch_slices encodes ahead


@dataclass
class Prompts:
    """Prompts in RAS mm: points (N, 3) with labels (N,) (1 = positive, 0 = negative) and one ROI."""

    points_ras: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    labels: np.ndarray | None = None
    roi: geo.Roi | None = None

    def __post_init__(self) -> None:
        self.points_ras = np.asarray(self.points_ras, float).reshape(-1, 3)
        n = len(self.points_ras)
        self.labels = np.ones(n, int) if self.labels is None else np.asarray(self.labels, int).reshape(-1)
        if len(self.labels) != n:
            raise InputError(f"{n} points but {len(self.labels)} labels")
        if not np.isin(self.labels, (0, 1)).all():
            raise InputError("point labels must be 1 (positive) or 0 (negative)")
        if n == 0 and self.roi is None:
            raise InputError("no prompts: give at least one point or an ROI")
        if n and not (self.labels == 1).any() and self.roi is None:
            raise InputError(
                "negative points alone do not say what to segment; add a positive point or a box"
            )


def check_prompts(prompts: Prompts, shape_kji, ijk_to_ras: np.ndarray, views=()) -> None:
    """Refuse, before any model runs, prompts that miss the volume and views it is too oblique for.

    A positive point outside the volume or an ROI that does not overlap it is an :class:`InputError`; a
    view the volume's axes are too tilted for an :class:`~SpinalSAMR1Lib.geometry.ObliqueViewError`
    (also an InputError). Negative points may lie anywhere.
    """
    shape_ijk = np.asarray(tuple(shape_kji)[::-1], float)
    lo, hi = -0.5, shape_ijk - 0.5
    corners = np.array([[x, y, z] for x in (lo, hi[0]) for y in (lo, hi[1]) for z in (lo, hi[2])])
    ras = geo.ijk_to_ras_points(corners, ijk_to_ras)
    extent = ", ".join(
        f"{axis} {a:g}..{b:g}" for axis, a, b in zip("RAS", ras.min(axis=0), ras.max(axis=0), strict=True)
    )
    positive = prompts.points_ras[prompts.labels == 1]
    if len(positive):
        ijk = geo.ras_to_ijk_points(positive, ijk_to_ras)
        outside = ~np.all((ijk >= lo - 1e-6) & (ijk <= hi + 1e-6), axis=1)
        if outside.any():
            r, a, s = positive[int(np.argmax(outside))]
            raise InputError(f"the point R A S {r:g} {a:g} {s:g} lies outside the volume ({extent} mm)")
    if prompts.roi is not None:
        ijk = geo.ras_to_ijk_points(prompts.roi.corners(), ijk_to_ras)
        if np.any(ijk.max(axis=0) < lo) or np.any(ijk.min(axis=0) > hi):
            raise InputError(f"the box does not overlap the volume ({extent} mm)")
    for view in views:
        geo.view_frame(ijk_to_ras, shape_kji, view)


@dataclass
class SliceResult:
    """One segmented slice: ``mask`` (rows, cols) in display orientation of ``frame`` at ``index``."""

    mask: np.ndarray
    index: int
    score: float
    frame: geo.ViewFrame
    logits: np.ndarray


_WINDOWS: dict[Hashable, tuple[float, float] | None] = {}  # resolved "auto" windows per cached volume


def volume_digest(array: np.ndarray, samples: int = 1 << 16) -> str:
    """A cheap fingerprint of a volume's content: shape, dtype and about ``samples`` voxels on a regular
    lattice (about 0.1 ms). It tells different scans apart even when they share a name (node IDs restart
    after a scene close); slice embeddings are keyed by an exact digest of the slice instead."""
    a = np.asarray(array)
    step = max(1, int(round((a.size / samples) ** (1.0 / max(a.ndim, 1)))))
    sample = np.ascontiguousarray(a[(slice(None, None, step),) * a.ndim])
    h = hashlib.blake2b(digest_size=16)
    h.update(repr((a.shape, str(a.dtype), step)).encode())
    h.update(sample.data)
    return h.hexdigest()


def clear_caches() -> None:
    """Forget cached windows and every cached predictor's embeddings (e.g. when a scene closes)."""
    _WINDOWS.clear()
    PREDICTORS.clear_embeddings()


def resolve_window(array: np.ndarray, window, cache_key: Hashable | None):
    """The (level, width) for a whole volume. "auto" scans every voxel, so for a volume named by
    ``cache_key`` (interactive use: one call per click) it is resolved once, like its embeddings; the
    key is completed by :func:`volume_digest`, so another scan under the same name is resolved anew."""
    if isinstance(window, tuple) or window is None:
        return window
    if cache_key is None:
        return choose_window(array, window)
    key = (cache_key, volume_digest(array), window)
    if key not in _WINDOWS:
        if len(_WINDOWS) >= 32:
            _WINDOWS.pop(next(iter(_WINDOWS)))
        _WINDOWS[key] = choose_window(array, window)
    return _WINDOWS[key]


def get_predictor(model=None) -> Predictor:
    """A Predictor for a model name (the process's shared one), a SpineSAM model, or a Predictor itself."""
    if isinstance(model, Predictor):
        return model
    if model is None or isinstance(model, str):
        return PREDICTORS.get(model_key(model))
    return Predictor(model)


def prompt_slice(prompts: Prompts, ijk_to_ras: np.ndarray, frame: geo.ViewFrame) -> int:
    """The slice the user prompted on: that of the positive points, else the ROI centre's."""
    if (prompts.labels == 1).any():
        idx, _ = geo.points_to_slice(prompts.points_ras[prompts.labels == 1], ijk_to_ras, frame)
        return int(np.bincount(np.clip(idx, 0, None)).argmax())
    idx, _ = geo.points_to_slice(prompts.roi.center[None, :], ijk_to_ras, frame)
    return int(idx[0])


def set_volume_slice(
    predictor: Predictor,
    array: np.ndarray,
    ijk_to_ras: np.ndarray,
    frame: geo.ViewFrame,
    index: int,
    window: tuple[float, float] | None,
    cache_key: Hashable | None = None,
) -> None:
    """Give ``predictor`` slice ``index`` of ``frame``, windowed with a resolved ``window`` (see
    :func:`resolve_window`) and with its physical pixel size; the embedding is reused when the same
    pixels come again (the predictor keys its cache by them; ``cache_key`` only adds a namespace)."""
    image, key, spacing = _volume_slice(array, ijk_to_ras, frame, index, window, cache_key)
    predictor.set_image(image, key=key, pixel_spacing=spacing)


def _volume_slice(array, ijk_to_ras, frame: geo.ViewFrame, index: int, window, cache_key):
    """(image, key, pixel spacing) of slice ``index`` as :func:`set_volume_slice` gives it a predictor."""
    image = to_model_range(geo.extract_slice(array, frame, index), window)
    key = None if cache_key is None else (cache_key, frame.view, index, window)
    return image, key, geo.pixel_spacing(ijk_to_ras, frame)


def prefetch_slices(
    predictor: Predictor,
    array: np.ndarray,
    ijk_to_ras: np.ndarray,
    view: str,
    index: int,
    window: tuple[float, float] | str | None = "auto",
    cache_key: Hashable | None = None,
    count: int = PREFETCH_SLICES,
    cancel: CancelFn | None = None,
) -> list[int]:
    """Encode slice ``index`` of ``view`` and its neighbours ``index`` +- 1 .. +- ``count`` (nearest first,
    the next slice before the previous one) into ``predictor``'s embedding cache, exactly where a later
    :func:`segment_slice` on them with the same ``window`` and ``cache_key`` looks them up, so that a
    click there is a decoder call. Slices already cached are skipped, ``cancel()`` is asked before each
    slice and stops the walk; returns the slices it encoded.

    It serves clicks with points only, and any prompt for a model without a crop margin: with one, a box
    is encoded as a crop around the box, which cannot be known ahead. Like every use of a predictor, it
    must not run while another thread uses the same one (the Slicer module runs it on its inference
    worker, pre-empted between slices by the next request).
    """
    frame = geo.view_frame(ijk_to_ras, array.shape, view)
    win = resolve_window(array, window, cache_key)
    order = [index] + [index + side * d for d in range(1, count + 1) for side in (1, -1)]
    encoded = []
    for i in order:
        if not 0 <= i < frame.num_slices:
            continue
        if cancel is not None and cancel():
            break
        if predictor.encode_ahead(*_volume_slice(array, ijk_to_ras, frame, i, win, cache_key)):
            encoded.append(i)
    return encoded


def _slice_prompts(prompts: Prompts, ijk_to_ras, frame, index: int):
    """Points lying on slice ``index`` (within half a voxel) as (xy, labels), and the ROI's box."""
    xy = labels = None
    if len(prompts.points_ras):
        c = geo.ras_to_slice_coords(prompts.points_ras, ijk_to_ras, frame)
        on = np.abs(c[:, 0] - index) <= 0.5
        if on.any():
            xy, labels = c[on, 1:3], prompts.labels[on]
    box = geo.roi_to_box(prompts.roi, ijk_to_ras, frame)[0] if prompts.roi is not None else None
    return xy, labels, box


def segment_slice(
    array: np.ndarray,
    ijk_to_ras: np.ndarray,
    prompts: Prompts,
    view: str = "axial",
    model=None,
    index: int | None = None,
    predictor: Predictor | None = None,
    cache_key: Hashable | None = None,
    window: tuple[float, float] | str | None = "auto",
) -> SliceResult:
    """Segment one slice of a (k, j, i) volume in ``view`` from RAS prompts.

    ``index`` defaults to the slice of the positive points (or of the ROI centre). Only points on that
    slice are used. ``cache_key`` (e.g. a volume node ID) lets repeated calls reuse the embedding.
    ``model``: a name from the registry (default model when None), a SpineSAM or a Predictor.
    """
    frame = geo.view_frame(ijk_to_ras, array.shape, view)
    pred = predictor or get_predictor(model)
    if index is None:
        index = prompt_slice(prompts, ijk_to_ras, frame)
    if not 0 <= index < frame.num_slices:
        raise InputError(f"prompts lie outside the volume ({view} slice {index} of {frame.num_slices})")
    xy, labels, box = _slice_prompts(prompts, ijk_to_ras, frame, index)
    if xy is None and box is None:
        raise InputError(f"no prompt lies on {view} slice {index}")
    win = resolve_window(array, window, cache_key)
    set_volume_slice(pred, array, ijk_to_ras, frame, index, win, cache_key)
    out = pred.predict(points_xy=xy, labels=labels, box=box)
    mask = out.mask if box is None else _clip_to_box(out.mask, box)
    return SliceResult(mask, index, out.score, frame, out.logits)


def _clip_to_box(mask: np.ndarray, box: np.ndarray) -> np.ndarray:
    """The mask without pixels whose centres lie outside the ROI's box: a result stays inside the box."""
    x0, y0 = int(np.ceil(box[0] - 1e-6)), int(np.ceil(box[1] - 1e-6))
    x1, y1 = int(np.floor(box[2] + 1e-6)), int(np.floor(box[3] + 1e-6))
    clipped = np.zeros_like(mask)
    clipped[y0 : y1 + 1, x0 : x1 + 1] = mask[y0 : y1 + 1, x0 : x1 + 1]
    return clipped


def segment_volume(
    array: np.ndarray,
    ijk_to_ras: np.ndarray,
    prompts: Prompts,
    view: str = "axial",
    model=None,
    propagate: bool | None = None,
    slice_range: tuple[int, int] | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    predictor: Predictor | None = None,
    cache_key: Hashable | None = None,
    window: tuple[float, float] | str | None = "auto",
    min_area: int = 10,
) -> np.ndarray:
    """Segment a structure through a (k, j, i) volume, slice by slice in ``view``; uint8 label map (0/1).

    Two modes:
    - ROI (default when an ROI is given and ``propagate`` is not True): the ROI's box on every slice
      in its extent along the view normal. Results never extend outside the ROI.
    - Propagation (default with points only): segment the prompted slice, then walk both directions,
      prompting each next slice with the previous mask's box and logits; stop when the mask vanishes
      (< ``min_area`` pixels), grows more than threefold at once, or leaves the ROI.
    ``slice_range`` (first, last) inclusive further limits the slices. ``progress(done, total)`` is
    called after every slice; when ``cancel()`` returns True, :class:`Cancelled` is raised.
    """
    frame = geo.view_frame(ijk_to_ras, array.shape, view)
    pred = predictor or get_predictor(model)
    win = resolve_window(array, window, cache_key)
    first, last = 0, frame.num_slices - 1
    roi_box = None
    if prompts.roi is not None:
        roi_box, (first, last) = geo.roi_to_box(prompts.roi, ijk_to_ras, frame)
    if slice_range is not None:
        first, last = max(first, slice_range[0]), min(last, slice_range[1])
    if first > last:
        raise InputError("the requested slice range does not overlap the prompts")
    if propagate is None:
        propagate = prompts.roi is None
    labels = np.zeros(array.shape, np.uint8)
    common = dict(predictor=pred, cache_key=cache_key, window=win)
    if not propagate:
        _segment_range(array, ijk_to_ras, prompts, view, first, last, labels, progress, cancel, common)
        return labels
    start = prompt_slice(prompts, ijk_to_ras, frame)
    if not first <= start <= last:
        raise InputError(f"the prompted slice {start} lies outside slices {first}..{last}")
    _propagate(
        array,
        ijk_to_ras,
        prompts,
        view,
        (start, first, last),
        roi_box,
        min_area,
        labels,
        progress,
        cancel,
        common,
    )
    return labels


def _segment_range(array, ijk_to_ras, prompts, view, first, last, labels, progress, cancel, common) -> None:
    total = last - first + 1
    for n, index in enumerate(range(first, last + 1)):
        if cancel is not None and cancel():
            raise Cancelled(labels)
        res = segment_slice(array, ijk_to_ras, prompts, view, index=index, **common)
        geo.insert_slice(labels, res.frame, index, res.mask.astype(np.uint8))
        if progress is not None:
            progress(n + 1, total)


def _propagate(array, ijk_to_ras, prompts, view, span, roi_box, min_area, labels, progress, cancel, common):
    start, first, last = span
    total = last - first + 1
    seed = segment_slice(array, ijk_to_ras, prompts, view, index=start, **common)
    frame, done = seed.frame, 1
    geo.insert_slice(labels, frame, start, seed.mask.astype(np.uint8))
    if progress is not None:
        progress(done, total)
    pred = common["predictor"]
    for step in (1, -1):
        prev, index = seed, start + step
        while first <= index <= last and prev.mask.sum() >= min_area:
            if cancel is not None and cancel():
                raise Cancelled(labels)
            box = box_from_mask(prev.mask, WALK_PAD_PX)
            if roi_box is not None:
                box = np.array(
                    [
                        max(box[0], roi_box[0]),
                        max(box[1], roi_box[1]),
                        min(box[2], roi_box[2]),
                        min(box[3], roi_box[3]),
                    ]
                )
                if box[0] >= box[2] or box[1] >= box[3]:
                    break
            set_volume_slice(pred, array, ijk_to_ras, frame, index, common["window"], common["cache_key"])
            out = pred.predict(box=box, mask_logits=prev.logits)
            mask = out.mask if roi_box is None else _clip_to_box(out.mask, roi_box)
            area = int(mask.sum())
            if area < min_area or area > 3 * max(int(prev.mask.sum()), 1):
                break
            geo.insert_slice(labels, frame, index, mask.astype(np.uint8))
            prev = SliceResult(mask, index, out.score, frame, out.logits)
            done += 1
            if progress is not None:
                progress(done, total)
            index += step
