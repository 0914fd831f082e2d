"""Reading and writing images, label maps and Slicer markups files.

Volumes come back as :class:`Volume` (array in (k, j, i) order + IJK-to-RAS matrix). ITK files store
LPS physical coordinates; they are converted here, once, to Slicer's RAS. Writes are atomic (temporary
file in the target folder, then rename) and refuse to replace an existing file unless asked.
"""

from __future__ import annotations

import gzip
import json
import os
import struct
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
            _check_fits_in_memory(p)  # first: from the header alone, before a huge file is decompressed
            _check_gzip_complete(p)
            _check_nifti_header(p)
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


def _check_nifti_header(p: Path) -> None:
    """ITK reads a NIfTI axis of size 0 as size 1 and the voxels missing from a cut ``.nii`` as zeros,
    without an error: refuse both from the header (NIfTI-1; other files are left to ITK)."""
    name = p.name.lower()
    if not name.endswith((".nii", ".nii.gz")):
        return
    opener = gzip.open if name.endswith(".gz") else open
    with opener(p, "rb") as fh:
        header = fh.read(348)
    if len(header) < 348:
        raise UserError(f"cannot read {p}: too short for a NIfTI file ({len(header)} bytes)")
    for endian in "<>":
        if struct.unpack_from(endian + "i", header, 0)[0] == 348:
            break
    else:
        return  # not NIfTI-1 (NIfTI-2, or not NIfTI at all): ITK says what it is
    dim = struct.unpack_from(endian + "8h", header, 40)
    bitpix = struct.unpack_from(endian + "h", header, 72)[0]
    vox_offset = struct.unpack_from(endian + "f", header, 108)[0]
    if not 1 <= dim[0] <= 7:
        return
    sizes = dim[1 : 1 + dim[0]]
    if min(sizes) <= 0:
        raise UserError(f"{p} has an axis of size 0 (size {' x '.join(map(str, sizes))}): it holds no voxels")
    if name.endswith(".nii") and bitpix > 0:
        need = int(vox_offset) + int(np.prod(sizes, dtype=np.int64)) * bitpix // 8
        have = p.stat().st_size
        if have < need:
            raise UserError(f"cannot read {p}: truncated ({have} of {need} bytes)")


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (MemAvailable on Linux), or None when unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None


def _gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def _check_fits_in_memory(p: Path) -> None:
    """Refuse, from the header and before any voxel is allocated, an image that does not fit in memory
    (reading needs it twice: ITK's image and the array copied from it)."""
    sitk = _sitk()
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(p))
    try:
        reader.ReadImageInformation()
    except RuntimeError:
        return  # ReadImage gives the error
    size = [int(n) for n in reader.GetSize()]
    components = max(1, int(reader.GetNumberOfComponents()))
    try:
        component = sitk.Image([1] * len(size), reader.GetPixelID(), components).GetSizeOfPixelComponent()
    except RuntimeError:
        component = 8
    need = 2 * int(np.prod(size, dtype=np.float64)) * components * component
    free = available_memory()
    if free is not None and need > free:
        raise UserError(
            f"{p} is too large to read: {' x '.join(map(str, size))} voxels need about {_gib(need)} of memory "
            f"and {_gib(free)} are available; crop or downsample it first"
        )


def _is_dicom_file(p: Path) -> bool:
    if not p.is_file():
        return False
    with p.open("rb") as fh:
        fh.seek(128)
        return fh.read(4) == b"DICM"


def _read_dicom_series(folder: Path, series: str | None = None):
    sitk = _sitk()
    reader = sitk.ImageSeriesReader()
    shown = sitk.ProcessObject.GetGlobalWarningDisplay()
    sitk.ProcessObject.SetGlobalWarningDisplay(False)  # ITK's multi-line "No Series were found" warning
    try:
        found = list(reader.GetGDCMSeriesIDs(str(folder)))
    finally:
        sitk.ProcessObject.SetGlobalWarningDisplay(shown)
    if not found:
        raise UserError(f"no DICOM series found in {folder}")
    if series is None and len(found) > 1:
        listed = ", ".join(
            f"{uid} ({len(reader.GetGDCMSeriesFileNames(str(folder), uid))} files)" for uid in found
        )
        raise UserError(f"{folder} holds {len(found)} DICOM series: {listed}; choose one with --series UID")
    if series is not None and series not in found:
        raise UserError(f"DICOM series {series} is not in {folder}; it has {', '.join(found)}")
    uid = series or found[0]
    files = reader.GetGDCMSeriesFileNames(str(folder), uid)
    reader.SetFileNames(files)
    sitk.ProcessObject.SetGlobalWarningDisplay(False)  # its "non uniform sampling" lines: said below
    try:
        image = reader.Execute()
    finally:
        sitk.ProcessObject.SetGlobalWarningDisplay(shown)
    if image.HasMetaDataKey("ITK_non_uniform_sampling_deviation"):  # ITK: positions not evenly spaced
        gap, step = _slice_gaps(files, image)
        if gap > 1.5 * step:  # a slice missing (or unreadable: GDCM leaves it out), not jitter
            raise UserError(
                f"DICOM series {uid} in {folder} has missing or unevenly spaced slices ({len(files)} files "
                f"read; a gap of {gap:.3g} mm between slices {step:.3g} mm apart): a file of it is missing "
                "or unreadable"
            )
    return image


def _slice_gaps(files, image) -> tuple[float, float]:
    """(largest, smallest) distance in mm between neighbouring slice positions of a DICOM series."""
    sitk = _sitk()
    normal = np.array(image.GetDirection(), float).reshape(3, 3)[:, 2]
    reader = sitk.ImageFileReader()
    positions = []
    for name in files:
        reader.SetFileName(name)
        reader.ReadImageInformation()
        positions.append(float(np.dot(reader.GetOrigin(), normal)))
    gaps = np.diff(np.sort(positions))
    gaps = gaps[gaps > 1e-3]
    return (float(gaps.max()), float(gaps.min())) if len(gaps) else (0.0, 0.0)


def read_image_2d(path: str | os.PathLike) -> np.ndarray:
    """Read a 2D image (PNG, JPEG, TIFF, or any single-slice ITK image) as a grey (rows, cols) array.

    RGB(A) images are converted to grey by their mean RGB; uint8 stays uint8.
    """
    sitk = _sitk()
    p = Path(path)
    _check_exists(p)
    _check_decodes(p)
    try:
        image = sitk.ReadImage(str(p))
    except RuntimeError as exc:
        raise UserError(f"cannot read image {p}") from exc
    if image.GetDimension() > 2 and any(n > 1 for n in image.GetSize()[2:]):
        raise UserError(
            f"{p} is a {image.GetDimension()}D image ({' x '.join(map(str, image.GetSize()))}); "
            "a 2D image is needed (segment a volume from a volume file: .nii.gz, .nrrd, .mha or DICOM)"
        )
    if 0 in image.GetSize():
        raise UserError(f"{p} has no pixels (size {' x '.join(map(str, image.GetSize()))})")
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


def _check_decodes(p: Path) -> None:
    """A corrupt or cut PNG/JPEG is refused here: ITK's libpng/libjpeg would print their own lines first."""
    if not p.name.lower().endswith((".png", ".jpg", ".jpeg")) or not p.is_file():
        return
    from PIL import Image

    try:
        with Image.open(p) as im:
            im.load()
    except Image.DecompressionBombError:
        return  # PIL's own size limit, not a defect of the file: ITK reads it
    except (OSError, SyntaxError, ValueError) as exc:  # PIL's UnidentifiedImageError is an OSError
        raise UserError(f"cannot read image {p}: {exc}") from None


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
