"""Tests for SpinalSAMR1Lib.phantom: determinism, anatomy in RAS, labels and ROIs."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from SpinalSAMR1Lib.phantom import Phantom, make_lumbar_phantom, phantom_roi

LEVELS = ("L1", "L2", "L3", "L4", "L5")


@pytest.fixture(scope="module")
def phantom() -> Phantom:
    return make_lumbar_phantom(seed=0)


@pytest.fixture(scope="module")
def clean() -> Phantom:
    """Noise-free, so HU checks can be tight."""
    return make_lumbar_phantom(seed=1, noise_hu=0.0)


def _ras(ph: Phantom, kji: tuple[np.ndarray, ...]) -> np.ndarray:
    """RAS (N, 3) of voxel centres given as np.nonzero-style (k, j, i) index arrays."""
    ijk1 = np.stack([kji[2], kji[1], kji[0], np.ones_like(kji[0])], axis=1).astype(float)
    return (ijk1 @ ph.ijk_to_ras.T)[:, :3]


def _ijk_of(ph: Phantom, ras: np.ndarray) -> np.ndarray:
    """Nearest voxel (i, j, k) of an RAS point."""
    return np.rint((np.linalg.inv(ph.ijk_to_ras) @ np.append(ras, 1.0))[:3]).astype(int)


def _level_points(ph: Phantom, n: int) -> np.ndarray:
    return _ras(ph, np.nonzero(ph.labels == n))


def _body_centre(ph: Phantom, n: int) -> np.ndarray:
    """RAS centre of level n's vertebral body, found without assuming where anterior is.

    An in-plane erosion by 6 mm removes the posterior elements (all <= 8 mm thick) and keeps the core
    of the ~30 x 45 mm body.
    """
    in_plane = np.zeros((3, 3, 3), bool)
    in_plane[1] = ndimage.generate_binary_structure(2, 1)
    core = ndimage.binary_erosion(ph.labels == n, structure=in_plane, iterations=4)
    return _ras(ph, np.nonzero(core)).mean(axis=0)


def _body_column(ph: Phantom, n: int) -> tuple[int, int]:
    """(j, i) of the voxel column through the centre of level n's vertebral body."""
    i, j, _ = _ijk_of(ph, _body_centre(ph, n))
    return j, i


def _runs(values: np.ndarray) -> list[tuple[int, int, int]]:
    """Runs of equal values as (value, start, stop) with stop exclusive."""
    edges = np.flatnonzero(np.diff(values)) + 1
    starts = np.r_[0, edges]
    stops = np.r_[edges, len(values)]
    return [(int(values[a]), int(a), int(b)) for a, b in zip(starts, stops, strict=True)]


# ---------------------------------------------------------------- basics


def test_types_shapes_and_geometry(phantom):
    assert phantom.image.dtype == np.int16 and phantom.labels.dtype == np.uint8
    assert phantom.image.shape == phantom.labels.shape == (76, 128, 144)
    assert phantom.image.size <= 1_500_000
    assert phantom.levels == LEVELS
    directions = phantom.ijk_to_ras[:3, :3] / np.linalg.norm(phantom.ijk_to_ras[:3, :3], axis=0)
    np.testing.assert_allclose(directions, np.diag([-1.0, -1.0, 1.0]))
    assert phantom.spacing_kji == (2.5, 1.5, 1.5)
    assert [phantom.label_value(v) for v in LEVELS] == [1, 2, 3, 4, 5]


def test_deterministic_for_a_seed():
    a, b, c = make_lumbar_phantom(seed=3), make_lumbar_phantom(seed=3), make_lumbar_phantom(seed=4)
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.ijk_to_ras, b.ijk_to_ras)
    assert not np.array_equal(a.image, c.image)


def test_each_level_is_one_connected_vertebra_of_realistic_size(phantom):
    assert set(np.unique(phantom.labels).tolist()) == {0, 1, 2, 3, 4, 5}
    voxel_mm3 = float(np.prod(phantom.spacing_kji))
    for n in range(1, 6):
        mask = phantom.labels == n
        _, count = ndimage.label(mask, structure=np.ones((3, 3, 3)))
        assert count == 1, f"{LEVELS[n - 1]} has {count} pieces: posterior elements must attach to the body"
        assert 25_000 < mask.sum() * voxel_mm3 < 80_000  # mm^3; an adult lumbar vertebra is ~30-60 cm^3


def test_levels_run_superior_to_inferior(phantom):
    s_centres = [_level_points(phantom, n)[:, 2].mean() for n in range(1, 6)]
    assert all(np.diff(s_centres) < -20.0)  # each next level is 20+ mm more inferior


def test_tissue_intensities(clean):
    img, labels = clean.image, clean.labels
    bone = img[labels > 0].mean()
    assert bone > 200.0
    corners = img[:, :3, :3]
    assert np.all(corners < -900)  # air outside the trunk
    soft = np.median(img[(labels == 0) & (img > 0) & (img < 70)])
    assert 30 <= soft <= 50
    assert bone > soft + 200.0
    assert np.count_nonzero((img > -130) & (img < -70)) > 10_000  # the fat ring
    assert img.max() > 700  # dense cortical bone


