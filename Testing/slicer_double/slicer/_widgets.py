"""Doubles of Slicer's Qt classes: the application, layout manager, slice widgets, MRML widgets."""

from __future__ import annotations

import qt
from qt import QWidget, Signal

from ._mrml import (
    vtkMRMLInteractionNode,
    vtkMRMLLayoutNode,
    vtkMRMLSelectionNode,
    vtkMRMLSliceLogic,
    vtkMRMLSliceNode,
)


class qMRMLWidget(QWidget):
    mrmlSceneChanged = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self._scene = None

    def setMRMLScene(self, scene):
        self._scene = scene
        self.mrmlSceneChanged.emit(scene)

    def mrmlScene(self):
        return self._scene

    def isWidgetType(self):
        return True

    def findChildren(self, cls):
        out = []
        stack = list(self._children)
        while stack:
            w = stack.pop(0)
            if isinstance(w, cls):
                out.append(w)
            stack.extend(getattr(w, "_children", []))
        return out


class qSlicerWidget(qMRMLWidget):
    pass


class qMRMLNodeComboBox(QWidget):
    """Lists scene nodes of ``nodeTypes``; with ``noneEnabled`` off it always selects one if it can."""

    currentNodeChanged = Signal()
    currentNodeIDChanged = Signal()
    nodeAdded = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.nodeTypes = []
        self.noneEnabled = False
        self.addEnabled = True
        self.removeEnabled = True
        self.renameEnabled = False
        self.showHidden = False
        self.showChildNodeTypes = True
        self.selectNodeUponCreation = True
        self.baseName = ""
        self._scene = None
        self._current = None
        self._tag = None

    def _accepts(self, node):
        if node is None or (node.GetHideFromEditors() and not self.showHidden):
            return False
        if self.showChildNodeTypes:
            return any(node.IsA(t) for t in self.nodeTypes)
        return type(node).__name__ in self.nodeTypes

    def _nodes(self):
        return [n for n in (self._scene._nodes if self._scene else []) if self._accepts(n)]

    def setMRMLScene(self, scene):
        if self._scene is not None and self._tag is not None:
            self._scene.RemoveObserver(self._tag)
            self._scene.RemoveObserver(self._removedTag)
        self._scene = scene
        self._tag = scene.AddObserver(scene.NodeAddedEvent, self._onNodeAdded)
        self._removedTag = scene.AddObserver(scene.NodeRemovedEvent, self._onNodeRemoved)
        if self._current is None and not self.noneEnabled:
            nodes = self._nodes()
            if nodes:
                self.setCurrentNode(nodes[0])

    def mrmlScene(self):
        return self._scene

    def _onNodeAdded(self, caller, event):
        nodes = self._nodes()
        if self._current is None and not self.noneEnabled and nodes:
            self.setCurrentNode(nodes[0])

    def _onNodeRemoved(self, caller, event):
        if self._current is not None and self._current.GetScene() is None:
            nodes = self._nodes()
            self.setCurrentNode(nodes[0] if (nodes and not self.noneEnabled) else None)

    def currentNode(self):
        return self._current

    def currentNodeId(self):
        return self._current.GetID() if self._current else ""

    @property
    def currentNodeID(self):
        return self.currentNodeId()

    def setCurrentNode(self, node):
        if node is not None and not self._accepts(node):
            return
        if node is not self._current:
            self._current = node
            self.currentNodeChanged.emit(node)
            self.currentNodeIDChanged.emit(node.GetID() if node else "")

    def setCurrentNodeID(self, nodeID):
        self.setCurrentNode(self._scene.GetNodeByID(nodeID) if (self._scene and nodeID) else None)

    def addNode(self, *args):
        cls = self.nodeTypes[0]
        node = self._scene.AddNewNodeByClass(cls, self.baseName or cls)
        self.setCurrentNode(node)
        return node

    def nodeCount(self):
        return len(self._nodes())


