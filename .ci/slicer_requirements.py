#!/usr/bin/env python3
"""Write Resources/requirements.txt (what the Slicer module installs on first use) from pyproject.toml.

The packages are [project.dependencies] less those Slicer already has
([tool.spinalsam-r1.slicer] provided: its own Python's and the PyTorch extension's), with the same
version bounds. ``--check`` only compares and exits 1 when the file is out of date (CI runs it).
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "Resources" / "requirements.txt"
HEADER = """\
# Python packages SpinalSAMR1 installs into Slicer's Python on first use (after asking).
# GENERATED from pyproject.toml by .ci/slicer_requirements.py: edit pyproject.toml, then run it.
# Left out because Slicer has them: {provided}
# (torch/torchvision come from the PyTorch extension, which picks the right CUDA/CPU build).
"""


def requirements_text() -> str:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    provided = config["tool"]["spinalsam-r1"]["slicer"]["provided"]
    names = {p.lower() for p in provided}
    kept = [
        d for d in config["project"]["dependencies"] if re.split(r"[<>=!~ \[;]", d)[0].lower() not in names
    ]
    return HEADER.format(provided=", ".join(provided)) + "\n".join(kept) + "\n"


def main(argv: list[str]) -> int:
    text = requirements_text()
    if "--check" in argv:
        if TARGET.read_text(encoding="utf-8") != text:
            print(f"{TARGET.relative_to(ROOT)} is out of date: run python .ci/slicer_requirements.py")
            return 1
        return 0
    TARGET.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
