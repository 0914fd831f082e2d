"""Double of slicer.util: same names and parameters as Slicer's, documented behaviour.

Test hooks are private module attributes: ``_dialogAnswers`` (answers for confirm dialogs, in
order; empty means the user pressed Cancel), ``_messages`` (what was shown), ``_pipInstallCalls``.
"""

from __future__ import annotations

import contextlib
import os
import xml.etree.ElementTree as ET

import numpy as np
import qt
import vtk

import slicer

_dialogAnswers: list = []
_messages: list = []
_pipInstallCalls: list = []


# -- arrays and nodes --------------------------------------------------------------------------
def _kji(imageData):
    ni, nj, nk = imageData.GetDimensions()
    return imageData.GetPointData().GetScalars()._values.reshape(nk, nj, ni)


def arrayFromVolume(volumeNode):
    """A zero-copy (k, j, i) view of the voxels; call arrayFromVolumeModified after editing it."""
    return _kji(volumeNode.GetImageData())


def arrayFromVolumeModified(volumeNode):
    volumeNode.GetImageData().Modified()
    volumeNode.InvokeEvent(volumeNode.ImageDataModifiedEvent)


def _imageFromArray(narray):
    a = np.ascontiguousarray(narray)
    image = vtk.vtkImageData()
    image.SetDimensions(a.shape[2], a.shape[1], a.shape[0])
    image.GetPointData().SetScalars(vtk.vtkDataArray(a.reshape(-1).copy()))
    return image


def updateVolumeFromArray(volumeNode, narray):
    """Deep-copies ``narray`` (k, j, i) into the volume."""
    volumeNode.SetAndObserveImageData(_imageFromArray(narray))


def vtkMatrixFromArray(narray):
    m = vtk.vtkMatrix4x4()
    m.DeepCopy(list(np.asarray(narray, float).ravel()))
    return m


def arrayFromVTKMatrix(vmatrix):
    return np.array(vmatrix._m, float)


def updateVTKMatrixFromArray(vmatrix, narray):
    vmatrix.DeepCopy(list(np.asarray(narray, float).ravel()))


def addVolumeFromArray(narray, ijkToRAS=None, name=None, nodeClassName=None):
    node = slicer.mrmlScene.AddNewNodeByClass(nodeClassName or "vtkMRMLScalarVolumeNode", name or "")
    if ijkToRAS is not None:
        node.SetIJKToRASMatrix(vtkMatrixFromArray(ijkToRAS))
    updateVolumeFromArray(node, narray)
    node.CreateDefaultDisplayNodes()
    return node


def arrayFromSegmentBinaryLabelmap(segmentationNode, segmentId, referenceVolumeNode=None):
    """A copy of the segment as a (k, j, i) uint8 array on the reference volume's grid."""
    if referenceVolumeNode is not None:
        segmentationNode._checkGeometry(referenceVolumeNode._ijkToRas, "arrayFromSegmentBinaryLabelmap")
    elif segmentationNode._geometry is None:
        raise RuntimeError("Failed to export segment: no reference image geometry")
    return np.array(segmentationNode._mask(segmentId), copy=True)


def updateSegmentBinaryLabelmapFromArray(narray, segmentationNode, segmentId, referenceVolumeNode=None):
    """Replaces the whole segment with ``narray != 0`` (O(volume), like Slicer's)."""
    if referenceVolumeNode is not None:
        segmentationNode._checkGeometry(referenceVolumeNode._ijkToRas, "updateSegmentBinaryLabelmapFromArray")
    mask = segmentationNode._mask(segmentId)
    mask[...] = np.asarray(narray) != 0
    segmentationNode.Modified()


def getNode(pattern="*", index=0, scene=None):
    scene = scene or slicer.mrmlScene
    nodes = [n for n in scene._nodes if n.GetID() == pattern or n.GetName() == pattern]
    if not nodes:
        raise MRMLNodeNotFoundException(f"could not find nodes in the scene by name or id '{pattern}'")
    return nodes[index]


class MRMLNodeNotFoundException(Exception):
    pass


