"""A synthetic lumbar-spine CT phantom with vertebra labels, for tests and demos without patient data.

The phantom is built in world (RAS, mm) coordinates and sampled on a voxel grid, so its anatomy is right
in RAS whatever the grid: R = patient right, A = anterior, S = superior. Arrays are indexed ``[k, j, i]``
and ``ras = ijk_to_ras @ [i, j, k, 1]`` (Slicer's convention). The grid's direction is
``diag(-1, -1, 1)`` (LPS-like, as most DICOM CTs): increasing i goes to the patient's left, increasing j
goes posterior, increasing k goes superior.

Anatomy (proportions of an adult lumbar spine; each level's size is jittered by a few percent per seed):
- trunk: a soft-tissue ellipse (40 HU) in a subcutaneous fat ring (-100 HU), air (-1000 HU) outside;
- vertebral bodies: elliptic cylinders ~42-50 mm wide, ~30-34 mm deep, ~25-27 mm tall, cancellous
  interior (250 HU) under a one-voxel cortical shell (900 HU);
- posterior elements (900 HU shell, 250 HU inside where thick enough): pedicles and laminae forming a
  ring around the spinal canal (15 HU, CSF), a spinous process pointing posteriorly and slightly down,
  transverse processes, and superior/inferior articular processes;
- intervertebral discs (80 HU), ~8-12 mm, between consecutive bodies; a slight lordosis (apex anterior
  at L3/L4);
- a mild Gaussian blur (partial volume) and additive Gaussian noise.

Labels: ``n`` (1-based) for ``levels[n - 1]`` covering the whole vertebra (body + posterior elements),
0 elsewhere (discs are not labelled). Levels are listed superior to inferior.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy import ndimage

from .geometry import Roi, label_roi

__all__ = ["Phantom", "make_lumbar_phantom", "phantom_roi"]

HU_AIR, HU_FAT, HU_SOFT, HU_CSF, HU_DISC = -1000.0, -100.0, 40.0, 15.0, 80.0
HU_CANCELLOUS, HU_CORTICAL = 250.0, 900.0

# Body width (R), depth (A), height (S) and height of the disc below it, in mm.
_LEVEL_DIMS_MM: dict[str, tuple[float, float, float, float]] = {
    "T11": (36.0, 27.0, 22.0, 6.0),
    "T12": (39.0, 28.0, 23.0, 7.0),
    "L1": (42.0, 30.0, 25.0, 8.0),
    "L2": (44.0, 31.0, 26.0, 9.0),
    "L3": (46.0, 32.0, 27.0, 10.0),
    "L4": (48.0, 33.0, 27.0, 11.0),
    "L5": (50.0, 34.0, 27.0, 12.0),
}
_VOLUME_CENTER_RAS = (4.0, -12.0, -180.0)  # not the origin, so code that ignores the origin shows it
_TRUNK_SEMI_AXES_MM = (100.0, 86.0)  # R, A of the skin ellipse
_TRUNK_CENTER_A_MM = 4.0  # relative to the volume centre
_FAT_MM = 8.0
_SPINE_A_MM = -4.0  # vertebral-body centre relative to the volume centre, before lordosis
_CANAL_WIDTH_MM, _CANAL_DEPTH_MM = 22.0, 16.0
_PEDICLE_WIDTH_MM, _LAMINA_MM, _SPINOUS_MM = 8.0, 6.0, 24.0
_BLUR_SIGMA_MM = 0.7


@dataclass(frozen=True)
class Phantom:
    """A CT volume with its labels and geometry.

    Attributes:
        image: int16 HU, shape (k, j, i).
        labels: uint8, shape (k, j, i); value n for ``levels[n - 1]``, 0 background.
        ijk_to_ras: 4x4 float matrix, ``ras = ijk_to_ras @ [i, j, k, 1]`` (mm).
        levels: level names, superior to inferior.
    """

    image: np.ndarray
    labels: np.ndarray
    ijk_to_ras: np.ndarray
    levels: tuple[str, ...]

    @property
    def spacing_kji(self) -> tuple[float, float, float]:
        """Voxel size in mm per array axis (k, j, i), as the metrics' ``spacing`` expects."""
        s = np.linalg.norm(self.ijk_to_ras[:3, :3], axis=0)
        return float(s[2]), float(s[1]), float(s[0])

    def label_value(self, level: str) -> int:
        """The label value of ``level`` (1-based); ValueError for a level the phantom lacks."""
        if level not in self.levels:
            raise ValueError(f"level {level!r} is not in this phantom; it has {', '.join(self.levels)}")
        return self.levels.index(level) + 1


