"""Segmentation doubles. Each segment is one uint8 (k, j, i) mask on the reference volume's grid.

Real Slicer stores labelmaps with their own extents and shared layers; the double supports only
labelmaps in the reference geometry and raises NotImplementedError for anything else.
"""

from __future__ import annotations

import itertools

import numpy as np
import vtk
from vtk import vtkImageData, vtkMatrix4x4, vtkObject

from ._mrml import vtkMRMLDisplayableNode, vtkMRMLDisplayNode, vtkMRMLLabelMapVolumeNode


class vtkOrientedImageData(vtkImageData):
    def __init__(self):
        super().__init__()
        self._imageToWorld = np.eye(4)

    def SetImageToWorldMatrix(self, matrix):
        self._imageToWorld = np.array(matrix._m, float)
        self.Modified()

    def GetImageToWorldMatrix(self, matrix):
        matrix.DeepCopy(list(self._imageToWorld.ravel()))

    def DeepCopy(self, source):
        super().DeepCopy(source)
        self._imageToWorld = np.array(getattr(source, "_imageToWorld", np.eye(4)), float)


def _kji(image):
    """A (k, j, i) view of an image's scalars (the double's layout is i fastest)."""
    ni, nj, nk = image.GetDimensions()
    return image.GetPointData().GetScalars()._values.reshape(nk, nj, ni)


class vtkSegment(vtkObject):
    def __init__(self):
        super().__init__()
        self._name = ""
        self._color = (0.5, 0.5, 0.5)
        self._labelValue = 1
        self._tags = {}

    def GetName(self):
        return self._name

    def SetName(self, name):
        self._name = name
        self.Modified()

    def GetColor(self, *args):
        return self._color

    def SetColor(self, *args):
        self._color = tuple(args[0]) if len(args) == 1 else tuple(args)

    def GetLabelValue(self):
        return self._labelValue

    def SetTag(self, tag, value):
        self._tags[tag] = str(value)

    def GetTag(self, tag, value):
        raise NotImplementedError("GetTag's output-string form is not modelled by the double")


class vtkSegmentation(vtkObject):
    def __init__(self):
        super().__init__()
        self._segments = {}  # id -> vtkSegment (insertion ordered)
        self._masks = {}  # id -> (k, j, i) uint8 array, created on first write
        self._ids = itertools.count(1)

    def AddEmptySegment(self, segmentId="", segmentName="", color=None):
        sid = segmentId or f"Segment_{next(self._ids)}"
        while sid in self._segments:
            sid = f"Segment_{next(self._ids)}"
        seg = vtkSegment()
        seg.SetName(segmentName or sid)
        if color is not None:
            seg.SetColor(color)
        self._segments[sid] = seg
        self.Modified()
        return sid

    def GetSegment(self, segmentId):
        return self._segments.get(segmentId)

    def GetSegmentIdBySegmentName(self, name):
        return next((sid for sid, s in self._segments.items() if s.GetName().lower() == name.lower()), "")

    def RemoveSegment(self, segmentId):
        self._segments.pop(segmentId, None)
        self._masks.pop(segmentId, None)
        self.Modified()

    def GetNumberOfSegments(self):
        return len(self._segments)

    def GetNthSegmentID(self, index):
        ids = list(self._segments)
        return ids[index] if 0 <= index < len(ids) else ""

    def GetSegmentIDs(self, *args):
        if args:
            raise NotImplementedError("the vtkStringArray form is not modelled by the double")
        return tuple(self._segments)


class vtkMRMLSegmentationDisplayNode(vtkMRMLDisplayNode):
    def SetSegmentVisibility(self, segmentID, visible):
        self.Modified()

    def SetOpacity2DFill(self, opacity):
        self.Modified()


