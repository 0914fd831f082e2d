"""The widget's background work: one worker thread per kind ("inference", "chat"), results applied on
the main thread by a timer that runs only while something is queued (SlicerNNInteractive's pattern)."""

from __future__ import annotations

import logging

import qt

from SpinalSAMR1Lib.slicer_support import Job, SerialWorker

DRAIN_INTERVAL_MS = 50


class JobRunner:
    """Starts no thread until the first job; ``onIdleChange`` runs after every submit and drain."""

    def __init__(self, onError, onChange) -> None:
        self.workers: dict[str, SerialWorker] = {}
        self._onError = onError  # (message) when applying a result fails
        self._onChange = onChange  # () after each submit and drain, e.g. to update buttons
        self.timer = qt.QTimer()
        self.timer.setInterval(DRAIN_INTERVAL_MS)
        self.timer.connect("timeout()", self.drain)

    def worker(self, kind: str) -> SerialWorker:
        if kind not in self.workers:
            self.workers[kind] = SerialWorker(kind)
        return self.workers[kind]

    def busy(self, kind: str, background: bool = False) -> bool:
        """Whether a request of ``kind`` runs, waits or awaits its result; ``background`` counts
        prefetching too (see ``SerialWorker.busy``)."""
        return kind in self.workers and self.workers[kind].busy(background)

    def submit(self, kind: str, job: Job) -> None:
        job.on_done = self._guarded(job.on_done)
        job.on_error = self._guarded(job.on_error)
        dropped = self.worker(kind).submit(job)
        if dropped is not None:
            logging.debug("SpinalSAMR1: dropped a waiting %s request (%s)", kind, dropped.label)
        if not self.timer.isActive():
            self.timer.start()
        self._onChange()

    def submitWithProgress(self, compute, request, onDone, onError, onProgress, label: str) -> None:
        """Queue ``compute(request, progress=, cancel=)`` on the inference worker."""
        worker = self.worker("inference")
        self.submit(
            "inference",
            Job(
                fn=lambda job: compute(
                    request, progress=lambda d, t: worker.report_progress(job, d, t), cancel=job.cancelled
                ),
                on_done=onDone,
                on_error=onError,
                on_progress=onProgress,
                label=label,
            ),
        )

    def cancel(self, kind: str) -> None:
        if kind in self.workers:
            self.workers[kind].cancel_all()

    def _guarded(self, callback):
        """Run a result callback so that a failure (e.g. the volume was deleted meanwhile) ends up in the
        status line instead of breaking the timer that drains the queue."""
        if callback is None:
            return None

        def run(value):
            try:
                callback(value)
            except Exception as exc:
                logging.error("SpinalSAMR1: applying a result failed", exc_info=exc)
                self._onError(str(exc))

        return run

    def drain(self) -> None:
        for worker in self.workers.values():
            worker.drain()
        if not any(worker.busy() for worker in self.workers.values()):
            self.timer.stop()
        self._onChange()

    def shutdown(self) -> None:
        self.timer.stop()
        for worker in self.workers.values():
            worker.shutdown(timeout=1.0)
