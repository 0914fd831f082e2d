"""Undo and redo in the scene: the library's UndoStack, with each kind of change applied to MRML.

Every edit of the module (buttons or chat) goes through :class:`SceneEdits`, so each one is undoable:
label patches of segments (only their box), snapshots of prompt nodes and segment renames.
"""

from __future__ import annotations

import slicer

from SpinalSAMR1Lib.slicer_support import Edit, LabelPatch, PromptChange, SegmentRename, UndoStack

from . import nodes, segments


class SceneEdits:
    """The module's undo stack; ``push`` records changes already made, ``undo``/``redo`` apply them."""

    def __init__(self) -> None:
        self.stack = UndoStack()

    def push(self, label: str, changes: list) -> Edit | None:
        """Record ``changes`` (None entries skipped) as one undoable step; None when there are none."""
        changes = [c for c in changes if c is not None]
        if not changes:
            return None
        edit = Edit(label, changes)
        self.stack.push(edit)
        return edit

    def clearPrompts(self, promptNodes: list, label: str = "clear prompts") -> Edit | None:
        """Remove all control points of ``promptNodes`` as one undoable edit."""
        changes = []
        for node in [n for n in promptNodes if n is not None and n.GetNumberOfControlPoints() > 0]:
            before = nodes.promptState(node)
            node.RemoveAllControlPoints()
            changes.append(PromptChange(node.GetID(), before, nodes.promptState(node)))
        return self.push(label, changes)

    def undo(self) -> str | None:
        """Revert the last edit; returns its label, or None when there is nothing to undo."""
        edit = self.stack.undo()
        if edit is not None:
            self._apply(edit, "before")
        return edit.label if edit else None

    def redo(self) -> str | None:
        edit = self.stack.redo()
        if edit is not None:
            self._apply(edit, "after")
        return edit.label if edit else None

    @staticmethod
    def _apply(edit: Edit, side: str) -> None:
        for change in edit.changes:
            if isinstance(change, LabelPatch):
                segmentationNode = slicer.mrmlScene.GetNodeByID(change.segmentation_id)
                reference = segmentationNode.GetNodeReference(
                    segmentationNode.GetReferenceImageGeometryReferenceRole()
                )
                values = getattr(change, side)
                segments.writeBox(segmentationNode, change.segment_id, reference, change.box, values)
            elif isinstance(change, SegmentRename):
                segmentation = slicer.mrmlScene.GetNodeByID(change.segmentation_id).GetSegmentation()
                segmentation.GetSegment(change.segment_id).SetName(getattr(change, side))
            else:
                nodes.restorePromptState(slicer.mrmlScene.GetNodeByID(change.node_id), getattr(change, side))
