"""One vertebra in 3D: per-vertebra training samples, the 3D mode, its evaluation and the CLI (issue 15).

The models (zero-shot LiteMedSAM for boxes; the shipped spinal for clicks, which zero-shot LiteMedSAM
does not answer on a whole slice) run on the synthetic phantom, so these tests assert behaviour (one object,
inside its ROI, the walk stops, storage and tilt do not change the answer), not accuracy; accuracy is
measured by leave-one-case-out (``spinalsam-r1 train-vertebra``) on the real CTs.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import ndimage

from SpinalSAMR1Lib import geometry as geo
from SpinalSAMR1Lib import metrics
from SpinalSAMR1Lib.cli import main
from SpinalSAMR1Lib.evaluation import deepest_point_ras
from SpinalSAMR1Lib.io import read_volume, write_volume
from SpinalSAMR1Lib.phantom import make_lumbar_phantom
from SpinalSAMR1Lib.predictor import crop_rect
from SpinalSAMR1Lib.training.instances import load_vertebra_samples, vertebra_ids
from SpinalSAMR1Lib.vertebra import _inside_roi, segment_vertebra
from SpinalSAMR1Lib.volume import Cancelled, Prompts


@pytest.fixture(scope="module")
def phantom():
    return make_lumbar_phantom(seed=1, levels=("L2", "L3", "L4"), shape_kji=(48, 128, 144))


@pytest.fixture(scope="module")
def phantom_files(phantom, tmp_path_factory):
    root = tmp_path_factory.mktemp("phantom")
    write_volume(root / "ct.nii.gz", phantom.image, phantom.ijk_to_ras)
    write_volume(root / "seg.nii.gz", phantom.labels, phantom.ijk_to_ras)
    return root / "ct.nii.gz", root / "seg.nii.gz"


def _click(phantom, level="L3"):
    ref = phantom.labels == phantom.label_value(level)
    return ref, deepest_point_ras(ref, phantom.ijk_to_ras)


def _components(mask):
    return ndimage.label(mask, structure=np.ones((3, 3, 3), bool))[1]


# -- training samples ------------------------------------------------------------------------------------
def test_instance_samples_target_one_vertebra_and_teach_empty_ends(phantom, phantom_files):
    samples = load_vertebra_samples(*phantom_files, views=("axial", "sagittal"), step_mm=2.0, beyond=2)
    l3 = phantom.label_value("L3")
    assert vertebra_ids(phantom.labels) == [1, 2, 3]
    kinds = {s.name.rsplit("/", 1)[1] for s in samples}
    assert kinds == {"roi", "walk", "point"}
    neighbours_in_box = 0
    for s in samples:
        view, vid, index = s.name.split("/")[1:4]
        frame = geo.view_frame(phantom.ijk_to_ras, phantom.labels.shape, view)
        section = geo.extract_slice(phantom.labels, frame, int(index))
        np.testing.assert_array_equal(s.mask, section == int(vid))  # that vertebra only, same pixels
        if s.name.endswith("/roi") and int(vid) == l3:
            box, (first, last) = geo.roi_to_box(
                geo.label_roi(phantom.labels, l3, phantom.ijk_to_ras), phantom.ijk_to_ras, frame
            )
            np.testing.assert_allclose(s.box, box)  # the 3D box's projection, as a user's ROI gives it
            x0, y0, x1, y1 = np.round(box).astype(int)
            inside = section[y0 : y1 + 1, x0 : x1 + 1]
            neighbours_in_box += int(((inside > 0) & (inside != l3)).any())
            if not first <= int(index) <= last:
                assert not s.mask.any()  # beyond the ends: "nothing here"
        if s.name.endswith("/point"):
            assert s.box is None and s.mask.sum() >= 30
    assert neighbours_in_box > 0  # some boxes hold a neighbour, which is background for them
    empty = [s for s in samples if not s.mask.any()]
    assert empty and all(s.box is not None for s in empty)


def test_crop_keeps_its_physical_minimum_on_thick_columns():
    box = np.array([90.0, 90.0, 100.0, 120.0])
    square = crop_rect(box, (200, 200), 0.1)
    thick = crop_rect(box, (200, 200), 0.1, aspect=1 / 3)  # columns 3 x as wide as rows
    assert square[2] - square[0] >= 64
    assert 21 <= thick[2] - thick[0] < 30  # 64 fine pixels = 21.3 thick columns
    assert thick[3] - thick[1] >= 64


# -- the 3D mode -------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_roi_gives_one_object_inside_the_roi(phantom, lite_predictor):
    ref = phantom.labels == phantom.label_value("L3")
    roi = geo.label_roi(phantom.labels, phantom.label_value("L3"), phantom.ijk_to_ras, margin_mm=4.0)
    seen = []
    out = segment_vertebra(
        phantom.image, phantom.ijk_to_ras, Prompts(roi=roi), predictor=lite_predictor,
        progress=lambda d, t: seen.append((d, t)),
    )  # fmt: skip
    assert out.dtype == np.uint8 and out.shape == phantom.image.shape
    assert out.any() and _components(out) == 1
    box = np.argwhere(ref)
    inside = np.zeros_like(ref)
    lo, hi = box.min(0) - 3, box.max(0) + 3  # margin 4 mm >= 1.6 voxels of 2.5 mm; 3 voxels bound it
    inside[lo[0] : hi[0] + 1, lo[1] : hi[1] + 1, lo[2] : hi[2] + 1] = True
    assert not (out.astype(bool) & ~inside).any()
    assert metrics.dice(out, ref) > 0.3  # zero-shot LiteMedSAM on the phantom
    assert seen[-1][0] == seen[-1][1] > 5


class _Oracle:
    """A predictor that answers with the true section of ``label`` inside the prompt's box (the slice comes
    from the cache key the 3D mode passes): it tests the walk's logic apart from any model's quality."""

    def __init__(self, phantom, label):
        self.phantom, self.label, self.index = phantom, label, None

    def set_image(self, image, key=None, pixel_spacing=(1.0, 1.0)):
        self.view, self.index = key[1], key[2]

    def predict(self, points_xy=None, labels=None, box=None, mask_logits=None, multimask=None):
        from SpinalSAMR1Lib.predictor import Prediction

        frame = geo.view_frame(self.phantom.ijk_to_ras, self.phantom.labels.shape, self.view)
        mask = geo.extract_slice(self.phantom.labels, frame, self.index) == self.label
        if box is not None:
            inside = np.zeros_like(mask)
            x0, y0, x1, y1 = np.round(box).astype(int)
            inside[y0 : y1 + 1, x0 : x1 + 1] = True
            mask &= inside
        return Prediction(mask, 1.0, np.where(mask, 10.0, -10.0).astype(np.float32))


def test_click_walks_both_ways_and_stops_where_the_model_says_nothing(phantom):
    ref, click = _click(phantom)
    runs = {}
    for stride in (0.0, None):  # every slice; the default stride (2 slices of 1.5 mm here)
        oracle = _CountingOracle(phantom, phantom.label_value("L3"))
        runs[stride] = segment_vertebra(
            phantom.image, phantom.ijk_to_ras, Prompts(click[None], [1]), predictor=oracle, cache_key="ct",
            stride_mm=stride,
        ), len(oracle.slices)  # fmt: skip
    for out, _ in runs.values():
        planes = np.nonzero(out.any(axis=(1, 2)))[0]
        np.testing.assert_array_equal(
            planes, np.nonzero(ref.any(axis=(1, 2)))[0]
        )  # every plane of L3, no more
    exact, strided = runs[0.0][0], runs[None][0]
    assert not (exact.astype(bool) & ~ref).any() and metrics.dice(exact, ref) > 0.95
    assert metrics.dice(strided, ref) > 0.9 and runs[None][1] < 0.75 * runs[0.0][1]  # fewer slices encoded
    sagittal = geo.view_frame(phantom.ijk_to_ras, phantom.image.shape, "sagittal")

    def width(m):
        return np.count_nonzero([geo.extract_slice(m, sagittal, i).any() for i in range(sagittal.num_slices)])

    assert width(strided) == width(ref)  # the ends are found slice by slice


class _CountingOracle(_Oracle):
    def __init__(self, phantom, label):
        super().__init__(phantom, label)
        self.slices = []

    def set_image(self, image, key=None, pixel_spacing=(1.0, 1.0)):
        super().set_image(image, key, pixel_spacing)
        self.slices.append(key[1:3])


@pytest.mark.parametrize("view", ["axial", "sagittal"])
def test_roi_stride_encodes_fewer_slices_and_interpolates_between_them(phantom, view):
    ref = phantom.labels == phantom.label_value("L3")
    roi = geo.label_roi(phantom.labels, phantom.label_value("L3"), phantom.ijk_to_ras)
    runs = {}
    for stride in (0.0, 6.0):
        oracle = _CountingOracle(phantom, phantom.label_value("L3"))
        out = segment_vertebra(
            phantom.image, phantom.ijk_to_ras, Prompts(roi=roi), views=view, predictor=oracle, cache_key="ct",
            stride_mm=stride,
        )  # fmt: skip
        runs[stride] = out, len(set(oracle.slices))
    frame = geo.view_frame(phantom.ijk_to_ras, phantom.image.shape, view)
    first, last = geo.roi_to_box(roi, phantom.ijk_to_ras, frame)[1]
    normal_mm = geo.spacing_ijk(phantom.ijk_to_ras)[frame.normal_ijk]
    assert runs[0.0][1] == last - first + 1  # every slice of the ROI once
    step = max(1, round(6.0 / normal_mm))
    assert runs[6.0][1] == len({*range(first, last + 1, step), last}) < runs[0.0][1]
    assert metrics.dice(runs[0.0][0], ref) > 0.95 and metrics.dice(runs[6.0][0], ref) > 0.85


@pytest.mark.parametrize(("prompt", "bytes_per_voxel"), [("roi", 1.5), ("click", 2.5)])
def test_memory_grows_with_the_grid_only_by_the_answer_and_the_walks_mask(phantom, prompt, bytes_per_voxel):
    """A 512 x 512 x 600 CT must segment in a few GB (each float32 copy of its grid is 630 MB): only the
    uint8 answer (1 byte a voxel) and, for a click, the walk's bool mask are kept at the grid's size.
    numpy's arrays are traced by tracemalloc; the same phantom widened with air must not cost more than
    ``bytes_per_voxel`` per added voxel at the peak (before: 8.6 for an ROI, 10.0 for a click)."""
    import tracemalloc
    from types import SimpleNamespace

    pad = 144
    m = phantom.ijk_to_ras.copy()
    m[:3, 3] -= m[:3, 0] * pad  # the same physical positions: the grid grows by ``pad`` columns each side
    wide = SimpleNamespace(
        image=np.pad(phantom.image, ((0, 0), (0, 0), (pad, pad)), constant_values=-1000),
        labels=np.pad(phantom.labels, ((0, 0), (0, 0), (pad, pad))),
        ijk_to_ras=m,
    )
    ref, click = _click(phantom)
    roi = geo.label_roi(phantom.labels, phantom.label_value("L3"), phantom.ijk_to_ras)
    prompts = Prompts(roi=roi) if prompt == "roi" else Prompts(click[None], [1])
    peaks, answers = [], []
    for ph in (phantom, wide):
        oracle = _Oracle(ph, phantom.label_value("L3"))
        tracemalloc.start()
        try:
            out = segment_vertebra(ph.image, ph.ijk_to_ras, prompts, predictor=oracle, cache_key="ct")
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
        answers.append(out)
    np.testing.assert_array_equal(answers[1][:, :, pad:-pad], answers[0])  # the same answer in place
    assert not answers[1][:, :, :pad].any() and metrics.dice(answers[0], ref) > 0.9
    added = wide.image.size - phantom.image.size
    assert (peaks[1] - peaks[0]) / added <= bytes_per_voxel


def test_a_negative_stride_is_refused(phantom):
    roi = geo.label_roi(phantom.labels, phantom.label_value("L3"), phantom.ijk_to_ras)
    with pytest.raises(ValueError, match="stride_mm"):
        segment_vertebra(
            phantom.image, phantom.ijk_to_ras, Prompts(roi=roi), predictor=object(), stride_mm=-1
        )


@pytest.mark.slow
def test_click_with_the_model_keeps_the_clicked_object(phantom, vertebra_predictor):
    ref, click = _click(phantom)
    out = segment_vertebra(
        phantom.image, phantom.ijk_to_ras, Prompts(click[None], [1]), predictor=vertebra_predictor
    )  # the product's default: sagittal walk, 3 mm strides
    assert metrics.dice(out, ref) > 0.8
    assert out.any() and _components(out) == 1
    i, j, k = np.rint(geo.ras_to_ijk_points(click[None], phantom.ijk_to_ras)[0]).astype(int)
    assert out[k, j, i] == 1
    planes = np.nonzero(out.any(axis=(1, 2)))[0]
    assert len(planes) >= 3 and np.all(np.diff(planes) == 1)


@pytest.mark.slow
def test_click_result_is_the_same_when_the_volume_is_stored_flipped_or_tilted(phantom, vertebra_predictor):
    """Flipped storage (LPS-like) and an 8-degree tilt (a gantry tilt): the same voxels, other matrices;
    the click is placed at the same anatomy in world coordinates, and the answer on the input's grid is
    the same voxels (slices are the voxel planes nearest the view)."""
    _, click = _click(phantom)
    run = dict(predictor=vertebra_predictor, views="axial")  # geometry, not the view: the shortest walk
    base = segment_vertebra(phantom.image, phantom.ijk_to_ras, Prompts(click[None], [1]), **run)
    click_ijk = geo.ras_to_ijk_points(click[None], phantom.ijk_to_ras)
    nk, _, ni = phantom.image.shape
    flip = np.eye(4)
    flip[0, 0], flip[0, 3], flip[2, 2], flip[2, 3] = -1, ni - 1, -1, nk - 1
    a = np.radians(8.0)
    tilt = np.eye(4)
    tilt[:3, :3] = [[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]]
    cases = {
        "flipped": (np.ascontiguousarray(phantom.image[::-1, :, ::-1]), phantom.ijk_to_ras @ flip, (slice(None, None, -1), slice(None), slice(None, None, -1))),
        "tilted": (phantom.image, tilt @ phantom.ijk_to_ras, (slice(None),) * 3),
    }  # fmt: skip
    for name, (image, m, back) in cases.items():
        ijk = (
            click_ijk
            if name == "tilted"
            else np.array([[ni - 1 - click_ijk[0, 0], click_ijk[0, 1], nk - 1 - click_ijk[0, 2]]])
        )
        world = geo.ijk_to_ras_points(ijk, m)
        out = segment_vertebra(image, m, Prompts(world, [1]), **run)
        np.testing.assert_array_equal(out[back], base, err_msg=name)
    assert base.any()


@pytest.mark.slow
def test_cancel_raises_with_the_partial_mask(phantom, lite_predictor):
    roi = geo.label_roi(phantom.labels, phantom.label_value("L3"), phantom.ijk_to_ras)
    calls = []
    with pytest.raises(Cancelled) as err:
        segment_vertebra(
            phantom.image, phantom.ijk_to_ras, Prompts(roi=roi), predictor=lite_predictor,
            cancel=lambda: len(calls) > 2 or calls.append(1) and False,
        )  # fmt: skip
    assert err.value.partial.shape == phantom.image.shape


def test_a_cancelled_sweep_keeps_the_slices_it_finished(phantom):
    roi = geo.label_roi(phantom.labels, phantom.label_value("L3"), phantom.ijk_to_ras)
    oracle = _CountingOracle(phantom, phantom.label_value("L3"))
    with pytest.raises(Cancelled) as err:
        segment_vertebra(
            phantom.image, phantom.ijk_to_ras, Prompts(roi=roi), views="axial", predictor=oracle,
            cache_key="ct", stride_mm=0, cancel=lambda: len(oracle.slices) >= 3,
        )  # fmt: skip
    planes = np.nonzero(err.value.partial.any(axis=(1, 2)))[0]
    assert 1 <= len(planes) <= 3  # what was done, not an empty mask


@pytest.mark.slow
def test_ctrl_c_writes_no_output_but_keeps_the_partial_result(phantom, phantom_files, tmp_path, monkeypatch):
    import signal

    import SpinalSAMR1Lib.vertebra as vertebra

    real = vertebra.segment_vertebra

    def interrupted_after_two_slices(*args, progress=None, **kwargs):
        def progress_then_ctrl_c(done, total):
            progress(done, total)
            if done == 2:
                signal.raise_signal(signal.SIGINT)  # as if the user pressed Ctrl-C here

        return real(*args, progress=progress_then_ctrl_c, **kwargs)

    monkeypatch.setattr(vertebra, "segment_vertebra", interrupted_after_two_slices)
    before = signal.getsignal(signal.SIGINT)  # default_int_handler, or SIG_IGN under a shell's "&"
    ct, _ = phantom_files
    roi = geo.label_roi(phantom.labels, phantom.label_value("L3"), phantom.ijk_to_ras)
    lo, hi = roi.center - roi.size / 2, roi.center + roi.size / 2
    out = tmp_path / "L3.nii.gz"
    argv = [
        "segment",
        str(ct),
        "-o",
        str(out),
        "--model",
        "litemedsam",
        "--view",
        "axial",
        "--stride-mm",
        "0",
    ]
    assert main([*argv, "--box", *map(str, [*lo, *hi])]) == 130
    assert not out.exists()
    partial = read_volume(tmp_path / "L3.partial.nii.gz").array
    assert 1 <= len(np.nonzero(partial.any(axis=(1, 2)))[0]) <= 3
    assert signal.getsignal(signal.SIGINT) is before  # ours is removed again


@pytest.mark.parametrize("seed", range(6))
def test_inside_roi_equals_testing_every_voxel_on_oblique_grids(seed):
    rng = np.random.default_rng(seed)
    m = geo.make_ijk_to_ras(spacing=rng.uniform(0.5, 3.0, 3), origin=rng.normal(0, 20, 3))
    m[:3, :3] = np.linalg.qr(rng.normal(size=(3, 3)))[0] @ m[:3, :3]  # any direction, flips included
    shape = (17, 23, 19)
    centre = geo.ijk_to_ras_points(np.array([[9.0, 11.0, 8.0]]), m)[0] + rng.normal(0, 8, 3)
    roi = geo.Roi(center=centre, size=rng.uniform(3, 50, 3), axes=np.linalg.qr(rng.normal(size=(3, 3)))[0])
    kk, jj, ii = np.meshgrid(*map(np.arange, shape), indexing="ij")
    ijk = np.stack([ii.ravel(), jj.ravel(), kk.ravel()], 1).astype(float)
    expected = roi.contains(geo.ijk_to_ras_points(ijk, m)).reshape(shape)
    assert expected.any() and not expected.all()
    np.testing.assert_array_equal(_inside_roi(roi, m, shape), expected)


def test_deepest_point_is_the_centre_of_a_box_in_mm():
    mask = np.zeros((12, 30, 40), bool)
    mask[2:9, 4:25, 5:26] = True  # a 21 mm cube: 7 planes of 3 mm along k, 21 voxels of 1 mm along j, i
    m = geo.make_ijk_to_ras(spacing=(1.0, 1.0, 3.0), origin=(10.0, 20.0, 30.0))
    p = deepest_point_ras(mask, m)
    np.testing.assert_allclose(geo.ras_to_ijk_points(p[None], m)[0], [15, 14, 5])  # i, j, k of its centre


# -- evaluation and CLI -----------------------------------------------------------------------------------------
@pytest.mark.slow
def test_evaluate_volume_scores_each_vertebra_from_a_click(phantom_files, tmp_path, capsys):
    ct, seg = phantom_files
    out = tmp_path / "eval.json"
    code = main(["evaluate", "--volume", str(ct), "--labels", str(seg), "--label-ids", "2", "--prompt", "points", "--json", str(out)])  # fmt: skip
    assert code == 0
    result = json.loads(out.read_text())
    assert result["distance_unit"] == "mm" and len(result["per_image"]) == 1
    row = result["per_image"][0]
    assert row["name"] == "label 2" and 0.0 < row["dice"] <= 1.0 and row["seconds"] > 0
    assert main(["evaluate", "--volume", str(ct), "--labels", str(seg), "--label-ids", "9", "--model", "litemedsam"]) == 2  # fmt: skip


@pytest.mark.slow
def test_segment_from_one_click_writes_the_whole_vertebra(phantom, phantom_files, tmp_path):
    ct, _ = phantom_files
    _, click = _click(phantom)
    out = tmp_path / "l3.nii.gz"
    assert (
        main(["segment", str(ct), "-o", str(out), "--points", *map(str, click)]) == 0  # the default: vertebra
    )
    from SpinalSAMR1Lib.io import read_volume

    labels = read_volume(out)
    np.testing.assert_allclose(labels.ijk_to_ras, phantom.ijk_to_ras, atol=1e-5)
    assert labels.array.any(axis=(1, 2)).sum() >= 3  # many planes, not one slice
    assert _components(labels.array) == 1


class _BoxRecorder(_Oracle):
    def __init__(self, phantom, label):
        super().__init__(phantom, label)
        self.boxes = []

    def predict(self, points_xy=None, labels=None, box=None, mask_logits=None, multimask=None):
        self.boxes.append(None if box is None else np.asarray(box, float))
        return super().predict(points_xy, labels, box, mask_logits, multimask)


@pytest.mark.parametrize(("view", "across_mm", "down_mm"), [("sagittal", 80.0, 36.0), ("axial", 80.0, 80.0)])
def test_the_first_box_around_a_click_is_one_vertebra_high(phantom, view, across_mm, down_mm):
    _, click = _click(phantom)
    oracle = _BoxRecorder(phantom, phantom.label_value("L3"))
    segment_vertebra(
        phantom.image,
        phantom.ijk_to_ras,
        Prompts(click[None], [1]),
        views=view,
        predictor=oracle,
        cache_key="ct",
    )
    x0, y0, x1, y1 = oracle.boxes[0]  # the clicked slice, before the mask's own box takes over
    frame = geo.view_frame(phantom.ijk_to_ras, phantom.image.shape, view)
    rows_mm, cols_mm = geo.pixel_spacing(phantom.ijk_to_ras, frame)
    assert (x1 - x0) * cols_mm == pytest.approx(across_mm, abs=2 * cols_mm)  # clipped only at the image edge
    assert (y1 - y0) * rows_mm == pytest.approx(down_mm, abs=2 * rows_mm)


def test_a_walk_stops_60_mm_from_the_click_on_something_wider_than_a_vertebra(phantom):
    import dataclasses

    from SpinalSAMR1Lib.vertebra import MAX_HALF_EXTENT_MM

    wide = phantom.labels.copy()
    ref = phantom.labels == phantom.label_value("L3")
    planes = np.nonzero(ref.any(axis=(0, 1)))[0]  # i: R-L
    wide[np.broadcast_to(ref.any(axis=2, keepdims=True), ref.shape)] = phantom.label_value("L3")  # R-L slab
    ph = dataclasses.replace(phantom, labels=wide)
    _, click = _click(phantom)
    out = segment_vertebra(
        ph.image,
        ph.ijk_to_ras,
        Prompts(click[None], [1]),
        views="sagittal",
        predictor=_Oracle(ph, 2),
        cache_key="ct",
    )
    columns = np.nonzero(out.any(axis=(0, 1)))[0]
    width_mm = (columns.max() - columns.min() + 1) * geo.spacing_ijk(ph.ijk_to_ras)[0]
    assert (
        len(planes) < wide.shape[2]
        and width_mm <= 2 * MAX_HALF_EXTENT_MM + 2 * geo.spacing_ijk(ph.ijk_to_ras)[0]
    )
    assert width_mm > 2 * MAX_HALF_EXTENT_MM - 6.0  # it did walk that far on the slab


@pytest.mark.parametrize("seed", range(6))
def test_deepest_point_equals_the_whole_volume_distance_transform(seed):
    rng = np.random.default_rng(seed)
    shape = tuple(int(v) for v in rng.integers(20, 50, 3))
    m = geo.make_ijk_to_ras(tuple(rng.uniform(0.5, 3.0, 3)))
    ref = ndimage.binary_opening(ndimage.gaussian_filter(rng.random(shape), 2) > 0.5, iterations=1)
    ref[:, :, : int(rng.integers(0, 10))] = False
    assert ref.any()
    if seed % 2:
        ref[:2] = True  # touching the volume's edge
    whole = ndimage.distance_transform_edt(np.pad(ref, 1), sampling=geo.spacing_kji(m))[1:-1, 1:-1, 1:-1]
    k, j, i = np.unravel_index(int(np.argmax(whole)), whole.shape)
    expected = geo.ijk_to_ras_points(np.array([[i, j, k]], float), m)[0]
    np.testing.assert_allclose(deepest_point_ras(ref, m), expected)
