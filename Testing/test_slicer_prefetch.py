"""Encoding ahead in the module (issue 17), driven through the test double: moving the slice view schedules
one prefetch of the slice shown (found through RAS, also on a flipped volume), debounced; a change of the
slice cancels the one in flight and a segment request pre-empts it. The model is stubbed: these tests are
about what is asked of the worker, the library tests (test_prefetch.py) about what it encodes."""

# ruff: noqa: F811 - the fixtures imported from test_slicer_module are named as arguments, as pytest wants
from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from test_slicer_module import M, env, pump, slicer, widget  # noqa: F401

from SpinalSAMR1Lib import geometry as geo
from SpinalSAMR1Lib.errors import UserError

DEBOUNCE_MS = 60  # the module's 300 ms, shortened to keep the tests fast


def _volume(flipped: bool):
    rng = np.random.default_rng(2)
    array = rng.integers(-1000, 1500, size=(9, 30, 32)).astype(np.int16)
    ijk_to_ras = np.diag([0.7, 0.8, 2.5, 1.0])
    ijk_to_ras[:3, 3] = [-10.0, 5.0, 30.0]
    if flipped:  # stored flipped along i and k, as LPS-ordered or feet-first files are
        ijk_to_ras[0, 0], ijk_to_ras[2, 2] = -0.7, -2.5
    return array, ijk_to_ras


@pytest.fixture
def calls(widget, monkeypatch):
    """The prefetch requests the worker runs (model stubbed, reported loaded); ``gate`` holds each one
    until it is cancelled or the gate opens."""
    seen = []
    gate = threading.Event()
    gate.set()

    def computePrefetch(request, cancel=None):
        seen.append({"request": request, "cancelled": False})
        while not gate.wait(0.01):
            if cancel():
                seen[-1]["cancelled"] = True
                break
        return [request.sliceIndex]

    widget.prefetcher.timer.setInterval(DEBOUNCE_MS)
    monkeypatch.setattr(widget.logic, "predictorLoaded", lambda key: True)
    monkeypatch.setattr(widget.logic, "computePrefetch", computePrefetch)
    return seen, gate


def _show(slicer, array, ijk_to_ras, k):
    """Put the Red (axial) view on voxel plane k, through its RAS position, as scrolling would."""
    s = (ijk_to_ras @ [0.0, 0.0, k, 1.0])[2]
    slicer.app.layoutManager().sliceWidget("Red").sliceLogic().SetSliceOffset(s)


def _plane_shown(array, ijk_to_ras, request):
    """The voxel plane k whose pixels the request's slice holds (in any display flip)."""
    frame = geo.view_frame(ijk_to_ras, array.shape, request.view)
    image = geo.extract_slice(array, frame, request.sliceIndex)
    flips = lambda a: (a, a[::-1], a[:, ::-1], a[::-1, ::-1])  # noqa: E731
    return [k for k in range(array.shape[0]) if any(np.array_equal(image, f) for f in flips(array[k]))]


@pytest.mark.parametrize("flipped", [False, True])
def test_moving_the_slice_prefetches_the_slice_shown_once_it_rests(slicer, M, widget, calls, flipped):
    seen, _ = calls
    array, ijk_to_ras = _volume(flipped)
    volume = slicer.util.addVolumeFromArray(array, ijk_to_ras, "ct")
    widget.ui.inputSelector.setCurrentNode(volume)
    pump(slicer, widget, lambda: len(seen) == 1)  # selecting the volume prefetches what the view shows
    for k in (2, 3, 6):  # a quick scroll: only where it rests counts
        _show(slicer, array, ijk_to_ras, k)
    assert len(seen) == 1 and widget.prefetcher.timer.isActive()
    pump(slicer, widget, lambda: len(seen) == 2 and not widget.jobs.timer.isActive())
    request = seen[-1]["request"]
    assert request.view == "axial" and _plane_shown(array, ijk_to_ras, request) == [6]
    assert request.cacheKey[0] == volume.GetID() and widget.prefetcher.lastEncoded == [request.sliceIndex]
    widget._parameterNode.segmentName = "L2"  # another change than the slice: nothing again
    _show(slicer, array, ijk_to_ras, 6)
    time.sleep(0.1)
    pump(slicer, widget, lambda: not widget.prefetcher.timer.isActive() and not widget.jobs.timer.isActive())
    assert len(seen) == 2
    widget.ui.prefetchCheckBox.setChecked(False)  # turned off: scrolling asks for nothing
    assert not widget._parameterNode.prefetch
    _show(slicer, array, ijk_to_ras, 1)
    time.sleep(0.1)
    slicer.app.processEvents()
    assert len(seen) == 2 and not widget.prefetcher.timer.isActive()


def test_a_slice_change_cancels_and_a_request_pre_empts_the_prefetch(slicer, M, widget, calls, monkeypatch):
    seen, gate = calls
    array, ijk_to_ras = _volume(flipped=True)
    volume = slicer.util.addVolumeFromArray(array, ijk_to_ras, "ct")
    gate.clear()  # every prefetch now runs until it is cancelled
    widget.ui.inputSelector.setCurrentNode(volume)
    pump(slicer, widget, lambda: len(seen) == 1)
    assert widget.ui.segmentSliceButton.enabled  # a prefetch does not block the buttons
    _show(slicer, array, ijk_to_ras, 4)
    end = time.monotonic() + 5.0  # cancelled at once, by the event: no timer runs while no event is processed
    while not seen[0]["cancelled"] and time.monotonic() < end:
        time.sleep(0.01)
    assert seen[0]["cancelled"] and len(seen) == 1
    pump(slicer, widget, lambda: len(seen) == 2)
    assert _plane_shown(array, ijk_to_ras, seen[1]["request"]) == [4]

    order = []

    def computeSlice(request):
        order.append(("slice", seen[1]["cancelled"]))
        raise UserError("stub: no model")

    monkeypatch.setattr(widget.logic, "computeSlice", computeSlice)
    widget._parameterNode.positivePoints.AddControlPoint((ijk_to_ras @ [5.0, 5.0, 4.0, 1.0])[:3].tolist())
    assert widget.segmenter.slice()
    pump(slicer, widget, lambda: order and "stub" in widget.ui.statusLabel.text, timeout=10)
    assert order == [("slice", True)]  # the prefetch stopped, then the request ran
    gate.set()
    pump(slicer, widget, lambda: len(seen) == 3 and not widget.jobs.timer.isActive())
    assert _plane_shown(array, ijk_to_ras, seen[2]["request"]) == [4]  # what it pre-empted, resumed
