"""Encoding ahead (issue 17): the slices around the shown one are encoded into the predictor's cache exactly
where a later click looks them up, nearest first, skipping cached ones, stopping when cancelled; and the
worker runs such background jobs only when no request needs it."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch

from SpinalSAMR1Lib import geometry as geo
from SpinalSAMR1Lib.slicer_support import Job, SerialWorker
from SpinalSAMR1Lib.volume import Prompts, prefetch_slices, resolve_window, segment_slice, set_volume_slice

VIEW = "axial"


@pytest.fixture(scope="module")
def volume():
    """A small random CT stored flipped along i and k (LPS-like), with anisotropic voxels."""
    rng = np.random.default_rng(0)
    array = rng.integers(-1000, 1500, size=(9, 40, 48)).astype(np.int16)
    ijk_to_ras = np.diag([-0.8, 0.9, -2.5, 1.0])
    ijk_to_ras[:3, 3] = [20.0, -15.0, 40.0]
    return array, ijk_to_ras


@pytest.fixture
def predictor(lite_model):
    from SpinalSAMR1Lib.predictor import Predictor

    return Predictor(lite_model, cache_mb=64, backend="torch")


@pytest.fixture
def encodes(lite_model, monkeypatch):
    """The slices the image encoder runs on, in order (a zero embedding stands in: the decoder still runs)."""
    seen = []

    def fake_encode_parts(x):
        seen.append(x.shape)
        return torch.zeros(1, 256, x.shape[-2] // 4, x.shape[-1] // 4), None

    monkeypatch.setattr(lite_model, "encode_parts", fake_encode_parts)
    return seen


def click(array, ijk_to_ras, index, predictor, key="ct"):
    """A point prompt at the centre of slice ``index`` (placed in RAS), segmented as the module does."""
    frame = geo.view_frame(ijk_to_ras, array.shape, VIEW)
    rows, cols = frame.slice_shape
    ras = geo.slice_coords_to_ras([[index, cols / 2, rows / 2]], ijk_to_ras, frame)
    return segment_slice(array, ijk_to_ras, Prompts(points_ras=ras), VIEW, predictor=predictor, cache_key=key)


def test_prefetch_encodes_nearest_first_and_the_next_click_there_needs_no_encoder(volume, predictor, encodes):
    array, ijk_to_ras = volume
    done = prefetch_slices(predictor, array, ijk_to_ras, VIEW, 4, cache_key="ct", count=2)
    assert done == [4, 5, 3, 6, 2] and len(encodes) == 5
    frame = geo.view_frame(ijk_to_ras, array.shape, VIEW)
    window = resolve_window(array, "auto", "ct")
    for index in range(frame.num_slices):  # the lookup segment_slice makes: hits exactly on those five
        set_volume_slice(predictor, array, ijk_to_ras, frame, index, window, "ct")
        assert predictor.has_embedding() == (index in done)
    assert len(encodes) == 5  # (the slow test below clicks: no encoder call, the same mask)


def test_prefetch_skips_cached_slices_clips_at_the_edges_and_stops_when_cancelled(volume, predictor, encodes):
    array, ijk_to_ras = volume
    assert prefetch_slices(predictor, array, ijk_to_ras, VIEW, 0, cache_key="ct", count=2) == [0, 1, 2]
    assert prefetch_slices(predictor, array, ijk_to_ras, VIEW, 1, cache_key="ct", count=2) == [3]
    assert len(encodes) == 4
    asked = []

    def cancel():  # asked before each slice; says stop once two more are encoded
        asked.append(len(encodes))
        return len(encodes) >= 6

    done = prefetch_slices(predictor, array, ijk_to_ras, VIEW, 7, cache_key="ct", count=2, cancel=cancel)
    assert done == [7, 8] and len(encodes) == 6 and asked == [4, 5, 6]


def test_encode_ahead_leaves_the_current_image_and_serves_whole_slice_prompts_only(lite_model, encodes):
    from SpinalSAMR1Lib.predictor import Predictor, crop_rect

    predictor = Predictor(lite_model, cache_mb=64, backend="torch", crop_margin=0.5)
    rng = np.random.default_rng(1)
    a, b = (rng.uniform(0, 255, (64, 80)).astype(np.float32) for _ in range(2))
    predictor.set_image(a, key="a")
    assert predictor.encode_ahead(b, key="b") and len(encodes) == 1
    assert not predictor.has_embedding()  # still image a, not encoded
    assert not predictor.encode_ahead(b, key="b") and len(encodes) == 1  # cached: not again
    predictor.set_image(b, key="b")
    assert predictor.has_embedding() and predictor.has_embedding((0, 0, 80, 64))
    # with a crop margin a box is encoded as a crop around it: not known ahead
    assert not predictor.has_embedding(crop_rect(np.array([30, 20, 50, 40]), (64, 80), 0.5))
    predictor.set_image(b, key="other")  # the key is a namespace
    assert not predictor.has_embedding()


@pytest.mark.slow
def test_masks_after_prefetch_equal_those_without(volume, lite_model):
    from SpinalSAMR1Lib.predictor import Predictor

    array, ijk_to_ras = volume
    ahead = Predictor(lite_model, cache_mb=64, backend="torch")
    assert prefetch_slices(ahead, array, ijk_to_ras, VIEW, 4, cache_key="ct", count=1) == [4, 5, 3]
    calls = []
    real = ahead._encode
    ahead._encode = lambda rect: calls.append(rect) or real(rect)
    got = click(array, ijk_to_ras, 5, ahead)
    assert calls == []  # the click on a prefetched neighbour was a decoder call
    click(array, ijk_to_ras, 7, ahead)
    assert len(calls) == 1  # one beyond them is encoded
    want = click(array, ijk_to_ras, 5, Predictor(lite_model, cache_mb=64, backend="torch"))
    np.testing.assert_array_equal(got.mask, want.mask)
    np.testing.assert_array_equal(got.logits, want.logits)
    assert got.score == want.score


# -- the worker: background jobs give way to requests ------------------------------------------------------
def _blocking_job(release: threading.Event, ran: list, **kw) -> Job:
    def fn(job):
        ran.append(job.label)
        while not job.cancelled() and not release.wait(0.01):
            pass
        return job.cancelled()

    return Job(fn=fn, **kw)


def _wait(predicate, timeout=5.0):
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.005)


def test_a_request_pre_empts_a_running_background_job():
    worker, release, ran, outcomes = SerialWorker("t"), threading.Event(), [], []
    try:
        background = _blocking_job(release, ran, label="ahead", background=True, on_done=outcomes.append)
        worker.submit(background)
        _wait(lambda: ran == ["ahead"])
        assert worker.busy() and not worker.busy(background=False)  # the buttons stay enabled
        request = Job(fn=lambda job: "mask", on_done=outcomes.append, label="click")
        assert worker.submit(request) is None
        assert background.cancelled() and not request.cancelled()
        assert worker.busy(background=False)
        _wait(lambda: worker.drain() >= 0 and len(outcomes) == 2)
        assert not worker.busy()
        assert outcomes == [True, "mask"]  # the background job saw its cancel, then the request ran
    finally:
        release.set()
        worker.shutdown()


def test_a_background_job_never_replaces_a_waiting_request():
    worker, release, ran = SerialWorker("t"), threading.Event(), []
    try:
        worker.submit(_blocking_job(release, ran, label="first"))
        _wait(lambda: ran == ["first"])
        waiting = Job(fn=lambda job: ran.append("waiting"), label="waiting")
        worker.submit(waiting)
        ahead = Job(fn=lambda job: ran.append("ahead"), label="ahead", background=True)
        assert worker.submit(ahead) is ahead and ahead.cancelled()  # refused, the request keeps its place
        assert worker.current().label == "first" and not waiting.cancelled()
        later = Job(fn=lambda job: ran.append("later"), label="later", background=True)
        release.set()
        _wait(lambda: "waiting" in ran)
        worker.submit(later)  # nothing waits now: it runs
        _wait(lambda: "later" in ran)
        assert ran == ["first", "waiting", "later"]
    finally:
        release.set()
        worker.shutdown()
