"""One persistent worker thread whose results are handed back to the GUI thread through a queue.

Slicer's MRML scene and Qt widgets may only be touched on the main thread, and the GUI must never
wait for inference or for an LLM. So the module keeps one :class:`SerialWorker` per kind of work
(inference, chat); a job runs ``fn(job)`` on the worker thread and its outcome is queued. A Qt
timer on the main thread calls :meth:`SerialWorker.drain`, which runs the job's callbacks there.

At most one job runs and at most one waits: submitting while another job waits replaces (drops and
cancels) the waiting one, because only the newest request matters when prompts move faster than the
model. A ``background`` job (encoding the slices around the shown one ahead of a click) gives way to
every other: submitting one cancels a running background job (it stops at its next check), a background
job never replaces a waiting request, and ``busy(background=False)`` does not count it.
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import Cancelled


@dataclass(eq=False)
class Job:
    """A unit of work for :class:`SerialWorker`; callbacks run on the thread that calls ``drain``."""

    fn: Callable[[Job], Any]
    on_done: Callable[[Any], None] | None = None
    on_error: Callable[[BaseException], None] | None = None
    on_progress: Callable[[int, int], None] | None = None
    label: str = ""
    id: int = 0
    background: bool = False
    _cancel: threading.Event = field(default_factory=threading.Event, repr=False)

    def cancel(self) -> None:
        self._cancel.set()

    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def check_cancelled(self) -> None:
        if self._cancel.is_set():
            raise Cancelled(message=f"{self.label or 'job'} cancelled")


class SerialWorker:
    """A daemon thread that runs jobs one at a time and queues their outcomes for :meth:`drain`."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._pending: Job | None = None
        self._running: Job | None = None
        self._results: queue.SimpleQueue[tuple[str, Job, Any]] = queue.SimpleQueue()
        self._queued = {False: 0, True: 0}  # outcomes not drained yet, by Job.background
        self._ids = itertools.count(1)
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, name=f"SpinalSAMR1-{name}", daemon=True)
        self._thread.start()

    # -- submitting (any thread, normally the GUI thread) ---------------------------------------
    def submit(self, job: Job) -> Job | None:
        """Queue ``job``; returns the waiting job it replaced (now dropped and cancelled), or None. A
        background ``job`` is itself dropped (and returned) while a request waits; any other pre-empts a
        running background job."""
        with self._lock:
            if self._stopping:
                raise RuntimeError(f"worker {self.name!r} is shut down")
            if job.background and self._pending is not None and not self._pending.background:
                dropped = job
            else:
                job.id = next(self._ids)
                dropped, self._pending = self._pending, job
                if not job.background and self._running is not None and self._running.background:
                    self._running.cancel()
                self._wake.notify()
        if dropped is not None:
            dropped.cancel()
        return dropped

    def busy(self, background: bool = True) -> bool:
        """True while a job runs or waits, or an outcome has not been drained yet; with ``background``
        False, background jobs and their outcomes do not count."""
        with self._lock:
            jobs = [j for j in (self._running, self._pending) if j is not None]
            kinds = (False, True) if background else (False,)
            return any(j.background in kinds for j in jobs) or any(self._queued[k] for k in kinds)

    def current(self) -> Job | None:
        with self._lock:
            return self._running or self._pending

    def cancel_all(self) -> None:
        """Drop the waiting job and ask the running one to stop at its next check."""
        with self._lock:
            self._pending = None
            if self._running is not None:
                self._running.cancel()

    def report_progress(self, job: Job, done: int, total: int) -> None:
        """Called from ``job.fn`` on the worker thread; delivered to ``on_progress`` by ``drain``."""
        self._put(("progress", job, (int(done), int(total))))

    def _put(self, outcome: tuple[str, Job, Any]) -> None:
        with self._lock:
            self._queued[outcome[1].background] += 1
        self._results.put(outcome)

    # -- delivering (GUI thread) -----------------------------------------------------------------
    def drain(self, max_items: int = 100) -> int:
        """Run queued callbacks on the calling thread; returns how many outcomes were handled."""
        handled = 0
        while handled < max_items:
            try:
                kind, job, value = self._results.get_nowait()
            except queue.Empty:
                break
            with self._lock:
                self._queued[job.background] -= 1
            handled += 1
            if kind == "progress":
                if job.on_progress is not None and not job.cancelled():
                    job.on_progress(*value)
            elif kind == "done":
                if job.on_done is not None:
                    job.on_done(value)
            elif job.on_error is not None:
                job.on_error(value)
        return handled

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop the thread after the running job (which is asked to cancel)."""
        self.cancel_all()
        with self._lock:
            self._stopping = True
            self._wake.notify()
        self._thread.join(timeout)

    # -- worker thread ---------------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            with self._lock:
                while self._pending is None and not self._stopping:
                    self._wake.wait()
                if self._stopping:
                    return
                job, self._pending = self._pending, None
                self._running = job
            try:
                job.check_cancelled()
                result = job.fn(job)
                outcome: tuple[str, Job, Any] = ("done", job, result)
            except BaseException as exc:  # noqa: BLE001 - every failure must reach the GUI, not kill the thread
                outcome = ("error", job, exc)
            # Queue the outcome before clearing _running so busy() never reports a false idle.
            self._put(outcome)
            with self._lock:
                self._running = None