class vtkMRMLSegmentationNode(vtkMRMLDisplayableNode):
    _displayClass = vtkMRMLSegmentationDisplayNode

    def __init__(self):
        super().__init__()
        self._segmentation = vtkSegmentation()
        self._geometry = None  # (ijk_to_ras 4x4, shape_kji)

    def GetSegmentation(self):
        return self._segmentation

    def SetReferenceImageGeometryParameterFromVolumeNode(self, volumeNode):
        shape = _kji(volumeNode.GetImageData()).shape
        self._geometry = (np.array(volumeNode._ijkToRas, float), shape)
        self.SetNodeReferenceID(self.GetReferenceImageGeometryReferenceRole(), volumeNode.GetID())

    def GetReferenceImageGeometryReferenceRole(self):
        return "referenceImageGeometryRef"

    def SetSourceRepresentationToBinaryLabelmap(self):
        pass

    def _mask(self, segmentId):
        if segmentId not in self._segmentation._segments:
            raise ValueError(f"no segment {segmentId!r}")
        if self._geometry is None:
            raise RuntimeError("segmentation has no reference image geometry")
        masks = self._segmentation._masks
        if segmentId not in masks:
            masks[segmentId] = np.zeros(self._geometry[1], np.uint8)
        return masks[segmentId]

    def _checkGeometry(self, ijkToRas, where):
        if self._geometry is None or not np.allclose(ijkToRas, self._geometry[0], atol=1e-6):
            raise NotImplementedError(f"{where}: the double supports only the reference volume's geometry")


class vtkSlicerSegmentationsModuleLogic(vtkObject):
    MODE_REPLACE, MODE_MERGE_MAX, MODE_MERGE_MIN, MODE_MERGE_MASK = 0, 1, 2, 3

    @staticmethod
    def SetBinaryLabelmapToSegment(labelmap, segmentationNode, segmentID, mergeMode=0, extent=None):
        """Write ``labelmap`` (!= 0 is inside) into the segment; only ``extent`` when given."""
        segmentationNode._checkGeometry(labelmap._imageToWorld, "SetBinaryLabelmapToSegment")
        mask = segmentationNode._mask(segmentID)
        e = labelmap.GetExtent()
        src = _kji(labelmap) != 0
        region = e if extent is None else tuple(extent)
        lo = [max(region[2 * a], e[2 * a], 0) for a in range(3)]
        hi = [min(region[2 * a + 1], e[2 * a + 1], mask.shape[2 - a] - 1) for a in range(3)]
        if extent is None and mergeMode == 0:
            mask[...] = 0  # replacing without an extent replaces the whole segment
        if any(lo[a] > hi[a] for a in range(3)):
            segmentationNode.Modified()
            return True
        dst = (slice(lo[2], hi[2] + 1), slice(lo[1], hi[1] + 1), slice(lo[0], hi[0] + 1))
        part = src[
            lo[2] - e[4] : hi[2] - e[4] + 1, lo[1] - e[2] : hi[1] - e[2] + 1, lo[0] - e[0] : hi[0] - e[0] + 1
        ]
        if mergeMode in (0, 3):
            mask[dst] = part
        elif mergeMode == 1:
            mask[dst] |= part.astype(np.uint8)
        else:
            mask[dst] &= part.astype(np.uint8)
        segmentationNode._segmentation.Modified()
        segmentationNode.Modified()
        return True

    def ExportVisibleSegmentsToLabelmapNode(self, segmentationNode, labelmapNode, referenceVolumeNode=None):
        ijk, shape = segmentationNode._geometry
        labels = np.zeros(shape, np.uint8)
        for value, sid in enumerate(segmentationNode._segmentation._segments, start=1):
            mask = segmentationNode._segmentation._masks.get(sid)
            if mask is not None:
                labels[mask != 0] = value
        image = vtkImageData()
        image.SetDimensions(shape[2], shape[1], shape[0])
        image.AllocateScalars(vtk.VTK_UNSIGNED_CHAR, 1)
        _kji(image)[...] = labels
        m = vtkMatrix4x4()
        m.DeepCopy(list(ijk.ravel()))
        labelmapNode.SetIJKToRASMatrix(m)
        labelmapNode.SetAndObserveImageData(image)
        return True


__all__ = [
    "vtkMRMLLabelMapVolumeNode",
    "vtkMRMLSegmentationDisplayNode",
    "vtkMRMLSegmentationNode",
    "vtkOrientedImageData",
    "vtkSegment",
    "vtkSegmentation",
    "vtkSlicerSegmentationsModuleLogic",
]
