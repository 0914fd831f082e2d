"""What the Slicer module passes from the GUI thread to its worker: plain data, no MRML objects."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class SegmentRequest:
    """Everything one inference needs, read on the main thread (MRML is not thread-safe).

    ``array`` is the volume's (k, j, i) voxels and ``ijkToRas`` its 4 x 4 matrix (the volume's own RAS,
    before parent transforms); ``prompts`` a :class:`SpinalSAMR1Lib.Prompts` in that RAS (None for the
    levels walk, whose anchor is in ``extra``).
    """

    volumeNodeID: str
    cacheKey: tuple  # (node ID, voxel MTime): node IDs restart after a scene close; pixels are hashed too
    array: np.ndarray
    ijkToRas: np.ndarray
    prompts: object
    view: str
    modelKey: tuple
    sliceIndex: int | None = None
    propagate: bool | None = None
    segmentationNodeID: str = ""
    segmentName: str = "Spine"
    label: str = ""
    extra: dict = field(default_factory=dict)
