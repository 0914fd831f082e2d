"""Writing segments on the main thread: one segment per name, only the changed box written.

Label arrays are (k, j, i) on the input volume's voxel grid; the segmentation is given the volume's
reference geometry and parent transform, so both share one coordinate system.
"""

from __future__ import annotations

import numpy as np
import slicer
import vtk
from vtk.util import numpy_support

from SpinalSAMR1Lib import geometry
from SpinalSAMR1Lib.errors import UserError
from SpinalSAMR1Lib.slicer_support import LabelPatch, SegmentRename, changed_box
from SpinalSAMR1Lib.slicer_support.undo import crop

from .nodes import volumeArrayAndMatrix


def ensureSegment(volumeNode, segmentationNode=None, segmentName: str = "Spine"):
    """The output segmentation (created if None; reference geometry = the input volume) and segment ID."""
    if segmentationNode is None:
        segmentationNode = slicer.mrmlScene.AddNewNodeByClass(
            "vtkMRMLSegmentationNode", "SpinalSAMR1 segmentation"
        )
        segmentationNode.CreateDefaultDisplayNodes()
    if segmentationNode.GetNodeReference(segmentationNode.GetReferenceImageGeometryReferenceRole()) is None:
        segmentationNode.SetReferenceImageGeometryParameterFromVolumeNode(volumeNode)
    if segmentationNode.GetTransformNodeID() != volumeNode.GetTransformNodeID():
        segmentationNode.SetAndObserveTransformNodeID(volumeNode.GetTransformNodeID())
    segmentation = segmentationNode.GetSegmentation()
    segmentId = segmentation.GetSegmentIdBySegmentName(segmentName)
    if not segmentId:
        segmentId = segmentation.AddEmptySegment("", segmentName)
    return segmentationNode, segmentId


def readSegment(segmentationNode, segmentId: str, volumeNode) -> np.ndarray:
    """The segment as a (k, j, i) array on the volume's grid."""
    return slicer.util.arrayFromSegmentBinaryLabelmap(segmentationNode, segmentId, volumeNode)


def writeBox(segmentationNode, segmentId: str, volumeNode, box: tuple, values: np.ndarray) -> None:
    """Replace the segment's voxels inside ``box`` (k0, k1, j0, j1, i0, i1) only; the rest is untouched."""
    k0, k1, j0, j1, i0, i1 = box
    image = slicer.vtkOrientedImageData()
    image.SetExtent(i0, i1, j0, j1, k0, k1)
    image.AllocateScalars(vtk.VTK_UNSIGNED_CHAR, 1)
    voxels = numpy_support.vtk_to_numpy(image.GetPointData().GetScalars())
    voxels.reshape(k1 - k0 + 1, j1 - j0 + 1, i1 - i0 + 1)[...] = np.asarray(values, np.uint8) != 0
    ijkToRas = vtk.vtkMatrix4x4()
    volumeNode.GetIJKToRASMatrix(ijkToRas)
    image.SetImageToWorldMatrix(ijkToRas)
    slicer.vtkSlicerSegmentationsModuleLogic.SetBinaryLabelmapToSegment(
        image,
        segmentationNode,
        segmentId,
        slicer.vtkSlicerSegmentationsModuleLogic.MODE_REPLACE,
        image.GetExtent(),
    )


def writeMask(
    segmentationNode, segmentId: str, volumeNode, after: np.ndarray, box=None, before=None
) -> LabelPatch | None:
    """Make the segment equal ``after`` inside ``box`` (default: the box of the voxels that change) and
    return the undo patch, or None when nothing changes. ``before``: the segment, when already read."""
    before = readSegment(segmentationNode, segmentId, volumeNode) if before is None else before
    after = (np.asarray(after) != 0).astype(np.uint8)
    box = box or changed_box(before, after)
    if box is None:
        return None
    patch = LabelPatch(segmentationNode.GetID(), segmentId, box, crop(before, box), crop(after, box))
    writeBox(segmentationNode, segmentId, volumeNode, box, patch.after)
    return patch


def writeSlice(segmentationNode, segmentId: str, volumeNode, frame, index: int, mask) -> LabelPatch:
    """Replace one slice of the segment (only that slice) with a 2D mask in display orientation."""
    before = readSegment(segmentationNode, segmentId, volumeNode)
    after = before.copy()
    geometry.insert_slice(after, frame, index, np.asarray(mask, np.uint8))
    box = geometry.slice_box_kji(frame, index)
    return writeMask(segmentationNode, segmentId, volumeNode, after, box, before)


def writeLevels(volumeNode, segmentationNode, result) -> tuple[object, list[LabelPatch]]:
    """One segment per level of a ``LevelsResult``, named and coloured by level; returns the segmentation
    and the undo patches."""
    from SpinalSAMR1Lib.anatomy import level_color

    patches = []
    for level in result.levels:
        segmentationNode, segmentId = ensureSegment(volumeNode, segmentationNode, level.name)
        segmentationNode.GetSegmentation().GetSegment(segmentId).SetColor(*level_color(level.name))
        patches.append(writeMask(segmentationNode, segmentId, volumeNode, result.labels == level.label))
    return segmentationNode, [p for p in patches if p is not None]


