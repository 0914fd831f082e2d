"""Voxel/world geometry: the one home for IJK <-> RAS, views, slices and prompt mapping.

Conventions (Slicer's):
- A volume is a numpy array indexed ``[k, j, i]`` plus a 4x4 ``ijk_to_ras`` matrix with
  ``ras = ijk_to_ras @ [i, j, k, 1]``. Array axis 0 is IJK axis 2 (k), array axis 2 is IJK axis 0 (i).
- Coordinates are in millimetres, RAS (x = Right, y = Anterior, z = Superior).
- A 2D slice is shown as a clinician sees it in Slicer's default slice views (radiological
  convention): axial has patient Left on the screen's right and Posterior at the bottom; sagittal has
  Posterior on the right and Inferior at the bottom; coronal has Left on the right and Inferior at the
  bottom. 2D pixel coordinates are ``(x, y) = (column, row)`` with pixel centres at integers.
- Alignment between images is always through world coordinates, never by array index.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import InputError

VIEWS: tuple[str, ...] = ("axial", "sagittal", "coronal")

# For each view: (normal, screen-right direction, screen-down direction) in RAS.
_SCREEN_AXES_RAS: dict[str, tuple[tuple[float, float, float], ...]] = {
    "axial": ((0, 0, 1), (-1, 0, 0), (0, -1, 0)),
    "sagittal": ((1, 0, 0), (0, -1, 0), (0, 0, -1)),
    "coronal": ((0, 1, 0), (-1, 0, 0), (0, 0, -1)),
}

# Real CTs come a few degrees tilted (gantry tilt, patient position: 4-8 degrees in our data). They are
# segmented in the voxel planes nearest the view, with prompts and results mapped through the full
# matrix; only a volume whose axes are so tilted that the nearest plane is ambiguous is refused.
DEFAULT_OBLIQUE_TOLERANCE_DEG = 30.0


class ObliqueViewError(InputError):
    """The volume's voxel axes are not aligned with the requested view (an :class:`InputError`, so a
    ``ValueError``: the user's volume, not a bug)."""


@dataclass(frozen=True)
class ViewFrame:
    """How one anatomical view maps onto a volume's voxel grid.

    Attributes:
        view: "axial", "sagittal" or "coronal".
        normal_ijk: IJK axis (0 = i, 1 = j, 2 = k) along the view normal; the slice index runs on it.
        row_ijk: IJK axis shown as image rows (y, downwards on screen).
        col_ijk: IJK axis shown as image columns (x, rightwards on screen).
        row_flip: True when increasing row means decreasing voxel index.
        col_flip: True when increasing column means decreasing voxel index.
        shape_ijk: volume size per IJK axis (ni, nj, nk).
    """

    view: str
    normal_ijk: int
    row_ijk: int
    col_ijk: int
    row_flip: bool
    col_flip: bool
    shape_ijk: tuple[int, int, int]

    @property
    def num_slices(self) -> int:
        return self.shape_ijk[self.normal_ijk]

    @property
    def slice_shape(self) -> tuple[int, int]:
        """(rows, columns) of every 2D slice in this view."""
        return self.shape_ijk[self.row_ijk], self.shape_ijk[self.col_ijk]


@dataclass(frozen=True)
class Roi:
    """A box in RAS: centre (mm), full size along its own axes (mm), axes as columns of a 3x3 matrix."""

    center: np.ndarray
    size: np.ndarray
    axes: np.ndarray = field(default_factory=lambda: np.eye(3))

    def __post_init__(self) -> None:
        object.__setattr__(self, "center", np.asarray(self.center, float).reshape(3))
        object.__setattr__(self, "size", np.asarray(self.size, float).reshape(3))
        object.__setattr__(self, "axes", np.asarray(self.axes, float).reshape(3, 3))

    def contains(self, points_ras: np.ndarray) -> np.ndarray:
        """(N,) bool: which RAS points (N, 3) lie inside the box (its own axes; faces included)."""
        local = (np.asarray(points_ras, float).reshape(-1, 3) - self.center) @ self.axes
        return np.all(np.abs(local) <= self.size / 2.0 + 1e-6, axis=1)

    def corners(self) -> np.ndarray:
        """The 8 corners in RAS, shape (8, 3)."""
        half = np.asarray(self.size, float) / 2.0
        signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], float)
        axes = np.asarray(self.axes, float)
        return np.asarray(self.center, float)[None, :] + (signs * half[None, :]) @ axes.T