class qSlicerMarkupsPlaceWidget(qSlicerWidget):
    activeMarkupsPlaceModeChanged = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self._node = None
        self.buttonsVisible = True
        self.placeMultipleMarkups = 0
        self.deleteAllControlPointsOptionVisible = True

    def setCurrentNode(self, node):
        self._node = node

    def currentNode(self):
        return self._node

    def currentMarkupsNode(self):
        return self._node

    def setButtonsVisible(self, visible):
        self.buttonsVisible = bool(visible)

    def setPlaceModeEnabled(self, enable):
        from . import app

        interaction = app.applicationLogic().GetInteractionNode()
        if enable and self._node is not None:
            app.applicationLogic().GetSelectionNode().SetActivePlaceNodeID(self._node.GetID())
            interaction.SetCurrentInteractionMode(vtkMRMLInteractionNode.Place)
        else:
            interaction.SetCurrentInteractionMode(vtkMRMLInteractionNode.ViewTransform)
        self.activeMarkupsPlaceModeChanged.emit(bool(enable))

    @property
    def placeModeEnabled(self):
        from . import app

        return (
            app.applicationLogic().GetInteractionNode().GetCurrentInteractionMode()
            == vtkMRMLInteractionNode.Place
        )

    def setPlaceMultipleMarkups(self, mode):
        self.placeMultipleMarkups = mode

    def setPlaceModePersistency(self, persistent):
        self.placeMultipleMarkups = 1 if persistent else 0


class qMRMLSliceWidget(QWidget):
    def __init__(self, name, scene):
        super().__init__()
        self._sliceNode = vtkMRMLSliceNode()
        self._sliceNode._layoutName = name
        self._sliceNode.SetSingletonTag(name)
        self._sliceNode.SetOrientation({"Red": "Axial", "Yellow": "Sagittal", "Green": "Coronal"}[name])
        scene.AddNode(self._sliceNode)
        self._sliceNode.SetName(f"View{name}")
        self._logic = vtkMRMLSliceLogic(self._sliceNode)
        self.sliceViewName = name

    def mrmlSliceNode(self):
        return self._sliceNode

    def sliceLogic(self):
        return self._logic


class qSlicerLayoutManager(qt.QObject):
    layoutChanged = Signal()

    def __init__(self, scene):
        super().__init__()
        self._scene = scene
        self._widgets = {}
        self._layoutNode = vtkMRMLLayoutNode()
        self._layout = vtkMRMLLayoutNode.SlicerLayoutOneUpRedSliceView

    def sliceWidget(self, name):
        if name not in ("Red", "Yellow", "Green"):
            return None
        if name not in self._widgets or self._widgets[name]._sliceNode.GetScene() is None:
            self._widgets[name] = qMRMLSliceWidget(name, self._scene)
        return self._widgets[name]

    def sliceViewNames(self):
        return ["Red", "Yellow", "Green"]

    def setLayout(self, layout):
        self._layout = layout
        self.layoutChanged.emit(layout)

    @property
    def layout(self):
        return self._layout


class _ApplicationLogic:
    """slicer.app.applicationLogic() (a vtkSlicerApplicationLogic in Slicer)."""

    def __init__(self, scene):
        self._scene = scene
        self._interaction = None
        self._selection = None

    def GetInteractionNode(self):
        if self._interaction is None or self._interaction.GetScene() is None:
            self._interaction = self._scene.AddNode(vtkMRMLInteractionNode())
            self._interaction.SetSingletonTag("Singleton")
        return self._interaction

    def GetSelectionNode(self):
        if self._selection is None or self._selection.GetScene() is None:
            self._selection = self._scene.AddNode(vtkMRMLSelectionNode())
            self._selection.SetSingletonTag("Singleton")
        return self._selection


class _ModuleManager(qt.QObject):
    moduleAboutToBeUnloaded = Signal()


class qSlicerApplication(qt.QObject):
    startupCompleted = Signal()

    def __init__(self, scene):
        super().__init__()
        self._scene = scene
        self._layoutManager = qSlicerLayoutManager(scene)
        self._logic = _ApplicationLogic(scene)
        self._moduleManager = _ModuleManager()
        self._testing = True
        self.temporaryPath = "/tmp"

    def layoutManager(self):
        return self._layoutManager

    def applicationLogic(self):
        return self._logic

    def mrmlScene(self):
        return self._scene

    def moduleManager(self):
        return self._moduleManager

    def settings(self):
        return qt.QSettings()

    def userSettings(self):
        return qt.QSettings()

    def testingEnabled(self):
        return self._testing

    def processEvents(self, *args):
        """Run due Qt timers (QCoreApplication::processEvents in Slicer runs the event loop once)."""
        qt._processTimers()