class _Level(NamedTuple):
    """One vertebra's placement (mm, relative to the volume centre) and segment limits along S."""

    width: float
    depth: float
    height: float
    z: float  # centre of the body along S
    a: float  # centre of the body along A
    r: float  # centre along R
    z_lo: float  # the vertebra's label lives in [z_lo, z_hi): from disc mid-plane to disc mid-plane
    z_hi: float


def _check_levels(levels: Sequence[str]) -> tuple[str, ...]:
    """Levels as a tuple; ValueError when empty, duplicated, unknown or not superior-to-inferior."""
    names = tuple(levels)
    order = list(_LEVEL_DIMS_MM)
    unknown = [n for n in names if n not in _LEVEL_DIMS_MM]
    if not names or unknown or len(set(names)) != len(names):
        raise ValueError(f"levels must be distinct names from {', '.join(order)}; got {names}")
    idx = [order.index(n) for n in names]
    if idx != list(range(idx[0], idx[0] + len(idx))):
        raise ValueError(f"levels must be consecutive and listed superior to inferior, got {names}")
    return names


def _layout(levels: tuple[str, ...], rng: np.random.Generator) -> list[_Level]:
    """Stack the levels along S, centred on the volume, with per-seed size jitter and a lordosis.

    The stack spans half the disc above the first level, the bodies and discs, and half the disc below
    the last level; each vertebra's label segment runs from disc mid-plane to disc mid-plane.
    """
    order = list(_LEVEL_DIMS_MM)
    first = order.index(levels[0])
    disc_top = _LEVEL_DIMS_MM[order[first - 1] if first > 0 else levels[0]][3]
    dims = [np.array(_LEVEL_DIMS_MM[n]) * rng.uniform(0.96, 1.04) for n in levels]
    discs = [disc_top] + [float(d[3]) for d in dims]  # discs[n] is above level n, discs[n + 1] below it
    span = discs[0] / 2 + sum(float(d[2]) for d in dims) + sum(discs[1:-1]) + discs[-1] / 2
    lordosis, shift_r = rng.uniform(3.0, 7.0), rng.uniform(-2.0, 2.0)
    apex = span / 2 - 0.6 * span  # lordosis apex near L3/L4 for L1-L5
    out, z_hi = [], span / 2
    for n, d in enumerate(dims):
        width, depth, height = float(d[0]), float(d[1]), float(d[2])
        z = z_hi - discs[n] / 2 - height / 2
        u = (z - apex) / (span / 2)
        a = _SPINE_A_MM + lordosis * max(0.0, 1.0 - u * u)
        z_lo = z - height / 2 - discs[n + 1] / 2
        out.append(_Level(width, depth, height, z, a, shift_r, z_lo, z_hi))
        z_hi = z_lo
    return out


def _ijk_to_ras(shape_kji: tuple[int, int, int], spacing: tuple[float, float, float]) -> np.ndarray:
    """The 4x4 matrix with direction diag(-1, -1, 1), spacing (i, j, k) mm, centred on the volume centre."""
    m = np.eye(4)
    m[:3, :3] = np.diag([-spacing[0], -spacing[1], spacing[2]])
    half_ijk = (np.array(shape_kji[::-1], float) - 1.0) / 2.0
    m[:3, 3] = np.array(_VOLUME_CENTER_RAS) - m[:3, :3] @ half_ijk
    return m


