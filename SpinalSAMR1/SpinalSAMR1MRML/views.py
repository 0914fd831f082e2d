"""Slice views: which anatomical view a slice node shows, which slice, moving through slices, layouts.

Slice positions map to the volume through world RAS and the volume's IJK-to-RAS, never by index.
"""

from __future__ import annotations

import numpy as np
import slicer

from SpinalSAMR1Lib import geometry
from SpinalSAMR1Lib.errors import UserError

from .nodes import volumeArrayAndMatrix, volumeToWorld, worldToVolume

SLICE_VIEWS = ("Red", "Yellow", "Green")
ORIENTATION_VIEWS = {"Axial": "axial", "Sagittal": "sagittal", "Coronal": "coronal"}


def viewOfSliceNode(sliceNode) -> str:
    """axial/sagittal/coronal for a slice view; refuses rotated (reformatted, oblique) views."""
    orientation = sliceNode.GetOrientation()
    if orientation not in ORIENTATION_VIEWS:
        raise UserError(
            f"The {sliceNode.GetLayoutName() or 'chosen'} view is oblique ({orientation}); "
            "set it to Axial, Sagittal or Coronal to segment in it."
        )
    return ORIENTATION_VIEWS[orientation]


def _frame(volumeNode, view: str):
    array, ijkToRas = volumeArrayAndMatrix(volumeNode)
    return geometry.view_frame(ijkToRas, array.shape, view), ijkToRas


def sliceIndexOfView(sliceNode, volumeNode, view: str) -> int:
    """The volume slice the view shows: its centre (SliceToRAS column 3) mapped to the volume's IJK."""
    sliceToRas = sliceNode.GetSliceToRAS()
    centerWorld = [sliceToRas.GetElement(r, 3) for r in range(3)]
    frame, ijkToRas = _frame(volumeNode, view)
    index = geometry.points_to_slice(worldToVolume(volumeNode, [centerWorld]), ijkToRas, frame)[0]
    return int(np.clip(index[0], 0, frame.num_slices - 1))


def stepSlices(sliceNode, volumeNode, view: str, steps: int) -> int:
    """Move the view ``steps`` slices along its normal (positive: like Slicer's 'next slice' key)."""
    frame, ijkToRas = _frame(volumeNode, view)
    m = sliceNode.GetSliceToRAS()
    center = np.array([m.GetElement(r, 3) for r in range(3)])
    normal = np.array([m.GetElement(r, 2) for r in range(3)])
    p0, p1 = worldToVolume(volumeNode, [center, center + normal])
    # Voxel index grows along +normal or against it, depending on how the volume is stored.
    sign = 1 if float(np.dot(ijkToRas[:3, frame.normal_ijk], p1 - p0)) >= 0 else -1
    index = sliceIndexOfView(sliceNode, volumeNode, view)
    return jumpToSlice(sliceNode, volumeNode, view, index + sign * steps)


def jumpToSlice(sliceNode, volumeNode, view: str, index: int) -> int:
    """Move the view to slice ``index`` (clipped) of the volume; returns the index shown."""
    frame, ijkToRas = _frame(volumeNode, view)
    index = int(np.clip(index, 0, frame.num_slices - 1))
    rows, cols = frame.slice_shape
    ras = geometry.slice_coords_to_ras([[index, (cols - 1) / 2.0, (rows - 1) / 2.0]], ijkToRas, frame)
    r, a, s = volumeToWorld(volumeNode, ras)[0]
    sliceNode.JumpSliceByOffsetting(r, a, s)
    return index


def setWindow(volumeNode, preset: str) -> None:
    """The bone or soft-tissue window preset on the volume's display."""
    from SpinalSAMR1Lib.intensity import BONE_WINDOW, SOFT_TISSUE_WINDOW

    level, width = {"bone": BONE_WINDOW, "soft_tissue": SOFT_TISSUE_WINDOW}[preset]
    volumeNode.CreateDefaultDisplayNodes()
    displayNode = volumeNode.GetDisplayNode()
    displayNode.SetAutoWindowLevel(0)
    displayNode.SetWindowLevel(width, level)


def sliceNodeOf(viewName: str):
    """The slice node of the Red/Yellow/Green view, or None without a layout (batch Slicer)."""
    layoutManager = slicer.app.layoutManager()
    if layoutManager is None:
        return None
    sliceWidget = layoutManager.sliceWidget(viewName)
    return sliceWidget.mrmlSliceNode() if sliceWidget else None


def showView(view: str, preferredName: str) -> str:
    """Show ``view`` (axial/sagittal/coronal or 3d) one-up; a slice view already showing it is used, else
    ``preferredName`` is turned to it. Returns the slice view's name ("" for 3d)."""
    layoutManager = slicer.app.layoutManager()
    if view == "3d":
        layoutManager.setLayout(slicer.vtkMRMLLayoutNode.SlicerLayoutOneUp3DView)
        return ""
    name = next((n for n in SLICE_VIEWS if sliceNodeOf(n).GetOrientation().lower() == view), None)
    if name is None:  # no view shows it yet: turn the chosen one
        name = preferredName
        sliceNodeOf(name).SetOrientation(view.capitalize())
    layouts = {
        "Red": slicer.vtkMRMLLayoutNode.SlicerLayoutOneUpRedSliceView,
        "Yellow": slicer.vtkMRMLLayoutNode.SlicerLayoutOneUpYellowSliceView,
        "Green": slicer.vtkMRMLLayoutNode.SlicerLayoutOneUpGreenSliceView,
    }
    layoutManager.setLayout(layouts[name])
    return name