def test_noise_level(phantom, clean):
    background = phantom.image[:, :4, :4].astype(float)  # air, far from any edge
    assert 15.0 < background.std() < 25.0
    assert clean.image[:, :4, :4].std() == 0.0


# ---------------------------------------------------------------- anatomy


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_disc_between_consecutive_vertebrae(clean, n):
    j, i = _body_column(clean, n)
    runs = _runs(clean.labels[:, j, i].astype(int))
    # k increases superiorly: the lower level (n + 1) comes first along the column.
    lower = [r for r in runs if r[0] == n + 1]
    upper = [r for r in runs if r[0] == n]
    assert lower and upper, "the column must cross both vertebral bodies"
    gap = slice(lower[-1][2], upper[0][1])
    assert np.all(clean.labels[gap, j, i] == 0)
    height_mm = (gap.stop - gap.start) * clean.spacing_kji[0]
    assert 5.0 <= height_mm <= 16.0
    assert 60.0 <= np.median(clean.image[gap, j, i]) <= 110.0  # disc, not soft tissue or bone


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
def test_posterior_elements_are_posterior_in_ras(clean, n):
    pts = _level_points(clean, n)
    depth = pts[:, 1].max() - pts[:, 1].min()
    width = pts[:, 0].max() - pts[:, 0].min()
    assert 60.0 < depth < 100.0  # front of body to spinous tip
    assert 60.0 < width < 110.0  # transverse processes
    body_a = _body_centre(clean, n)[1]
    assert body_a - pts[:, 1].min() > 2.5 * (
        pts[:, 1].max() - body_a
    )  # the vertebra reaches back, not forward
    # Along A at the midline through the body's middle: body, then canal, then lamina/spinous process.
    j, i = _body_column(clean, n)
    runs_k = [r for r in _runs(clean.labels[:, j, i].astype(int)) if r[0] == n][0]
    k = (runs_k[1] + runs_k[2]) // 2
    line = clean.labels[k, :, i].astype(int)
    a_of_j = clean.ijk_to_ras[1, 1] * np.arange(line.size) + clean.ijk_to_ras[1, 3]
    runs = [r for r in _runs(line) if r[0] == n]
    assert len(runs) == 2, "the midline must cross the body and the posterior arch"
    (_, b0, b1), (_, p0, p1) = sorted(runs, key=lambda r: not r[1] <= j < r[2])  # the body's run first
    assert a_of_j[p0:p1].max() < a_of_j[b0:b1].min()  # the arch is posterior to the body
    canal = slice(min(b1, p1), max(b0, p0))
    canal_mm = (canal.stop - canal.start) * clean.spacing_kji[1]
    assert 10.0 <= canal_mm <= 22.0
    assert np.median(clean.image[k, canal, i]) < 40.0  # CSF, not bone


def test_spine_is_posterior_to_trunk_centre(clean):
    trunk = _ras(clean, np.nonzero(clean.image > -500))
    trunk_a = (trunk[:, 1].max() + trunk[:, 1].min()) / 2
    for n in range(1, 6):
        assert _body_centre(clean, n)[1] < trunk_a
        assert _level_points(clean, n)[:, 1].mean() < trunk_a - 10.0


# ---------------------------------------------------------------- ROI


@pytest.mark.parametrize("margin", [0.0, 3.0])
@pytest.mark.parametrize("level", LEVELS)
def test_roi_contains_its_level(phantom, level, margin):
    roi = phantom_roi(phantom, level, margin_mm=margin)
    np.testing.assert_array_equal(roi.axes, np.eye(3))
    pts = _level_points(phantom, phantom.label_value(level))
    lo, hi = roi.center - roi.size / 2, roi.center + roi.size / 2
    assert np.all(pts >= lo + margin - 1e-9) and np.all(pts <= hi - margin + 1e-9)
    # Tight: the box is the voxels' full extent (half a voxel beyond the centres) plus the margin.
    half_voxel = np.array(phantom.spacing_kji[::-1]) / 2
    np.testing.assert_allclose(lo, pts.min(axis=0) - half_voxel - margin)
    np.testing.assert_allclose(hi, pts.max(axis=0) + half_voxel + margin)


def test_roi_of_an_absent_level_raises(phantom):
    with pytest.raises(ValueError, match="T12"):
        phantom_roi(phantom, "T12")


# ---------------------------------------------------------------- options and errors


def test_subset_of_levels():
    ph = make_lumbar_phantom(levels=("L4", "L5"), shape_kji=(32, 128, 144))
    assert ph.levels == ("L4", "L5")
    assert set(np.unique(ph.labels).tolist()) == {0, 1, 2}


@pytest.mark.parametrize("levels", [(), ("L5", "L4"), ("L1", "L3"), ("C3",), ("L1", "L1")])
def test_bad_levels_raise(levels):
    with pytest.raises(ValueError, match="levels"):
        make_lumbar_phantom(levels=levels)


def test_grid_too_small_raises():
    with pytest.raises(ValueError, match="does not fit"):
        make_lumbar_phantom(shape_kji=(40, 128, 144))


def test_negative_noise_raises():
    with pytest.raises(ValueError, match="noise_hu"):
        make_lumbar_phantom(noise_hu=-1.0)
