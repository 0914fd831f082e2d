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

    Image.fromarray(np.full((64, 64), 100, np.uint8)).save(tmp_path / "slice.png")
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


def test_segment_2d_png(shared_data, tmp_path):
    image = shared_data / "spine_ct_slices" / "axial" / "image" / "Case1_10.png"
    out = tmp_path / "m.png"
    proc = _run(
        "segment", str(image), "-o", str(out), "--box", "170", "130", "330", "350", "--model", "litemedsam"
    )
    assert proc.returncode == 0, proc.stderr
    assert out.exists()
    assert _run("segment", str(image), "-o", str(out), "--box", "1", "2", "3", "4").returncode == 2  # exists


def test_demo_writes_results_and_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--levels", "L3", "--model", "litemedsam"]) == 0
    text = capsys.readouterr().out
    assert "L3" in text and "mean" in text
    for name in (
        "phantom_ct.nii.gz",
        "reference_labels.nii.gz",
        "segmentation.nii.gz",
        "overlay.png",
        "metrics.json",
    ):
        assert (out / name).exists()
    metrics_json = json.loads((out / "metrics.json").read_text())
    assert 0.3 < metrics_json["per_vertebra"][0]["dice"] <= 1.0
    seg = read_volume(out / "segmentation.nii.gz")
    assert set(np.unique(seg.array)) <= {0, 1}
    assert main(["demo", "--out", str(out), "--levels", "L3"]) == 2


def test_info_prints_device_and_verification(capsys):
    assert main(["info", "--model", "litemedsam"]) == 0
    text = capsys.readouterr().out
    assert "device" in text and "ok: True" in text


def test_python_api_is_lazy_and_documented():
    code = "import sys, SpinalSAMR1Lib as s; assert 'torch' not in sys.modules; print(s.__all__)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "segment_volume" in proc.stdout
    assert Path(__file__).resolve().parents[1].joinpath("README.md").exists()
