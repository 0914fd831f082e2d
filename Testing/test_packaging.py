"""Packaging: what the Slicer module installs is derived from pyproject.toml, never kept by hand."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_slicer_requirements_are_generated_from_pyproject():
    done = subprocess.run(
        [sys.executable, ".ci/slicer_requirements.py", "--check"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout
    lines = [ln for ln in (ROOT / "Resources" / "requirements.txt").read_text().splitlines() if ln[:1] != "#"]
    assert any(ln.startswith("peft>=") for ln in lines)
    assert not any(ln.split(">")[0].split("=")[0] in ("torch", "torchvision", "numpy") for ln in lines)
