"""Requests read from the scene on the main thread (MRML is not thread-safe): the volume's voxels and
matrix, the prompts in its RAS, the names; the worker then needs no MRML object."""

from __future__ import annotations

import slicer

from SpinalSAMR1Lib import geometry
from SpinalSAMR1Lib.errors import UserError
from SpinalSAMR1Lib.slicer_support import SegmentRequest, vertebra_level

from . import nodes, segments


def segmentNameFor(requested: str | None, positiveNode=None, roiNode=None) -> str:
    """The requested name, else a vertebra level found in point labels or the ROI's name, else 'Spine'."""
    if requested:
        return requested
    labels = nodes.definedPointsWorld(positiveNode)[1]
    return vertebra_level(*labels, roiNode.GetName() if roiNode else None) or "Spine"


def volumeRequest(volumeNode, view: str, modelKey: tuple, segmentName: str) -> SegmentRequest:
    """A request on the input volume's voxels, without prompts yet."""
    if volumeNode is None or volumeNode.GetImageData() is None:
        raise UserError("Select an input volume first.")
    array, ijkToRas = nodes.volumeArrayAndMatrix(volumeNode)
    return SegmentRequest(
        volumeNodeID=volumeNode.GetID(),
        cacheKey=nodes.cacheKey(volumeNode),
        array=array,
        ijkToRas=ijkToRas,
        prompts=None,
        view=view,
        modelKey=modelKey,
        segmentName=segmentName,
    )


def promptRequest(
    volumeNode, positiveNode, negativeNode, roiNode, view: str, segmentationNode, segmentName, use, modelKey
) -> SegmentRequest:
    """A slice, volume or vertebra request from the prompt nodes (``use``: auto, points or box)."""
    if view not in geometry.VIEWS:
        raise UserError(f"Unknown view {view!r}; use axial, sagittal or coronal.")
    name = segmentNameFor(segmentName, positiveNode, roiNode)
    request = volumeRequest(volumeNode, view, modelKey, name)
    try:
        geometry.view_frame(request.ijkToRas, request.array.shape, view)
    except geometry.ObliqueViewError as exc:
        raise UserError(str(exc)) from exc
    request.prompts = nodes.readPrompts(volumeNode, positiveNode, negativeNode, roiNode, use)
    request.segmentationNodeID = segmentationNode.GetID() if segmentationNode else ""
    return request


def levelsRequest(volumeNode, positiveNode, levels, anchorLevel, modelKey) -> SegmentRequest:
    """A level-by-level request: from the first positive point, named ``anchorLevel`` or by its label
    (e.g. placed with 'add a point on L3'), or by the only level asked for; without a point, automatic."""
    request = volumeRequest(volumeNode, "sagittal", modelKey, "levels")
    pointsWorld, names = nodes.definedPointsWorld(positiveNode)
    anchor = None
    if len(pointsWorld):
        anchorLevel = anchorLevel or vertebra_level(names[0]) or (levels[0] if len(levels) == 1 else None)
        if anchorLevel is None:
            raise UserError(
                "Name the clicked vertebra first: place it with 'add a point on L3', or remove the points "
                "to find the levels automatically."
            )
        anchor = nodes.worldToVolume(volumeNode, pointsWorld[:1])[0]
    request.extra = {"mode": "levels", "anchor": anchor, "anchorLevel": anchorLevel, "levels": tuple(levels)}
    return request


def prefetchRequest(volumeNode, view: str, sliceIndex: int, modelKey: tuple) -> SegmentRequest:
    """A request to encode slice ``sliceIndex`` of ``view`` and its neighbours ahead of a click."""
    request = volumeRequest(volumeNode, view, modelKey, "")
    request.sliceIndex, request.extra = sliceIndex, {"mode": "prefetch"}
    return request


def requestSegment(request: SegmentRequest, volumeNode=None, segmentationNode=None):
    """(volume, segmentation, segment ID) a result of ``request`` is written to; the segment is made
    when missing (see :func:`requestNodes` for a volume removed meanwhile)."""
    volumeNode, segmentationNode = requestNodes(request, volumeNode, segmentationNode)
    segmentationNode, segmentId = segments.ensureSegment(volumeNode, segmentationNode, request.segmentName)
    return volumeNode, segmentationNode, segmentId


def requestNodes(request: SegmentRequest, volumeNode=None, segmentationNode=None):
    """The request's nodes; the result of a request whose volume was removed meanwhile is dropped."""
    volumeNode = volumeNode or slicer.mrmlScene.GetNodeByID(request.volumeNodeID)
    if volumeNode is None:
        raise UserError("The input volume was removed while it was being segmented.")
    if segmentationNode is None and request.segmentationNodeID:
        segmentationNode = slicer.mrmlScene.GetNodeByID(request.segmentationNodeID)
    return volumeNode, segmentationNode
