"""Levels (issue 16): the walk from one named click, the automatic seed, naming, outputs and the CLI.

The walk's logic is tested with an oracle predictor on the synthetic lumbar phantom (it answers with the
true section of the vertebra under the click), so names, stops, overlaps and re-finding are checked apart
from any model's quality; one test runs the shipped model on a real CT. Accuracy is measured by
leave-one-case-out on the VerSe development CTs (MODEL_CARD / README).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from oracles import VertebraOracle

from SpinalSAMR1Lib import geometry as geo
from SpinalSAMR1Lib import levels as lv
from SpinalSAMR1Lib import metrics
from SpinalSAMR1Lib.anatomy import level_label
from SpinalSAMR1Lib.auto_levels import find_column, segment_levels_auto, spine_seed
from SpinalSAMR1Lib.cli import main
from SpinalSAMR1Lib.errors import InputError
from SpinalSAMR1Lib.evaluation import deepest_point_ras
from SpinalSAMR1Lib.io import read_volume, write_volume
from SpinalSAMR1Lib.phantom import make_lumbar_phantom
from SpinalSAMR1Lib.volume import Cancelled

LUMBAR = ("L1", "L2", "L3", "L4", "L5")


@pytest.fixture(scope="module")
def phantom():
    return make_lumbar_phantom(seed=3, levels=LUMBAR, shape_kji=(96, 112, 120), spacing=(1.5, 1.5, 2.5))


def _anchor(phantom, level):
    return deepest_point_ras(phantom.labels == phantom.label_value(level), phantom.ijk_to_ras)


def _run(phantom, levels=LUMBAR, anchor="L3", **kw):
    return lv.segment_levels(
        phantom.image, phantom.ijk_to_ras, _anchor(phantom, anchor), anchor, levels,
        predictor=VertebraOracle(phantom), cache_key="ct", **kw,
    )  # fmt: skip


def _truth(phantom, name):
    return phantom.labels == phantom.label_value(name)


@pytest.mark.slow
def test_one_named_click_gives_every_level_named_and_separate(phantom):
    seen = []
    result = _run(phantom, progress=lambda d, t: seen.append((d, t)))
    assert [level.name for level in result.levels] == list(LUMBAR)
    assert result.labels.dtype == np.uint8 and result.labels.shape == phantom.image.shape
    assert set(np.unique(result.labels)) == {0, *(level_label(n) for n in LUMBAR)}  # VerSe values 20..24
    for level in result.levels:
        truth = _truth(phantom, level.name)
        assert metrics.dice(result.labels == level.label, truth) > 0.9, level.name
        centroid = geo.ijk_to_ras_points(np.argwhere(truth)[:, ::-1].astype(float), phantom.ijk_to_ras).mean(
            0
        )
        assert np.linalg.norm(np.array(level.centroid_ras) - centroid) < 3.0
        assert level.voxels == int((result.labels == level.label).sum()) and level.confirmed
    assert result.stops == {
        "cranial": "end of the requested levels",
        "caudal": "the sacrum",
    }  # L5 is the last
    assert seen[-1] == (5, 5)


def test_levels_outside_the_range_are_walked_through_but_not_kept(phantom):
    result = _run(phantom, levels=("L1", "L2"), anchor="L4")
    assert [level.name for level in result.levels] == ["L1", "L2"]
    assert set(np.unique(result.labels)) == {0, 20, 21}
    assert metrics.dice(result.labels == 21, _truth(phantom, "L2")) > 0.9


def test_an_open_walk_stops_where_the_spine_ends(phantom):
    result = _run(phantom, levels=None)
    assert [level.name for level in result.levels] == list(LUMBAR)
    # Below L5 comes the sacrum; above L1 the phantom has no vertebra: the oracle answers nothing there.
    assert result.stops["caudal"] == "the sacrum"
    assert result.stops["cranial"].startswith("T12: ")


def test_the_walk_finds_a_lost_vertebra_again_by_feature_similarity(phantom, monkeypatch):
    # A first step of 15 mm lands the guess for L4 on the L3/L4 disc or L3's own endplate.
    monkeypatch.setattr(lv, "DEFAULT_PITCH_MM", 15.0)
    without = _run(phantom, levels=("L3", "L4"), refind=False)
    assert [level.name for level in without.levels] == ["L3"] and "L4" in without.stops["caudal"]
    again = _run(phantom, levels=("L3", "L4"), refind=True)
    assert [level.name for level in again.levels] == ["L3", "L4"]
    assert again.levels[1].found_by == "re-find"
    assert metrics.dice(again.labels == 23, _truth(phantom, "L4")) > 0.9


def test_a_click_on_nothing_is_a_clear_error(phantom):
    oracle = VertebraOracle(phantom)
    corner = geo.ijk_to_ras_points(np.array([[2.0, 2.0, 2.0]]), phantom.ijk_to_ras)[0]
    with pytest.raises(InputError, match="no vertebra found at the anchor"):
        lv.segment_levels(
            phantom.image, phantom.ijk_to_ras, corner, "L3", LUMBAR, predictor=oracle, cache_key="ct"
        )


@pytest.mark.parametrize(
    ("text", "levels"),
    [
        ("L1-L5", LUMBAR),
        ("t12-l2", ("T12", "L1", "L2")),
        ("L3", ("L3",)),
        ("L4, L1", ("L1", "L4")),
        ("L2-T12", ("T12", "L1", "L2")),
    ],
)
def test_level_ranges(text, levels):
    assert lv.level_range(text) == levels


@pytest.mark.parametrize("text", ["", "L9", "S1", "L1-L2-L3", "lumbar"])
def test_bad_level_ranges_are_refused(text):
    with pytest.raises(InputError):
        lv.level_range(text)


def test_sidecar_and_table_describe_the_label_map(phantom):
    result = _run(phantom, levels=("L2", "L3"))
    doc = json.loads(json.dumps(result.sidecar()))
    assert [(e["name"], e["label"], e["confirmed"]) for e in doc["levels"]] == [
        ("L2", 21, True),
        ("L3", 22, True),
    ]
    assert len(doc["levels"][0]["centroid_ras"]) == 3 and "VerSe" in doc["numbering"]
    table = lv.format_levels(result)
    assert "L2" in table and "L3" in table and "stopped" in table


# -- no click ---------------------------------------------------------------------------------------------
def test_the_column_and_seed_lie_in_the_vertebral_bodies(phantom):
    _, points, areas = find_column(phantom.image, phantom.ijk_to_ras)
    ijk = np.rint(geo.ras_to_ijk_points(points, phantom.ijk_to_ras)).astype(int)
    hits = phantom.labels[ijk[:, 2], ijk[:, 1], ijk[:, 0]]
    assert (hits > 0).mean() > 0.6 and (areas > 0).all()  # the rest lie on discs
    seed = np.rint(
        geo.ras_to_ijk_points(spine_seed(phantom.image, phantom.ijk_to_ras)[None], phantom.ijk_to_ras)
    )
    i, j, k = seed.astype(int)[0]
    assert phantom.labels[k, j, i] > 0


@pytest.mark.slow
def test_auto_levels_names_the_lowest_vertebra_l5_unconfirmed(phantom):
    result = segment_levels_auto(
        phantom.image, phantom.ijk_to_ras, predictor=VertebraOracle(phantom), cache_key="ct"
    )
    assert [level.name for level in result.levels] == list(LUMBAR)
    assert not any(level.confirmed for level in result.levels)
    for level in result.levels:
        assert metrics.dice(result.labels == level.label, _truth(phantom, level.name)) > 0.9
    assert "L5" in result.stops["naming"] and "?" in lv.format_levels(result)


def test_a_ct_without_bone_is_refused():
    flat = np.full((20, 30, 30), -50, np.int16)
    with pytest.raises(InputError, match="no bone"):
        spine_seed(flat, geo.make_ijk_to_ras((2.0, 2.0, 2.0)))


# -- CLI --------------------------------------------------------------------------------------------------
@pytest.fixture()
def phantom_ct(phantom, tmp_path):
    path = tmp_path / "ct.nii.gz"
    write_volume(path, phantom.image, phantom.ijk_to_ras)
    return path


def _oracle_cli(monkeypatch, phantom):
    monkeypatch.setattr(
        "SpinalSAMR1Lib.cli.levels.load_predictor", lambda args, vertebra: VertebraOracle(phantom)
    )


@pytest.mark.slow
def test_cli_levels_from_an_anchor_writes_the_label_map_and_its_sidecar(
    phantom, phantom_ct, tmp_path, monkeypatch, capsys
):
    _oracle_cli(monkeypatch, phantom)
    out = tmp_path / "levels.nii.gz"
    r, a, s = _anchor(phantom, "L3")
    argv = [
        "segment",
        str(phantom_ct),
        "-o",
        str(out),
        "--levels",
        "L2-L4",
        "--anchor",
        "L3",
        str(r),
        str(a),
        str(s),
    ]
    assert main(argv) == 0
    labels = read_volume(out)
    np.testing.assert_allclose(labels.ijk_to_ras, phantom.ijk_to_ras, atol=1e-4)
    assert set(np.unique(labels.array)) == {0, 21, 22, 23}
    side = json.loads((tmp_path / "levels.json").read_text(encoding="utf-8"))
    assert [e["name"] for e in side["levels"]] == ["L2", "L3", "L4"]
    assert "L4" in capsys.readouterr().out
    assert main(argv) == 2  # exists: refused without --overwrite
    assert "exists" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--levels", "L1-L5"], "--anchor"),
        (["--levels", "L1-L9", "--anchor", "L3", "0", "0", "0"], "unknown vertebral level"),
        (["--levels", "L1-L5", "--anchor", "L3", "x", "0", "0"], "three numbers"),
        (["--levels", "auto", "--anchor", "L3", "0", "0", "0"], "leave out --anchor"),
        (["--anchor", "L3", "0", "0", "0"], "goes with --levels"),
        (
            ["--levels", "L1-L5", "--anchor", "L3", "0", "0", "0", "--box", "0", "0", "0", "1", "1", "1"],
            "--box",
        ),
    ],
)
def test_cli_levels_bad_arguments_get_one_line(phantom_ct, tmp_path, extra, message, capsys):
    assert main(["segment", str(phantom_ct), "-o", str(tmp_path / "o.nii.gz"), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and not (tmp_path / "o.nii.gz").exists()


def test_cli_levels_refuses_to_replace_an_existing_sidecar(phantom_ct, tmp_path, capsys):
    (tmp_path / "o.json").write_text("{}", encoding="utf-8")
    assert main(["segment", str(phantom_ct), "-o", str(tmp_path / "o.nii.gz"), "--levels", "auto"]) == 2
    assert "o.json exists" in capsys.readouterr().err
    assert (tmp_path / "o.json").read_text(encoding="utf-8") == "{}"


# -- the shipped model on a real CT -------------------------------------------------------------------------
@pytest.mark.slow
def test_the_model_walks_a_real_ct_level_by_level(shared_data, vertebra_predictor):
    ct = read_volume(shared_data / "verse" / "sub-verse008_ct.nii.gz")
    seg = read_volume(shared_data / "verse" / "sub-verse008_seg-vert_msk.nii.gz").array
    anchor = deepest_point_ras(seg == 22, ct.ijk_to_ras)
    result = lv.segment_levels(
        ct.array, ct.ijk_to_ras, anchor, "L3", ("L2", "L3", "L4"), predictor=vertebra_predictor
    )
    assert [level.name for level in result.levels] == ["L2", "L3", "L4"]
    for level in result.levels:
        truth = seg == level.label
        centroid = geo.ijk_to_ras_points(np.argwhere(truth)[:, ::-1].astype(float), ct.ijk_to_ras).mean(0)
        assert np.linalg.norm(np.array(level.centroid_ras) - centroid) < 20.0, level.name  # VerSe's rule
        assert metrics.dice(result.labels == level.label, truth) > 0.5, level.name


def test_a_cancelled_walk_keeps_the_levels_done_in_verse_numbers(phantom):
    oracle = VertebraOracle(phantom)
    found = []

    def cancel():  # after the second level
        return len(found) >= 2

    with pytest.raises(Cancelled) as info:
        lv.segment_levels(
            phantom.image, phantom.ijk_to_ras, _anchor(phantom, "L3"), "L3", LUMBAR, predictor=oracle,
            cache_key="ct", cancel=cancel, progress=lambda d, t: found.append(d),
        )  # fmt: skip
    values = set(np.unique(info.value.partial)) - {0}
    assert values and values <= {20, 21, 22, 23, 24} and 22 in values  # L3 (22) was done first
