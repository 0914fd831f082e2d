"""The spine report: measurements against synthetic vertebrae of known size, a wedge made from a real
vertebra, the files and the CLI."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from SpinalSAMR1Lib import geometry as geo
from SpinalSAMR1Lib.anatomy import cranial_to_caudal, level_label, level_name, names_in_spine_order
from SpinalSAMR1Lib.cli import main
from SpinalSAMR1Lib.io import read_volume, write_volume
from SpinalSAMR1Lib.report import spine_report, write_report

# A body of 40 (L-R) x 30 (A-P) x 24 (S-I) mm, a 16 mm canal behind it, then a 10 mm posterior arch.
BODY = np.array([40.0, 30.0, 24.0])


def _spine(m: np.ndarray, shape=(60, 70, 50), tilt_deg=(0.0, 0.0), heights=(24.0, 24.0), z=(18.5, -17.5)):
    """(labels, ct) with L1 above L5-like neighbour bodies (labels 20 and 24) on the grid ``m``; each body
    is tilted about the L-R axis by its angle (degrees) and has its S-I height; arch behind the canal."""
    kk, jj, ii = np.meshgrid(*map(np.arange, shape), indexing="ij")
    ras = geo.ijk_to_ras_points(np.stack([ii.ravel(), jj.ravel(), kk.ravel()], 1).astype(float), m)
    labels = np.zeros(ras.shape[0], np.uint8)
    ct = np.full(ras.shape[0], -50.0)
    for value, centre_z, tilt, height in zip((20, 24), z, tilt_deg, heights, strict=True):
        t = np.radians(tilt)
        rot = np.array([[1, 0, 0], [0, np.cos(t), -np.sin(t)], [0, np.sin(t), np.cos(t)]])
        loc = (ras - [0.0, 0.0, centre_z]) @ rot  # body frame: x L-R, y A-P (anterior +), z S-I
        size = np.array([BODY[0], BODY[1], height])
        body = np.all(np.abs(loc - [0, BODY[1] / 2, 0]) <= size / 2, axis=1)
        arch = (np.abs(loc[:, 0]) <= 10) & (loc[:, 1] >= -26) & (loc[:, 1] <= -16) & (np.abs(loc[:, 2]) <= 8)
        labels[body | arch] = value
        ct[body] = 600.0
        core = np.all(np.abs(loc - [0, BODY[1] / 2, 0]) <= size / 2 - 2, axis=1)  # a 2 mm cortex
        ct[core] = 150.0
    return labels.reshape(shape), ct.reshape(shape)


GRIDS = {
    "plain": geo.make_ijk_to_ras((1.0, 1.0, 1.0), (-25.0, -40.0, -32.0)),
    "lps-flipped-thick": geo.make_ijk_to_ras(
        (1.0, 1.0, 2.0), (25.0, 30.0, 30.0), np.diag([-1.0, -1.0, -1.0])
    ),
}


@pytest.mark.parametrize("grid", sorted(GRIDS))
def test_heights_volume_and_hu_of_known_bodies(grid):
    m = GRIDS[grid]
    shape = (64, 70, 50) if grid == "plain" else (30, 70, 50)
    labels, ct = _spine(m, shape, heights=(24.0, 18.0))
    rep = spine_report(labels, m, ct)
    rows = {r["level"]: r for r in rep["vertebrae"]}
    assert list(rows) == ["L1", "L5"]
    voxel_ml = abs(np.linalg.det(m[:3, :3])) / 1000
    for level, value, height in (("L1", 20, 24.0), ("L5", 24, 18.0)):
        r = rows[level]
        assert r["volume_ml"] == pytest.approx((labels == value).sum() * voxel_ml)  # exact to the voxel count
        step = abs(m[2, 2])  # the S-I voxel size
        for key in ("height_anterior_mm", "height_middle_mm", "height_posterior_mm"):
            assert abs(r[key] - height) <= 0.5 * step + 0.3, (level, key, r[key])  # the arch is not the body
        assert r["body_hu_mean"] == pytest.approx(150.0, abs=1.0)  # the cortex left out
        assert r["compression"] is False and r["genant_grade"] == 0
        assert r["low_bone_density"] is False


def test_lordosis_is_the_angle_between_l1_top_and_l5_bottom_endplates():
    m = geo.make_ijk_to_ras((1.0, 1.0, 1.0), (-25.0, -45.0, -50.0))
    labels, ct = _spine(m, (100, 90, 50), tilt_deg=(12.0, -10.0), z=(22.5, -21.5))  # every body inside
    rep = spine_report(labels, m, ct)
    assert rep["lordosis_l1_l5_deg"] == pytest.approx(22.0, abs=2.0)
    labels[labels == 24] = 23  # no L5: no L1-L5 angle
    assert spine_report(labels, m, ct)["lordosis_l1_l5_deg"] is None


@pytest.fixture(scope="module")
def verse008(shared_data):
    ct = read_volume(shared_data / "verse" / "sub-verse008_ct.nii.gz")
    seg = read_volume(shared_data / "verse" / "sub-verse008_seg-vert_msk.nii.gz")
    return ct, geo.resample_nearest(seg.array, seg.ijk_to_ras, ct.shape, ct.ijk_to_ras)


def _axis(m: np.ndarray, ras_axis: int) -> int:
    """The array axis (0 = k, 1 = j, 2 = i) closest to a RAS axis."""
    return 2 - int(np.argmax(np.abs(m[ras_axis, :3])))


def _wedge(labels: np.ndarray, value: int, m: np.ndarray, anterior_loss: float) -> np.ndarray:
    """A copy where vertebra ``value``'s body loses height linearly towards the front (nothing at the back,
    ``anterior_loss`` at its front): each S-I voxel column keeps only its middle part."""
    out = labels.copy()
    si, ap = _axis(m, 2), _axis(m, 1)
    idx = np.argwhere(labels == value)
    front_sign = np.sign(m[1, 2 - ap])  # +1 when a growing index means anterior
    a_mm = idx[:, ap] * front_sign
    lo, hi = np.percentile(a_mm, [40, 100])  # the body: the front 60 % of the vertebra's depth
    for col in {tuple(np.delete(p, si)) for p in idx}:
        sel = np.all(np.delete(idx, si, axis=1) == col, axis=1)
        pts = idx[sel]
        a = pts[0, ap] * front_sign
        if a < lo:
            continue
        loss = anterior_loss * (a - lo) / max(hi - lo, 1e-6)
        s = np.sort(pts[:, si])
        cut = int(round(len(s) * loss / 2))
        for v in (*s[:cut], *s[len(s) - cut :]):
            p = pts[pts[:, si] == v][0]
            out[tuple(p)] = 0
    return out


@pytest.mark.slow
def test_a_wedge_made_from_a_real_vertebra_is_flagged_and_the_original_is_not(verse008):
    ct, labels = verse008
    before = {r["level"]: r for r in spine_report(labels, ct.ijk_to_ras, ct.array)["vertebrae"]}
    assert before["L3"]["compression"] is False
    wedged = _wedge(labels, 22, ct.ijk_to_ras, anterior_loss=0.45)
    rep = spine_report(wedged, ct.ijk_to_ras, ct.array)
    after = {r["level"]: r for r in rep["vertebrae"]}
    assert after["L3"]["compression"] is True and after["L3"]["genant_grade"] >= 2
    assert after["L3"]["height_anterior_mm"] < 0.75 * before["L3"]["height_anterior_mm"]
    assert abs(after["L3"]["height_posterior_mm"] - before["L3"]["height_posterior_mm"]) <= 3.0
    assert any(x["level"] == "L3" and x["finding"] == "compression" for x in rep["findings"])
    for level in ("T12", "L1", "L2", "L4", "L5"):  # the others measure as before (their frames move a little)
        assert abs(after[level]["height_loss"] - before[level]["height_loss"]) <= 0.03


def test_real_lumbar_bodies_have_plausible_heights_and_hu(verse008):
    ct, labels = verse008
    rows = spine_report(labels, ct.ijk_to_ras, ct.array)["vertebrae"]
    assert [r["level"] for r in rows] == ["T12", "L1", "L2", "L3", "L4", "L5"]
    for r in rows:  # adult lumbar bodies: 23-35 mm tall; trabecular bone 50-300 HU
        for key in ("height_anterior_mm", "height_middle_mm", "height_posterior_mm"):
            assert 20.0 <= r[key] <= 36.0, (r["level"], key, r[key])
        assert 50.0 <= r["body_hu_mean"] <= 300.0


@pytest.mark.slow
def test_report_files_and_cli(verse008, tmp_path, capsys):
    ct, labels = verse008
    ct_path, seg_path = tmp_path / "ct.nii.gz", tmp_path / "seg.nii.gz"
    write_volume(ct_path, ct.array, ct.ijk_to_ras)
    write_volume(seg_path, labels.astype(np.uint8), ct.ijk_to_ras)
    out = tmp_path / "rep"
    assert main(["report", str(seg_path), "--ct", str(ct_path), "-o", str(out)]) == 0
    table = capsys.readouterr().out
    assert "L3" in table and "lordosis" in table
    data = json.loads((out / "report.json").read_text())
    with open(out / "report.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["level"] for r in rows] == [r["level"] for r in data["vertebrae"]]
    assert float(rows[3]["volume_ml"]) == pytest.approx(data["vertebrae"][3]["volume_ml"])
    from PIL import Image

    with Image.open(out / "report.png") as im:
        assert im.mode == "RGB" and im.width > 200 and im.height > 200
    before = (out / "report.json").read_bytes()
    assert main(["report", str(seg_path), "--ct", str(ct_path), "-o", str(out)]) == 2  # no overwrite
    assert "exists" in capsys.readouterr().err and (out / "report.json").read_bytes() == before
    with pytest.raises(ValueError, match="no vertebra"):
        spine_report(np.zeros((4, 4, 4), np.uint8), np.eye(4))
    with pytest.raises(ValueError, match="exists"):
        write_report(out, data, labels, ct.ijk_to_ras, ct.array)


def test_level_names_follow_verse_numbering():
    assert [level_name(v) for v in (1, 7, 8, 19, 20, 24, 25, 26, 28)] == [
        "C1", "C7", "T1", "T12", "L1", "L5", "L6", "sacrum", "T13",
    ]  # fmt: skip
    assert level_label("l3") == 22 and level_label("S1") == 26
    assert cranial_to_caudal([20, 28, 19, 24]) == [19, 28, 20, 24]
    with pytest.raises(ValueError, match="unknown vertebral level"):
        level_label("L9")


def test_naming_one_vertebra_names_the_others_in_spine_order():
    assert names_in_spine_order(["a", "b", "c"], "b", "L1") == {"a": "T12", "b": "L1", "c": "L2"}
    assert names_in_spine_order(["a", "b"], "b", "S1") == {"a": "L5", "b": "S1"}
    with pytest.raises(ValueError, match="past C1 or S1"):
        names_in_spine_order(["a", "b"], "a", "S1")


def test_a_ct_given_as_the_label_map_is_refused():
    from SpinalSAMR1Lib.errors import InputError

    ct = np.full((10, 10, 10), -1000, np.int16)
    ct[3:6, 3:6, 3:6] = 700
    with pytest.raises(InputError, match="not a label map"):
        spine_report(ct, np.eye(4))
    with pytest.raises(InputError, match="not a label map"):
        spine_report(np.full((4, 4, 4), 20.5), np.eye(4))


def test_overlay_blends_each_label_in_its_given_colour_else_the_palette():
    from SpinalSAMR1Lib.overlay import PALETTE, overlay

    gray = np.full((2, 3), 100.0)
    labels = np.array([[0, 20, 21], [3, 20, 0]])
    rgb = overlay(gray, labels, alpha=0.5, colours={20: (1.0, 0.0, 0.0)})
    np.testing.assert_array_equal(rgb[0, 0], [100, 100, 100])
    np.testing.assert_array_equal(rgb[0, 1], [177, 50, 50])  # 0.5 * 100 + 0.5 * 255 (truncated)
    np.testing.assert_array_equal(rgb[1, 0], (50 + 0.5 * PALETTE[2].astype(float)).astype(np.uint8))
    np.testing.assert_array_equal(rgb[0, 2], (50 + 0.5 * PALETTE[20 % 7].astype(float)).astype(np.uint8))
