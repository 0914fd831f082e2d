"""Which code made a file: recorded in every saved adapter, so a model can be traced to its source."""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path


@functools.cache
def code_version() -> str:
    """The package version, plus the git commit in a source checkout: ``0.1.0+g1a2b3c4`` (``.dirty``
    appended when tracked files differ from it); the plain version when git or the checkout is absent."""
    from . import __version__

    root = Path(__file__).resolve().parents[1]
    if not (root / ".git").exists():
        return __version__

    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10)

    try:
        head = git("rev-parse", "--short", "HEAD")
        if head.returncode != 0:
            return __version__
        dirty = git("diff", "--quiet", "HEAD", "--").returncode != 0
    except (OSError, subprocess.SubprocessError):
        return __version__
    return f"{__version__}+g{head.stdout.strip()}{'.dirty' if dirty else ''}"
