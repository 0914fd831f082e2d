"""Undo/redo for the module's edits: label patches of segments and snapshots of prompt points.

Slicer's scene-level undo (``saveStateForUndo``) copies whole segmentations and is off by default;
the segment editor keeps its own states. Like it, the module keeps its own stack, but stores only
the box of voxels an edit changed (one slice for "Segment slice"), so many steps fit in memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

Box = tuple[int, int, int, int, int, int]  # (k0, k1, j0, j1, i0, i1), inclusive, in array order


@dataclass
class LabelPatch:
    """The voxels of one segment inside ``box`` before and after an edit ((k, j, i) uint8 arrays)."""

    segmentation_id: str
    segment_id: str
    box: Box
    before: np.ndarray
    after: np.ndarray

    @property
    def nbytes(self) -> int:
        return int(self.before.nbytes + self.after.nbytes)


@dataclass
class PromptChange:
    """A markups node's state before and after an edit, as captured and restored by the module.

    For point lists the state is a list of (label, (x, y, z)) in node coordinates; for an ROI it is
    its centre, size and whether it was placed. The stack only stores them.
    """

    node_id: str
    before: Any
    after: Any

    @property
    def nbytes(self) -> int:
        return 1024


@dataclass
class SegmentRename:
    """A segment's name before and after an edit (naming vertebrae by level)."""

    segmentation_id: str
    segment_id: str
    before: str
    after: str

    @property
    def nbytes(self) -> int:
        return 256


@dataclass
class Edit:
    """One user-visible step (a button press or one chat action), possibly touching several things."""

    label: str
    changes: list[LabelPatch | PromptChange | SegmentRename] = field(default_factory=list)

    @property
    def nbytes(self) -> int:
        return sum(c.nbytes for c in self.changes)


class UndoStack:
    """Linear undo history; pushing a new edit discards the redo branch; oldest edits fall off first."""

    def __init__(self, max_edits: int = 50, max_bytes: int = 1 << 30) -> None:
        self.max_edits = max_edits
        self.max_bytes = max_bytes
        self._done: list[Edit] = []
        self._undone: list[Edit] = []

    def push(self, edit: Edit) -> None:
        if not edit.changes:
            return
        self._done.append(edit)
        self._undone.clear()
        while len(self._done) > self.max_edits or (
            len(self._done) > 1 and sum(e.nbytes for e in self._done) > self.max_bytes
        ):
            self._done.pop(0)

    def undo(self) -> Edit | None:
        """The edit to revert (apply each change's ``before``), or None if there is nothing to undo."""
        if not self._done:
            return None
        edit = self._done.pop()
        self._undone.append(edit)
        return edit

    def redo(self) -> Edit | None:
        """The edit to re-apply (each change's ``after``), or None if there is nothing to redo."""
        if not self._undone:
            return None
        edit = self._undone.pop()
        self._done.append(edit)
        return edit

    def can_undo(self) -> bool:
        return bool(self._done)

    def can_redo(self) -> bool:
        return bool(self._undone)

    def next_undo_label(self) -> str:
        return self._done[-1].label if self._done else ""

    def next_redo_label(self) -> str:
        return self._undone[-1].label if self._undone else ""

    def clear(self) -> None:
        self._done.clear()
        self._undone.clear()


def changed_box(before: np.ndarray, after: np.ndarray) -> Box | None:
    """The smallest (k0, k1, j0, j1, i0, i1) box holding every voxel that differs, or None if equal."""
    diff = np.asarray(before) != np.asarray(after)
    if not diff.any():
        return None
    bounds: list[int] = []
    for axis in range(3):
        other = tuple(a for a in range(3) if a != axis)
        hit = np.flatnonzero(diff.any(axis=other))
        bounds += [int(hit[0]), int(hit[-1])]
    return bounds[0], bounds[1], bounds[2], bounds[3], bounds[4], bounds[5]


def crop(array: np.ndarray, box: Box) -> np.ndarray:
    """A copy of ``array[k0:k1+1, j0:j1+1, i0:i1+1]``."""
    k0, k1, j0, j1, i0, i1 = box
    return np.array(array[k0 : k1 + 1, j0 : j1 + 1, i0 : i1 + 1], copy=True)
