"""Atomic file output: write to a temporary file beside the target, then rename it into place.

A crash or an error never leaves a half-written result, and an existing file is only replaced when the
caller says so.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import UserError


def _create_beside(path: Path, suffix: str) -> Path:
    """A new empty file beside ``path`` with ordinary permissions (0666 less the umask, applied by the
    system): unlike ``mkstemp`` (0600) this never needs the process-wide umask, which other threads share."""
    for _ in range(100):
        tmp = path.parent / f".tmp-{secrets.token_hex(6)}{suffix}"
        try:
            os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
            return tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a temporary file beside {path}")


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
    tmp = _create_beside(path, suffix)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
