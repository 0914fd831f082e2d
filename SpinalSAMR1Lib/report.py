"""The spine report: per vertebra, volume, vertebral-body heights, compression and trabecular HU.

Conventions (all lengths in mm, positions in RAS, label values in VerSe numbering, :mod:`.anatomy`):

- **Local frame** of vertebra V: ``u`` points cranially along the spine (from the centroid of the
  vertebra below V to that of the one above; one-sided at the ends; RAS S when V is alone), ``a``
  points anteriorly (RAS A made orthogonal to ``u``), ``l = u x a``.
- **Body** (not the posterior elements): in the mid-sagittal slab of V (|l| <= 3 mm, or one voxel),
  the voxels from V's most anterior point back to the spinal canal, the first gap of at least
  ``CANAL_GAP_MM`` along ``a``; the body is every voxel of V in front of that gap.
- **Heights** ``Ha``, ``Hm``, ``Hp``: the body's extent along ``u`` in the mid-sagittal slab, at 15 %,
  50 % and 85 % of its depth from the front (2nd-98th percentile), each over a 3 mm wide column; voxels count with their full
  extent along ``u``.
- **Height loss** (quantitative morphometry behind Genant's semi-quantitative grades): the largest of
  the anterior wedge ``1 - Ha/Hp``, the biconcavity ``1 - Hm/max(Ha, Hp)`` and the crush
  ``1 - Hp/mean(Hp of both adjacent levels)`` (when both are present; not for L5/L6); ``compression`` when it is >= 20 %;
  Genant grade 0 (< 20 %), 1 (20-25 %), 2 (25-40 %), 3 (>= 40 %).
- **Trabecular HU**: the mean CT value of the body's voxels at least ``SHELL_MM`` from its surface (the
  cortical shell and partial-volume rim left out); < 100 HU is flagged (opportunistic CT screening for
  low bone density, e.g. Pickhardt et al., Ann Intern Med 2013).
- **Lumbar lordosis**: the angle between L1's superior and L5's inferior endplate (planes fitted to the
  body's top and bottom surfaces), projected on the sagittal (A, S) plane, in degrees (Cobb L1-L5).
"""

from __future__ import annotations

import csv
import io as _io
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from . import geometry as geo
from .anatomy import cranial_to_caudal, level_name
from .atomic import atomic_path
from .errors import InputError

MIN_PICTURE_PX_PER_MM = 1.5  # pictures of thick-slice CTs are enlarged to at least this

CANAL_GAP_MM = 3.0
SLAB_MM = 3.0  # half-width of the mid-sagittal slab and of each height column
SHELL_MM = 3.0
COMPRESSION_LOSS = 0.20
LOW_HU = 100.0
# L5 (and L6) are normally shorter behind than L4: a crush against the neighbours would flag every one.
NO_CRUSH_LABELS = (24, 25)
GENANT_STEPS = (0.20, 0.25, 0.40)
HEIGHT_AT = (0.15, 0.5, 0.85)  # fractions of the body's depth from the front: Ha, Hm, Hp


@dataclass
class VertebraReport:
    """One row of the report (see the module docstring for every definition)."""

    level: str
    label: int
    volume_ml: float
    centroid_ras: list[float]
    height_anterior_mm: float | None
    height_middle_mm: float | None
    height_posterior_mm: float | None
    height_loss: float | None
    genant_grade: int | None
    compression: bool | None
    body_hu_mean: float | None
    low_bone_density: bool | None


@dataclass
class _Frame:
    centroid: np.ndarray  # (3,) RAS
    u: np.ndarray
    a: np.ndarray
    lat: np.ndarray


