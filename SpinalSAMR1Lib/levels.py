"""Levels: the spine vertebra by vertebra from one named click, every vertebra named (VerSe numbering).

SpineFM's induction, in 3D: segment the anchor vertebra (:func:`~SpinalSAMR1Lib.vertebra.segment_vertebra`
from the click), predict where the next vertebra's centroid lies from the ones segmented so far, click
there, segment, and walk on, cranially and caudally, through the requested levels or to the end of the
spine or the volume.

- **Next position**: the walk tracks one point per vertebra, near its body centre: where the walk
  clicked, moved towards the mask's deepest interior point by at most ``MAX_CORRECTION_MM`` per axis, on
  the mask's R-L mid-plane. The next is predicted at constant velocity, ``next = last + (last - previous)``
  (R-L drift capped at ``MAX_SIDE_STEP_MM``, length kept in ``PITCH_RANGE_MM``); from the anchor alone,
  ``DEFAULT_PITCH_MM`` up or down. Measured on the development CTs' labels: constant velocity predicts the
  next body centre's S-I within 2.1 mm on average (max 5.8), the fixed first step within 3.2 (max 7.0);
  moving the guess between the discs of the CT profile along the spine gave nothing (2.1 / 3.2 again), and
  a least-squares regressor on the last two steps (SpineFM's regressor, fitted leave-one-case-out) was
  worse than constant velocity (7.6 / 14.2 / 11.6 mm vs 7.4 / 13.1 / 9.9 on 3D body points of VerSe 007,
  008 and TotalSegmentator's example): neither is used.
- **The click** for the next vertebra is one positive point at the guess. Adding a negative point at the
  last vertebra (on the same slice, to keep the model off the neighbour found) was worse by
  leave-one-case-out: per-level Dice 0.54 vs 0.60, identification 12 vs 13 of 15; so was an ROI prompt
  (the last vertebra's extent moved by the step, with the click): 0.49, 11 of 15.
- **Checks** of each new vertebra: not empty, at most ``MAX_OVERLAP`` of it already labelled, a volume
  within ``VOLUME_RATIO`` of the median of those found (too big only above ``MAX_VERTEBRA_ML``: the sacrum
  cut at the walk's 60 mm reach was 2.3 times the lumbar median, 116 ml), a mean of ``MIN_MEAN_HU`` or
  more (bone), a centroid that advanced ``ADVANCE`` times the
  predicted step.
- **Finding it again** (P²SAM's idea, no training): when a check fails, points around the guess on its
  sagittal slice are ranked by the cosine similarity of their image-encoder features to the prototype of
  the vertebrae found so far (the mean feature of their body sections), and the best ``REFIND_TRIES`` are
  tried in turn.
- **Stops**: nothing found, out of the volume, the sacrum (below L5), C1, or the end of the requested
  range. One label per level; a voxel claimed twice stays with the vertebra found first.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from . import geometry as geo
from .anatomy import level_label
from .commands.schema import LEVEL_INDEX, LEVELS
from .errors import InputError
from .evaluation import deepest_point_ras
from .predictor import Predictor
from .volume import (
    CancelFn,
    Cancelled,
    ProgressFn,
    Prompts,
    get_predictor,
    resolve_window,
    set_volume_slice,
)

DEFAULT_PITCH_MM = 32.0  # body centre to body centre, lower thoracic and lumbar (27-40 mm in our labels)
MAX_SIDE_STEP_MM = 4.0  # R-L drift per level (a scoliotic lumbar spine: 2-3 mm per level in our labels)
PITCH_RANGE_MM = (22.0, 42.0)  # a predicted step is kept in this range (T9-L5; cervical ones are shorter)
MAX_CORRECTION_MM = 8.0  # how far one mask may move the tracked point from where the walk clicked
MAX_OVERLAP = 0.4  # of a new vertebra's voxels already labelled: it is the previous one again
VOLUME_RATIO = (0.35, 2.0)  # a new vertebra's volume relative to the median of those found
MIN_MEAN_HU = 60.0  # a vertebra's mean CT value (cortex and all) is 130-280 HU here; soft tissue ~40
MAX_VERTEBRA_ML = 90.0  # ... and "too big" only above this (lumbar vertebrae: 40-80 ml; the sacrum: 200+)
ADVANCE = (0.3, 1.7)  # the centroid's advance along the predicted step, relative to the step
REFIND_TRIES = 3
REFIND_REACH = 0.5  # candidates lie within this fraction of a step along the spine from the guess
REFIND_MIN_REACH_MM = 16.0  # ... and at least this far (half a lumbar pitch)
REFIND_SIDE_MM = 9.0  # ... and within this anteriorly / posteriorly
REFIND_GRID_MM = 3.0
_TOO_BIG = "too big for a vertebra"
_DIRECTIONS = {"cranial": -1, "caudal": 1}  # along LEVELS


@dataclass
class Level:
    """One segmented level: its name and VerSe label, centroid (RAS mm), size, and how it was found."""

    name: str
    label: int
    centroid_ras: list[float]
    voxels: int
    volume_ml: float
    confirmed: bool
    found_by: str  # "anchor", "walk" or "re-find"


@dataclass
class LevelsResult:
    """A (k, j, i) uint8 label map with VerSe values, its levels cranial to caudal, and why each walk
    stopped (``stops["cranial"]``, ``stops["caudal"]``)."""

    labels: np.ndarray
    levels: list[Level]
    stops: dict[str, str] = field(default_factory=dict)

    def sidecar(self) -> dict:
        """JSON-ready description of the label map: per level name, label, centroid RAS, confirmed."""
        return {
            "numbering": "VerSe: 1-7 C1-C7, 8-19 T1-T12, 20-24 L1-L5, 25 L6, 26 sacrum, 28 T13",
            "coordinates": "RAS, mm",
            "levels": [asdict(level) for level in self.levels],
            "stops": dict(self.stops),
        }


@dataclass
class _Found:
    pos: int  # position along the spine (an index into LEVELS when the walk is named)
    mask: np.ndarray
    centroid: np.ndarray
    body: np.ndarray
    voxels: int
    found_by: str
    point: np.ndarray  # the body centre the walk tracks
    prototype: np.ndarray | None = None


@dataclass
class _Walk:
    array: np.ndarray
    ijk_to_ras: np.ndarray
    predictor: Predictor
    window: tuple[float, float] | None
    cache_key: Hashable | None
    views: tuple[str, ...] | None
    stride_mm: float | None
    cancel: CancelFn | None
    labels: np.ndarray  # (k, j, i) uint8: spine position + 1 of each vertebra found so far
    named: bool = True  # positions are indices into LEVELS

    def partial(self) -> np.ndarray:
        """The label map so far: VerSe values when the walk is named, else 1 for every vertebra."""
        if not self.named:
            return (self.labels > 0).astype(np.uint8)
        out = np.zeros_like(self.labels)
        for value in np.unique(self.labels[self.labels > 0]):
            out[self.labels == value] = level_label(LEVELS[int(value) - 1])
        return out

    def segment(self, point_ras: np.ndarray) -> np.ndarray:
        """The vertebra clicked at ``point_ras``."""
        from .vertebra import segment_vertebra

        try:
            return segment_vertebra(
                self.array,
                self.ijk_to_ras,
                Prompts(points_ras=point_ras[None], labels=[1]),
                views=self.views,
                predictor=self.predictor,
                cancel=self.cancel,
                cache_key=self.cache_key,
                window=self.window,
                stride_mm=self.stride_mm,
            ).astype(bool)
        except Cancelled as exc:
            raise Cancelled(self.partial()) from exc


def level_range(text: str) -> tuple[str, ...]:
    """Levels from text: "L1-L5", "T12-L2", "L3" or "L1,L2,L4" (spine order, inclusive ranges)."""
    from .commands.levels import expand_range

    out: set[str] = set()
    for part in filter(None, (p.strip() for p in text.replace(" ", "").split(","))):
        ends = [_checked_level(e) for e in part.split("-")]
        if len(ends) not in (1, 2):
            raise InputError(f"{part!r} is not a level or a range like L1-L5")
        out.update(expand_range(ends[0], ends[-1]))
    if not out:
        raise InputError("no levels given; e.g. L1-L5")
    return tuple(sorted(out, key=LEVEL_INDEX.__getitem__))


def _checked_level(name: str) -> str:
    level = name.strip().upper()
    if level not in LEVEL_INDEX or level == "S1":
        raise InputError(f"unknown vertebral level {name!r}; expected C1..C7, T1..T12 or L1..L5")
    return level


def segment_levels(
    array: np.ndarray,
    ijk_to_ras: np.ndarray,
    anchor_ras: Sequence[float],
    anchor_level: str,
    levels: Sequence[str] | None = None,
    *,
    model=None,
    predictor: Predictor | None = None,
    views: tuple[str, ...] | str | None = None,
    stride_mm: float | None = None,
    refind: bool = True,
    confirmed: bool = True,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    cache_key: Hashable | None = None,
    window: tuple[float, float] | str | None = "auto",
) -> LevelsResult:
    """Segment vertebra by vertebra from a click ``anchor_ras`` (RAS mm) inside the vertebra
    ``anchor_level`` ("L3"), through ``levels`` (default: to the ends of the spine or the volume).

    Levels between the anchor and the range are walked through but not kept. ``refind``: look again by
    feature similarity when a vertebra is lost (see the module doc). ``confirmed`` is copied to every
    level (False when the anchor's name is a guess). ``progress(done, total)`` after each level;
    ``cancel()`` returning True raises :class:`~SpinalSAMR1Lib.volume.Cancelled` with the label map
    so far. Views, stride and window as in :func:`~SpinalSAMR1Lib.vertebra.segment_vertebra`.
    """
    anchor_level = _checked_level(anchor_level)
    wanted = set(LEVELS[:-1] if levels is None else (_checked_level(v) for v in levels))
    if not wanted:
        raise InputError("no levels requested")
    span = [LEVEL_INDEX[v] for v in wanted] + [LEVEL_INDEX[anchor_level]]
    walk = _make_walk(array, ijk_to_ras, model, predictor, views, stride_mm, cancel, cache_key, window)
    chain, stops = _walk_spine(
        walk, anchor_ras, LEVEL_INDEX[anchor_level], (min(span), max(span)), refind, progress
    )
    named = {LEVELS[pos]: found for pos, found in chain.items() if LEVELS[pos] in wanted}
    return _result(walk, named, stops, confirmed)


def _make_walk(array, ijk_to_ras, model, predictor, views, stride_mm, cancel, cache_key, window) -> _Walk:
    return _Walk(
        array,
        ijk_to_ras,
        predictor or get_predictor(model),
        resolve_window(array, window, cache_key),
        cache_key,
        (views,) if isinstance(views, str) else views,
        stride_mm,
        cancel,
        np.zeros(array.shape, np.uint8),
    )


def _walk_spine(
    walk: _Walk,
    anchor_ras: Sequence[float],
    start: int,
    bounds: tuple[int, int],
    refind: bool,
    progress: ProgressFn | None,
    named: bool = True,
) -> tuple[dict[int, _Found], dict[str, str]]:
    """Walk from the anchor (spine position ``start``, an index into LEVELS when ``named``) to the
    positions ``bounds`` (inclusive) or until the spine or the volume ends. ``walk.labels`` holds
    position + 1 per vertebra while walking."""
    anchor = np.asarray(anchor_ras, float).reshape(3)
    walk.named = named
    first = walk.segment(anchor)
    if not first.any():
        raise InputError("no vertebra found at the anchor click; click inside a vertebral body")
    chain = {start: _found(walk, start, first, "anchor", anchor)}
    _claim(walk, chain[start])
    total = bounds[1] - bounds[0] + 1 if named else 0
    if progress is not None:
        progress(1, max(total, 1))
    stops: dict[str, str] = {}
    for side, step in _DIRECTIONS.items():
        pos = start
        while True:
            pos += step
            name = LEVELS[pos] if named and 0 <= pos < len(LEVELS) else f"vertebra {pos - start:+d}"
            if named and not 0 <= pos < len(LEVELS) - 1:
                stops[side] = "the sacrum" if pos >= 0 else "C1, the top of the spine"
                break
            if not bounds[0] <= pos <= bounds[1]:
                stops[side] = "end of the requested levels"
                break
            found, why = _next_vertebra(walk, _ordered(chain, side), pos, refind)
            if found is None:
                stops[side] = f"{name}: {why}" if named else why
                break
            chain[pos] = found
            _claim(walk, found)
            if progress is not None:
                progress(len(chain), total if named else len(chain) + 1)
    return chain, stops


def _ordered(chain: dict[int, _Found], side: str) -> list[_Found]:
    """The vertebrae found so far in walking order (the last is the one next to the one sought)."""
    items = [chain[pos] for pos in sorted(chain)]
    return items[::-1] if side == "cranial" else items


def _next_vertebra(walk: _Walk, ordered: list[_Found], pos: int, refind: bool):
    """(_Found, None) for the vertebra at spine position ``pos``, after ``ordered[-1]``, or (None, why not)."""
    last = ordered[-1]
    going_up = pos < last.pos
    step = _predicted_step(ordered, going_up)
    guess = last.point + step
    if not _inside_volume(walk, guess):
        return None, "out of the volume"
    mask = walk.segment(guess)
    why = _implausible(walk, mask, ordered, step)
    if why is None:
        return _found(walk, pos, mask, "walk", guess), None
    if not refind or why.startswith(_TOO_BIG):
        return None, why  # something much bigger than a vertebra (the sacrum, the pelvis) is not a lost one
    for point in _refind_candidates(walk, ordered, guess, step):
        mask = walk.segment(point)
        if _implausible(walk, mask, ordered, point - last.point) is None:
            return _found(walk, pos, mask, "re-find", point), None
    return None, why


def _predicted_step(ordered: list[_Found], going_up: bool) -> np.ndarray:
    """(3,) RAS mm from the last body centre to the next one's predicted position."""
    if len(ordered) >= 2:
        step = ordered[-1].point - ordered[-2].point
        step[0] = np.clip(step[0], -MAX_SIDE_STEP_MM, MAX_SIDE_STEP_MM)  # masks wobble R-L, spines less
        length = float(np.linalg.norm(step))
        return step * np.clip(length, *PITCH_RANGE_MM) / max(length, 1e-6)
    return np.array([0.0, 0.0, 1.0 if going_up else -1.0]) * DEFAULT_PITCH_MM


def _implausible(walk: _Walk, mask: np.ndarray, ordered: list[_Found], step: np.ndarray) -> str | None:
    """Why ``mask`` is not the vertebra after ``ordered[-1]`` (None when it may be). Sizes are compared
    with the median of the vertebrae found so far (one of them may have leaked into a neighbour)."""
    last = ordered[-1]
    voxels = int(mask.sum())
    if voxels == 0:
        return "no vertebra found"
    if float((mask & (walk.labels > 0)).sum()) > MAX_OVERLAP * voxels:
        return "found the previous vertebra again"
    ratio = voxels / max(float(np.median([f.voxels for f in ordered])), 1.0)
    volume_ml = voxels * float(np.prod(geo.spacing_ijk(walk.ijk_to_ras))) / 1000.0
    if ratio > VOLUME_RATIO[1] and volume_ml > MAX_VERTEBRA_ML:  # the first mask may be a fragment
        return f"{_TOO_BIG} ({ratio:.1f} times the vertebrae found so far)"
    if ratio < VOLUME_RATIO[0]:
        return f"too small for a vertebra ({ratio:.1f} times the vertebrae found so far)"
    mean_hu = float(walk.array[mask].mean())
    if mean_hu < MIN_MEAN_HU:
        return f"not bone (mean {mean_hu:.0f} HU)"
    length = float(np.linalg.norm(step))
    advance = float((_centroid(walk, mask) - last.centroid) @ step) / max(length**2, 1e-6)
    if not ADVANCE[0] <= advance <= ADVANCE[1]:
        return f"not the next vertebra ({advance:.1f} predicted steps from the last one)"
    return None


def _refind_candidates(walk: _Walk, ordered: list[_Found], guess: np.ndarray, step: np.ndarray):
    """Points near ``guess`` on its sagittal slice, most like the vertebrae found so far first."""
    frame = geo.view_frame(walk.ijk_to_ras, walk.array.shape, "sagittal")
    along = step / max(float(np.linalg.norm(step)), 1e-6)
    side = np.cross(along, [1.0, 0.0, 0.0])
    side /= max(float(np.linalg.norm(side)), 1e-6)
    reach = max(REFIND_REACH * float(np.linalg.norm(step)), REFIND_MIN_REACH_MM)
    offsets = [
        a * along + s * side
        for a in np.arange(-reach, reach + 1e-6, REFIND_GRID_MM)
        for s in np.arange(-REFIND_SIDE_MM, REFIND_SIDE_MM + 1e-6, REFIND_GRID_MM)
    ]
    points = np.array([guess + o for o in offsets])
    ijk = np.rint(geo.ras_to_ijk_points(points, walk.ijk_to_ras)).astype(int)
    shape_ijk = np.array(walk.array.shape[::-1])
    ok = np.all((ijk >= 0) & (ijk < shape_ijk), axis=1)
    ok[ok] = walk.labels[ijk[ok, 2], ijk[ok, 1], ijk[ok, 0]] == 0
    points = points[ok]
    if not len(points):
        return []
    prototype = np.mean([_prototype(walk, f, frame) for f in ordered[-2:]], axis=0)
    index = int(np.rint(geo.ras_to_slice_coords(guess[None], walk.ijk_to_ras, frame)[0, 0]))
    set_volume_slice(walk.predictor, walk.array, walk.ijk_to_ras, frame, index, walk.window, walk.cache_key)
    xy = geo.ras_to_slice_coords(points, walk.ijk_to_ras, frame)[:, 1:3]
    similarity = _cosine(walk.predictor.features_at(xy), prototype)
    chosen: list[np.ndarray] = []
    for n in np.argsort(-similarity):
        if all(np.linalg.norm(points[n] - c) >= 2 * REFIND_GRID_MM for c in chosen):
            chosen.append(points[n])
        if len(chosen) == REFIND_TRIES:
            break
    return chosen


def _prototype(walk: _Walk, found: _Found, frame: geo.ViewFrame) -> np.ndarray:
    """(C,) mean encoder feature of a vertebra's section on the sagittal slice through its body point."""
    if found.prototype is None:
        index = int(np.rint(geo.ras_to_slice_coords(found.body[None], walk.ijk_to_ras, frame)[0, 0]))
        set_volume_slice(
            walk.predictor, walk.array, walk.ijk_to_ras, frame, index, walk.window, walk.cache_key
        )
        rows, cols = np.nonzero(geo.extract_slice(found.mask, frame, index))
        pick = np.linspace(0, len(rows) - 1, min(len(rows), 200)).astype(int)
        features = walk.predictor.features_at(np.stack([cols[pick], rows[pick]], 1).astype(float))
        found.prototype = features.mean(axis=0)
    return found.prototype


def _cosine(features: np.ndarray, prototype: np.ndarray) -> np.ndarray:
    a = features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-8)
    return a @ (prototype / max(float(np.linalg.norm(prototype)), 1e-8))


