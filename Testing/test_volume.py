"""Volume segmentation on the synthetic phantom: ROI range, propagation, storage-independence, progress."""

from __future__ import annotations

import numpy as np
import pytest

from SpinalSAMR1Lib import geometry as geo
from SpinalSAMR1Lib import metrics
from SpinalSAMR1Lib.geometry import label_roi
from SpinalSAMR1Lib.phantom import make_lumbar_phantom
from SpinalSAMR1Lib.volume import Cancelled, Prompts, segment_slice, segment_volume


@pytest.fixture(scope="module")
def phantom():
    return make_lumbar_phantom(seed=1, levels=("L2", "L3", "L4"), shape_kji=(48, 128, 144))


def _l3(ph):
    return ph.labels == ph.label_value("L3")


@pytest.mark.slow
def test_roi_range_segments_the_vertebra_inside_its_slices(phantom, lite_predictor):
    ref = _l3(phantom)
    roi = label_roi(phantom.labels, phantom.label_value("L3"), phantom.ijk_to_ras)
    seen = []
    labels = segment_volume(
        phantom.image,
        phantom.ijk_to_ras,
        Prompts(roi=roi),
        "axial",
        predictor=lite_predictor,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert labels.dtype == np.uint8 and labels.shape == phantom.image.shape
    k_ref = np.nonzero(ref.any(axis=(1, 2)))[0]
    k_out = np.nonzero(labels.any(axis=(1, 2)))[0]
    assert set(k_out) <= set(k_ref)
    assert metrics.dice(labels, ref) > 0.4  # zero-shot LiteMedSAM; the spinal adapter does better
    assert seen[-1][0] == seen[-1][1] == len(k_ref)


@pytest.mark.slow
def test_result_does_not_depend_on_how_the_volume_is_stored(phantom, lite_predictor):
    """The same anatomy stored flipped along i and k, with the matching matrix, gives the same labels
    (mapped back), because slices are taken in display orientation and prompts in RAS."""
    roi = label_roi(phantom.labels, phantom.label_value("L3"), phantom.ijk_to_ras)
    m = phantom.ijk_to_ras.copy()
    nk, _, ni = phantom.image.shape
    flipped = m.copy()
    flipped[:3, 0] *= -1
    flipped[:3, 2] *= -1
    flipped[:3, 3] = m[:3, 3] + m[:3, 0] * (ni - 1) + m[:3, 2] * (nk - 1)
    image_f = phantom.image[::-1, :, ::-1].copy()
    kwargs = dict(view="sagittal", predictor=lite_predictor, slice_range=None)
    a = segment_volume(phantom.image, m, Prompts(roi=roi), **kwargs)
    b = segment_volume(image_f, flipped, Prompts(roi=roi), **kwargs)
    np.testing.assert_array_equal(b[::-1, :, ::-1], a)
    assert a.any()


@pytest.mark.slow
def test_propagation_from_one_point_walks_both_ways_and_stops(phantom, lite_predictor):
    ref = _l3(phantom)
    frame = geo.view_frame(phantom.ijk_to_ras, ref.shape, "axial")
    areas = [geo.extract_slice(ref, frame, s).sum() for s in range(frame.num_slices)]
    start = int(np.argmax(areas))
    ys, xs = np.nonzero(geo.extract_slice(ref, frame, start))
    centre = np.array([[start, xs.mean(), ys.mean()]])
    point = geo.slice_coords_to_ras(centre, phantom.ijk_to_ras, frame)
    roi = label_roi(phantom.labels, phantom.label_value("L3"), phantom.ijk_to_ras, margin_mm=5.0)
    labels = segment_volume(
        phantom.image,
        phantom.ijk_to_ras,
        Prompts(point, [1], roi=roi),
        "axial",
        predictor=lite_predictor,
        propagate=True,
    )
    k = np.nonzero(labels.any(axis=(1, 2)))[0]
    assert start in k and len(k) >= 3 and np.all(np.diff(k) == 1)  # contiguous run through the start
    first, last = geo.roi_to_box(roi, phantom.ijk_to_ras, frame)[1]
    assert first <= k.min() and k.max() <= last


@pytest.mark.slow
def test_segment_slice_uses_points_on_that_slice_only(phantom, lite_predictor):
    frame = geo.view_frame(phantom.ijk_to_ras, phantom.image.shape, "axial")
    roi = label_roi(phantom.labels, phantom.label_value("L3"), phantom.ijk_to_ras)
    index = geo.points_to_slice(roi.center[None], phantom.ijk_to_ras, frame)[0][0]
    res = segment_slice(
        phantom.image, phantom.ijk_to_ras, Prompts(roi=roi), "axial", predictor=lite_predictor
    )
    assert res.index == index and res.mask.shape == frame.slice_shape and res.mask.any()
    with pytest.raises(ValueError, match="no prompt lies"):
        far = geo.slice_coords_to_ras(np.array([[index + 5, 10.0, 10.0]]), phantom.ijk_to_ras, frame)
        segment_slice(
            phantom.image,
            phantom.ijk_to_ras,
            Prompts(far, [1]),
            "axial",
            index=index,
            predictor=lite_predictor,
        )


@pytest.mark.slow
def test_cancel_raises_with_the_partial_result(phantom, lite_predictor):
    roi = label_roi(phantom.labels, phantom.label_value("L3"), phantom.ijk_to_ras)
    calls = iter([False, False, True])
    with pytest.raises(Cancelled) as info:
        segment_volume(
            phantom.image,
            phantom.ijk_to_ras,
            Prompts(roi=roi),
            "axial",
            predictor=lite_predictor,
            cancel=lambda: next(calls),
        )
    assert info.value.partial.any(axis=(1, 2)).sum() == 2


def test_prompt_validation():
    with pytest.raises(ValueError, match="no prompts"):
        Prompts()
    with pytest.raises(ValueError, match="negative points alone"):
        Prompts(np.zeros((1, 3)), [0])
    with pytest.raises(ValueError, match="labels"):
        Prompts(np.zeros((2, 3)), [1])


def test_auto_window_is_resolved_once_per_cached_volume(monkeypatch):
    """Interactive use calls segment_slice once per click: the whole-volume window scan runs once."""
    from SpinalSAMR1Lib import volume

    calls = []
    monkeypatch.setattr(volume, "choose_window", lambda a, w: calls.append(w) or (250.0, 2900.0))
    array = np.zeros((4, 5, 6), np.int16)
    for _ in range(3):
        assert volume.resolve_window(array, "auto", "node-1") == (250.0, 2900.0)
    volume.resolve_window(array, "auto", None)
    assert volume.resolve_window(array, (40.0, 400.0), "node-1") == (40.0, 400.0)
    assert len(calls) == 2  # once for node-1, once for the uncached call