def spine_report(labels: np.ndarray, ijk_to_ras: np.ndarray, ct: np.ndarray | None = None) -> dict:
    """The report of every vertebra in a (k, j, i) label map (VerSe values) on ``ct``'s grid (the sacrum,
    26, has no vertebral body to measure and is left out).

    Returns ``{"vertebrae": [row, ...], "lordosis_l1_l5_deg": float | None, "findings": [...],
    "conventions": str}`` with rows as :class:`VertebraReport` dicts, cranial to caudal.
    """
    labels = np.asarray(labels)
    if labels.ndim != 3:
        raise InputError(f"the label map must be 3D, got shape {labels.shape}")
    if labels.size and (
        not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0 or labels.max() > 255
    ):
        whole = np.issubdtype(labels.dtype, np.integer) or bool(np.all(np.mod(labels, 1) == 0))
        if not whole or labels.min() < 0 or labels.max() > 255:
            raise InputError(
                f"this is not a label map (values {labels.min():g} to {labels.max():g}; vertebra labels are "
                "whole numbers 1-28, VerSe numbering): did you swap SEG and --ct?"
            )
    if ct is not None and np.shape(ct) != labels.shape:
        raise InputError(f"the CT {np.shape(ct)} and the label map {labels.shape} differ in size")
    values = cranial_to_caudal([int(v) for v in np.unique(labels) if v > 0 and v != 26])
    if not values:
        raise InputError("the label map holds no vertebra (no label between 1 and 25, or 28)")
    voxel_ml = abs(float(np.linalg.det(np.asarray(ijk_to_ras, float)[:3, :3]))) / 1000.0
    boxes = ndimage.find_objects(labels.astype(np.int32))
    points = {v: _voxels_ras(labels, v, boxes[v - 1], ijk_to_ras) for v in values}
    frames = _frames(values, {v: p[1].mean(axis=0) for v, p in points.items()})
    bodies, rows = {}, []
    for v in values:
        ijk, ras = points[v]
        body = _body(ras, frames[v], ijk_to_ras)
        bodies[v] = (ijk[body], ras[body])
        heights = _heights(ras[body], frames[v], ijk_to_ras)
        hu = _trabecular_hu(ijk[body], ijk_to_ras, ct) if ct is not None else None
        rows.append(
            VertebraReport(
                level_name(v),
                v,
                float(len(ras) * voxel_ml),
                [round(float(x), 2) for x in frames[v].centroid],
                *heights,
                None,
                None,
                None,
                hu,
                None if hu is None else bool(hu < LOW_HU),
            )  # fmt: skip
        )
    _grade(rows)
    return {
        "vertebrae": [asdict(r) for r in rows],
        "lordosis_l1_l5_deg": _lordosis(bodies, frames),
        "findings": _findings(rows),
        "conventions": "lengths in mm, HU, RAS; VerSe labels; see SpinalSAMR1Lib.report",
    }


# -- geometry of each vertebra --------------------------------------------------------------------------
def _voxels_ras(labels, value, box, ijk_to_ras) -> tuple[np.ndarray, np.ndarray]:
    """(ijk (N, 3) int, ras (N, 3) mm) of the voxels equal to ``value`` (searched in its bounding box)."""
    kk, jj, ii = np.nonzero(labels[box] == value)
    ijk = np.stack([ii + box[2].start, jj + box[1].start, kk + box[0].start], 1)
    return ijk, geo.ijk_to_ras_points(ijk.astype(float), ijk_to_ras)


def _frames(values: list[int], centroids: dict[int, np.ndarray]) -> dict[int, _Frame]:
    out = {}
    for n, v in enumerate(values):
        above = centroids[values[n - 1]] if n > 0 else centroids[v]
        below = centroids[values[n + 1]] if n + 1 < len(values) else centroids[v]
        u = above - below
        u = np.array([0.0, 0.0, 1.0]) if np.linalg.norm(u) < 1e-6 else u / np.linalg.norm(u)
        a = np.array([0.0, 1.0, 0.0]) - u[1] * u
        a = a / np.linalg.norm(a)
        out[v] = _Frame(centroids[v], u, a, np.cross(u, a))
    return out


def _local(ras: np.ndarray, f: _Frame) -> np.ndarray:
    """(N, 3) (u, a, l) coordinates in mm relative to the centroid."""
    d = ras - f.centroid
    return np.stack([d @ f.u, d @ f.a, d @ f.lat], 1)


def _extent(direction: np.ndarray, ijk_to_ras: np.ndarray) -> float:
    """Length of one voxel (a box of the voxel's three edge vectors) along a unit direction, mm."""
    return float(np.abs(direction @ np.asarray(ijk_to_ras, float)[:3, :3]).sum())


def _slab(loc: np.ndarray, f: _Frame, ijk_to_ras: np.ndarray) -> np.ndarray:
    half = max(SLAB_MM, 0.5 * _extent(f.lat, ijk_to_ras))
    return np.abs(loc[:, 2] - np.median(loc[:, 2])) <= half


