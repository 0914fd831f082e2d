"""Reading and writing images, label maps and Slicer markups files.

Volumes come back as :class:`Volume` (array in (k, j, i) order + IJK-to-RAS matrix). ITK files store
LPS physical coordinates; they are converted here, once, to Slicer's RAS. Writes are atomic (temporary
file in the target folder, then rename) and refuse to replace an existing file unless asked.
"""

from __future__ import annotations

import gzip
import json
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .atomic import atomic_path
from .errors import InputError, UserError
from .geometry import Roi

_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])
VOLUME_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd")
IMAGE_2D_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


@dataclass
class Volume:
    """A 3D image: ``array`` indexed [k, j, i] and ``ijk_to_ras`` (4x4, mm)."""

    array: np.ndarray
    ijk_to_ras: np.ndarray

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.array.shape)  # type: ignore[return-value]


def _sitk():
    import SimpleITK as sitk

    return sitk


def _matrix_from_itk(image) -> np.ndarray:
    """IJK-to-RAS 4x4 from an ITK image's LPS direction, spacing and origin."""
    direction = np.array(image.GetDirection(), float).reshape(3, 3)
    m = np.eye(4)
    m[:3, :3] = _LPS_TO_RAS @ direction @ np.diag(image.GetSpacing())
    m[:3, 3] = _LPS_TO_RAS @ np.array(image.GetOrigin(), float)
    return m


def _itk_geometry(ijk_to_ras: np.ndarray) -> tuple[tuple, tuple, tuple]:
    """(spacing, origin, direction) in ITK's LPS convention from an IJK-to-RAS matrix."""
    m = np.asarray(ijk_to_ras, float)
    lps = _LPS_TO_RAS @ m[:3, :3]
    spacing = np.linalg.norm(lps, axis=0)
    direction = lps / spacing[None, :]
    origin = _LPS_TO_RAS @ m[:3, 3]
    return tuple(map(float, spacing)), tuple(map(float, origin)), tuple(map(float, direction.ravel()))


def _check_exists(path: Path) -> None:
    if not path.exists():
        raise UserError(f"input not found: {path}")


def read_volume(path: str | os.PathLike, series: str | None = None) -> Volume:
    """Read NIfTI, NRRD, MHA/MHD or a DICOM series folder (or one file of it) as a RAS :class:`Volume`.

    ``series``: the SeriesInstanceUID to read when a DICOM folder holds several (they are refused
    otherwise, with their list: taking one silently could segment the wrong scan)."""
    sitk = _sitk()
    p = Path(path)
    _check_exists(p)
    try:
        if p.is_dir() or p.suffix.lower() == ".dcm" or _is_dicom_file(p):
            image = _read_dicom_series(p if p.is_dir() else p.parent, series)
        else:
            _check_gzip_complete(p)
            image = sitk.ReadImage(str(p))
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        raise UserError(f"cannot read {p}: {first[-1] if first else 'unknown ITK error'}") from exc
    if image.GetDimension() != 3:
        raise UserError(f"{p} is {image.GetDimension()}D; a 3D volume is needed")
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise UserError(
            f"{p} has {image.GetNumberOfComponentsPerPixel()} components; a scalar volume is needed"
        )
    array = sitk.GetArrayFromImage(image)
    if array.size == 0:
        raise UserError(f"{p} has no voxels (size {' x '.join(map(str, image.GetSize()))})")
    if np.issubdtype(array.dtype, np.floating):
        bad = int(np.count_nonzero(~np.isfinite(array)))
        if bad:
            raise UserError(
                f"{p} has {bad} voxels that are not numbers (NaN or infinite); fix or mask them first"
            )
    return Volume(array, _matrix_from_itk(image))


def _check_gzip_complete(p: Path) -> None:
    """A truncated .gz is read by ITK without an error (the missing voxels come back as zeros): refuse it."""
    if not p.name.lower().endswith(".gz"):
        return
    try:
        with gzip.open(p, "rb") as fh:
            while fh.read(1 << 24):
                pass
    except (EOFError, OSError, zlib.error) as exc:
        raise UserError(f"cannot read {p}: truncated or corrupt ({exc})") from None


def _is_dicom_file(p: Path) -> bool:
    if not p.is_file():
        return False
    with p.open("rb") as fh:
        fh.seek(128)
        return fh.read(4) == b"DICM"


def _read_dicom_series(folder: Path, series: str | None = None):
    sitk = _sitk()
    reader = sitk.ImageSeriesReader()
    found = list(reader.GetGDCMSeriesIDs(str(folder)))
    if not found:
        raise UserError(f"no DICOM series found in {folder}")
    if series is None and len(found) > 1:
        listed = ", ".join(
            f"{uid} ({len(reader.GetGDCMSeriesFileNames(str(folder), uid))} files)" for uid in found
        )
        raise UserError(f"{folder} holds {len(found)} DICOM series: {listed}; choose one with --series UID")
    if series is not None and series not in found:
        raise UserError(f"DICOM series {series} is not in {folder}; it has {', '.join(found)}")
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder), series or found[0]))
    return reader.Execute()