# -- bookkeeping ------------------------------------------------------------------------------------------
def _found(walk: _Walk, pos: int, mask: np.ndarray, how: str, click: np.ndarray) -> _Found:
    """The vertebra's record; its tracked point is the click moved towards the mask's deepest point by
    at most ``MAX_CORRECTION_MM`` per axis (a mask that leaked into a neighbour must not drag the walk
    along), on the mask's R-L mid-plane (the deepest point wanders R-L on thick sagittal slices)."""
    centroid = _centroid(walk, mask)
    body = deepest_point_ras(mask, walk.ijk_to_ras)
    point = click + np.clip(body - click, -MAX_CORRECTION_MM, MAX_CORRECTION_MM)
    point[0] = centroid[0]
    return _Found(pos, mask, centroid, body, int(mask.sum()), how, point)


def _claim(walk: _Walk, found: _Found) -> None:
    """Label the vertebra's voxels that no vertebra found before holds."""
    walk.labels[found.mask & (walk.labels == 0)] = found.pos + 1


def _centroid(walk: _Walk, mask: np.ndarray) -> np.ndarray:
    return geo.mask_centroid_ras(mask, walk.ijk_to_ras)


def _inside_volume(walk: _Walk, point_ras: np.ndarray) -> bool:
    ijk = geo.ras_to_ijk_points(point_ras[None], walk.ijk_to_ras)[0]
    return bool(np.all(ijk >= -0.5) and np.all(ijk <= np.array(walk.array.shape[::-1]) - 0.5))