def _axes_mm(m: np.ndarray, shape_kji: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Voxel-centre coordinates relative to the volume centre, broadcastable over (k, j, i).

    Returns (x, y, z) = (R, A, S) offsets in mm; valid because the direction matrix is diagonal.
    """
    c = _VOLUME_CENTER_RAS
    x = m[0, 0] * np.arange(shape_kji[2]) + m[0, 3] - c[0]
    y = m[1, 1] * np.arange(shape_kji[1]) + m[1, 3] - c[1]
    z = m[2, 2] * np.arange(shape_kji[0]) + m[2, 3] - c[2]
    return x[None, None, :], y[None, :, None], z[:, None, None]


def _box(
    x: np.ndarray,
    y: np.ndarray,
    z: np.ndarray,
    xr: tuple[float, float],
    yr: tuple[float, float],
    zr: tuple[float, float],
) -> np.ndarray:
    """Voxels with x, y, z each inside its closed range (lo, hi)."""
    return (x >= xr[0]) & (x <= xr[1]) & (y >= yr[0]) & (y <= yr[1]) & (z >= zr[0]) & (z <= zr[1])


def _ellipse(x: np.ndarray, y: np.ndarray, cx: float, cy: float, ax: float, ay: float) -> np.ndarray:
    """Voxels inside the ellipse centred at (cx, cy) with semi-axes (ax, ay) in the x-y plane."""
    return ((x - cx) / ax) ** 2 + ((y - cy) / ay) ** 2 <= 1.0


def _vertebra(x: np.ndarray, y: np.ndarray, z: np.ndarray, lv: _Level) -> np.ndarray:
    """Mask of one vertebra (body + posterior elements); x, y, z are offsets from the body centre."""
    hw, hd, hh = lv.width / 2, lv.depth / 2, lv.height / 2
    cw, back = _CANAL_WIDTH_MM / 2, -hd - _CANAL_DEPTH_MM  # canal half-width; A of the canal's back
    lat = cw + _PEDICLE_WIDTH_MM  # lateral edge of pedicles and laminae
    ped_z = (hh - 16.0, hh - 1.0)  # pedicles join the upper part of the body
    body = _ellipse(x, y, 0.0, 0.0, hw, hd) & (np.abs(z) <= hh)
    pedicles = _box(np.abs(x), y, z, (cw, lat), (back - 3.0, -hd + 8.0), ped_z)  # reach into the body
    laminae = _box(np.abs(x), y, z, (0.0, lat), (back - _LAMINA_MM, back), (-hh - 2.0, hh - 4.0))
    tilt = z + 0.15 * (back - y)  # the spinous process slopes down as it goes posterior
    spinous = _box(np.abs(x), y, tilt, (0.0, 3.5), (back - _LAMINA_MM - _SPINOUS_MM, back - 1.0), (-9, 6))
    transverse = _box(
        np.abs(x), y, z, (lat - 3.0, 0.87 * lv.width), (-hd - 11.0, -hd - 3.0), (-16 + hh, hh - 6)
    )
    sup_art = _box(np.abs(x), y, z, (cw + 1.0, lat + 3.0), (back - 2.0, back + 6.0), (hh - 6.0, hh + 10.0))
    inf_art = _box(
        np.abs(x), y, z, (cw - 1.0, lat), (back - _LAMINA_MM - 2.0, back - 2.0), (-hh - 10, -hh + 4)
    )
    segment = (z >= lv.z_lo - lv.z) & (z < lv.z_hi - lv.z)
    return (body | pedicles | laminae | spinous | transverse | sup_art | inf_art) & segment


def _disc(x: np.ndarray, y: np.ndarray, z: np.ndarray, upper: _Level, lower: _Level) -> np.ndarray:
    """Mask of the disc between two bodies: an elliptic cylinder interpolated between their footprints."""
    z_top, z_bot = upper.z - upper.height / 2, lower.z + lower.height / 2
    t = np.clip((z - z_bot) / max(z_top - z_bot, 1e-6), 0.0, 1.0)
    cy = lower.a + t * (upper.a - lower.a)
    ax = (lower.width + t * (upper.width - lower.width)) / 2
    ay = (lower.depth + t * (upper.depth - lower.depth)) / 2
    inside = ((x - upper.r) / ax) ** 2 + ((y - cy) / ay) ** 2 <= 1.0
    return inside & (z > z_bot) & (z < z_top)


def _trunk_hu(x: np.ndarray, y: np.ndarray, shape_kji: tuple[int, int, int]) -> np.ndarray:
    """Air, fat ring and soft tissue (HU), identical on every slice."""
    ax, ay = _TRUNK_SEMI_AXES_MM
    hu = np.full(np.broadcast_shapes(x.shape, y.shape), HU_AIR)
    hu[_ellipse(x, y, 0.0, _TRUNK_CENTER_A_MM, ax, ay)] = HU_FAT
    hu[_ellipse(x, y, 0.0, _TRUNK_CENTER_A_MM, ax - _FAT_MM, ay - _FAT_MM)] = HU_SOFT
    return np.broadcast_to(hu, shape_kji).copy()


def _spine(
    x: np.ndarray, y: np.ndarray, z: np.ndarray, layout: list[_Level], shape_kji: tuple[int, int, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels (uint8), disc mask and spinal-canal mask of the whole stack."""
    labels = np.zeros(shape_kji, np.uint8)
    discs = np.zeros(shape_kji, bool)
    for n, lv in enumerate(layout):
        labels[_vertebra(x - lv.r, y - lv.a, z - lv.z, lv)] = n + 1
    for upper, lower in zip(layout[:-1], layout[1:], strict=True):
        discs |= _disc(x, y, z, upper, lower)
    a_of_z = np.interp(z, [lv.z for lv in layout[::-1]], [lv.a for lv in layout[::-1]])
    back = a_of_z - np.interp(z, [lv.z for lv in layout[::-1]], [lv.depth / 2 for lv in layout[::-1]])
    canal = (np.abs(x - layout[0].r) < _CANAL_WIDTH_MM / 2) & (y < back) & (y > back - _CANAL_DEPTH_MM)
    return labels, discs & (labels == 0), canal & (labels == 0)


def _bone_hu(labels: np.ndarray) -> np.ndarray:
    """HU in the vertebrae (nan elsewhere): cortical on each label's 1-voxel face border, else cancellous."""
    cross = ndimage.generate_binary_structure(3, 1)
    low = ndimage.grey_erosion(labels, footprint=cross, mode="constant", cval=0)
    high = ndimage.grey_dilation(labels, footprint=cross, mode="constant", cval=0)
    hu = np.full(labels.shape, np.nan)
    hu[labels > 0] = HU_CORTICAL
    hu[(labels > 0) & (low == labels) & (high == labels)] = HU_CANCELLOUS
    return hu


def make_lumbar_phantom(
    seed: int = 0,
    shape_kji: tuple[int, int, int] = (76, 128, 144),
    spacing: tuple[float, float, float] = (1.5, 1.5, 2.5),
    levels: Sequence[str] = ("L1", "L2", "L3", "L4", "L5"),
    noise_hu: float = 20.0,
) -> Phantom:
    """Build a labelled lumbar CT phantom (see the module docstring for anatomy and conventions).

    Args:
        seed: seeds the size jitter, lordosis and noise; equal seeds give identical phantoms.
        shape_kji: array shape (k, j, i). The default covers 216 x 192 x 190 mm (R x A x S) in 1.4 M voxels.
        spacing: voxel size in mm along (i, j, k), like ITK/Slicer spacing.
        levels: consecutive level names among T11-L5, superior to inferior; label n is ``levels[n - 1]``.
        noise_hu: standard deviation of the additive Gaussian noise in HU (0 for a noise-free image).

    Raises ValueError for unknown or unordered levels, or when the spine does not fit in the grid.
    """
    names = _check_levels(levels)
    if not noise_hu >= 0:
        raise ValueError(f"noise_hu must be >= 0, got {noise_hu}")
    rng = np.random.default_rng(seed)
    shape = tuple(int(v) for v in shape_kji)
    m = _ijk_to_ras(shape, tuple(float(s) for s in spacing))
    x, y, z = _axes_mm(m, shape)
    labels, discs, canal = _spine(x, y, z, _layout(names, rng), shape)
    _check_fits(labels, len(names))
    hu = _trunk_hu(x, y, shape)
    hu[canal] = HU_CSF
    hu[discs] = HU_DISC
    bone = _bone_hu(labels)
    hu = np.where(np.isnan(bone), hu, bone)
    sigma_vox = [_BLUR_SIGMA_MM / s for s in (spacing[2], spacing[1], spacing[0])]
    hu = ndimage.gaussian_filter(hu, sigma_vox)
    if noise_hu > 0:
        hu += rng.normal(0.0, noise_hu, shape)
    image = np.clip(np.rint(hu), -1024, 3071).astype(np.int16)
    return Phantom(image=image, labels=labels, ijk_to_ras=m, levels=names)


def _check_fits(labels: np.ndarray, n_levels: int) -> None:
    """ValueError when a level is missing or any vertebra touches the edge of the grid."""
    present = set(np.unique(labels).tolist()) - {0}
    edges = [labels[0], labels[-1], labels[:, 0], labels[:, -1], labels[:, :, 0], labels[:, :, -1]]
    if present != set(range(1, n_levels + 1)) or any(e.any() for e in edges):
        raise ValueError(
            "the spine does not fit in shape_kji x spacing; enlarge the grid or use fewer levels"
        )


def phantom_roi(phantom: Phantom, level: str, margin_mm: float = 3.0) -> Roi:
    """The RAS box enclosing ``level``'s labelled voxels (their full extent, +-half a voxel) plus a margin.

    The voxel bounding box's corners are mapped through ``ijk_to_ras`` and the box is taken in RAS, so
    the direction flips are handled. Returns a :class:`~SpinalSAMR1Lib.geometry.Roi` (axes ``eye(3)``).
    """
    return label_roi(phantom.labels, phantom.label_value(level), phantom.ijk_to_ras, margin_mm)
