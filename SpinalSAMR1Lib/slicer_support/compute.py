"""Running a module request on any thread: plain arrays in, arrays out.

``predictor`` is the Predictor of the request's ``modelKey`` (the module takes it from
:data:`SpinalSAMR1Lib.predictor_cache.PREDICTORS`); embeddings are cached under the request's
``cacheKey`` (the volume node and its voxels' MTime).
"""

from __future__ import annotations

from .request import SegmentRequest


def _common(request: SegmentRequest, predictor, **kwargs) -> dict:
    return dict(predictor=predictor, cache_key=request.cacheKey, **kwargs)


def compute_slice(request: SegmentRequest, predictor):
    """One slice (``request.sliceIndex``, or that of the positive points): a ``SliceResult``."""
    from ..volume import segment_slice

    common = _common(request, predictor, view=request.view, index=request.sliceIndex)
    return segment_slice(request.array, request.ijkToRas, request.prompts, **common)


def compute_volume(request: SegmentRequest, predictor, progress=None, cancel=None):
    """The structure through the volume, or (``extra["mode"] == "vertebra"``) one vertebra in 3D, in the
    views ``extra["views"]`` (None: the library's default); a (k, j, i) label array."""
    args = (request.array, request.ijkToRas, request.prompts)
    common = _common(request, predictor, progress=progress, cancel=cancel)
    if request.extra.get("mode") == "vertebra":
        from ..vertebra import segment_vertebra

        return segment_vertebra(*args, views=request.extra.get("views"), **common)
    from ..volume import segment_volume

    return segment_volume(*args, view=request.view, propagate=request.propagate, **common)


def compute_levels(request: SegmentRequest, predictor, progress=None, cancel=None):
    """The level-by-level walk from ``extra["anchor"]`` (RAS) named ``extra["anchorLevel"]``, or automatic
    without an anchor; a ``LevelsResult``."""
    common = _common(request, predictor, progress=progress, cancel=cancel)
    extra, args = request.extra, (request.array, request.ijkToRas)
    if extra["anchor"] is None:
        from ..auto_levels import segment_levels_auto

        return segment_levels_auto(*args, **common)
    from ..levels import segment_levels

    return segment_levels(*args, extra["anchor"], extra["anchorLevel"], extra["levels"] or None, **common)


def compute_prefetch(request: SegmentRequest, predictor, cancel=None) -> list[int]:
    """Encode ``request.sliceIndex`` of ``request.view`` and ``extra["count"]`` slices on each side of it
    ahead of the user's click (see :func:`SpinalSAMR1Lib.volume.prefetch_slices`); the slices encoded."""
    from ..volume import PREFETCH_SLICES, prefetch_slices

    count = request.extra.get("count", PREFETCH_SLICES)
    args = (predictor, request.array, request.ijkToRas, request.view, request.sliceIndex)
    return prefetch_slices(*args, cache_key=request.cacheKey, count=count, cancel=cancel)