def _body(ras: np.ndarray, f: _Frame, ijk_to_ras: np.ndarray) -> np.ndarray:
    """(N,) bool: the voxels of the vertebral body (in front of the spinal canal)."""
    loc = _local(ras, f)
    mid = loc[_slab(loc, f, ijk_to_ras), 1]
    if len(mid) == 0:
        return np.ones(len(ras), bool)
    step = 0.5 * max(_extent(f.a, ijk_to_ras), 1.0)  # bins finer than a voxel miss nothing
    bins = np.floor((mid.max() - mid) / step).astype(int)  # 0 at the front
    filled = np.zeros(bins.max() + 1, bool)
    filled[bins] = True
    gap = int(np.ceil(CANAL_GAP_MM / step))
    run, cut = 0, None
    for b, full in enumerate(filled):
        run = 0 if full else run + 1
        if run >= gap:
            cut = mid.max() - (b - run + 1) * step
            break
    return np.ones(len(ras), bool) if cut is None else loc[:, 1] > cut


def _heights(body_ras: np.ndarray, f: _Frame, ijk_to_ras: np.ndarray) -> tuple[float | None, ...]:
    """(Ha, Hm, Hp) in mm, each the extent along ``u`` of a 3 mm column of the mid-sagittal slab."""
    loc = _local(body_ras, f)
    loc = loc[_slab(loc, f, ijk_to_ras)]
    if len(loc) == 0:
        return None, None, None
    back, front = np.percentile(loc[:, 1], [2, 98])  # robust to a stray voxel or an osteophyte tip
    voxel_u = _extent(f.u, ijk_to_ras)
    half = max(SLAB_MM / 2, 0.5 * _extent(f.a, ijk_to_ras))
    out = []
    for frac in HEIGHT_AT:
        col = loc[np.abs(loc[:, 1] - (front - frac * (front - back))) <= half, 0]
        out.append(None if len(col) == 0 else round(float(col.max() - col.min() + voxel_u), 2))
    return tuple(out)


def _trabecular_hu(body_ijk: np.ndarray, ijk_to_ras: np.ndarray, ct: np.ndarray) -> float | None:
    """Mean HU of the body's voxels at least SHELL_MM inside it (the deepest half if none is)."""
    if len(body_ijk) == 0:
        return None
    lo, hi = body_ijk.min(axis=0), body_ijk.max(axis=0)
    mask = np.zeros(tuple((hi - lo + 3)[::-1]), bool)
    rel = body_ijk - lo + 1
    mask[rel[:, 2], rel[:, 1], rel[:, 0]] = True
    depth = ndimage.distance_transform_edt(mask, sampling=geo.spacing_kji(ijk_to_ras))
    inner = depth >= SHELL_MM
    if not inner.any():
        inner = depth >= 0.5 * depth.max()
    kk, jj, ii = np.nonzero(inner)
    values = ct[kk + lo[2] - 1, jj + lo[1] - 1, ii + lo[0] - 1]
    return round(float(np.mean(values)), 1)


# -- grading and spine-level measurements -----------------------------------------------------------------
def _grade(rows: list[VertebraReport]) -> None:
    for n, r in enumerate(rows):
        ha, hm, hp = r.height_anterior_mm, r.height_middle_mm, r.height_posterior_mm
        if None in (ha, hm, hp) or hp <= 0:
            continue
        losses = [1 - ha / hp, 1 - hm / max(ha, hp)]
        adjacent = [
            rows[m].height_posterior_mm
            for m in (n - 1, n + 1)
            if 0 <= m < len(rows)
            and abs(rows[m].label - r.label) in (1, 8, 9)
            and rows[m].height_posterior_mm
        ]
        if len(adjacent) == 2 and r.label not in NO_CRUSH_LABELS:
            losses.append(1 - hp / float(np.mean(adjacent)))
        loss = max(0.0, *losses)
        r.height_loss = round(loss, 3)
        r.genant_grade = int(np.searchsorted(GENANT_STEPS, loss, side="right"))
        r.compression = bool(loss >= COMPRESSION_LOSS)


