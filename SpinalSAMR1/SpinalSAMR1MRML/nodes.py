"""Reading MRML nodes on the main thread: voxels, transforms, points, the ROI, prompts.

Points and ROIs come in world RAS; the library works in the volume's own RAS (before its parent
transforms), so every position goes through the transform between the two, never through indices.
"""

from __future__ import annotations

import numpy as np
import slicer
import vtk

from SpinalSAMR1Lib.errors import UserError
from SpinalSAMR1Lib.geometry import Roi
from SpinalSAMR1Lib.slicer_support import roi_from_corners


def volumeArrayAndMatrix(volumeNode) -> tuple[np.ndarray, np.ndarray]:
    """The voxels as a (k, j, i) view and IJK-to-RAS (the volume's own, without parent transforms)."""
    m = vtk.vtkMatrix4x4()
    volumeNode.GetIJKToRASMatrix(m)
    return slicer.util.arrayFromVolume(volumeNode), slicer.util.arrayFromVTKMatrix(m)


def cacheKey(volumeNode) -> tuple:
    """(node ID, voxel MTime): node IDs restart after a scene close, so the pixels are hashed too."""
    return (volumeNode.GetID(), volumeNode.GetImageData().GetMTime())


def _transformed(volumeNode, points, toWorld: bool) -> np.ndarray:
    points = np.asarray(points, float).reshape(-1, 3)
    parent = volumeNode.GetParentTransformNode()
    if parent is None or not len(points):
        return points
    transform = vtk.vtkGeneralTransform()
    source, target = (parent, None) if toWorld else (None, parent)
    slicer.vtkMRMLTransformNode.GetTransformBetweenNodes(source, target, transform)
    return np.array([transform.TransformPoint(p) for p in points], float)


def worldToVolume(volumeNode, pointsWorld) -> np.ndarray:
    """World RAS points (N, 3) to the volume's RAS (before its parent transforms), like Slicer's recipe."""
    return _transformed(volumeNode, pointsWorld, toWorld=False)


def volumeToWorld(volumeNode, pointsVolume) -> np.ndarray:
    """The volume's RAS points (N, 3) to world RAS."""
    return _transformed(volumeNode, pointsVolume, toWorld=True)


def definedPointsWorld(markupsNode) -> tuple[np.ndarray, list[str]]:
    """World positions (N, 3) and labels of the defined, visible control points (preview ones skipped)."""
    points, labels = [], []
    if markupsNode is None:
        return np.zeros((0, 3)), labels
    for i in range(markupsNode.GetNumberOfControlPoints()):
        if markupsNode.GetNthControlPointPositionStatus(i) != slicer.vtkMRMLMarkupsNode.PositionDefined:
            continue
        if not markupsNode.GetNthControlPointVisibility(i):
            continue
        p = [0.0, 0.0, 0.0]
        markupsNode.GetNthControlPointPositionWorld(i, p)
        points.append(p)
        labels.append(markupsNode.GetNthControlPointLabel(i))
    return np.array(points, float).reshape(-1, 3), labels


def roiCornersWorld(roiNode) -> np.ndarray | None:
    """The ROI's 8 corners in world RAS (:meth:`Roi.corners` order), or None when it is not placed."""
    if roiNode is None or roiNode.GetNumberOfDefinedControlPoints() == 0:
        return None
    if not roiNode.GetNthControlPointVisibility(0):
        return None
    center, size = [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]
    roiNode.GetCenterWorld(center)
    roiNode.GetSizeWorld(size)
    if min(size) <= 0:
        return None
    axes = []
    for getAxis in (roiNode.GetXAxisWorld, roiNode.GetYAxisWorld, roiNode.GetZAxisWorld):
        a = [0.0, 0.0, 0.0]
        getAxis(a)
        axes.append(a)
    return Roi(center=center, size=size, axes=np.array(axes, float).T).corners()


def readPrompts(volumeNode, positiveNode=None, negativeNode=None, roiNode=None, use: str = "auto"):
    """Prompts in the volume's RAS: defined, visible points and the ROI through its 8 corners.

    ``use``: "points" ignores the ROI, "box" ignores the points, "auto" takes both.
    """
    from SpinalSAMR1Lib import Prompts

    pos = definedPointsWorld(positiveNode)[0] if use != "box" else np.zeros((0, 3))
    neg = definedPointsWorld(negativeNode)[0] if use != "box" else np.zeros((0, 3))
    corners = roiCornersWorld(roiNode) if use != "points" else None
    points = worldToVolume(volumeNode, np.vstack([pos, neg]))
    labels = np.r_[np.ones(len(pos), int), np.zeros(len(neg), int)]
    roi = roi_from_corners(worldToVolume(volumeNode, corners)) if corners is not None else None
    try:
        return Prompts(points_ras=points, labels=labels, roi=roi)
    except ValueError as exc:
        raise UserError(str(exc)) from exc


def promptState(node):
    """A snapshot of a prompt node (ROI centre and size, or the points with labels) for undo."""
    if node is None:
        return None
    if node.IsA("vtkMRMLMarkupsROINode"):
        center, size = [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]
        node.GetCenter(center)
        node.GetSize(size)
        return {
            "roi": True,
            "center": center,
            "size": size,
            "placed": node.GetNumberOfDefinedControlPoints() > 0,
        }
    points = []
    for i in range(node.GetNumberOfControlPoints()):
        p = [0.0, 0.0, 0.0]
        node.GetNthControlPointPosition(i, p)
        points.append((node.GetNthControlPointLabel(i), tuple(p)))
    return points


def restorePromptState(node, state) -> None:
    """Put a :func:`promptState` snapshot back into ``node``."""
    node.RemoveAllControlPoints()
    if isinstance(state, dict):
        if state["placed"]:
            node.SetCenter(state["center"])
            node.SetSize(state["size"])
        return
    for label, position in state:
        node.AddControlPoint(position, label)


def newPromptNode(className: str, role: str, color: tuple):
    """A new Markups node "SpinalSAMR1 <role>" drawn in ``color`` (RGB 0..1) when selected."""
    node = slicer.mrmlScene.AddNewNodeByClass(className, f"SpinalSAMR1 {role}")
    node.CreateDefaultDisplayNodes()
    displayNode = node.GetDisplayNode()
    if displayNode is not None:
        displayNode.SetSelectedColor(*color)
    return node