def _as_matrix(ijk_to_ras: np.ndarray) -> np.ndarray:
    m = np.asarray(ijk_to_ras, dtype=float)
    if m.shape != (4, 4):
        raise InputError(f"ijk_to_ras must be a 4x4 matrix, got shape {m.shape}")
    if abs(np.linalg.det(m[:3, :3])) < 1e-12:
        raise InputError("ijk_to_ras is singular (zero spacing or degenerate directions)")
    return m


def spacing_ijk(ijk_to_ras: np.ndarray) -> np.ndarray:
    """Voxel spacing in mm per IJK axis (i, j, k): the norms of the matrix's first three columns."""
    return np.linalg.norm(_as_matrix(ijk_to_ras)[:3, :3], axis=0)


def spacing_kji(ijk_to_ras: np.ndarray) -> np.ndarray:
    """Voxel spacing in mm per numpy array axis (k, j, i), e.g. for metrics on ``array``."""
    return spacing_ijk(ijk_to_ras)[::-1].copy()


def ijk_to_ras_points(points_ijk: np.ndarray, ijk_to_ras: np.ndarray) -> np.ndarray:
    """Map continuous IJK points (N, 3) to RAS mm (N, 3)."""
    m = _as_matrix(ijk_to_ras)
    p = np.atleast_2d(np.asarray(points_ijk, float))
    return p @ m[:3, :3].T + m[:3, 3]


def ras_to_ijk_points(points_ras: np.ndarray, ijk_to_ras: np.ndarray) -> np.ndarray:
    """Map RAS mm points (N, 3) to continuous IJK (N, 3) with the full inverse matrix."""
    inv = np.linalg.inv(_as_matrix(ijk_to_ras))
    p = np.atleast_2d(np.asarray(points_ras, float))
    return p @ inv[:3, :3].T + inv[:3, 3]


def make_ijk_to_ras(
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0),
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0),
    directions: np.ndarray | None = None,
) -> np.ndarray:
    """Build an IJK-to-RAS matrix from spacing (i, j, k) mm, origin (RAS mm) and direction columns."""
    d = np.eye(3) if directions is None else np.asarray(directions, float)
    m = np.eye(4)
    m[:3, :3] = d * np.asarray(spacing, float)[None, :]
    m[:3, 3] = origin
    return m


def view_frame(
    ijk_to_ras: np.ndarray,
    shape_kji: tuple[int, ...],
    view: str,
    tolerance_deg: float = DEFAULT_OBLIQUE_TOLERANCE_DEG,
) -> ViewFrame:
    """Choose, from the direction matrix, the voxel axes that show ``view`` as a clinician sees it.

    Works for any axis permutation and flip (LPS-stored, flipped, sagittally acquired volumes) and for
    tilted volumes: the slices are then the voxel planes nearest the view (tilted by the volume's angle),
    and every prompt and result goes through the full matrix, so nothing is misplaced. Raises
    ObliqueViewError when a voxel axis is more than ``tolerance_deg`` away from the view's screen axes
    (near 45 degrees the nearest plane is ambiguous).
    """
    if view not in _SCREEN_AXES_RAS:
        raise InputError(f"unknown view {view!r}; expected one of {', '.join(VIEWS)}")
    m = _as_matrix(ijk_to_ras)
    if len(shape_kji) != 3:
        raise InputError(f"a volume must be 3D (k, j, i), got shape {tuple(shape_kji)}")
    unit = m[:3, :3] / np.linalg.norm(m[:3, :3], axis=0)[None, :]
    targets = [np.asarray(v, float) for v in _SCREEN_AXES_RAS[view]]
    chosen: list[int] = []
    signs: list[bool] = []
    for target in targets:
        dots = unit.T @ target
        dots[chosen] = 0.0
        axis = int(np.argmax(np.abs(dots)))
        angle = np.degrees(np.arccos(min(1.0, abs(dots[axis]))))
        if angle > tolerance_deg:
            raise ObliqueViewError(
                f"volume axes are {angle:.1f} degrees oblique to the {view} view "
                f"(at most {tolerance_deg:g} degrees are segmented in the nearest voxel planes); "
                "reslice the volume first"
            )
        chosen.append(axis)
        signs.append(bool(dots[axis] < 0))
    ni, nj, nk = int(shape_kji[2]), int(shape_kji[1]), int(shape_kji[0])
    return ViewFrame(
        view=view,
        normal_ijk=chosen[0],
        col_ijk=chosen[1],
        row_ijk=chosen[2],
        col_flip=signs[1],
        row_flip=signs[2],
        shape_ijk=(ni, nj, nk),
    )