def _endplate_normal(body_ras: np.ndarray, f: _Frame, top: bool) -> np.ndarray | None:
    """Unit RAS normal of the plane fitted to the body's top (or bottom) surface: per 2 mm (a, l) column
    of the body's central 60 %, the highest (lowest) point along ``u``."""
    loc = _local(body_ras, f)
    keep = np.ones(len(loc), bool)
    for axis in (1, 2):
        lo, hi = np.percentile(loc[:, axis], [20, 80])
        keep &= (loc[:, axis] >= lo) & (loc[:, axis] <= hi)
    loc = loc[keep]
    if len(loc) < 10:
        return None
    cols = np.floor(loc[:, 1:] / 2.0).astype(int)
    _, inverse = np.unique(cols, axis=0, return_inverse=True)
    surface = []
    for c in range(inverse.max() + 1):
        pts = loc[inverse.ravel() == c]
        surface.append(pts[np.argmax(pts[:, 0]) if top else np.argmin(pts[:, 0])])
    surface = np.array(surface)
    if len(surface) < 3:
        return None
    design = np.column_stack([np.ones(len(surface)), surface[:, 1], surface[:, 2]])
    c0, ca, cl = np.linalg.lstsq(design, surface[:, 0], rcond=None)[0]
    normal = f.u - ca * f.a - cl * f.lat
    return normal / np.linalg.norm(normal)


def _lordosis(bodies: dict, frames: dict) -> float | None:
    """Cobb angle L1-L5 in degrees on the sagittal (A, S) plane; None unless L1 and L5 are present."""
    if 20 not in bodies or 24 not in bodies:
        return None
    n1 = _endplate_normal(bodies[20][1], frames[20], top=True)
    n5 = _endplate_normal(bodies[24][1], frames[24], top=False)
    if n1 is None or n5 is None:
        return None
    a, b = n1[1:], n5[1:]  # (A, S) components
    cos = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
    return round(float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))), 1)


def _findings(rows: list[VertebraReport]) -> list[dict]:
    out = []
    for r in rows:
        if r.compression:
            out.append(
                {
                    "level": r.level,
                    "finding": "compression",
                    "height_loss": r.height_loss,
                    "genant_grade": r.genant_grade,
                }
            )
        if r.low_bone_density:
            out.append({"level": r.level, "finding": "low bone density", "body_hu_mean": r.body_hu_mean})
    return out


def format_table(report: dict) -> str:
    """The report as a plain-text table (level, ml, Ha, Hm, Hp in mm, height loss, Genant grade, HU),
    then the lordosis and the findings, for a terminal or a chat panel."""

    def f(v, fmt="{:.1f}"):
        return "-" if v is None else fmt.format(v)

    lines = [f"{'level':<7}{'ml':>7}{'Ha':>7}{'Hm':>7}{'Hp':>7}{'loss':>7}{'grade':>6}{'HU':>8}"]
    for r in report["vertebrae"]:
        lines.append(
            f"{r['level']:<7}{f(r['volume_ml']):>7}{f(r['height_anterior_mm']):>7}{f(r['height_middle_mm']):>7}"
            f"{f(r['height_posterior_mm']):>7}{f(r['height_loss'], '{:.0%}'):>7}{f(r['genant_grade'], '{}'):>6}"
            f"{f(r['body_hu_mean'], '{:.0f}'):>8}"
        )
    if report["lordosis_l1_l5_deg"] is not None:
        lines.append(f"lumbar lordosis (L1-L5): {report['lordosis_l1_l5_deg']:.1f} deg")
    for x in report["findings"]:
        detail = (
            f"height loss {x['height_loss']:.0%}" if "height_loss" in x else f"{x['body_hu_mean']:.0f} HU"
        )
        lines.append(f"finding: {x['level']} {x['finding']} ({detail})")
    return "\n".join(lines)


# -- files ----------------------------------------------------------------------------------------------
CSV_FIELDS = (
    "level", "label", "volume_ml", "height_anterior_mm", "height_middle_mm", "height_posterior_mm",
    "height_loss", "genant_grade", "compression", "body_hu_mean", "low_bone_density",
)  # fmt: skip


