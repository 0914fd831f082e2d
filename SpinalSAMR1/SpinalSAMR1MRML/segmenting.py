"""The widget's segment requests: read on the main thread, run on the inference worker, applied back on
the main thread with a status line; long runs show progress and can be cancelled."""

from __future__ import annotations

import logging

import numpy as np
from slicer.i18n import tr as _

from SpinalSAMR1Lib.errors import Cancelled, UserError
from SpinalSAMR1Lib.slicer_support import Job, SegmentRequest

from . import views
from .widget_part import WidgetPart


class SegmentRunner(WidgetPart):
    """Segment slice / volume / vertebra / levels for ``widget`` (its parameter node, ui, logic, jobs)."""

    def _request(self, use: str, view: str | None, segmentName: str | None) -> SegmentRequest:
        pn, w = self._pn, self.widget
        self._logic.ensureDependencies()
        w.syncModel()
        prompts = (pn.positivePoints, pn.negativePoints, pn.roi, view or w.currentView())
        output = (pn.outputSegmentation, segmentName or pn.segmentName or None, use)
        return self._logic.makeRequest(pn.inputVolume, *prompts, *output)

    def slice(
        self, use="auto", view: str | None = None, segmentName: str | None = None, fromAutoUpdate=False
    ):
        """Queue one slice for the worker; returns False (with a status message) when inputs are missing."""
        w = self.widget
        try:
            request = self._request(use, view, segmentName)
            if not (request.prompts.labels == 1).any() and w.sliceNode() is not None:
                # Box only: segment the slice the user is looking at.
                volumeNode = w._parameterNode.inputVolume
                request.sliceIndex = views.sliceIndexOfView(w.sliceNode(), volumeNode, request.view)
        except UserError as exc:
            if not fromAutoUpdate:
                w.setStatus(str(exc))
            return False
        w.setStatus(_("Segmenting {view} slice...").format(view=request.view))
        job = Job(
            fn=lambda job: self._logic.computeSlice(request),
            on_done=lambda result: self._onSliceDone(request, result),
            on_error=self.onError,
            label=f"slice ({request.view})",
        )
        w.jobs.submit("inference", job)
        return True

    def volume(self, use="auto", view: str | None = None, segmentName: str | None = None, vertebra=False):
        """Queue a volume job: the structure through the volume, or (``vertebra``) one vertebra in 3D from a
        click or an ROI, in the views the library chooses unless ``view`` forces one."""
        try:
            request = self._request(use, view, segmentName)
        except UserError as exc:
            self.widget.setStatus(str(exc))
            return False
        request.propagate = self._pn.volumeMode == "propagate" or request.prompts.roi is None
        if vertebra:
            request.extra.update(mode="vertebra", views=(view,) if view else None)
            request.modelKey = self._logic.vertebraModelKey()
        what = _("the vertebra") if vertebra else _("the volume in {view}").format(view=request.view)
        onDone = lambda labels: self._onVolumeDone(request, labels)  # noqa: E731
        status = _("Segmenting {what}...").format(what=what)
        self._submitLong(status, self._logic.computeVolume, request, onDone, f"volume ({request.view})")
        return True

    def levels(self, levels: list) -> bool:
        """Queue the level-by-level walk: from the first positive point (named by its label or the only
        level asked for), or automatic when no point is placed."""
        pn = self._pn
        try:
            request = self._logic.makeLevelsRequest(pn.inputVolume, pn.positivePoints, tuple(levels))
        except UserError as exc:
            self.widget.setStatus(str(exc))
            return False
        onDone = lambda result: self._onLevelsDone(request, result)  # noqa: E731
        self._submitLong(
            _("Segmenting level by level..."), self._logic.computeLevels, request, onDone, "levels"
        )
        return True

    def cancel(self) -> None:
        self.widget.jobs.cancel("inference")
        self.widget.setStatus(_("Cancelling..."))

    # -- progress and results ----------------------------------------------------------------------------
    def _submitLong(self, status: str, compute, request: SegmentRequest, onDone, label: str) -> None:
        """Queue a long job on the inference worker with progress, Cancel and a status line."""
        self._ui.progressBar.visible = True
        self._ui.progressBar.value = 0
        self._ui.cancelButton.enabled = True
        self.widget.setStatus(status)
        self.widget.jobs.submitWithProgress(compute, request, onDone, self.onError, self._onProgress, label)

    def _onProgress(self, done: int, total: int) -> None:
        self._ui.progressBar.maximum = max(total, 1)
        self._ui.progressBar.value = done

    def endProgress(self) -> None:
        self._ui.progressBar.visible = False
        self._ui.cancelButton.enabled = False

    def onError(self, exc: BaseException) -> None:
        self.endProgress()
        if isinstance(exc, Cancelled):
            self.widget.setStatus(_("Cancelled; the segmentation was not changed."))
        elif isinstance(exc, (UserError, ValueError)):
            self.widget.setStatus(str(exc))
        else:
            logging.error("SpinalSAMR1 inference failed", exc_info=exc)
            self.widget.setStatus(_("Segmentation failed: {error}").format(error=exc))

    def _adopt(self, segmentationNode) -> None:
        pn = self._pn
        if pn is not None and pn.outputSegmentation is not segmentationNode:
            pn.outputSegmentation = segmentationNode
        self.widget.updateButtons()

    def _onSliceDone(self, request: SegmentRequest, result) -> None:
        self._adopt(self._logic.applySliceResult(request, result)[0])
        text = _("{name}: {view} slice {index} in {seconds:.2f} s (score {score:.2f}).")
        seconds = self._logic.lastLatency or 0.0
        values = dict(name=request.segmentName, view=request.view, index=result.index, score=result.score)
        self.widget.setStatus(text.format(seconds=seconds, **values))

    def _onVolumeDone(self, request: SegmentRequest, labels) -> None:
        self.endProgress()
        self._adopt(self._logic.applyVolumeResult(request, labels)[0])
        seconds = self._logic.lastLatency or 0.0
        if request.extra.get("mode") == "vertebra":
            found = _("{voxels} voxels").format(voxels=int(np.count_nonzero(labels)))
            found = found if np.any(labels) else _("nothing found at the prompt")
            text = _("{name}: vertebra in 3D, {found}, in {seconds:.1f} s.")
            self.widget.setStatus(text.format(name=request.segmentName, found=found, seconds=seconds))
            return
        slices = int(np.any(labels, axis=(1, 2)).sum())
        text = _("{name}: volume in {view}, {slices} slices in {seconds:.1f} s.")
        values = dict(name=request.segmentName, view=request.view, slices=slices, seconds=seconds)
        self.widget.setStatus(text.format(**values))

    def _onLevelsDone(self, request: SegmentRequest, result) -> None:
        self.endProgress()
        self._adopt(self._logic.applyLevelsResult(request, result))
        names = ", ".join(level.name for level in result.levels) or _("none")
        unconfirmed = ""
        if any(not level.confirmed for level in result.levels):
            unconfirmed = _(" (names unconfirmed: correct one with 'this is L4')")
        text = _("Levels {names}{unconfirmed} in {seconds:.0f} s.")
        seconds = self._logic.lastLatency or 0.0
        self.widget.setStatus(text.format(names=names, unconfirmed=unconfirmed, seconds=seconds))