def screen_axes_ras(view: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(normal, screen-right, screen-down) unit vectors in RAS of ``view`` as a clinician sees it."""
    if view not in _SCREEN_AXES_RAS:
        raise InputError(f"unknown view {view!r}; expected one of {', '.join(VIEWS)}")
    normal, right, down = (np.asarray(v, float) for v in _SCREEN_AXES_RAS[view])
    return normal, right, down


def pixel_spacing(ijk_to_ras: np.ndarray, frame: ViewFrame) -> tuple[float, float]:
    """(row, column) pixel size in mm of the frame's 2D slices."""
    sp = spacing_ijk(ijk_to_ras)
    return float(sp[frame.row_ijk]), float(sp[frame.col_ijk])


def _slice_view(array: np.ndarray, frame: ViewFrame, index: int) -> np.ndarray:
    """A writable numpy view (rows, cols) of slice ``index``; array axes are 2 - IJK axis."""
    if not 0 <= index < frame.num_slices:
        raise IndexError(f"slice {index} is outside 0..{frame.num_slices - 1} of the {frame.view} view")
    moved = np.moveaxis(array, [2 - frame.normal_ijk, 2 - frame.row_ijk, 2 - frame.col_ijk], [0, 1, 2])
    plane = moved[index]
    if frame.row_flip:
        plane = plane[::-1, :]
    if frame.col_flip:
        plane = plane[:, ::-1]
    return plane


def extract_slice(array: np.ndarray, frame: ViewFrame, index: int) -> np.ndarray:
    """Slice ``index`` of a (k, j, i) array as a contiguous 2D image (rows, cols) in display orientation."""
    return np.ascontiguousarray(_slice_view(array, frame, index))


def insert_slice(array: np.ndarray, frame: ViewFrame, index: int, image: np.ndarray) -> None:
    """Write a 2D image (rows, cols) in display orientation into slice ``index`` of ``array`` in place."""
    plane = _slice_view(array, frame, index)
    if plane.shape != image.shape:
        raise ValueError(f"slice shape {image.shape} does not match the view's {plane.shape}")
    plane[...] = image


def slice_box_kji(frame: ViewFrame, index: int) -> tuple[int, int, int, int, int, int]:
    """The inclusive voxel box (k0, k1, j0, j1, i0, i1) of slice ``index`` in a (k, j, i) array."""
    if not 0 <= index < frame.num_slices:
        raise IndexError(f"slice {index} is outside 0..{frame.num_slices - 1} of the {frame.view} view")
    i_last, j_last, k_last = (n - 1 for n in frame.shape_ijk)
    lo, hi = [0, 0, 0], [k_last, j_last, i_last]
    lo[2 - frame.normal_ijk] = hi[2 - frame.normal_ijk] = index  # array axes are 2 - IJK axis
    return lo[0], hi[0], lo[1], hi[1], lo[2], hi[2]


@dataclass(frozen=True)
class VoxelBox:
    """A box of a (k, j, i) voxel grid: ``lo_kji`` inclusive, ``hi_kji`` exclusive, array order.

    Holds a crop's position so that work on a large volume can keep only the crop in memory while the
    slices it reads stay whole (a model sees the same pixels as without the crop).
    """

    lo_kji: tuple[int, int, int]
    hi_kji: tuple[int, int, int]

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(b - a) for a, b in zip(self.lo_kji, self.hi_kji, strict=True))

    @property
    def slices(self) -> tuple[slice, slice, slice]:
        return tuple(slice(a, b) for a, b in zip(self.lo_kji, self.hi_kji, strict=True))

    @classmethod
    def around_roi(cls, roi: Roi, ijk_to_ras: np.ndarray, shape_kji: tuple[int, ...], pad: int = 1):
        """The voxels whose centres may lie inside ``roi`` (its corners bound it: a box is convex),
        grown by ``pad`` voxels and clipped to the grid; an ROI off the grid gives an empty box."""
        corners_kji = ras_to_ijk_points(roi.corners(), ijk_to_ras)[:, ::-1]
        size = np.asarray(shape_kji[:3], int)
        lo = np.clip(np.floor(corners_kji.min(axis=0)).astype(int) - pad, 0, size)
        hi = np.clip(np.ceil(corners_kji.max(axis=0)).astype(int) + 1 + pad, 0, size)
        return cls(tuple(int(v) for v in lo), tuple(int(v) for v in np.maximum(hi, lo)))

    def ijk_to_ras(self, ijk_to_ras: np.ndarray) -> np.ndarray:
        """The 4x4 IJK-to-RAS matrix of the crop's own grid (its voxel 0 is this box's ``lo_kji``)."""
        shift = np.eye(4)
        shift[:3, 3] = self.lo_kji[::-1]
        return _as_matrix(ijk_to_ras) @ shift

    def insert_slice(self, crop: np.ndarray, frame: ViewFrame, index: int, image: np.ndarray) -> None:
        """Write the part inside this box of a whole slice (``index`` of ``frame``, display orientation,
        as :func:`insert_slice` takes it) into ``crop``, this box's array; a slice outside does nothing."""
        n, r, c = (2 - frame.normal_ijk, 2 - frame.row_ijk, 2 - frame.col_ijk)  # array axes
        if image.shape != frame.slice_shape:
            raise ValueError(f"slice shape {image.shape} does not match the view's {frame.slice_shape}")
        if not self.lo_kji[n] <= index < self.hi_kji[n]:
            return
        plane = image[::-1, :] if frame.row_flip else image  # rows, cols now run with array axes r, c
        plane = plane[:, ::-1] if frame.col_flip else plane
        moved = np.moveaxis(crop, [n, r, c], [0, 1, 2])
        moved[index - self.lo_kji[n]] = plane[
            self.lo_kji[r] : self.hi_kji[r], self.lo_kji[c] : self.hi_kji[c]
        ]

    def paste(self, crop: np.ndarray, shape_kji: tuple[int, ...], dtype=None) -> np.ndarray:
        """A whole-grid array of ``shape_kji``, zero outside this box, ``crop`` inside."""
        out = np.zeros(shape_kji, dtype or crop.dtype)
        out[self.slices] = crop
        return out


