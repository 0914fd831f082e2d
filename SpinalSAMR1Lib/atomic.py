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


def check_writable(target: str | os.PathLike, overwrite: bool = False) -> None:
    """Refuse, before any work is done, an output that could not be written: it exists and ``overwrite``
    is False, it is a folder, or its folder cannot be created or written (a UserError naming why).
    Nothing is left behind: the probe file is removed again and no folder is created."""
    path = Path(target)
    if path.is_dir():
        raise UserError(f"{path} is a folder; give the output a file name")
    if path.exists() and not overwrite:
        raise UserError(f"{path} exists; pass --overwrite (overwrite=True) to replace it")
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise UserError(f"cannot write {path}: {folder} is a file, not a folder")
    try:
        _create_beside(folder / path.name, "").unlink()
    except OSError as exc:
        raise UserError(f"cannot write {path}: {folder} is not writable ({exc.strerror or exc})") from None


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
    except OSError as exc:  # a full disk, a lost mount: the old file stays; the message names the file
        tmp.unlink(missing_ok=True)
        if exc.errno is None:
            raise
        raise OSError(exc.errno, f"cannot write {path}: {exc.strerror or exc}") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
