"""The command line as a user runs it: exit codes, one-line errors, outputs aligned with inputs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from SpinalSAMR1Lib import geometry as geo
from SpinalSAMR1Lib.cli import main
from SpinalSAMR1Lib.io import read_volume


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "SpinalSAMR1Lib.cli", *args], capture_output=True, text=True, timeout=600
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "args,message",
    [
        (
            ["segment", "missing.nii.gz", "-o", "x.nii.gz", "--box", "0", "0", "0", "1", "1", "1"],
            "input not found",
        ),
        (["evaluate", "--images", "nowhere", "--masks", "nowhere"], "not a folder"),
        (["evaluate"], "give either"),
        (["info", "--model", "vit_h"], "needs --checkpoint"),
        (["train"], "give training data"),
    ],
)
def test_bad_input_gives_one_line_and_exit_2(args, message, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "SpinalSAMR1Lib.cli", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("spinalsam-r1: error:") and message in lines[-1]
    assert "Traceback" not in proc.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    "extra,message",
    [
        (["--box", "10", "10", "10", "10"], "zero area"),
        (["--box", "50", "50", "10", "10"], "inverted"),
        (["--box", "500", "500", "600", "600"], "outside the 64 x 64 image"),
        (["--box", "10", "10", "40", "40", "--device", "tpu9"], "unknown device"),
    ],
)
def test_bad_2d_boxes_and_devices_give_one_line_and_exit_2(extra, message, tmp_path):
    from PIL import Image

    image = np.full((64, 64), 100, np.uint8)
    image[16:48, 16:48] = 200  # not constant: a constant image is refused before the box is looked at
    Image.fromarray(image).save(tmp_path / "slice.png")
    proc = subprocess.run(
        [sys.executable, "-m", "SpinalSAMR1Lib.cli", "segment", "slice.png", "-o", "m.png", *extra],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("spinalsam-r1: error:") and message in lines[-1]
    assert "Traceback" not in proc.stderr and not (tmp_path / "m.png").exists()


@pytest.mark.slow
def test_train_refuses_to_replace_an_export_before_training(tmp_path):
    """An existing --export file is named at once (not after an hour of training) and kept."""
    existing = tmp_path / "spinal.safetensors"
    existing.write_bytes(b"earlier adapter")
    proc = subprocess.run(
        [sys.executable, "-m", "SpinalSAMR1Lib.cli", "train", "--slices", "axial", "--export", existing.name],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "spinal.safetensors exists; pass --overwrite" in proc.stderr.splitlines()[-1]
    assert existing.read_bytes() == b"earlier adapter"
    assert not (tmp_path / "runs").exists()


def test_a_bug_is_an_internal_error_not_the_users_fault(monkeypatch, capsys):
    import SpinalSAMR1Lib.commands as commands

    def broken(_):
        raise ValueError("an invariant of ours broke")

    monkeypatch.setattr(commands, "parse", broken)  # what `chat` calls: the bug is ours, not the input's
    assert main(["chat", "clear"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error (ValueError: an invariant of ours broke)" in err
    assert "--debug" in err and "Traceback" not in err
    with pytest.raises(ValueError, match="invariant"):
        main(["--debug", "chat", "clear"])


def test_every_command_has_help():
    for command in ("demo", "segment", "evaluate", "info", "train", "chat", "bench"):
        with pytest.raises(SystemExit) as exit_info:
            main([command, "--help"])
        assert exit_info.value.code == 0


@pytest.mark.slow
def test_evaluate_writes_json_with_means(shared_data, tmp_path, capsys):
    root = shared_data / "spine_ct_slices" / "axial"
    images, masks = tmp_path / "image", tmp_path / "mask"
    images.mkdir()
    masks.mkdir()
    for name in ("Case1_05.png", "Case1_20.png"):
        (images / name).symlink_to(root / "image" / name)
        (masks / name).symlink_to(root / "mask" / name)
    out = tmp_path / "r.json"
    assert (
        main(
            [
                "evaluate",
                "--images",
                str(images),
                "--masks",
                str(masks),
                "--model",
                "litemedsam",
                "--json",
                str(out),
            ]
        )
        == 0
    )
    report = json.loads(out.read_text())
    assert [r["name"] for r in report["per_image"]] == ["Case1_05.png", "Case1_20.png"]
    assert set(report["mean"]) >= {"dice", "iou", "msd", "hd95"} and report["mean"]["dice"] > 0.7
    assert "mean ± sd over 2" in capsys.readouterr().out
    assert (
        main(["evaluate", "--images", str(images), "--masks", str(masks), "--json", str(out)]) == 2
    )  # exists


@pytest.mark.slow
def test_segment_volume_output_is_aligned_with_the_input(shared_data, tmp_path):
    """A box around L1 (label 31) of the TotalSegmentator example, in RAS mm, gives labels on L1."""
    root = shared_data / "totalseg_example"
    ct, seg = read_volume(root / "example_ct_sm.nii.gz"), read_volume(root / "example_seg.nii.gz")
    roi = geo.label_roi(seg.array, 31, seg.ijk_to_ras)
    lo, hi = roi.center - roi.size / 2, roi.center + roi.size / 2
    out = tmp_path / "l1.nii.gz"
    code = main(
        [
            "segment",
            str(root / "example_ct_sm.nii.gz"),
            "-o",
            str(out),
            "--model",
            "litemedsam",
            "--box",
            *map(str, lo),
            *map(str, hi),
        ]
    )
    assert code == 0
    result = read_volume(out)
    np.testing.assert_allclose(result.ijk_to_ras, ct.ijk_to_ras, atol=1e-5)
    assert result.array.shape == ct.shape and result.array.any()
    inside = result.array > 0
    k, j, i = np.nonzero(np.ones(ct.shape, bool))
    ras = geo.ijk_to_ras_points(np.stack([i, j, k], 1), ct.ijk_to_ras).reshape(*ct.shape, 3)
    in_roi = np.all(np.abs(ras - roi.center) <= roi.size / 2 + 1e-6, axis=-1)
    assert not (inside & ~in_roi).any()  # nothing outside the box
    # L1 is 17 % of the box; the segmentation is enriched in it (zero-shot model, 3 mm CT).
    assert (seg.array[inside] == 31).mean() > 1.5 * (seg.array[in_roi] == 31).mean()


@pytest.mark.slow
def test_segment_2d_png(shared_data, tmp_path):
    image = shared_data / "spine_ct_slices" / "axial" / "image" / "Case1_10.png"
    out = tmp_path / "m.png"
    proc = _run(
        "segment", str(image), "-o", str(out), "--box", "170", "130", "330", "350", "--model", "litemedsam"
    )
    assert proc.returncode == 0, proc.stderr
    assert out.exists()
    assert _run("segment", str(image), "-o", str(out), "--box", "1", "2", "3", "4").returncode == 2  # exists


@pytest.mark.slow
def test_demo_finds_names_and_reports_vertebrae_of_a_real_ct(tmp_path, capsys, shared_data):
    """The demo's code path on a crop of its own CT (L3-L5, to keep CI short), compared with
    TotalSegmentator's labels cropped alike; the full demo is the README's first command."""
    from SpinalSAMR1Lib.cli.demo import DEMO_CT
    from SpinalSAMR1Lib.io import write_volume

    ct = read_volume(DEMO_CT)
    ts = read_volume(shared_data / "totalseg_example" / "example_ct_vertebrae.nii.gz")
    kji = np.argwhere(np.isin(ts.array, (27, 28, 29)))  # L5, L4, L3 in TotalSegmentator's classes
    k0, k1 = kji[:, 0].min() - 2, kji[:, 0].max() + 3
    shift = np.eye(4)
    shift[2, 3] = k0
    write_volume(tmp_path / "ct.nii.gz", ct.array[k0:k1], ct.ijk_to_ras @ shift)
    write_volume(tmp_path / "ts.nii.gz", ts.array[k0:k1], ts.ijk_to_ras @ shift)
    out = tmp_path / "demo"
    argv = [
        "demo",
        "--out",
        str(out),
        "--ct",
        str(tmp_path / "ct.nii.gz"),
        "--reference",
        str(tmp_path / "ts.nii.gz"),
    ]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "agreement with TotalSegmentator" in text and "Hm" in text
    for name in ("levels.nii.gz", "levels.json", "report.json", "report.csv", "report.png", "overlay.png"):
        assert (out / name).exists(), name
    side = json.loads((out / "levels.json").read_text(encoding="utf-8"))
    names = [e["name"] for e in side["levels"]]
    assert names[-1] == "L5" and len(names) >= 2 and not any(e["confirmed"] for e in side["levels"])
    labels = read_volume(out / "levels.nii.gz")
    assert set(np.unique(labels.array)) == {0, *(e["label"] for e in side["levels"])}
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert [r["level"] for r in report["vertebrae"]] == names
    assert "same name within 20 mm" in text
    assert main(argv) == 2  # results there: refused without --overwrite


@pytest.mark.slow
def test_info_prints_device_and_verification(capsys):
    assert main(["info", "--model", "litemedsam"]) == 0
    text = capsys.readouterr().out
    assert "device" in text and "ok: True" in text


@pytest.mark.slow
def test_python_api_is_lazy_and_documented():
    code = (
        "import sys, SpinalSAMR1Lib as s; assert 'torch' not in sys.modules; print(s.__all__); "
        "[getattr(s, name) for name in s.__all__]"  # every public name resolves
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "segment_volume" in proc.stdout, proc.stderr
    readme = Path(__file__).resolve().parents[1].joinpath("README.md").read_text(encoding="utf-8")
    assert all(
        f"ss.{name}(" in readme for name in ("segment_levels", "segment_levels_auto", "segment_vertebra")
    )


@pytest.mark.slow
def test_bench_memory_reads_the_segment_process_own_peak(tmp_path, capsys):
    """On a small synthetic CT: both prompts run in a fresh process, the vertebra is found, the peak is a
    plausible figure for a model and a CT (200 MB .. 4 GB); an existing --json is not replaced."""
    out = tmp_path / "mem.json"
    assert main(["bench", "memory", "--shape", "64", "96", "96", "--json", str(out)]) == 0
    runs = json.loads(out.read_text())["runs"]
    assert [r["prompt"] for r in runs] == ["click", "ROI"]
    for r in runs:
        assert 200 < r["peak_rss_mb"] < 4096 and r["seconds"] > 0 and r["dice_l3"] > 0.7
    assert "within the budget" in capsys.readouterr().out
    assert main(["bench", "memory", "--shape", "64", "96", "96", "--json", str(out)]) == 2  # exists
    assert main(["bench", "memory", "--shape", "8", "96", "96"]) == 2  # too small for the phantom


@pytest.mark.slow
def test_bench_interactive_times_every_step_with_ratios_from_one_run(tmp_path, capsys):
    """The benchmark's shape, not its speed: every figure measured, positive, and its ratio reported."""
    from SpinalSAMR1Lib.io import write_volume
    from SpinalSAMR1Lib.phantom import make_lumbar_phantom

    phantom = make_lumbar_phantom(seed=3)
    write_volume(tmp_path / "ct.nii.gz", phantom.image, phantom.ijk_to_ras)
    out = tmp_path / "bench.json"
    assert main(["bench", "interactive", "--ct", str(tmp_path / "ct.nii.gz"), "--backends", "torch", "--json", str(out)]) == 0  # fmt: skip
    report = json.loads(out.read_text())
    seconds = report["seconds"]["torch"]
    for name in (
        "click on a seen slice, p95",
        "first click on a new slice, p50",
        "one vertebra in 3D from a click",
    ):
        assert seconds[name] > 0 and report["ratios"]["torch"][name] == pytest.approx(1.0)
    assert seconds["click on a seen slice, p95"] >= seconds["click on a seen slice, p50"]
    assert report["peak_rss_mb"] > 0 and "click on a seen slice, p95" in capsys.readouterr().out
    assert (
        main(["bench", "interactive", "--ct", str(tmp_path / "ct.nii.gz"), "--json", str(out)]) == 2
    )  # exists
