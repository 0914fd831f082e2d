"""Encoding ahead: while the user looks at a slice and places prompts, the embeddings of that slice and
its neighbours are computed in the background, so the next click there is a decoder call.

The slice view (the module's chosen one) is observed; a short single-shot timer lets a scroll come to
rest, then one background job runs on the inference worker (never beside a request: the worker runs one
job at a time, and every request pre-empts a running prefetch between slices). A change of the shown
slice, the view or the volume cancels the job in flight. Only a model that is already loaded is used: a
prefetch never loads a model or installs a package.
"""

from __future__ import annotations

import logging

import qt
import vtk

from SpinalSAMR1Lib.errors import Cancelled, UserError
from SpinalSAMR1Lib.slicer_support import Job

from . import nodes, views
from .widget_part import WidgetPart

PREFETCH_DELAY_MS = 300


class Prefetcher(WidgetPart):
    """Follows the widget's slice view and volume and encodes the slices around the shown one."""

    def __init__(self, widget) -> None:
        super().__init__(widget)
        self.timer = qt.QTimer()
        self.timer.setSingleShot(True)
        self.timer.setInterval(PREFETCH_DELAY_MS)
        self.timer.connect("timeout()", self.run)
        self.lastEncoded: list[int] = []  # the slices the last finished prefetch encoded
        self._sliceNode = None
        self._sliceMatrix = None
        self._job: Job | None = None
        self._jobTarget = None
        self._done = None  # the target of the last prefetch that finished (or failed for good)
        self._wanted = False

    # -- what to follow (main thread) ----------------------------------------------------------------
    def follow(self) -> None:
        """Observe the chosen slice view; called whenever the parameter node changes."""
        pn = self._pn
        sliceNode = self.widget.sliceNode() if pn is not None and pn.prefetch else None
        if sliceNode is not self._sliceNode:
            if self._sliceNode is not None:
                self.widget.removeObserver(
                    self._sliceNode, vtk.vtkCommand.ModifiedEvent, self._onSliceModified
                )
            if sliceNode is not None:
                self.widget.addObserver(sliceNode, vtk.vtkCommand.ModifiedEvent, self._onSliceModified)
            self._sliceNode, self._sliceMatrix = sliceNode, _matrix(sliceNode)
        if sliceNode is None:
            self.stop()
        else:
            self.schedule()

    def _onSliceModified(self, caller, event) -> None:
        matrix = _matrix(caller)
        if matrix == self._sliceMatrix:  # another property of the view changed, not the slice shown
            return
        self._sliceMatrix = matrix
        self._cancelJob()  # the view moved: what runs is for a slice no longer shown
        self.schedule()

    def schedule(self) -> None:
        self._wanted = True
        self.timer.start()  # restarts: a scroll is followed once it comes to rest

    def stop(self) -> None:
        self._wanted = False
        self.timer.stop()
        self._cancelJob()

    def release(self) -> None:
        """Stop and observe no view (the module was left)."""
        if self._sliceNode is not None:
            self.widget.removeObserver(self._sliceNode, vtk.vtkCommand.ModifiedEvent, self._onSliceModified)
        self._sliceNode = self._sliceMatrix = None
        self.stop()

    def onJobsChanged(self) -> None:
        """After each submit and drain of the widget's jobs: once a request ends, prefetch what it pre-empted."""
        if self._wanted and not self._inFlight() and not self.timer.isActive():
            if not self.widget.jobs.busy("inference"):
                self.timer.start()

    # -- the job --------------------------------------------------------------------------------------
    def target(self):
        """(volume ID, cache key, view, slice index, model key) to encode around, or None (nothing to do:
        turned off, no volume, an oblique view or volume, or the model is not loaded yet)."""
        pn, w = self._pn, self.widget
        if pn is None or not pn.prefetch or pn.inputVolume is None or pn.inputVolume.GetImageData() is None:
            return None
        sliceNode = w.sliceNode()
        if sliceNode is None:
            return None
        w.syncModel()
        modelKey = self._logic.modelKey()
        if not self._logic.predictorLoaded(modelKey):
            return None
        volume = pn.inputVolume
        try:
            view = views.viewOfSliceNode(sliceNode)
            index = views.sliceIndexOfView(sliceNode, volume, view)
        except UserError:  # an oblique view, or a volume too tilted for it (ObliqueViewError)
            return None
        return volume.GetID(), nodes.cacheKey(volume), view, index, modelKey

    def run(self) -> None:
        if not self._wanted:
            return
        target = self.target()
        if target is None or target == self._done:
            self._wanted = False
            if target is None:
                self._cancelJob()
            return
        if self._inFlight() and self._jobTarget == target:
            return
        self._cancelJob()
        if self.widget.jobs.busy("inference"):
            return  # a request goes first; onJobsChanged schedules this again when it has ended
        volumeID, _, view, index, modelKey = target
        volume = self._pn.inputVolume
        request = self._logic.makePrefetchRequest(volume, view, index, modelKey)
        job = Job(fn=lambda job: self._logic.computePrefetch(request, cancel=job.cancelled), background=True)
        job.on_done = lambda encoded: self._onDone(job, target, encoded)
        job.on_error = lambda exc: self._onError(job, target, exc)
        job.label = f"prefetch ({view} slice {index})"
        self._job, self._jobTarget = job, target
        self.widget.jobs.submit("inference", job)

    def _inFlight(self) -> bool:
        return self._job is not None and not self._job.cancelled()

    def _cancelJob(self) -> None:
        if self._job is not None:
            self._job.cancel()
            self._job = None

    def _onDone(self, job: Job, target, encoded: list[int]) -> None:
        if self._job is job:
            self._job = None
        if not job.cancelled():
            self._done, self.lastEncoded = target, list(encoded)

    def _onError(self, job: Job, target, exc: BaseException) -> None:
        if self._job is job:
            self._job = None
        if isinstance(exc, Cancelled):
            return
        logging.warning("SpinalSAMR1: encoding the slices ahead failed: %s", exc)
        self._done = target  # not again for this slice: the next click reports the problem if it stays


def _matrix(sliceNode):
    if sliceNode is None:
        return None
    m = sliceNode.GetSliceToRAS()
    return tuple(m.GetElement(r, c) for r in range(4) for c in range(4))