# -- files ---------------------------------------------------------------------------------------
def loadVolume(filename, properties={}, returnNode=False):  # noqa: B006 - Slicer's signature
    """Reads with SimpleITK (bundled with Slicer) and converts LPS to RAS like Slicer's reader."""
    import SimpleITK as sitk

    img = sitk.ReadImage(str(filename))
    array = sitk.GetArrayFromImage(img)
    direction = np.array(img.GetDirection(), float).reshape(3, 3)
    ijk_to_lps = np.eye(4)
    ijk_to_lps[:3, :3] = direction * np.array(img.GetSpacing(), float)[None, :]
    ijk_to_lps[:3, 3] = img.GetOrigin()
    ijk_to_ras = np.diag([-1.0, -1.0, 1.0, 1.0]) @ ijk_to_lps
    name = properties.get("name") or os.path.basename(str(filename)).split(".")[0]
    cls = "vtkMRMLLabelMapVolumeNode" if properties.get("labelmap") else "vtkMRMLScalarVolumeNode"
    node = addVolumeFromArray(array, ijk_to_ras, name, cls)
    return (True, node) if returnNode else node


def saveNode(node, filename, properties={}):  # noqa: B006 - Slicer's signature
    import SimpleITK as sitk

    if node.GetImageData() is None:
        raise NotImplementedError("the double saves volume nodes only")
    ijk_to_lps = np.diag([-1.0, -1.0, 1.0, 1.0]) @ node._ijkToRas
    spacing = np.linalg.norm(ijk_to_lps[:3, :3], axis=0)
    img = sitk.GetImageFromArray(arrayFromVolume(node))
    img.SetSpacing([float(s) for s in spacing])
    img.SetOrigin([float(v) for v in ijk_to_lps[:3, 3]])
    img.SetDirection([float(v) for v in (ijk_to_lps[:3, :3] / spacing[None, :]).ravel()])
    sitk.WriteImage(img, str(filename))
    return True


def openAddVolumeDialog():
    return False


# -- user interface ------------------------------------------------------------------------------
def _widgetClass(name):
    import ctk

    for module in (qt, ctk, slicer):
        if hasattr(module, name):
            return getattr(module, name)
    raise NotImplementedError(f"the double has no widget class {name}")


def _value(prop):
    child = list(prop)[0]
    if child.tag == "bool":
        return child.text == "true"
    if child.tag == "number":
        return int(child.text)
    if child.tag == "double":
        return float(child.text)
    if child.tag == "stringlist":
        return [s.text or "" for s in child]
    if child.tag in ("string", "enum", "set", "cstring"):
        return child.text or ""
    return None


_SKIPPED_PROPERTIES = {
    "geometry",
    "sizePolicy",
    "minimumSize",
    "maximumSize",
    "font",
    "orientation",
    "sizeHint",
}


def _build(element, parent, top, named):
    widget = (
        _widgetClass(element.get("class"))(parent)
        if parent is not None
        else _widgetClass(element.get("class"))()
    )
    name = element.get("name", "")
    widget.setObjectName(name)
    named[name] = widget
    if top is not None:
        top._children.append(widget)
    for child in element:
        if child.tag == "property":
            value = _value(child)
            if child.get("stdset") == "0":
                widget.setProperty(child.get("name"), value)
            elif child.get("name") not in _SKIPPED_PROPERTIES:
                setattr(widget, child.get("name"), value)
        elif child.tag == "item" and hasattr(widget, "addItem"):
            texts = [_value(p) for p in child if p.tag == "property" and p.get("name") == "text"]
            widget.addItem(texts[0] if texts else "")
    for sub in element.iter("widget"):
        if sub is element:
            continue
        # only direct widget descendants (through layouts/items), not grandchildren's
        owner = _owner(element, sub)
        if owner is element:
            _build(sub, widget, top if top is not None else widget, named)
    return widget


def _owner(root, target):
    """The nearest <widget> ancestor of ``target`` inside ``root``."""
    parents = {c: p for p in root.iter() for c in p}
    node = parents.get(target)
    while node is not None and node.tag != "widget":
        node = parents.get(node)
    return node