def levelSegments(segmentationNode) -> dict[str, str]:
    """Segment ID -> level for the segments named by a level (C1..S1), in segment order."""
    from SpinalSAMR1Lib.commands.schema import LEVELS

    segmentation = segmentationNode.GetSegmentation()
    ids = [segmentation.GetNthSegmentID(n) for n in range(segmentation.GetNumberOfSegments())]
    names = {i: segmentation.GetSegment(i).GetName().strip().upper() for i in ids}
    return {i: name for i, name in names.items() if name in LEVELS}


def levelLabelMap(segmentationNode, volumeNode, levels=()) -> np.ndarray:
    """A (k, j, i) label map on the volume's grid with VerSe values (L1 = 20) of the level segments."""
    from SpinalSAMR1Lib.anatomy import level_label

    labels = None
    for segmentId, level in levelSegments(segmentationNode).items():
        if levels and level not in levels:
            continue
        mask = readSegment(segmentationNode, segmentId, volumeNode) > 0
        labels = np.zeros(mask.shape, np.uint8) if labels is None else labels
        labels[mask] = level_label(level)
    if labels is None or not labels.any():
        raise UserError("No segment is named by a level (L1, T12 ...): name them first, e.g. 'this is L3'.")
    return labels


def renameInSpineOrder(segmentationNode, segmentId: str, level: str, volumeNode) -> list[SegmentRename]:
    """Name one segment ``level`` and the other level-named segments after it in the spine's order (by
    their centroids, head to feet); returns the renames done."""
    from SpinalSAMR1Lib.anatomy import names_in_spine_order

    ijkToRas = volumeArrayAndMatrix(volumeNode)[1]
    height = {}
    for i in set(levelSegments(segmentationNode)) | {segmentId}:
        mask = readSegment(segmentationNode, i, volumeNode) > 0
        if mask.any():
            height[i] = float(geometry.mask_centroid_ras(mask, ijkToRas)[2])  # world S: larger is higher
    if segmentId not in height:
        raise UserError("The segment to name is empty: segment the vertebra first.")
    order = sorted(height, key=height.__getitem__, reverse=True)
    segmentation = segmentationNode.GetSegmentation()
    renames = []
    for i, name in names_in_spine_order(order, segmentId, level).items():
        segment = segmentation.GetSegment(i)
        if segment.GetName() != name:
            renames.append(SegmentRename(segmentationNode.GetID(), i, segment.GetName(), name))
            segment.SetName(name)
    return renames


def referenceSegmentId(segmentationNode, segmentId: str, referenceNode) -> str:
    """The reference segment to score ``segmentId`` against: the one of the same name, or the reference's
    only segment; never silently another structure."""
    name = segmentationNode.GetSegmentation().GetSegment(segmentId).GetName()
    refSegmentation = referenceNode.GetSegmentation()
    refIds = [refSegmentation.GetNthSegmentID(n) for n in range(refSegmentation.GetNumberOfSegments())]
    if not refIds:
        raise UserError("The reference segmentation has no segments.")
    refId = refSegmentation.GetSegmentIdBySegmentName(name) or (refIds[0] if len(refIds) == 1 else "")
    if not refId:
        names = ", ".join(refSegmentation.GetSegment(i).GetName() for i in refIds)
        raise UserError(f"The reference has no segment named {name!r} (it has {names}); rename one to match.")
    return refId


def segmentMetrics(segmentationNode, segmentId: str, referenceNode, volumeNode) -> dict:
    """Dice, IoU, mean surface distance and HD95 (mm) of a segment against the reference segment of the
    same name, or the reference's only segment; never silently against another structure."""
    from SpinalSAMR1Lib.evaluation import score

    refId = referenceSegmentId(segmentationNode, segmentId, referenceNode)
    pred = readSegment(segmentationNode, segmentId, volumeNode)
    ref = readSegment(referenceNode, refId, volumeNode)
    spacing = geometry.spacing_kji(volumeArrayAndMatrix(volumeNode)[1])
    return {
        "segment": segmentationNode.GetSegmentation().GetSegment(segmentId).GetName(),
        "reference": referenceNode.GetSegmentation().GetSegment(refId).GetName(),
        **score(pred, ref, spacing),
    }


def saveSegmentation(segmentationNode, path: str, volumeNode) -> str:
    """NIfTI/NRRD label volume for .nii/.nii.gz/.nrrd (not .seg.nrrd), else Slicer's segmentation file."""
    lower = path.lower()
    if lower.endswith((".nii", ".nii.gz")) or (lower.endswith(".nrrd") and not lower.endswith(".seg.nrrd")):
        labelmap = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode")
        try:
            slicer.modules.segmentations.logic().ExportVisibleSegmentsToLabelmapNode(
                segmentationNode, labelmap, volumeNode
            )
            ok = slicer.util.saveNode(labelmap, path)
        finally:
            slicer.mrmlScene.RemoveNode(labelmap)
    else:
        ok = slicer.util.saveNode(segmentationNode, path)
    if not ok:
        raise UserError(f"Could not write {path}")
    return path
