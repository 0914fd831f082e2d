"""IO: ITK formats with exact geometry (LPS -> RAS), the real DICOM case, markups JSON, safe writes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from SpinalSAMR1Lib import geometry as geo
from SpinalSAMR1Lib.errors import UserError
from SpinalSAMR1Lib.io import Volume, read_image_2d, read_markups, read_volume, write_labelmap, write_volume


@pytest.mark.parametrize("suffix", [".nii.gz", ".nrrd", ".mha"])
def test_write_read_round_trip_keeps_geometry(tmp_path, suffix):
    rot = np.array([[0.0, -1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # permuted and flipped
    m = geo.make_ijk_to_ras((0.8, 1.1, 2.5), (-12.5, 40.0, 7.25), rot)
    arr = np.random.default_rng(0).integers(-1000, 1000, (5, 6, 7)).astype(np.int16)
    path = write_volume(tmp_path / f"v{suffix}", arr, m)
    back = read_volume(path)
    np.testing.assert_array_equal(back.array, arr)
    np.testing.assert_allclose(back.ijk_to_ras, m, atol=1e-5)


def test_nifti_is_read_in_ras(shared_data):
    """example_ct_sm is stored with LPS direction diag(-1, -1, 1): in RAS its columns are positive."""
    vol = read_volume(shared_data / "totalseg_example" / "example_ct_sm.nii.gz")
    assert vol.shape == (30, 101, 122)
    np.testing.assert_allclose(np.diag(vol.ijk_to_ras)[:3], [3.0, 3.0, 3.0], atol=1e-4)


@pytest.mark.slow
def test_real_dicom_labels_land_on_bone_only_when_aligned_physically(shared_data):
    """example_seg_dicom.nii.gz has another direction/origin than the DICOM series: T12 (32) and T11 (33)
    lie on bone after resampling by physical position, and on air/soft tissue by array index."""
    root = shared_data / "totalseg_example"
    ct = read_volume(root / "ct_dicom")
    seg = read_volume(root / "example_seg_dicom.nii.gz")
    assert ct.shape == (20, 512, 512) and seg.shape == ct.shape
    assert not np.allclose(ct.ijk_to_ras, seg.ijk_to_ras)
    aligned = geo.resample_nearest(seg.array, seg.ijk_to_ras, ct.shape, ct.ijk_to_ras)
    for label in (32, 33):
        physical = ct.array[aligned == label].mean()
        naive = ct.array[seg.array == label].mean()
        assert physical > 200, f"label {label}: {physical:.0f} HU is not bone"
        assert naive < 0, f"label {label}: index alignment unexpectedly on bone ({naive:.0f} HU)"


def test_dicom_file_path_reads_its_series(shared_data):
    folder = shared_data / "totalseg_example" / "ct_dicom"
    one = sorted(folder.iterdir())[0]
    assert read_volume(one).shape == (20, 512, 512)


def test_write_refuses_to_overwrite_and_is_atomic(tmp_path):
    m = np.eye(4)
    ref = Volume(np.zeros((2, 3, 4), np.int16), m)
    target = write_labelmap(tmp_path / "seg.nii.gz", np.ones((2, 3, 4)), ref)
    with pytest.raises(UserError, match="exists"):
        write_labelmap(target, np.zeros((2, 3, 4)), ref)
    assert read_volume(target).array.sum() == 24
    write_labelmap(target, np.zeros((2, 3, 4)), ref, overwrite=True)
    assert read_volume(target).array.sum() == 0
    assert [p.name for p in tmp_path.iterdir()] == ["seg.nii.gz"]  # no temporary files left
    assert target.stat().st_mode & 0o044  # readable by others, like any file (not mkstemp's 0600)
    with pytest.raises(ValueError, match="differs"):
        write_labelmap(tmp_path / "other.nii.gz", np.zeros((3, 3, 3)), ref)


def test_atomic_output_never_touches_the_process_umask(tmp_path, monkeypatch):
    import os

    mask = os.umask(0o027)  # the test's own umask, restored below
    try:

        def forbidden(_):
            raise AssertionError("os.umask is process-wide: other threads (Slicer's) would race with it")

        monkeypatch.setattr(os, "umask", forbidden)
        target = write_labelmap(
            tmp_path / "seg.nii.gz", np.ones((2, 3, 4)), Volume(np.zeros((2, 3, 4)), np.eye(4))
        )
        monkeypatch.undo()
        assert target.stat().st_mode & 0o777 == 0o640  # 0666 less the umask, as for any new file
    finally:
        os.umask(mask)


def test_missing_and_unreadable_inputs_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="not found"):
        read_volume(tmp_path / "nope.nii.gz")
    bad = tmp_path / "bad.nii.gz"
    bad.write_bytes(b"not an image")
    with pytest.raises(UserError, match="cannot read"):
        read_volume(bad)


def test_read_image_2d_converts_rgba_to_grey(shared_data):
    img = read_image_2d(shared_data / "spine_ct_slices" / "axial" / "image" / "Case1_01.png")
    mask = read_image_2d(shared_data / "spine_ct_slices" / "axial" / "mask" / "Case1_01.png")
    assert img.shape == mask.shape == (512, 512) and img.dtype == np.uint8
    assert set(np.unique(mask)) <= {0, 255}


def _markups(tmp_path, name, system, markups):
    path = tmp_path / name
    path.write_text(json.dumps({"markups": [dict(m, coordinateSystem=system) for m in markups]}))
    return path


def test_markups_points_and_roi_in_lps_and_ras(tmp_path):
    rot = [[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]  # axes as columns
    lps = _markups(
        tmp_path,
        "a.mrk.json",
        "LPS",
        [
            {
                "type": "Fiducial",
                "name": "pos",
                "controlPoints": [
                    {"position": [1.0, 2.0, 3.0]},
                    {"position": [9.0, 9.0, 9.0], "positionStatus": "undefined"},
                    {"position": [8.0, 8.0, 8.0], "visibility": False},
                    {"position": [4.0, 5.0, 6.0], "label": "background"},
                ],
            },
            {
                "type": "ROI",
                "center": [10.0, 20.0, 30.0],
                "size": [4.0, 5.0, 6.0],
                "orientation": np.array(rot).ravel().tolist(),
            },
        ],
    )
    ras = _markups(
        tmp_path,
        "b.mrk.json",
        "RAS",
        [
            {"type": "Fiducial", "name": "Negative", "controlPoints": [{"position": [1.0, 2.0, 3.0]}]},
        ],
    )
    mk = read_markups([lps, ras])
    np.testing.assert_allclose(mk.points_ras, [[-1, -2, 3], [-4, -5, 6], [1, 2, 3]])
    np.testing.assert_array_equal(mk.labels, [1, 0, 0])
    (roi,) = mk.rois
    np.testing.assert_allclose(roi.center, [-10, -20, 30])
    np.testing.assert_allclose(roi.size, [4, 5, 6])
    np.testing.assert_allclose(roi.axes, np.diag([-1, -1, 1]) @ np.array(rot))


def test_markups_errors(tmp_path):
    bad = tmp_path / "x.mrk.json"
    bad.write_text("{}")
    with pytest.raises(UserError, match="not a Slicer markups"):
        read_markups([bad])


def _write_dicom_series(folder, array, uid, spacing=(0.8, 0.8, 2.0)):
    """One DICOM file per slice of a (k, j, i) int16 array, as series ``uid``."""
    import SimpleITK as sitk

    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    for k in range(array.shape[0]):
        image = sitk.GetImageFromArray(array[k : k + 1])
        image.SetSpacing(spacing)
        image.SetOrigin((0.0, 0.0, k * spacing[2]))
        tags = {
            "0020|000e": uid, "0020|000d": "1.2.826.0.1.3680043.2.1125.1", "0008|0060": "CT",
            "0020|0013": str(k + 1), "0020|0032": f"0\\0\\{k * spacing[2]}",
            "0020|0037": "1\\0\\0\\0\\1\\0", "0028|0030": f"{spacing[1]}\\{spacing[0]}",
            "0018|0050": str(spacing[2]), "0008|0018": f"{uid}.{k + 1}",
        }  # fmt: skip
        for tag, value in tags.items():
            image.SetMetaData(tag, value)
        writer.SetFileName(str(folder / f"{uid[-1]}_{k:03d}.dcm"))
        writer.Execute(image)


def test_a_folder_with_several_dicom_series_is_refused_with_their_list(tmp_path):
    ct = (np.arange(4 * 6 * 5).reshape(4, 6, 5) % 300).astype(np.int16)
    _write_dicom_series(tmp_path, ct, "1.2.826.0.1.3680043.2.1125.7")
    _write_dicom_series(tmp_path, ct[:2] + 1000, "1.2.826.0.1.3680043.2.1125.8")  # a 2-slice scout
    with pytest.raises(
        UserError, match=r"holds 2 DICOM series: .*\.7 \(4 files\), .*\.8 \(2 files\); choose one"
    ):
        read_volume(tmp_path)
    vol = read_volume(tmp_path, series="1.2.826.0.1.3680043.2.1125.8")
    assert vol.shape == (2, 6, 5) and vol.array.min() >= 1000  # the one asked for, even the smaller
    np.testing.assert_array_equal(read_volume(tmp_path, series="1.2.826.0.1.3680043.2.1125.7").array, ct)
    with pytest.raises(UserError, match="is not in"):
        read_volume(tmp_path, series="9.9")


def test_a_truncated_gzip_volume_is_refused_not_read_as_zeros(tmp_path):
    write_volume(
        tmp_path / "ct.nii.gz", np.arange(40 * 40 * 40, dtype=np.int16).reshape(40, 40, 40), np.eye(4)
    )
    raw = (tmp_path / "ct.nii.gz").read_bytes()
    (tmp_path / "cut.nii.gz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(UserError, match="truncated or corrupt"):
        read_volume(tmp_path / "cut.nii.gz")


def test_nan_voxels_are_refused_with_their_count(tmp_path):
    import SimpleITK as sitk

    a = np.zeros((5, 6, 7), np.float32)
    a[1, 2, 3] = np.nan
    a[2, 2, 2] = np.inf
    sitk.WriteImage(sitk.GetImageFromArray(a), str(tmp_path / "nan.mha"))  # ITK reads NaN in NIfTI as 0
    with pytest.raises(UserError, match="2 voxels that are not numbers"):
        read_volume(tmp_path / "nan.mha")