def loadUI(path):
    """Builds the widgets of a Qt Designer .ui file and applies its signal/slot connections."""
    root = ET.parse(path).getroot()
    named = {}
    top = _build(root.find("widget"), None, None, named)
    for c in root.iter("connection"):
        sender, receiver = named[c.findtext("sender")], named[c.findtext("receiver")]
        slot = getattr(receiver, c.findtext("slot").split("(")[0])
        sender.connect(c.findtext("signal"), slot)
    return top


def childWidgetVariables(widget):
    """An object with one attribute per named child widget."""

    class _Ui:
        pass

    ui = _Ui()
    for w in widget._children:
        if w.objectName:
            setattr(ui, w.objectName, w)
    return ui


def _show(kind, text):
    _messages.append((kind, text))


def errorDisplay(text, windowTitle=None, parent=None, standardButtons=None, **kwargs):
    _show("error", text)


def warningDisplay(text, windowTitle=None, parent=None, standardButtons=None, **kwargs):
    _show("warning", text)


def infoDisplay(text, windowTitle=None, parent=None, standardButtons=None, **kwargs):
    _show("info", text)


def confirmOkCancelDisplay(text, windowTitle=None, parent=None, **kwargs):
    _show("confirm", text)
    return bool(_dialogAnswers.pop(0)) if _dialogAnswers else False


def confirmYesNoDisplay(text, windowTitle=None, parent=None, **kwargs):
    _show("confirm", text)
    return bool(_dialogAnswers.pop(0)) if _dialogAnswers else False


def showStatusMessage(message, duration=0):
    _show("status", message)


def delayDisplay(message, autoCloseMsec=1000, parent=None, **kwargs):
    _show("delay", message)


def mainWindow():
    return None


def resetSliceViews():
    pass


def selectModule(module):
    pass


@contextlib.contextmanager
def tryWithErrorDisplay(message=None, show=True, waitCursor=False):
    try:
        yield
    except Exception as e:
        if show:
            errorDisplay(f"{message}\n{e}" if message else str(e))
        raise


class WaitCursor:
    def __init__(self, show=True):
        self.show = show

    def __enter__(self):
        return self

    def __exit__(self, type, value, traceback):
        return False


class RenderBlocker:
    def __enter__(self):
        return self

    def __exit__(self, type, value, traceback):
        return False


class NodeModify:
    def __init__(self, node):
        self.node = node

    def __enter__(self):
        self.wasModifying = self.node.StartModify()
        return self.node

    def __exit__(self, type, value, traceback):
        self.node.EndModify(self.wasModifying)


# -- application and modules --------------------------------------------------------------------
def toBool(value):
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes", "on")
    return bool(value)


def settingsValue(key, default, converter=lambda v: v, settings=None):
    settings = settings if settings is not None else qt.QSettings()
    return converter(settings.value(key)) if settings.contains(key) else default


def modulePath(moduleName):
    return getattr(slicer.modules, moduleName.lower()).path


def pip_install(requirements, **kwargs):
    _pipInstallCalls.append((requirements, kwargs))


class VTKObservationMixin:
    def __init__(self):
        super().__init__()
        self.Observations = []

    def removeObservers(self, method=None):
        for obj, event, m, group, tag, priority in list(self.Observations):
            if method is None or m == method:
                obj.RemoveObserver(tag)
                self.Observations.remove((obj, event, m, group, tag, priority))

    def addObserver(self, obj, event, method, group="none", priority=0.0):
        if self.hasObserver(obj, event, method):
            return
        tag = obj.AddObserver(event, method, priority)
        self.Observations.append((obj, event, method, group, tag, priority))

    def removeObserver(self, obj, event, method):
        for o, e, m, g, t, p in list(self.Observations):
            if o is obj and e == event and m == method:
                obj.RemoveObserver(t)
                self.Observations.remove((o, e, m, g, t, p))

    def hasObserver(self, obj, event, method):
        return any(o is obj and e == event and m == method for o, e, m, _, _, _ in self.Observations)
