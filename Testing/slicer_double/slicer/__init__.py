# ruff: noqa: F401 - re-exports, like the real package namespace
"""Test double of the ``slicer`` package: a scene, an application, modules, util, MRML classes.

``slicer.app.processEvents()`` runs due Qt timers; ``_reset()`` gives every test a fresh scene.
"""

from __future__ import annotations

from types import SimpleNamespace

from . import i18n, packaging, parameterNodeWrapper, util  # noqa: F401 - submodules like Slicer's
from ._mrml import (
    vtkMRMLAbstractViewNode,
    vtkMRMLDisplayableNode,
    vtkMRMLDisplayNode,
    vtkMRMLInteractionNode,
    vtkMRMLLayoutNode,
    vtkMRMLLinearTransformNode,
    vtkMRMLMarkupsDisplayNode,
    vtkMRMLMarkupsFiducialNode,
    vtkMRMLMarkupsNode,
    vtkMRMLMarkupsROINode,
    vtkMRMLNode,
    vtkMRMLScalarVolumeDisplayNode,
    vtkMRMLScalarVolumeNode,
    vtkMRMLScene,
    vtkMRMLScriptedModuleNode,
    vtkMRMLSelectionNode,
    vtkMRMLSliceLogic,
    vtkMRMLSliceNode,
    vtkMRMLStorableNode,
    vtkMRMLTransformableNode,
    vtkMRMLTransformNode,
    vtkMRMLVolumeDisplayNode,
    vtkMRMLVolumeNode,
)
from ._segmentation import (
    vtkMRMLLabelMapVolumeNode,
    vtkMRMLSegmentationDisplayNode,
    vtkMRMLSegmentationNode,
    vtkOrientedImageData,
    vtkSegment,
    vtkSegmentation,
    vtkSlicerSegmentationsModuleLogic,
)
from ._widgets import (
    qMRMLNodeComboBox,
    qMRMLSliceWidget,
    qMRMLWidget,
    qSlicerApplication,
    qSlicerLayoutManager,
    qSlicerMarkupsPlaceWidget,
    qSlicerWidget,
)


def _classes():
    return {k: v for k, v in globals().items() if k.startswith("vtkMRML") and isinstance(v, type)}


class vtkSlicerMarkupsLogic:
    """slicer.modules.markups.logic()"""

    def SetActiveList(self, markupsNode):
        app.applicationLogic().GetSelectionNode().SetActivePlaceNodeID(
            markupsNode.GetID() if markupsNode else None
        )

    def StartPlaceMode(self, placePersistence, interactionNode=None):
        node = interactionNode or app.applicationLogic().GetInteractionNode()
        node.SetPlaceModePersistence(placePersistence)
        node.SetCurrentInteractionMode(vtkMRMLInteractionNode.Place)
        return True


class _Module:
    def __init__(self, logic=None, path=""):
        self._logic = logic
        self.path = path

    def logic(self):
        return self._logic


mrmlScene = None
app = None
modules = SimpleNamespace()


def _reset():
    """A fresh scene and application (what a test's setUp gets from ``slicer.mrmlScene.Clear()``)."""
    global mrmlScene, app
    import qt

    mrmlScene = vtkMRMLScene()
    app = qSlicerApplication(mrmlScene)
    qt._timers.clear()
    qt.QSettings._store.clear()
    util._dialogAnswers.clear()
    util._messages.clear()
    util._pipInstallCalls.clear()
    packaging._ensureCalls.clear()
    modules.markups = _Module(vtkSlicerMarkupsLogic())
    modules.segmentations = _Module(vtkSlicerSegmentationsModuleLogic())


_reset()
