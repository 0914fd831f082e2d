"""MRML node doubles: a scene, volumes, transforms, markups, segmentations, slice views.

Geometry follows Slicer: a node's coordinates are mapped to world by its parent transforms;
``Get...World`` applies them and plain getters do not; volumes keep IJK-to-RAS without them.
"""

from __future__ import annotations

import itertools

import numpy as np
from vtk import vtkMatrix4x4, vtkObject

_UNDEFINED, _PREVIEW, _DEFINED = 0, 1, 2


def _matrix(m: vtkMatrix4x4) -> np.ndarray:
    return np.array(m._m, float)


def _node_to_world(node) -> np.ndarray:
    """Product of the parent transform chain (linear only in this double)."""
    out = np.eye(4)
    parent = node.GetParentTransformNode() if node is not None else None
    seen = set()
    while parent is not None and id(parent) not in seen:
        seen.add(id(parent))
        out = _matrix(parent._toParent) @ out
        parent = parent.GetParentTransformNode()
    return out


def _apply(m: np.ndarray, p) -> np.ndarray:
    return (m @ np.append(np.asarray(p, float)[:3], 1.0))[:3]


def _store(out, values) -> None:
    for i, v in enumerate(values):
        out[i] = float(v)


class vtkMRMLScene(vtkObject):
    NodeAddedEvent = 66000
    NodeRemovedEvent = 66001
    NodeAboutToBeRemovedEvent = 66002
    StartCloseEvent = 66003
    EndCloseEvent = 66004

    def __init__(self):
        super().__init__()
        self._nodes = []
        self._ids: dict[str, itertools.count] = {}  # per class, like vtkMRMLScene::GenerateUniqueID
        self._closing = False

    def _newID(self, className: str) -> str:
        """IDs "vtkMRMLScalarVolumeNode1", "...2": a per-class counter that Clear() restarts, as in Slicer, so
        the first volume loaded after a scene close gets the ID of the first one before it."""
        counter = self._ids.setdefault(className, itertools.count(1))
        while True:
            candidate = f"{className}{next(counter)}"
            if self.GetNodeByID(candidate) is None:  # singletons survive a Clear with their IDs
                return candidate

    def AddNewNodeByClass(self, className, nodeBaseName=""):
        from . import _classes

        node = _classes()[className]()
        if nodeBaseName:
            node.SetName(nodeBaseName)
        return self.AddNode(node)

    def AddNode(self, node):
        node._id = self._newID(type(node).__name__)
        if not node.GetName():
            node.SetName(node._id)
        node._scene = self
        self._nodes.append(node)
        self.InvokeEvent(self.NodeAddedEvent, node)
        return node

    def RemoveNode(self, node):
        if node in self._nodes:
            self.InvokeEvent(self.NodeAboutToBeRemovedEvent, node)
            self._nodes.remove(node)
            node._scene = None
            self.InvokeEvent(self.NodeRemovedEvent, node)

    def GetNodeByID(self, id):
        return next((n for n in self._nodes if n.GetID() == id), None)

    def GetFirstNodeByClass(self, className):
        return next((n for n in self._nodes if n.IsA(className)), None)

    def GetFirstNodeByName(self, name):
        return next((n for n in self._nodes if n.GetName() == name), None)

    def GetNumberOfNodesByClass(self, className):
        return sum(1 for n in self._nodes if n.IsA(className))

    def GetNthNodeByClass(self, n, className):
        nodes = [x for x in self._nodes if x.IsA(className)]
        return nodes[n] if 0 <= n < len(nodes) else None

    def GetSingletonNode(self, *args):
        tag, className = args if len(args) == 2 else (args[0].GetSingletonTag(), type(args[0]).__name__)
        return next((n for n in self._nodes if n.GetSingletonTag() == tag and n.IsA(className)), None)

    def Clear(self, removeSingletons=0):
        self._closing = True
        self.InvokeEvent(self.StartCloseEvent)
        for node in list(self._nodes):
            if removeSingletons or not node.GetSingletonTag():
                self.RemoveNode(node)
        self._ids.clear()
        self._closing = False
        self.InvokeEvent(self.EndCloseEvent)

    def IsClosing(self):
        return self._closing