def read_image_2d(path: str | os.PathLike) -> np.ndarray:
    """Read a 2D image (PNG, JPEG, TIFF, or any single-slice ITK image) as a grey (rows, cols) array.

    RGB(A) images are converted to grey by their mean RGB; uint8 stays uint8.
    """
    sitk = _sitk()
    p = Path(path)
    _check_exists(p)
    try:
        image = sitk.ReadImage(str(p))
    except RuntimeError as exc:
        raise UserError(f"cannot read image {p}") from exc
    a = sitk.GetArrayFromImage(image)
    if a.ndim == 3 and image.GetNumberOfComponentsPerPixel() == 1 and a.shape[0] == 1:
        a = a[0]
    if a.ndim == 3:
        channels = a[..., :3] if a.shape[-1] >= 3 else a[..., :1]
        same = np.all(channels == channels[..., :1])
        a = channels[..., 0] if same else np.rint(channels.astype(np.float32).mean(-1)).astype(a.dtype)
    if a.ndim != 2:
        raise UserError(f"{p} is not a 2D image (shape {a.shape})")
    return a


def _suffix(path: Path) -> str:
    name = path.name.lower()
    return ".nii.gz" if name.endswith(".nii.gz") else path.suffix.lower()


def write_volume(
    path: str | os.PathLike, array: np.ndarray, ijk_to_ras: np.ndarray, overwrite: bool = False
) -> Path:
    """Write a (k, j, i) array with exactly the given geometry, atomically. Returns the path."""
    sitk = _sitk()
    target = Path(path)
    image = sitk.GetImageFromArray(np.ascontiguousarray(array))
    spacing, origin, direction = _itk_geometry(ijk_to_ras)
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    image.SetDirection(direction)
    with atomic_path(target, overwrite, _suffix(target)) as tmp:
        sitk.WriteImage(image, str(tmp), True)
    return target


def write_labelmap(
    path: str | os.PathLike, labels: np.ndarray, reference: Volume, overwrite: bool = False
) -> Path:
    """Write a uint8 label map on the reference volume's grid (same shape, same geometry)."""
    if tuple(labels.shape) != reference.shape:
        raise InputError(f"label map shape {labels.shape} differs from the reference {reference.shape}")
    return write_volume(path, labels.astype(np.uint8, copy=False), reference.ijk_to_ras, overwrite)


def write_png(path: str | os.PathLike, rgb: np.ndarray, overwrite: bool = False) -> Path:
    """Write an 8-bit (rows, cols[, 3]) image as PNG, atomically."""
    from PIL import Image

    target = Path(path)
    with atomic_path(target, overwrite, ".png") as tmp:
        Image.fromarray(np.asarray(rgb, np.uint8)).save(tmp)
    return target


@dataclass
class MarkupsPrompts:
    """Prompts read from Slicer markups JSON files, in RAS mm."""

    points_ras: np.ndarray  # (N, 3)
    labels: np.ndarray  # (N,) 1 = positive, 0 = negative
    rois: list[Roi]


def _to_ras(points: np.ndarray, system: str) -> np.ndarray:
    if system.upper() == "LPS":
        return points @ _LPS_TO_RAS.T
    if system.upper() == "RAS":
        return points
    raise UserError(f"unsupported markups coordinate system {system!r}")


def _is_negative(markup: dict, point: dict) -> bool:
    """Negative prompts: a list or point named/described as negative, background or exclude."""
    text = " ".join(
        str(x) for x in (markup.get("name", ""), point.get("label", ""), point.get("description", ""))
    )
    return any(w in text.lower() for w in ("negative", "background", "exclude"))


def read_markups(paths: list[str | os.PathLike]) -> MarkupsPrompts:
    """Read points and ROIs from Slicer ``.mrk.json`` files (LPS or RAS) as RAS prompts.

    Only control points whose ``positionStatus`` is "defined" (default) and that are visible count.
    A point is negative when its list name, label or description says negative/background/exclude.
    """
    pts: list[np.ndarray] = []
    labels: list[int] = []
    rois: list[Roi] = []
    for path in paths:
        p = Path(path)
        _check_exists(p)
        try:
            doc = json.loads(p.read_text(encoding="utf-8"))
            markups = doc["markups"]
        except (ValueError, KeyError, TypeError) as exc:
            raise UserError(f"{p} is not a Slicer markups JSON file") from exc
        for markup in markups:
            system = markup.get("coordinateSystem", "LPS")
            if markup.get("type") == "ROI":
                rois.append(_roi_from_markup(markup, system, p))
                continue
            for point in markup.get("controlPoints", []):
                if point.get("positionStatus", "defined") != "defined" or not point.get("visibility", True):
                    continue
                pts.append(_to_ras(np.asarray(point["position"], float)[None, :], system)[0])
                labels.append(0 if _is_negative(markup, point) else 1)
    points = np.array(pts, float).reshape(-1, 3)
    return MarkupsPrompts(points, np.array(labels, int), rois)


def _roi_from_markup(markup: dict, system: str, path: Path) -> Roi:
    try:
        if "center" in markup:
            center = np.asarray(markup["center"], float)
        else:
            center = np.asarray(markup["controlPoints"][0]["position"], float)
        size = np.asarray(markup["size"], float)
        axes = np.asarray(markup.get("orientation", np.eye(3).ravel()), float).reshape(3, 3)
    except (KeyError, IndexError, ValueError) as exc:
        raise UserError(f"{path}: ROI needs a center (or control point), size and orientation") from exc
    center = _to_ras(center[None, :], system)[0]
    if system.upper() == "LPS":
        axes = _LPS_TO_RAS @ axes
    return Roi(center=center, size=size, axes=axes)
