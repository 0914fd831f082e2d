"""Slicer-free helpers behind the 3D Slicer module (SpinalSAMR1/SpinalSAMR1.py).

Nothing here imports slicer, vtk, qt or torch, so all of it is tested with plain pytest:
- ``worker``: one persistent background thread per kind of work, a results queue the GUI drains.
- ``undo``: an undo/redo stack of label-array patches and prompt snapshots.
- ``prompts``: turning MRML prompt data (already in world/volume coordinates) into core types.
- ``request``: the plain-data request the module's GUI thread hands its worker.
- ``executor``: the chat's actions on the widget (help and replies come from ``commands.executor``).
- ``settings``: the chat's LLM settings (one ``commands.llm.LLMSettings``) kept in Qt settings.
"""

from .prompts import roi_from_corners, vertebra_level
from .request import SegmentRequest
from .settings import load_llm_settings, store_llm_fields, stored_llm_fields
from .undo import Edit, LabelPatch, PromptChange, SegmentRename, UndoStack, changed_box
from .worker import Job, SerialWorker

__all__ = [
    "Edit",
    "Job",
    "LabelPatch",
    "PromptChange",
    "SegmentRename",
    "SegmentRequest",
    "SerialWorker",
    "UndoStack",
    "changed_box",
    "load_llm_settings",
    "roi_from_corners",
    "store_llm_fields",
    "stored_llm_fields",
    "vertebra_level",
]