class vtkMRMLNode(vtkObject):
    ReferenceModifiedEvent = 16003

    def __init__(self):
        super().__init__()
        self._id = None
        self._name = ""
        self._scene = None
        self._attributes = {}
        self._references = {}
        self._singletonTag = None
        self._hide = 0
        self._modifying = 0

    def GetID(self):
        return self._id

    def GetName(self):
        return self._name

    def SetName(self, name):
        self._name = name
        self.Modified()

    def GetScene(self):
        return self._scene

    def SetAttribute(self, name, value):
        self._attributes[name] = value

    def GetAttribute(self, name):
        return self._attributes.get(name)

    def RemoveAttribute(self, name):
        self._attributes.pop(name, None)

    def SetNodeReferenceID(self, referenceRole, referencedNodeID):
        if referencedNodeID:
            self._references[referenceRole] = referencedNodeID
        else:
            self._references.pop(referenceRole, None)
        self.Modified()

    def GetNodeReferenceID(self, referenceRole):
        return self._references.get(referenceRole)

    def GetNodeReference(self, referenceRole):
        nid = self._references.get(referenceRole)
        return self._scene.GetNodeByID(nid) if (nid and self._scene) else None

    def SetSingletonTag(self, tag):
        self._singletonTag = tag

    def GetSingletonTag(self):
        return self._singletonTag

    def SetHideFromEditors(self, hide):
        self._hide = int(hide)

    def GetHideFromEditors(self):
        return self._hide

    def StartModify(self):
        self._modifying += 1
        return self._modifying - 1

    def EndModify(self, previousDisableModifiedEventState):
        self._modifying = previousDisableModifiedEventState
        if not self._modifying:
            self.Modified()
        return self._modifying

    def Modified(self):
        if self._modifying:
            self._mtimeValue += 1
            return
        super().Modified()


class vtkMRMLScriptedModuleNode(vtkMRMLNode):
    def __init__(self):
        super().__init__()
        self._parameters = {}

    def SetParameter(self, name, value):
        if self._parameters.get(name) != value:
            self._parameters[name] = value
            self.Modified()

    def GetParameter(self, name):
        return self._parameters.get(name, "")

    def GetParameterNames(self):
        return list(self._parameters)

    def UnsetParameter(self, name):
        if self._parameters.pop(name, None) is not None:
            self.Modified()


class vtkMRMLStorableNode(vtkMRMLNode):
    pass


class vtkMRMLTransformableNode(vtkMRMLStorableNode):
    TransformModifiedEvent = 15000

    def SetAndObserveTransformNodeID(self, transformNodeID):
        self.SetNodeReferenceID("transform", transformNodeID)
        self.InvokeEvent(self.TransformModifiedEvent)

    def GetTransformNodeID(self):
        return self.GetNodeReferenceID("transform")

    def GetParentTransformNode(self):
        return self.GetNodeReference("transform")


class vtkMRMLDisplayNode(vtkMRMLNode):
    def __init__(self):
        super().__init__()
        self._visibility = 1

    def SetVisibility(self, visible):
        self._visibility = int(visible)
        self.Modified()

    def GetVisibility(self, *args):
        return self._visibility

    def SetSelectedColor(self, *args):
        self._selectedColor = tuple(args[0]) if len(args) == 1 else tuple(args)


