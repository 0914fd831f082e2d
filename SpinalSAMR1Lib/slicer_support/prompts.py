"""Prompt helpers that need no Slicer: ROI corners to a core Roi, vertebra levels from labels."""

from __future__ import annotations

import re

import numpy as np

from ..commands.schema import LEVEL_INDEX, LEVEL_LETTER, LEVEL_NUMBER
from ..errors import InputError
from ..geometry import Roi

_LEVEL = re.compile(rf"\b{LEVEL_LETTER}{LEVEL_NUMBER}\b", re.IGNORECASE)


def roi_from_corners(corners: np.ndarray) -> Roi:
    """Rebuild a Roi from its 8 corners in the order of :meth:`Roi.corners` (x slowest, z fastest).

    The corners are mapped one by one from world to the volume's RAS, so any linear parent
    transform (rotation, scaling, flips, even shear) is honoured: the edges become the Roi's axes.
    """
    c = np.asarray(corners, float).reshape(8, 3)
    edges = np.stack([c[4] - c[0], c[2] - c[0], c[1] - c[0]], axis=1)  # columns: x, y, z edges
    size = np.linalg.norm(edges, axis=0)
    if np.any(size <= 0):
        raise InputError("the ROI has zero size along one of its axes")
    return Roi(center=c.mean(axis=0), size=size, axes=edges / size[None, :])


def vertebra_level(*texts: str | None) -> str | None:
    """The first vertebra level (C1..C7, T1..T12, L1..L5, S1) named in any of ``texts``, upper case."""
    for text in texts:
        for m in _LEVEL.finditer(text or ""):
            if m.group(0).upper() in LEVEL_INDEX:
                return m.group(0).upper()
    return None
