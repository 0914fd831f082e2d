"""Cached embeddings and windows are keyed by pixels, never by a name alone (issue 14, defect 1)."""

from __future__ import annotations

import numpy as np
import pytest

from SpinalSAMR1Lib import volume as vol_mod
from SpinalSAMR1Lib.geometry import label_roi
from SpinalSAMR1Lib.phantom import make_lumbar_phantom
from SpinalSAMR1Lib.volume import Prompts, segment_slice


def _two_scans():
    """Two phantoms of the same shape and geometry but other anatomy (other seed, shifted levels)."""
    a = make_lumbar_phantom(seed=1, levels=("L2", "L3", "L4"), shape_kji=(48, 128, 144))
    b = make_lumbar_phantom(seed=7, levels=("L1", "L2", "L3"), shape_kji=(48, 128, 144))
    assert a.image.shape == b.image.shape and np.allclose(a.ijk_to_ras, b.ijk_to_ras)
    return a, b


@pytest.mark.slow
def test_same_cache_key_with_other_pixels_gives_the_other_pixels_result(lite_predictor):
    a, b = _two_scans()
    roi = label_roi(a.labels, a.label_value("L3"), a.ijk_to_ras)
    prompts = Prompts(roi=roi)
    key = "vtkMRMLScalarVolumeNode1"
    kw = dict(view="axial", predictor=lite_predictor)
    first = segment_slice(a.image, a.ijk_to_ras, prompts, cache_key=key, **kw)
    reused = segment_slice(b.image, b.ijk_to_ras, prompts, cache_key=key, **kw)
    fresh = segment_slice(
        b.image,
        b.ijk_to_ras,
        prompts,
        cache_key=None,
        predictor=type(lite_predictor)(lite_predictor.model),
        view="axial",
    )
    assert first.index == reused.index == fresh.index
    assert not np.array_equal(first.mask, fresh.mask)  # the scans differ on this slice
    np.testing.assert_array_equal(reused.mask, fresh.mask)
    np.testing.assert_allclose(reused.logits, fresh.logits, atol=1e-5)


@pytest.mark.slow
def test_editing_voxels_in_place_is_seen_under_the_same_key(lite_predictor):
    a, _ = _two_scans()
    image = a.image.copy()
    roi = label_roi(a.labels, a.label_value("L3"), a.ijk_to_ras)
    prompts = Prompts(roi=roi)
    before = segment_slice(image, a.ijk_to_ras, prompts, cache_key="node", predictor=lite_predictor)
    image[before.index] = image[before.index].min()  # erase the prompted slice, same array object
    after = segment_slice(image, a.ijk_to_ras, prompts, cache_key="node", predictor=lite_predictor)
    fresh = segment_slice(image, a.ijk_to_ras, prompts, predictor=type(lite_predictor)(lite_predictor.model))
    assert not np.array_equal(before.mask, fresh.mask)
    np.testing.assert_array_equal(after.mask, fresh.mask)


def test_window_cache_tells_scans_apart_under_one_name():
    a = np.linspace(0, 100, 4 * 5 * 6, dtype=np.float32).reshape(4, 5, 6)  # not HU: percentile window
    b = a * 10
    vol_mod.clear_caches()
    wa = vol_mod.resolve_window(a, "auto", "vtkMRMLScalarVolumeNode1")
    wb = vol_mod.resolve_window(b, "auto", "vtkMRMLScalarVolumeNode1")
    assert wb != wa
    assert wb[1] > 5 * wa[1]
    from SpinalSAMR1Lib.volume import volume_digest

    assert volume_digest(a) == volume_digest(a.copy()) != volume_digest(b)
    assert volume_digest(a) != volume_digest(a.reshape(4, 6, 5))  # same bytes, other shape