def ijk_to_slice_coords(points_ijk: np.ndarray, frame: ViewFrame) -> np.ndarray:
    """Continuous IJK (N, 3) to (slice, x, y) (N, 3) in the frame's display orientation."""
    p = np.atleast_2d(np.asarray(points_ijk, float))
    ni = np.asarray(frame.shape_ijk, float)
    s = p[:, frame.normal_ijk]
    x = p[:, frame.col_ijk]
    y = p[:, frame.row_ijk]
    if frame.col_flip:
        x = ni[frame.col_ijk] - 1 - x
    if frame.row_flip:
        y = ni[frame.row_ijk] - 1 - y
    return np.stack([s, x, y], axis=1)


def slice_coords_to_ijk(coords: np.ndarray, frame: ViewFrame) -> np.ndarray:
    """(slice, x, y) (N, 3) in display orientation back to continuous IJK (N, 3). Exact inverse."""
    c = np.atleast_2d(np.asarray(coords, float))
    ni = np.asarray(frame.shape_ijk, float)
    x = ni[frame.col_ijk] - 1 - c[:, 1] if frame.col_flip else c[:, 1]
    y = ni[frame.row_ijk] - 1 - c[:, 2] if frame.row_flip else c[:, 2]
    out = np.zeros((c.shape[0], 3))
    out[:, frame.normal_ijk] = c[:, 0]
    out[:, frame.col_ijk] = x
    out[:, frame.row_ijk] = y
    return out


def ras_to_slice_coords(points_ras: np.ndarray, ijk_to_ras: np.ndarray, frame: ViewFrame) -> np.ndarray:
    """RAS points (N, 3) to continuous (slice, x, y) (N, 3) of ``frame``."""
    return ijk_to_slice_coords(ras_to_ijk_points(points_ras, ijk_to_ras), frame)


def slice_coords_to_ras(coords: np.ndarray, ijk_to_ras: np.ndarray, frame: ViewFrame) -> np.ndarray:
    """(slice, x, y) (N, 3) of ``frame`` to RAS mm (N, 3)."""
    return ijk_to_ras_points(slice_coords_to_ijk(coords, frame), ijk_to_ras)


def points_to_slice(
    points_ras: np.ndarray, ijk_to_ras: np.ndarray, frame: ViewFrame
) -> tuple[np.ndarray, np.ndarray]:
    """RAS prompt points to (nearest slice index (N,) int, 2D pixel xy (N, 2) float)."""
    c = ras_to_slice_coords(points_ras, ijk_to_ras, frame)
    return np.rint(c[:, 0]).astype(int), c[:, 1:3]