class vtkMRMLDisplayableNode(vtkMRMLTransformableNode):
    _displayClass = vtkMRMLDisplayNode

    def CreateDefaultDisplayNodes(self):
        if self.GetDisplayNode() is None and self._scene is not None:
            display = self._scene.AddNode(self._displayClass())
            self.SetNodeReferenceID("display", display.GetID())

    def GetDisplayNode(self):
        return self.GetNodeReference("display")

    def SetDisplayVisibility(self, visible):
        if self.GetDisplayNode() is not None:
            self.GetDisplayNode().SetVisibility(visible)

    def GetDisplayVisibility(self):
        display = self.GetDisplayNode()
        return 1 if display is None else display.GetVisibility()


class vtkMRMLTransformNode(vtkMRMLDisplayableNode):
    def __init__(self):
        super().__init__()
        self._toParent = vtkMatrix4x4()

    def SetMatrixTransformToParent(self, matrix):
        self._toParent.DeepCopy(matrix)
        self.Modified()

    def GetMatrixTransformToParent(self, *args):
        if args:
            args[0].DeepCopy(self._toParent)
            return 1
        return self._toParent

    def GetMatrixTransformToWorld(self, transformToWorld):
        transformToWorld.DeepCopy(list((_node_to_world(self) @ _matrix(self._toParent)).ravel()))
        return 1

    def IsTransformToWorldLinear(self):
        return 1

    @staticmethod
    def GetTransformBetweenNodes(sourceNode, targetNode, transformSourceToTarget):
        """From ``sourceNode``'s coordinate system (None: world) to ``targetNode``'s (None: world)."""

        def to_world(n):
            return np.eye(4) if n is None else _node_to_world(n) @ _matrix(n._toParent)

        m = np.linalg.inv(to_world(targetNode)) @ to_world(sourceNode)
        transformSourceToTarget.Identity()
        carrier = vtkMatrix4x4()
        carrier.DeepCopy(list(m.ravel()))
        transformSourceToTarget.Concatenate(carrier)


class vtkMRMLLinearTransformNode(vtkMRMLTransformNode):
    pass


class vtkMRMLVolumeDisplayNode(vtkMRMLDisplayNode):
    pass


class vtkMRMLScalarVolumeDisplayNode(vtkMRMLVolumeDisplayNode):
    def __init__(self):
        super().__init__()
        self._auto = 1
        self._window, self._level = 256.0, 128.0

    def SetAutoWindowLevel(self, autoWindowLevel):
        self._auto = int(autoWindowLevel)

    def GetAutoWindowLevel(self):
        return self._auto

    def SetWindowLevel(self, window, level):
        self._window, self._level = float(window), float(level)
        self.Modified()

    def GetWindow(self):
        return self._window

    def GetLevel(self):
        return self._level


class vtkMRMLVolumeNode(vtkMRMLDisplayableNode):
    ImageDataModifiedEvent = 18001

    def __init__(self):
        super().__init__()
        self._ijkToRas = np.eye(4)
        self._imageData = None

    def SetIJKToRASMatrix(self, mat):
        self._ijkToRas = _matrix(mat)
        self.Modified()

    def GetIJKToRASMatrix(self, mat):
        mat.DeepCopy(list(self._ijkToRas.ravel()))

    def GetRASToIJKMatrix(self, mat):
        mat.DeepCopy(list(np.linalg.inv(self._ijkToRas).ravel()))

    def GetSpacing(self, *args):
        return tuple(float(v) for v in np.linalg.norm(self._ijkToRas[:3, :3], axis=0))

    def GetOrigin(self, *args):
        return tuple(float(v) for v in self._ijkToRas[:3, 3])

    def SetOrigin(self, *origin):
        o = origin[0] if len(origin) == 1 else origin
        self._ijkToRas[:3, 3] = o
        self.Modified()

    def SetSpacing(self, *spacing):
        s = np.asarray(spacing[0] if len(spacing) == 1 else spacing, float)
        d = self._ijkToRas[:3, :3] / np.linalg.norm(self._ijkToRas[:3, :3], axis=0)
        self._ijkToRas[:3, :3] = d * s[None, :]
        self.Modified()

    def GetImageData(self):
        return self._imageData

    def SetAndObserveImageData(self, imageData):
        self._imageData = imageData
        self.Modified()
        self.InvokeEvent(self.ImageDataModifiedEvent)


