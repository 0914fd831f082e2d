"""Geometry: IJK <-> RAS, views on identity/LPS/flipped/permuted/oblique grids, prompts, resampling."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from SpinalSAMR1Lib import geometry as geo

SHAPE_KJI = (7, 9, 11)


def _rotation_z(deg: float) -> np.ndarray:
    a = np.radians(deg)
    return np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])


def _rotation_x(deg: float) -> np.ndarray:
    a = np.radians(deg)
    return np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])


def _grids():
    """Identity, LPS, flipped and every axis permutation with random flips, spacing and origin."""
    rng = np.random.default_rng(0)
    yield "identity", geo.make_ijk_to_ras()
    yield "lps", geo.make_ijk_to_ras((0.7, 0.8, 2.5), (120.0, 80.0, -40.0), np.diag([-1.0, -1.0, 1.0]))
    yield "flipped-k", geo.make_ijk_to_ras((1.0, 1.0, 3.0), (0, 0, 50), np.diag([1.0, 1.0, -1.0]))
    for perm in itertools.permutations(range(3)):
        d = np.zeros((3, 3))
        for col, row in enumerate(perm):
            d[row, col] = rng.choice([-1.0, 1.0])
        yield f"perm{perm}", geo.make_ijk_to_ras(rng.uniform(0.5, 3, 3), rng.uniform(-100, 100, 3), d)


GRIDS = list(_grids())


def _ras_grid(m: np.ndarray) -> np.ndarray:
    """(k, j, i, 3) RAS coordinates of every voxel centre."""
    k, j, i = np.meshgrid(*[np.arange(n) for n in SHAPE_KJI], indexing="ij")
    ijk = np.stack([i.ravel(), j.ravel(), k.ravel()], 1)
    return geo.ijk_to_ras_points(ijk, m).reshape(*SHAPE_KJI, 3)


def test_ras_ijk_round_trip():
    for _, m in GRIDS:
        pts = np.random.default_rng(1).uniform(-50, 50, (20, 3))
        np.testing.assert_allclose(geo.ijk_to_ras_points(geo.ras_to_ijk_points(pts, m), m), pts, atol=1e-9)


@pytest.mark.parametrize("name,m", GRIDS, ids=[g[0] for g in GRIDS])
@pytest.mark.parametrize("view", geo.VIEWS)
def test_slices_show_the_clinical_orientation(name, m, view):
    """Screen right/down are patient L/P (axial), P/I (sagittal), L/I (coronal), whatever the storage."""
    ras = _ras_grid(m)
    frame = geo.view_frame(m, SHAPE_KJI, view)
    normal, right, down = (np.array(v, float) for v in geo._SCREEN_AXES_RAS[view])
    index = frame.num_slices // 2
    plane = np.stack([geo.extract_slice(ras[..., c], frame, index) for c in range(3)], -1)
    assert np.all(np.diff(plane @ right, axis=1) > 0)
    assert np.all(np.diff(plane @ down, axis=0) > 0)
    assert np.ptp(plane @ normal) < 1e-9  # one plane
    # The slice index is the voxel index along the axis chosen as normal (it may run either way).
    first = np.array([geo.extract_slice(ras[..., c], frame, 0).mean() for c in range(3)])
    last = np.array([geo.extract_slice(ras[..., c], frame, frame.num_slices - 1).mean() for c in range(3)])
    step = geo.spacing_ijk(m)[frame.normal_ijk]
    assert abs((last - first) @ normal) == pytest.approx(step * (frame.num_slices - 1))


@pytest.mark.parametrize("name,m", GRIDS, ids=[g[0] for g in GRIDS])
@pytest.mark.parametrize("view", geo.VIEWS)
def test_pixels_map_back_to_their_voxels(name, m, view):
    ras = _ras_grid(m)
    frame = geo.view_frame(m, SHAPE_KJI, view)
    rows, cols = frame.slice_shape
    index = 1
    yy, xx = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    coords = np.stack([np.full(xx.size, index), xx.ravel(), yy.ravel()], 1)
    expected = np.stack([geo.extract_slice(ras[..., c], frame, index) for c in range(3)], -1).reshape(-1, 3)
    np.testing.assert_allclose(geo.slice_coords_to_ras(coords, m, frame), expected, atol=1e-9)
    back = geo.ras_to_slice_coords(expected, m, frame)
    np.testing.assert_allclose(back, coords, atol=1e-9)


def test_insert_slice_writes_what_extract_slice_reads():
    for _, m in GRIDS:
        for view in geo.VIEWS:
            frame = geo.view_frame(m, SHAPE_KJI, view)
            vol = np.zeros(SHAPE_KJI, np.int16)
            patch = np.arange(np.prod(frame.slice_shape)).reshape(frame.slice_shape).astype(np.int16)
            geo.insert_slice(vol, frame, 2, patch)
            np.testing.assert_array_equal(geo.extract_slice(vol, frame, 2), patch)
            assert np.count_nonzero(vol) == np.count_nonzero(patch)


def test_slice_box_is_exactly_the_voxels_insert_slice_writes():
    for _, m in GRIDS:
        for view in geo.VIEWS:
            frame = geo.view_frame(m, SHAPE_KJI, view)
            vol = np.zeros(SHAPE_KJI, np.uint8)
            geo.insert_slice(vol, frame, 3, np.ones(frame.slice_shape, np.uint8))
            k0, k1, j0, j1, i0, i1 = geo.slice_box_kji(frame, 3)
            box = np.zeros_like(vol)
            box[k0 : k1 + 1, j0 : j1 + 1, i0 : i1 + 1] = 1
            np.testing.assert_array_equal(box, vol)
            with pytest.raises(IndexError):
                geo.slice_box_kji(frame, frame.num_slices)


@pytest.mark.parametrize("name,m", GRIDS, ids=[g[0] for g in GRIDS])
def test_a_crop_holds_what_the_whole_grid_holds_inside_its_box(name, m):
    """VoxelBox.insert_slice on a crop equals insert_slice on the whole grid, cut to the box, in every
    view and storage; slices outside the box leave the crop untouched; paste puts it back in place."""
    rng = np.random.default_rng(1)
    box = geo.VoxelBox((1, 2, 3), (6, 7, 9))
    for view in geo.VIEWS:
        frame = geo.view_frame(m, SHAPE_KJI, view)
        whole = np.zeros(SHAPE_KJI, np.float32)
        crop = np.zeros(box.shape, np.float32)
        for index in range(frame.num_slices):
            image = rng.random(frame.slice_shape).astype(np.float32)
            geo.insert_slice(whole, frame, index, image)
            box.insert_slice(crop, frame, index, image)
        np.testing.assert_array_equal(crop, whole[box.slices])
        pasted = box.paste(crop, SHAPE_KJI)
        np.testing.assert_array_equal(pasted[box.slices], crop)
        assert np.count_nonzero(pasted) == np.count_nonzero(crop)
        with pytest.raises(ValueError):
            box.insert_slice(crop, frame, 0, np.zeros((2, 2), np.float32))


@pytest.mark.parametrize("name,m", GRIDS, ids=[g[0] for g in GRIDS])
def test_a_box_around_an_roi_holds_every_voxel_inside_it_and_its_own_grid_is_shifted(name, m):
    ras = _ras_grid(m)
    roi = geo.Roi(center=ras[3, 4, 5], size=np.array([4.0, 5.0, 6.0]), axes=_rotation_z(20) @ _rotation_x(10))
    box = geo.VoxelBox.around_roi(roi, m, SHAPE_KJI, pad=0)
    inside = roi.contains(ras.reshape(-1, 3)).reshape(SHAPE_KJI)
    assert inside.any() and inside[box.slices].sum() == inside.sum()
    assert np.all(np.array(box.shape) < np.array(SHAPE_KJI) + 1)
    crop_m = box.ijk_to_ras(m)
    lo_ijk = np.array(box.lo_kji[::-1], float)
    np.testing.assert_allclose(geo.ijk_to_ras_points(np.zeros((1, 3)), crop_m), ras[box.lo_kji][None])
    np.testing.assert_allclose(geo.ras_to_ijk_points(ras[box.lo_kji][None], m), lo_ijk[None], atol=1e-9)
    far = geo.Roi(center=ras[0, 0, 0] + 1e4, size=np.ones(3))
    assert 0 in geo.VoxelBox.around_roi(far, m, SHAPE_KJI).shape


def test_oblique_volumes_are_refused_beyond_tolerance():
    tilted = geo.make_ijk_to_ras(directions=_rotation_z(40))
    with pytest.raises(geo.ObliqueViewError, match="oblique"):
        geo.view_frame(tilted, SHAPE_KJI, "axial")
    slight = geo.make_ijk_to_ras(directions=_rotation_z(0.5))
    assert geo.view_frame(slight, SHAPE_KJI, "axial").normal_ijk == 2


@pytest.mark.parametrize("degrees", [-8.0, 4.5, 12.0])
def test_tilted_volumes_use_the_nearest_voxel_planes_with_exact_mapping(degrees):
    """A CT tilted about S (like a rotated patient) or about R (gantry tilt): each view picks the voxel
    axes nearest its screen axes, and RAS points go to slice coordinates and back exactly."""
    for rot in (_rotation_z(degrees), _rotation_x(degrees)):
        m = geo.make_ijk_to_ras(spacing=(0.8, 0.9, 2.5), directions=rot, origin=(5.0, -3.0, 40.0))
        rng = np.random.default_rng(0)
        ijk = rng.uniform([0, 0, 0], np.array(SHAPE_KJI[::-1]) - 1, (20, 3))
        ras = geo.ijk_to_ras_points(ijk, m)
        for view in geo.VIEWS:
            frame = geo.view_frame(m, SHAPE_KJI, view)
            assert frame.normal_ijk == {"sagittal": 0, "coronal": 1, "axial": 2}[view]
            c = geo.ras_to_slice_coords(ras, m, frame)
            np.testing.assert_allclose(geo.slice_coords_to_ras(c, m, frame), ras, atol=1e-9)
            np.testing.assert_allclose(geo.slice_coords_to_ijk(c, frame), ijk, atol=1e-9)


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="unknown view"):
        geo.view_frame(np.eye(4), SHAPE_KJI, "oblique")
    with pytest.raises(ValueError, match="singular"):
        geo.view_frame(np.zeros((4, 4)), SHAPE_KJI, "axial")
    frame = geo.view_frame(np.eye(4), SHAPE_KJI, "axial")
    with pytest.raises(IndexError):
        geo.extract_slice(np.zeros(SHAPE_KJI), frame, SHAPE_KJI[0])


def test_points_land_on_their_voxel():
    m = geo.make_ijk_to_ras((0.7, 0.8, 2.5), (120.0, 80.0, -40.0), np.diag([-1.0, -1.0, 1.0]))
    frame = geo.view_frame(m, SHAPE_KJI, "axial")
    ras = geo.ijk_to_ras_points([[3, 4, 5]], m)
    idx, xy = geo.points_to_slice(ras, m, frame)
    assert idx[0] == 5
    vol = np.zeros(SHAPE_KJI)
    vol[5, 4, 3] = 1
    image = geo.extract_slice(vol, frame, 5)
    assert image[int(round(xy[0, 1])), int(round(xy[0, 0]))] == 1


@pytest.mark.parametrize("name,m", GRIDS, ids=[g[0] for g in GRIDS])
def test_roi_box_covers_the_same_voxels_in_any_storage(name, m):
    """An ROI around a set of voxels gives a box that contains them and exactly their slice range."""
    ras = _ras_grid(m)
    centre = ras[3, 4, 5]
    spacing = geo.spacing_ijk(m)
    roi = geo.Roi(center=centre, size=np.full(3, 2.2 * spacing.max()))
    inside = np.all(np.abs(ras - centre) <= roi.size / 2, axis=-1)
    for view in geo.VIEWS:
        frame = geo.view_frame(m, SHAPE_KJI, view)
        box, (first, last) = geo.roi_to_box(roi, m, frame)
        holding = []
        for s in range(frame.num_slices):
            img = geo.extract_slice(inside, frame, s)
            ys, xs = np.nonzero(img)
            if len(xs):
                holding.append(s)
                assert first <= s <= last
                assert box[0] <= xs.min() and xs.max() <= box[2] and box[1] <= ys.min() and ys.max() <= box[3]
        assert holding == list(range(first, last + 1)), (view, holding, (first, last))


def test_rotated_roi_uses_all_eight_corners():
    m = geo.make_ijk_to_ras()
    frame = geo.view_frame(m, (20, 40, 40), "axial")
    roi = geo.Roi(center=[20.0, 20.0, 10.0], size=[10.0, 10.0, 4.0], axes=_rotation_z(45))
    box, (first, last) = geo.roi_to_box(roi, m, frame)
    half_diag = 5 * np.sqrt(2)
    # Identity grid: x = 39 - R, y = 39 - A; a 45-degree square spans its diagonal on both axes.
    np.testing.assert_allclose(
        box, [19 - half_diag, 19 - half_diag, 19 + half_diag, 19 + half_diag], atol=1e-9
    )
    assert (first, last) == (8, 12)


def test_roi_outside_the_volume_is_an_error():
    frame = geo.view_frame(np.eye(4), SHAPE_KJI, "axial")
    with pytest.raises(ValueError, match="does not overlap"):
        geo.roi_to_box(geo.Roi(center=[500.0, 500.0, 500.0], size=[5.0, 5.0, 5.0]), np.eye(4), frame)


def test_resample_nearest_aligns_by_physical_position():
    """The same labels stored flipped along j with a shifted origin come back identical."""
    m = geo.make_ijk_to_ras((1.0, 1.5, 2.0), (10.0, 20.0, 30.0))
    labels = np.random.default_rng(0).integers(0, 4, SHAPE_KJI).astype(np.uint8)
    flipped = m.copy()
    flipped[:3, 1] *= -1
    flipped[:3, 3] = m[:3, 3] + m[:3, 1] * (SHAPE_KJI[1] - 1)
    stored = labels[:, ::-1, :].copy()
    np.testing.assert_array_equal(geo.resample_nearest(stored, flipped, SHAPE_KJI, m), labels)
    assert not np.array_equal(stored, labels)  # aligning by array index would be wrong


def test_spacing_helpers():
    m = geo.make_ijk_to_ras((0.5, 0.75, 3.0), directions=np.diag([-1.0, -1.0, 1.0]))
    np.testing.assert_allclose(geo.spacing_ijk(m), [0.5, 0.75, 3.0])
    np.testing.assert_allclose(geo.spacing_kji(m), [3.0, 0.75, 0.5])
    frame = geo.view_frame(m, SHAPE_KJI, "sagittal")
    assert geo.pixel_spacing(m, frame) == (3.0, 0.75)


def test_mask_centroid_is_the_mean_of_the_voxel_centres_in_ras():
    m = geo.make_ijk_to_ras(
        (0.8, 1.3, 2.5), (10.0, -4.0, 7.0), np.array([[0, -1, 0], [1, 0, 0], [0, 0, -1.0]])
    )
    mask = np.zeros((6, 7, 8), bool)
    mask[1:4, 2, 3:8] = True
    mask[5, 6, 0] = True
    kji = np.argwhere(mask)
    expected = geo.ijk_to_ras_points(kji[:, ::-1].astype(float), m).mean(axis=0)  # voxel by voxel
    np.testing.assert_allclose(geo.mask_centroid_ras(mask, m), expected, atol=1e-9)
    assert np.isnan(geo.mask_centroid_ras(np.zeros((2, 2, 2), bool), m)).all()
