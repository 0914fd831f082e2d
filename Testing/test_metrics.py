"""Tests for SpinalSAMR1Lib.metrics against an independent brute-force reference (no EDT, no erosion)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage
from scipy.spatial import cKDTree

from SpinalSAMR1Lib.metrics import (
    Summary,
    dice,
    hd95,
    iou,
    mean_surface_distance,
    summarize,
    surface_distances,
)

# ---------------------------------------------------------------- brute-force reference


def _border_bruteforce(mask: np.ndarray) -> np.ndarray:
    """Foreground voxels with at least one face neighbour that is background or outside the array."""
    m = np.pad(mask != 0, 1, constant_values=False)
    inner = tuple(slice(1, -1) for _ in range(mask.ndim))
    exposed = np.zeros(mask.shape, bool)
    for axis in range(mask.ndim):
        for step in (-1, 1):
            exposed |= ~np.roll(m, step, axis=axis)[inner]
    return (mask != 0) & exposed


def _directed_bruteforce(a: np.ndarray, b: np.ndarray, spacing: np.ndarray) -> np.ndarray:
    """Distance (mm) from every border voxel centre of ``a`` to the nearest border voxel centre of ``b``."""
    pa = np.argwhere(_border_bruteforce(a)) * spacing
    pb = np.argwhere(_border_bruteforce(b)) * spacing
    distances, _ = cKDTree(pb).query(pa)
    return distances


def _reference(a: np.ndarray, b: np.ndarray, spacing=None) -> tuple[float, float, np.ndarray, np.ndarray]:
    s = np.ones(a.ndim) if spacing is None else np.asarray(spacing, float)
    d_ab = _directed_bruteforce(a, b, s)
    d_ba = _directed_bruteforce(b, a, s)
    msd = (d_ab.mean() + d_ba.mean()) / 2.0
    h95 = max(np.percentile(d_ab, 95), np.percentile(d_ba, 95))
    return msd, h95, d_ab, d_ba


def _blob(shape: tuple[int, ...], seed: int, sigma: float = 3.0, fraction: float = 0.3) -> np.ndarray:
    """Random smooth blobs: Gaussian-smoothed white noise thresholded to keep ``fraction`` of voxels."""
    rng = np.random.default_rng(seed)
    field = ndimage.gaussian_filter(rng.standard_normal(shape), sigma)
    return field > np.quantile(field, 1.0 - fraction)


CASES = [
    ((64, 64), None),
    ((64, 48), (0.8, 1.7)),
    ((24, 40, 36), None),
    ((24, 40, 36), (2.5, 0.7, 0.9)),
]


# ---------------------------------------------------------------- agreement with the reference


@pytest.mark.parametrize("shape,spacing", CASES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_distances_match_bruteforce(shape, spacing, seed):
    a = _blob(shape, seed)
    b = _blob(shape, seed + 100)
    msd_ref, hd_ref, d_ab, d_ba = _reference(a, b, spacing)
    assert mean_surface_distance(a, b, spacing) == pytest.approx(msd_ref, abs=1e-6)
    assert hd95(a, b, spacing) == pytest.approx(hd_ref, abs=1e-6)
    got_ab, got_ba = surface_distances(a, b, spacing)
    np.testing.assert_allclose(got_ab, d_ab, atol=1e-6)  # both in np.nonzero / argwhere order
    np.testing.assert_allclose(got_ba, d_ba, atol=1e-6)


@pytest.mark.parametrize("shape,spacing", CASES)
def test_overlap_matches_bruteforce(shape, spacing):
    a = _blob(shape, 7)
    b = _blob(shape, 8, fraction=0.2)
    inter, sa, sb = np.sum(a & b), a.sum(), b.sum()
    assert dice(a, b) == pytest.approx(2 * inter / (sa + sb), abs=1e-12)
    assert iou(a, b) == pytest.approx(inter / np.sum(a | b), abs=1e-12)


def test_small_objects_in_large_array_match_bruteforce():
    """The union-bounding-box crop must not change results for objects far from the array edge."""
    spacing = (2.5, 0.7, 0.9)
    a = np.zeros((60, 90, 80), bool)
    b = np.zeros_like(a)
    a[20:32, 30:50, 25:45] = _blob((12, 20, 20), 3, sigma=2.0, fraction=0.5)
    b[22:34, 33:53, 27:47] = _blob((12, 20, 20), 4, sigma=2.0, fraction=0.5)
    msd_ref, hd_ref, _, _ = _reference(a, b, spacing)
    assert mean_surface_distance(a, b, spacing) == pytest.approx(msd_ref, abs=1e-6)
    assert hd95(a, b, spacing) == pytest.approx(hd_ref, abs=1e-6)


def test_objects_touching_array_edge_match_bruteforce():
    a = np.zeros((30, 30), bool)
    b = np.zeros_like(a)
    a[:, :12] = True  # touches three edges: the edge voxels count as border
    b[5:, :15] = True
    msd_ref, hd_ref, _, _ = _reference(a, b, (1.2, 0.6))
    assert mean_surface_distance(a, b, (1.2, 0.6)) == pytest.approx(msd_ref, abs=1e-6)
    assert hd95(a, b, (1.2, 0.6)) == pytest.approx(hd_ref, abs=1e-6)


# ---------------------------------------------------------------- properties and analytic cases


@pytest.mark.parametrize("shape,spacing", CASES)
def test_metrics_are_symmetric(shape, spacing):
    a, b = _blob(shape, 11), _blob(shape, 12)
    assert dice(a, b) == dice(b, a)
    assert iou(a, b) == iou(b, a)
    assert mean_surface_distance(a, b, spacing) == pytest.approx(mean_surface_distance(b, a, spacing))
    assert hd95(a, b, spacing) == pytest.approx(hd95(b, a, spacing))


@pytest.mark.parametrize("shape,spacing", CASES)
def test_identical_masks_are_perfect(shape, spacing):
    a = _blob(shape, 5)
    assert dice(a, a) == 1.0
    assert iou(a, a) == 1.0
    assert mean_surface_distance(a, a, spacing) == 0.0
    assert hd95(a, a, spacing) == 0.0


def test_nonzero_values_are_foreground():
    a = np.zeros((10, 10), np.uint8)
    a[2:6, 2:6] = 3
    b = np.zeros((10, 10), np.float32)
    b[2:6, 2:6] = -0.5
    assert dice(a, b) == 1.0 and iou(a, b) == 1.0 and hd95(a, b) == 0.0


def test_dice_iou_known_values():
    a = np.zeros((10, 10), bool)
    b = np.zeros((10, 10), bool)
    a[0:4, 0:5] = True  # 20 voxels
    b[2:6, 0:5] = True  # 20 voxels, 10 shared
    assert dice(a, b) == pytest.approx(0.5)
    assert iou(a, b) == pytest.approx(10 / 30)


@pytest.mark.parametrize("d", [1, 3, 5])
@pytest.mark.parametrize("step", [1.0, 2.0])
def test_offset_squares_hd95_equals_offset(d, step):
    a = np.zeros((64, 64), bool)
    b = np.zeros_like(a)
    a[10:40, 10:40] = True
    b[10 + d : 40 + d, 10:40] = True
    assert hd95(a, b, (step, 0.5)) == pytest.approx(d * step)
    assert 0 < mean_surface_distance(a, b, (step, 0.5)) < d * step


def test_offset_cubes_hd95_equals_offset():
    a = np.zeros((40, 40, 40), bool)
    b = np.zeros_like(a)
    a[5:25, 5:25, 5:25] = True
    b[5:25, 5:25, 9:29] = True
    assert hd95(a, b, (1.0, 1.0, 0.75)) == pytest.approx(4 * 0.75)


def test_spacing_scales_isotropically():
    a, b = _blob((40, 40, 40), 21), _blob((40, 40, 40), 22)
    assert hd95(a, b, (2.0, 2.0, 2.0)) == pytest.approx(2.0 * hd95(a, b))
    assert mean_surface_distance(a, b, (2.0, 2.0, 2.0)) == pytest.approx(2.0 * mean_surface_distance(a, b))


# ---------------------------------------------------------------- edge cases and errors


@pytest.mark.parametrize("shape", [(16, 16), (8, 16, 16)])
def test_both_empty(shape):
    e = np.zeros(shape, bool)
    assert dice(e, e) == 1.0
    assert iou(e, e) == 1.0
    assert mean_surface_distance(e, e) == 0.0
    assert hd95(e, e) == 0.0
    d_pr, d_rp = surface_distances(e, e)
    assert d_pr.size == 0 and d_rp.size == 0


@pytest.mark.parametrize("shape", [(16, 16), (8, 16, 16)])
def test_exactly_one_empty(shape):
    e = np.zeros(shape, bool)
    f = np.zeros(shape, bool)
    f[(slice(2, 6),) * len(shape)] = True
    for p, r in ((e, f), (f, e)):
        assert dice(p, r) == 0.0
        assert iou(p, r) == 0.0
        assert mean_surface_distance(p, r) == math.inf
        assert hd95(p, r) == math.inf
    d_pr, d_rp = surface_distances(f, e)
    assert d_pr.size > 0 and np.all(np.isinf(d_pr)) and d_rp.size == 0


@pytest.mark.parametrize("fn", [dice, iou, mean_surface_distance, hd95, surface_distances])
def test_shape_mismatch_raises(fn):
    with pytest.raises(ValueError, match="same shape"):
        fn(np.ones((4, 5), bool), np.ones((5, 4), bool))


@pytest.mark.parametrize("spacing", [(1.0,), (1.0, 1.0, 1.0), (1.0, 0.0), (1.0, -2.0), (1.0, float("nan"))])
def test_bad_spacing_raises(spacing):
    a = np.zeros((8, 8), bool)
    a[2:5, 2:5] = True
    with pytest.raises(ValueError, match="spacing"):
        hd95(a, a, spacing)


# ---------------------------------------------------------------- summarize


def test_summarize_drops_non_finite_and_counts_them():
    s = summarize([1.0, 2.0, 3.0, math.inf, math.nan])
    assert isinstance(s, Summary)
    assert s.mean == pytest.approx(2.0)
    assert s.sd == pytest.approx(1.0)  # sample SD, ddof=1
    assert (s.n, s.dropped) == (3, 2)
    mean, sd, n, dropped = s
    assert (mean, n) == (s.mean, 3)
    assert s.format(2, "mm") == "2.00 ± 1.00 mm (n=3, 2 non-finite dropped)"
    assert summarize([0.5, 0.7]).format(1) == "0.6 ± 0.1 (n=2)"


def test_summarize_degenerate_inputs():
    one = summarize([4.0])
    assert one.mean == 4.0 and math.isnan(one.sd) and one.n == 1
    none = summarize([math.inf])
    assert math.isnan(none.mean) and math.isnan(none.sd) and (none.n, none.dropped) == (0, 1)
    empty = summarize([])
    assert empty.n == 0 and empty.dropped == 0


# ---------------------------------------------------------------- cross-check with medpy (in the test extra)


@pytest.mark.parametrize("shape,spacing", CASES)
def test_against_medpy(shape, spacing):
    import medpy
    import medpy.metric.binary as binary

    a, b = _blob(shape, 31), _blob(shape, 32)
    d_ab, d_ba = surface_distances(a, b, spacing)
    ours_msd = mean_surface_distance(a, b, spacing)
    assert ours_msd == pytest.approx((binary.asd(a, b, spacing) + binary.asd(b, a, spacing)) / 2, abs=1e-9)
    # medpy <= 0.4: assd = mean of the directed means (ours); medpy >= 0.5: mean of the pooled distances.
    pooled_mean = np.concatenate((d_ab, d_ba)).mean()
    major_minor = tuple(int(x) for x in medpy.__version__.split(".")[:2])
    expected_assd = ours_msd if major_minor < (0, 5) else pooled_mean
    assert binary.assd(a, b, spacing) == pytest.approx(expected_assd, abs=1e-9)
    # medpy's hd95 pools both directions; ours is the larger directed percentile, hence >= medpy's.
    pooled_p95 = np.percentile(np.concatenate((d_ab, d_ba)), 95)
    assert binary.hd95(a, b, spacing) == pytest.approx(pooled_p95, abs=1e-9)
    assert hd95(a, b, spacing) >= binary.hd95(a, b, spacing) - 1e-9