class vtkMRMLScalarVolumeNode(vtkMRMLVolumeNode):
    _displayClass = vtkMRMLScalarVolumeDisplayNode

    def GetScalarVolumeDisplayNode(self):
        return self.GetDisplayNode()


class vtkMRMLLabelMapVolumeNode(vtkMRMLVolumeNode):
    pass


class vtkMRMLMarkupsDisplayNode(vtkMRMLDisplayNode):
    pass


class vtkMRMLMarkupsNode(vtkMRMLDisplayableNode):
    """Control points in node coordinates; world = parent transforms applied."""

    _displayClass = vtkMRMLMarkupsDisplayNode
    PointAddedEvent = 19000
    PointRemovedEvent = 19001
    PointModifiedEvent = 19002
    PointPositionDefinedEvent = 19003
    PointPositionUndefinedEvent = 19004
    PointStartInteractionEvent = 19005
    PointEndInteractionEvent = 19006
    PositionUndefined, PositionPreview, PositionDefined = _UNDEFINED, _PREVIEW, _DEFINED

    def __init__(self):
        super().__init__()
        self._points = []  # dicts: position (node coords), label, status, visible

    def _world(self):
        return _node_to_world(self)

    def _point(self, n):
        if not 0 <= n < len(self._points):
            raise IndexError(f"control point {n} does not exist")
        return self._points[n]

    def AddControlPoint(self, *args):
        point, label = (args[0], args[1] if len(args) > 1 else "") if len(args) <= 2 else (args[:3], "")
        self._points.append(
            {
                "position": np.asarray(point, float)[:3].copy(),
                "label": label or f"{self.GetName()}-{len(self._points) + 1}",
                "status": _DEFINED,
                "visible": True,
            }
        )
        n = len(self._points) - 1
        self.InvokeEvent(self.PointAddedEvent, n)
        self.InvokeEvent(self.PointPositionDefinedEvent, n)
        self.Modified()
        return n

    def AddControlPointWorld(self, *args):
        point = args[0] if len(args) <= 2 else args[:3]
        local = _apply(np.linalg.inv(self._world()), point)
        return self.AddControlPoint(local, *(args[1:2] if len(args) <= 2 else ()))

    def GetNumberOfControlPoints(self):
        return len(self._points)

    def GetNumberOfDefinedControlPoints(self, includePreview=False):
        ok = (_DEFINED, _PREVIEW) if includePreview else (_DEFINED,)
        return sum(1 for p in self._points if p["status"] in ok)

    def GetNthControlPointPosition(self, *args):
        pos = self._point(args[0])["position"]
        if len(args) == 2:
            _store(args[1], pos)
            return None
        return tuple(float(v) for v in pos)

    def GetNthControlPointPositionWorld(self, *args):
        pos = _apply(self._world(), self._point(args[0])["position"])
        if len(args) == 2:
            _store(args[1], pos)
            return None
        return tuple(float(v) for v in pos)

    def SetNthControlPointPosition(self, *args):
        n, pos = args[0], (args[1] if len(args) <= 3 else args[1:4])
        p = self._point(n)
        p["position"] = np.asarray(pos, float)[:3].copy()
        was = p["status"]
        p["status"] = _DEFINED
        self.InvokeEvent(self.PointModifiedEvent, n)
        if was != _DEFINED:
            self.InvokeEvent(self.PointPositionDefinedEvent, n)
        self.Modified()

    def SetNthControlPointPositionWorld(self, *args):
        n, pos = args[0], (args[1] if len(args) <= 3 else args[1:4])
        self.SetNthControlPointPosition(n, _apply(np.linalg.inv(self._world()), pos))

    def GetNthControlPointPositionStatus(self, pointIndex):
        return self._point(pointIndex)["status"]

    def UnsetNthControlPointPosition(self, pointIndex):
        self._point(pointIndex)["status"] = _UNDEFINED
        self.InvokeEvent(self.PointPositionUndefinedEvent, pointIndex)
        self.Modified()

    def GetNthControlPointVisibility(self, *args):
        return int(self._point(args[0])["visible"])

    def SetNthControlPointVisibility(self, n, visibility):
        self._point(n)["visible"] = bool(visibility)
        self.Modified()

    def GetNthControlPointLabel(self, *args):
        return self._point(args[0])["label"]

    def SetNthControlPointLabel(self, pointIndex, label):
        self._point(pointIndex)["label"] = label
        self.Modified()

    def RemoveNthControlPoint(self, pointIndex):
        self._point(pointIndex)
        del self._points[pointIndex]
        self.InvokeEvent(self.PointRemovedEvent, pointIndex)
        self.Modified()

    def RemoveAllControlPoints(self):
        while self._points:
            self.RemoveNthControlPoint(len(self._points) - 1)