def write_report(
    out_dir: str | Path,
    report: dict,
    labels: np.ndarray,
    ijk_to_ras: np.ndarray,
    ct: np.ndarray | None,
    overwrite: bool = False,
) -> list[Path]:
    """Write ``report.json``, ``report.csv`` and ``report.png`` (a sagittal picture with named outlines
    and heights) into ``out_dir``; each atomically, none replaced unless ``overwrite``."""
    from .io import write_png

    out = Path(out_dir)
    paths = [out / "report.json", out / "report.csv", out / "report.png"]
    if not overwrite:
        for p in paths:
            if p.exists():
                raise InputError(f"{p} exists; pass --overwrite (overwrite=True) to replace it")
    buf = _io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(report["vertebrae"])
    for path, text in ((paths[0], json.dumps(report, indent=2)), (paths[1], buf.getvalue())):
        with atomic_path(path, overwrite=True, suffix=path.suffix) as tmp:
            tmp.write_text(text + ("\n" if not text.endswith("\n") else ""), encoding="utf-8")
    write_png(paths[2], report_picture(report, labels, ijk_to_ras, ct), overwrite=True)
    return paths


def _colour(row: dict, n: int, palette: np.ndarray) -> np.ndarray:
    """The level's own colour (as in Slicer and the demo), or the n-th palette colour for unknown labels."""
    from .anatomy import LABEL_LEVELS, level_color

    if int(row["label"]) in LABEL_LEVELS:
        return np.rint(255 * np.array(level_color(LABEL_LEVELS[int(row["label"])]))).astype(np.uint8)
    return palette[n % len(palette)]


def report_picture(
    report: dict, labels: np.ndarray, ijk_to_ras: np.ndarray, ct: np.ndarray | None
) -> np.ndarray:
    """RGB uint8: the sagittal slice through the spine's middle, square mm pixels, each vertebra outlined
    in its colour and named with its heights (mm) and, when flagged, its finding."""
    from PIL import Image, ImageDraw

    from .overlay import PALETTE, boundary, zoom_nearest

    frame = geo.view_frame(ijk_to_ras, labels.shape, "sagittal")
    centroids = np.array([r["centroid_ras"] for r in report["vertebrae"]])
    index = int(
        np.clip(
            np.rint(np.median(geo.ras_to_slice_coords(centroids, ijk_to_ras, frame)[:, 0])),
            0,
            frame.num_slices - 1,
        )
    )
    lab = geo.extract_slice(labels, frame, index)
    if ct is None:
        gray = np.where(lab > 0, 160.0, 40.0)
    else:
        gray = np.clip((geo.extract_slice(ct, frame, index) + 250.0) / 1500.0 * 255.0, 0, 255)
    rgb = np.repeat(gray[..., None], 3, axis=2).astype(np.uint8)
    colours = [_colour(row, n, PALETTE) for n, row in enumerate(report["vertebrae"])]
    for n, row in enumerate(report["vertebrae"]):
        rgb[boundary(lab == row["label"])] = colours[n]
    rows_mm, cols_mm = geo.pixel_spacing(ijk_to_ras, frame)
    scale = max(2.0 / min(rows_mm, cols_mm), MIN_PICTURE_PX_PER_MM)  # 2 pixels per voxel, at least 1.5 per mm
    big = zoom_nearest(rgb, rows_mm * scale, cols_mm * scale)
    image = Image.fromarray(np.pad(big, ((0, 0), (0, 260), (0, 0))))
    draw = ImageDraw.Draw(image)
    coords = geo.ras_to_slice_coords(centroids, ijk_to_ras, frame)
    for n, row in enumerate(report["vertebrae"]):
        y = coords[n, 2] * rows_mm * scale
        heights = "/".join(
            "-" if row[k] is None else f"{row[k]:.0f}"
            for k in ("height_anterior_mm", "height_middle_mm", "height_posterior_mm")
        )
        text = f"{row['level']}  {heights} mm"
        if row["compression"]:
            text += f"  compression {100 * row['height_loss']:.0f}%"
        draw.text((big.shape[1] + 8, max(0, y - 6)), text, fill=tuple(int(c) for c in colours[n]))
    draw.text(
        (big.shape[1] + 8, big.shape[0] - 16), "body heights anterior/middle/posterior", fill=(255, 255, 255)
    )
    if report.get("lordosis_l1_l5_deg") is not None:
        draw.text((8, 8), f"lordosis L1-L5 {report['lordosis_l1_l5_deg']:.0f} deg", fill=(255, 255, 255))
    return np.asarray(image)
