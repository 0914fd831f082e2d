"""Atomic file output: write to a temporary file beside the target, then rename it into place.

A crash or an error never leaves a half-written result, and an existing file is only replaced when the
caller says so.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import UserError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(target: str | os.PathLike, overwrite: bool = False, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path to write; on success it becomes ``target`` (ordinary permissions).

    ``suffix`` keeps the extension libraries look at (".nii.gz", ".png"). Raises UserError when
    ``target`` exists and ``overwrite`` is False.
    """
    path = Path(target)
    if path.exists() and not overwrite:
        raise UserError(f"{path} exists; pass --overwrite (overwrite=True) to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; results should be readable as usual
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