def _result(walk: _Walk, named: dict[str, _Found], stops: dict[str, str], confirmed: bool) -> LevelsResult:
    """The VerSe-numbered label map and the levels of the vertebrae in ``named`` (name -> found)."""
    voxel_ml = float(np.prod(geo.spacing_ijk(walk.ijk_to_ras))) / 1000.0
    labels = np.zeros(walk.labels.shape, np.uint8)
    kept = []
    for name, f in named.items():
        own = walk.labels == f.pos + 1
        labels[own] = level_label(name)
        n = int(own.sum())
        centroid = _centroid(walk, own) if n else f.centroid
        kept.append(
            Level(
                name,
                level_label(name),
                [round(float(c), 2) for c in centroid],
                n,
                round(n * voxel_ml, 3),
                confirmed,
                f.found_by,
            )
        )
    kept.sort(key=lambda lv: LEVEL_INDEX.get(lv.name, 99))
    return LevelsResult(labels, kept, stops)


def format_levels(result: LevelsResult) -> str:
    """A plain-text table of the levels found and why each walk stopped."""
    lines = [f"{'level':<6} {'label':>5} {'volume ml':>9}  {'centroid RAS mm':<24} found by"]
    for lv in result.levels:
        centroid = " ".join(f"{c:7.1f}" for c in lv.centroid_ras)
        name = lv.name if lv.confirmed else f"{lv.name}?"
        lines.append(f"{name:<6} {lv.label:>5} {lv.volume_ml:>9.1f}  {centroid:<24} {lv.found_by}")
    if not result.levels:
        lines.append("(no vertebra found)")
    for side in ("cranial", "caudal"):
        if side in result.stops:
            lines.append(f"{side} walk stopped: {result.stops[side]}")
    if "naming" in result.stops:
        lines.append(f"names: {result.stops['naming']}")
    if any(not lv.confirmed for lv in result.levels):
        lines.append("? = named from anatomy, not confirmed: check one level and rename (e.g. 'this is L4')")
    return "\n".join(lines)