class vtkMRMLMarkupsFiducialNode(vtkMRMLMarkupsNode):
    pass


class vtkMRMLMarkupsROINode(vtkMRMLMarkupsNode):
    """A box ROI: centre and size in node coordinates, axes from the object-to-node matrix."""

    ROITypeBox = 0

    def __init__(self):
        super().__init__()
        self._center = np.zeros(3)
        self._size = np.zeros(3)
        self._objectToNode = vtkMatrix4x4()

    def _sync_point(self):
        # Slicer keeps one control point, the centre, once the box has a size.
        if np.linalg.norm(self._size) == 0:
            return
        if self._points:
            self._points[0]["position"] = self._center.copy()
            self._points[0]["status"] = _DEFINED
        else:
            vtkMRMLMarkupsNode.AddControlPoint(self, self._center)

    def SetCenter(self, *args):
        self._center = np.asarray(args[0] if len(args) == 1 else args, float).copy()
        self._sync_point()
        self.Modified()

    def GetCenter(self, *args):
        if args:
            _store(args[0], self._center)
            return None
        return tuple(float(v) for v in self._center)

    def SetSize(self, *args):
        self._size = np.asarray(args[0] if len(args) == 1 else args, float).copy()
        self._sync_point()
        self.Modified()

    def GetSize(self, *args):
        if args:
            _store(args[0], self._size)
            return None
        return tuple(float(v) for v in self._size)

    def GetObjectToNodeMatrix(self):
        return self._objectToNode

    def _objectToWorld(self):
        m = _matrix(self._objectToNode).copy()
        m[:3, 3] += self._center  # the object frame is centred on the box
        return self._world() @ m

    def GetCenterWorld(self, *args):
        c = _apply(self._world(), self._center)
        if args:
            _store(args[0], c)
            return None
        return tuple(float(v) for v in c)

    def _axisWorld(self, i, out):
        a = self._objectToWorld()[:3, i]
        _store(out, a / np.linalg.norm(a))

    def GetXAxisWorld(self, axis_World):
        self._axisWorld(0, axis_World)

    def GetYAxisWorld(self, axis_World):
        self._axisWorld(1, axis_World)

    def GetZAxisWorld(self, axis_World):
        self._axisWorld(2, axis_World)

    def GetSizeWorld(self, size_World):
        _store(size_World, self._size * np.linalg.norm(self._objectToWorld()[:3, :3], axis=0))

    def GetROIType(self):
        return self.ROITypeBox

    def AddControlPoint(self, *args):
        n = super().AddControlPoint(*args)
        self._center = np.array(self._points[0]["position"], float)
        return n