def roi_to_box(roi: Roi, ijk_to_ras: np.ndarray, frame: ViewFrame) -> tuple[np.ndarray, tuple[int, int]]:
    """Project an ROI to a 2D box and a slice range in ``frame``.

    Returns ``(box, (first, last))``: box = (x_min, y_min, x_max, y_max) in pixels, the min/max of all
    8 projected corners clipped to the slice; first..last (inclusive) are the slices whose centres lie
    inside the ROI's extent along the normal. Raises ValueError when the ROI misses the volume.
    """
    c = ras_to_slice_coords(roi.corners(), ijk_to_ras, frame)
    rows, cols = frame.slice_shape
    lo, hi = c.min(axis=0), c.max(axis=0)
    first = max(0, int(np.ceil(lo[0] - 1e-6)))
    last = min(frame.num_slices - 1, int(np.floor(hi[0] + 1e-6)))
    box = np.array(
        [max(0.0, lo[1]), max(0.0, lo[2]), min(cols - 1.0, hi[1]), min(rows - 1.0, hi[2])], dtype=float
    )
    if first > last or box[0] > box[2] or box[1] > box[3]:
        raise InputError("the ROI does not overlap the volume")
    return box, (first, last)


def mask_centroid_ras(mask: np.ndarray, ijk_to_ras: np.ndarray) -> np.ndarray:
    """(3,) RAS mm of the mean voxel centre of a (k, j, i) mask (the transform is affine, so the mean is
    taken in voxel space); NaN when the mask is empty."""
    kji = np.argwhere(np.asarray(mask))
    if not len(kji):
        return np.full(3, np.nan)
    return ijk_to_ras_points(kji.mean(axis=0)[None, ::-1], ijk_to_ras)[0]


def label_roi(labels: np.ndarray, label: int, ijk_to_ras: np.ndarray, margin_mm: float = 0.0) -> Roi:
    """RAS-aligned ROI around the full extent of the voxels equal to ``label`` (their centres +- half a
    voxel, corners mapped through ``ijk_to_ras``), grown by ``margin_mm`` on every side."""
    kk, jj, ii = np.nonzero(labels == label)
    if len(ii) == 0:
        raise InputError(f"label {label} is not present in the label map")
    lo = np.array([ii.min(), jj.min(), kk.min()], float) - 0.5
    hi = np.array([ii.max(), jj.max(), kk.max()], float) + 0.5
    corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
    ras = ijk_to_ras_points(corners, ijk_to_ras)
    rlo, rhi = ras.min(axis=0) - margin_mm, ras.max(axis=0) + margin_mm
    return Roi(center=(rlo + rhi) / 2, size=rhi - rlo)


def resample_nearest(
    src_array: np.ndarray,
    src_ijk_to_ras: np.ndarray,
    ref_shape_kji: tuple[int, int, int],
    ref_ijk_to_ras: np.ndarray,
    fill: int | float = 0,
) -> np.ndarray:
    """Resample a (k, j, i) image onto a reference grid by physical (RAS) position, nearest neighbour.

    Used for label maps stored with another origin/direction than the image they belong to. Voxels of
    the reference that fall outside the source get ``fill``.
    """
    src = _as_matrix(src_ijk_to_ras)
    ref = _as_matrix(ref_ijk_to_ras)
    ref_to_src = np.linalg.inv(src) @ ref
    nk, nj, ni = ref_shape_kji
    out = np.full((nk, nj, ni), fill, dtype=src_array.dtype)
    jj, ii = np.meshgrid(np.arange(nj), np.arange(ni), indexing="ij")
    plane = np.stack([ii.ravel(), jj.ravel(), np.zeros(ii.size)], axis=1).astype(float)
    sk, sj, si = src_array.shape
    for k in range(nk):
        plane[:, 2] = k
        p = np.rint(plane @ ref_to_src[:3, :3].T + ref_to_src[:3, 3]).astype(np.int64)
        ok = (
            (p[:, 0] >= 0)
            & (p[:, 0] < si)
            & (p[:, 1] >= 0)
            & (p[:, 1] < sj)
            & (p[:, 2] >= 0)
            & (p[:, 2] < sk)
        )
        vals = out[k].reshape(-1)
        vals[ok] = src_array[p[ok, 2], p[ok, 1], p[ok, 0]]
    return out