class vtkMRMLInteractionNode(vtkMRMLNode):
    Select, Place, ViewTransform = 0, 1, 2

    def __init__(self):
        super().__init__()
        self._mode = self.ViewTransform
        self._persistence = 0

    def SetCurrentInteractionMode(self, mode):
        self._mode = mode
        self.Modified()

    def GetCurrentInteractionMode(self):
        return self._mode

    def SetPlaceModePersistence(self, persistence):
        self._persistence = int(persistence)

    def SwitchToViewTransformMode(self):
        self.SetCurrentInteractionMode(self.ViewTransform)


class vtkMRMLSelectionNode(vtkMRMLNode):
    def SetActivePlaceNodeID(self, id):
        self.SetNodeReferenceID("ActivePlaceNodeID", id)

    def SetReferenceActivePlaceNodeClassName(self, className):
        self.SetAttribute("ActivePlaceNodeClassName", className)


_ORIENTATIONS = {
    # columns: screen x, screen y, normal (Slicer's default presets)
    "Axial": np.array([[-1, 0, 0], [0, 1, 0], [0, 0, 1]], float),
    "Sagittal": np.array([[0, 0, 1], [-1, 0, 0], [0, 1, 0]], float),
    "Coronal": np.array([[-1, 0, 0], [0, 0, 1], [0, 1, 0]], float),
}


class vtkMRMLAbstractViewNode(vtkMRMLNode):
    def __init__(self):
        super().__init__()
        self._layoutName = ""

    def GetLayoutName(self):
        return self._layoutName


class vtkMRMLSliceNode(vtkMRMLAbstractViewNode):
    def __init__(self):
        super().__init__()
        self._sliceToRas = vtkMatrix4x4()
        self.SetOrientation("Axial")

    def SetOrientation(self, orientation):
        if orientation not in _ORIENTATIONS:
            return False
        m = _matrix(self._sliceToRas)
        m[:3, :3] = _ORIENTATIONS[orientation]
        self._sliceToRas.DeepCopy(list(m.ravel()))
        self.Modified()
        return True

    def SetOrientationToAxial(self):
        self.SetOrientation("Axial")

    def GetOrientation(self, *args):
        m = _matrix(self._sliceToRas)[:3, :3]
        for name, preset in _ORIENTATIONS.items():
            if np.allclose(m, preset, atol=1e-6):
                return name
        return "Reformat"

    def GetSliceToRAS(self):
        return self._sliceToRas

    def UpdateMatrices(self):
        self.Modified()

    def JumpSliceByOffsetting(self, *args):
        r, a, s = args[:3]
        m = _matrix(self._sliceToRas)
        normal = m[:3, 2]
        m[:3, 3] += normal * float(np.dot(np.array([r, a, s], float) - m[:3, 3], normal))
        self._sliceToRas.DeepCopy(list(m.ravel()))
        self.Modified()

    def GetSliceOffset(self):
        m = _matrix(self._sliceToRas)
        return float(np.dot(m[:3, 3], m[:3, 2]))

    def SetSliceOffset(self, offset):
        m = _matrix(self._sliceToRas)
        m[:3, 3] += m[:3, 2] * (offset - self.GetSliceOffset())
        self._sliceToRas.DeepCopy(list(m.ravel()))
        self.Modified()


class vtkMRMLSliceLogic(vtkObject):
    def __init__(self, sliceNode=None):
        super().__init__()
        self._sliceNode = sliceNode

    def GetSliceNode(self, *args):
        return self._sliceNode

    def GetSliceOffset(self):
        return self._sliceNode.GetSliceOffset()

    def SetSliceOffset(self, offset):
        self._sliceNode.SetSliceOffset(offset)


class vtkMRMLLayoutNode(vtkMRMLNode):
    SlicerLayoutOneUpRedSliceView = 6
    SlicerLayoutOneUpYellowSliceView = 7
    SlicerLayoutOneUpGreenSliceView = 8
    SlicerLayoutOneUp3DView = 4

    def __init__(self):
        super().__init__()
        self._arrangement = 2

    def SetViewArrangement(self, arrangement):
        self._arrangement = arrangement

    def GetViewArrangement(self):
        return self._arrangement
