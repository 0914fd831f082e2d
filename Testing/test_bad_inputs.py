"""Bad inputs, one table: every one ends in one line on stderr (``spinalsam-r1: error: ...``), exit 2, no
traceback, and leaves the folder as it was (no output created, an old output byte-identical).

Each case builds its own tiny files (an 8 x 16 x 16 CT, a 64 x 64 slice, a few-byte checkpoint) and runs
the command line in-process; every case is refused before a model is built, so the whole table takes
seconds. The table is also the documentation: ``docs/bad-inputs.md`` is generated from it (regenerate with
``python Testing/test_bad_inputs.py > docs/bad-inputs.md``) and a test fails when the two differ.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import re
import struct
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from SpinalSAMR1Lib.cli import main

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "bad-inputs.md"

# The CT of most cases: 8 x 16 x 16 voxels of 1 x 1 x 2 mm, LPS identity direction, so in RAS mm it spans
# R -15..0, A -15..0, S 0..14. BOX and POINT lie inside it.
SHAPE = (8, 16, 16)
BOX = ("--box", "-12", "-12", "4", "-4", "-4", "10")
POINT = ("--points", "-8", "-8", "6")
BOX_2D = ("--box", "16", "16", "48", "48")


# -- builders: small synthetic inputs -------------------------------------------------------------------
def _ct_array(shape=SHAPE) -> np.ndarray:
    a = np.full(shape, -800, np.int16)
    a[2:6, 4:12, 4:12] = 400  # a bright block: not a constant image
    return a


def _write_image(path: Path, array: np.ndarray, spacing=None, direction=None, vector: bool = False) -> None:
    import SimpleITK as sitk

    image = sitk.GetImageFromArray(array, isVector=vector)
    image.SetSpacing(spacing or (1.0, 1.0, 2.0)[: image.GetDimension()])
    if direction is not None:
        image.SetDirection(direction)
    sitk.WriteImage(image, str(path))


def ct(name: str = "ct.nii.gz", array=None, **kw) -> Callable[[Path], None]:
    """A builder writing the CT (or ``array``) as ``name``."""
    return lambda d: _write_image(d / name, _ct_array() if array is None else array, **kw)


def text(name: str, content: str | bytes = "these are not voxels\n") -> Callable[[Path], None]:
    def build(d: Path) -> None:
        (d / name).parent.mkdir(parents=True, exist_ok=True)
        data = content.encode() if isinstance(content, str) else content
        (d / name).write_bytes(data)

    return build


def slice_png(name: str = "slice.png", size: int = 64, value: int | None = None) -> Callable[[Path], None]:
    def build(d: Path) -> None:
        from PIL import Image

        (d / name).parent.mkdir(parents=True, exist_ok=True)
        if value is None:
            a = np.full((size, size), 40, np.uint8)
            a[size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] = 220
        else:
            a = np.full((size, size), value, np.uint8)
        Image.fromarray(a).save(d / name)

    return build


def both(*builders: Callable[[Path], None]) -> Callable[[Path], None]:
    def build(d: Path) -> None:
        for b in builders:
            b(d)

    return build


def cut(builder: Callable[[Path], None], name: str, keep: float = 0.5) -> Callable[[Path], None]:
    """``builder``, then ``name`` cut to ``keep`` of its length (a copy interrupted part-way)."""

    def build(d: Path) -> None:
        builder(d)
        raw = (d / name).read_bytes()
        (d / name).write_bytes(raw[: int(len(raw) * keep)])

    return build


def nifti_with_dims(name: str, dims: tuple[int, int, int]) -> Callable[[Path], None]:
    """A real NIfTI file whose header then claims other axis sizes (the voxel data is not grown)."""

    def build(d: Path) -> None:
        _write_image(d / "small.nii", _ct_array())
        header = bytearray((d / "small.nii").read_bytes())
        (d / "small.nii").unlink()
        struct.pack_into("<3h", header, 42, *dims)  # dim[1..3] of the NIfTI-1 header
        data = gzip.compress(bytes(header)) if name.endswith(".gz") else bytes(header)
        (d / name).write_bytes(data)

    return build


def nrrd_edit(name: str, old: bytes, new: bytes) -> Callable[[Path], None]:
    def build(d: Path) -> None:
        _write_image(d / name, _ct_array())
        raw = (d / name).read_bytes()
        assert old in raw
        (d / name).write_bytes(raw.replace(old, new, 1))

    return build


def four_d(name: str) -> Callable[[Path], None]:
    def build(d: Path) -> None:
        import SimpleITK as sitk

        frames = [sitk.GetImageFromArray(_ct_array() + t) for t in range(3)]
        sitk.WriteImage(sitk.JoinSeries(frames), str(d / name))

    return build


def non_finite(name: str, value: float) -> Callable[[Path], None]:
    a = _ct_array().astype(np.float32)
    a[3, 5, 5] = value
    return ct(name, a)  # MetaImage: ITK reads a NaN in NIfTI as 0


def oblique(name: str = "tilted.nii.gz", degrees: float = 45.0) -> Callable[[Path], None]:
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    return ct(name, direction=(c, -s, 0.0, s, c, 0.0, 0.0, 0.0, 1.0))  # turned about S (LPS z)


def dicom(folder: str, *series: tuple[str, int]) -> Callable[[Path], None]:
    """DICOM series in ``folder``: each (SeriesInstanceUID, number of slices)."""

    def build(d: Path) -> None:
        from test_io import _write_dicom_series

        (d / folder).mkdir(parents=True, exist_ok=True)
        for uid, slices in series:
            _write_dicom_series(d / folder, _ct_array((slices, 16, 16)), uid)

    return build


UID_A, UID_B = "1.2.826.0.1.3680043.2.1125.7", "1.2.826.0.1.3680043.2.1125.8"


def folder(name: str) -> Callable[[Path], None]:
    return lambda d: (d / name).mkdir(parents=True, exist_ok=True)


def checkpoint(name: str, state) -> Callable[[Path], None]:
    """A torch file holding ``state()`` (a callable, so that torch is imported only when a case runs)."""

    def build(d: Path) -> None:
        import torch

        torch.save(state(), d / name)

    return build


def _vit_keys(width: int, blocks: int):
    import torch

    state = {"image_encoder.pos_embed": torch.zeros(1, 2, 2, width)}
    state |= {f"image_encoder.blocks.{i}.norm1.weight": torch.zeros(1) for i in range(blocks)}
    return state


def _foreign_state():
    import torch

    return {"conv1.weight": torch.zeros(2), "fc.bias": torch.zeros(2)}


def adapter(name: str, metadata: dict[str, str] | None) -> Callable[[Path], None]:
    def build(d: Path) -> None:
        import torch
        from safetensors.torch import save_file

        save_file({"cbam.weight": torch.zeros(2)}, str(d / name), metadata=metadata)

    return build


def shipped_adapter(name: str) -> Callable[[Path], None]:
    def build(d: Path) -> None:
        from SpinalSAMR1Lib.model import SPINAL_ADAPTER

        (d / name).write_bytes(SPINAL_ADAPTER.read_bytes())

    return build


def _adapter_meta(**kw: str) -> dict[str, str]:
    from SpinalSAMR1Lib.model.adapter import ADAPTER_FORMAT

    return {"format": ADAPTER_FORMAT, **kw}


def lazy(make: Callable[[], Callable[[Path], None]]) -> Callable[[Path], None]:
    """A builder made when the case runs (its arguments need imports the table should not make)."""
    return lambda d: make()(d)


def labels(name: str = "seg.nii.gz", value: int = 22, origin=None) -> Callable[[Path], None]:
    def build(d: Path) -> None:
        import SimpleITK as sitk

        a = np.zeros(SHAPE, np.uint8)
        a[2:6, 4:12, 4:12] = value
        image = sitk.GetImageFromArray(a)
        image.SetSpacing((1.0, 1.0, 2.0))
        if origin is not None:
            image.SetOrigin(origin)
        sitk.WriteImage(image, str(d / name))

    return build


def jsonl(name: str, lines: list[str]) -> Callable[[Path], None]:
    return text(name, "".join(line + "\n" for line in lines))


def read_only(name: str) -> Callable[[Path], None]:
    def build(d: Path) -> None:
        (d / name).mkdir()
        (d / name / "seg.nii.gz").write_bytes(b"an earlier result")
        os.chmod(d / name, 0o555)

    return build


# -- the table --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    """One bad input: ``did`` is what the user did (for the docs), ``build`` makes its files in the
    working folder, ``argv`` the command, ``expect`` a part of the one-line message. ``keep``: files that
    exist before (earlier outputs) and must come out byte-identical; ``note``: how the case stands in for
    something a test cannot do for real. ``file_size_limit`` runs the command under RLIMIT_FSIZE (bytes)."""

    id: str
    kind: str
    did: str
    argv: tuple[str, ...]
    expect: str
    build: Callable[[Path], None] = lambda d: None
    keep: tuple[str, ...] = ()
    note: str = ""
    file_size_limit: int | None = None
    only: str = ""  # "non-root" or "linux": where the case can be run


SEG = ("segment", "ct.nii.gz", "-o", "out.nii.gz")

CASES: list[Case] = [
    # not an image, corrupt or truncated files
    Case("text-file", "not an image", "a text file given as the CT", ("segment", "notes.txt", "-o", "out.nii.gz", *BOX),
         "Unable to determine ImageIO reader", text("notes.txt")),
    Case("text-as-nifti", "not an image", "a text file named .nii", ("segment", "ct.nii", "-o", "out.nii.gz", *BOX),
         "too short for a NIfTI file", text("ct.nii")),
    Case("text-as-nifti-gz", "not an image", "a text file named .nii.gz", (*SEG, *BOX),
         "truncated or corrupt", text("ct.nii.gz")),
    Case("truncated-nii-gz", "truncated NIfTI", "a .nii.gz cut in half (an interrupted copy)", (*SEG, *BOX),
         "truncated or corrupt", cut(ct(), "ct.nii.gz")),
    Case("truncated-nii", "truncated NIfTI", "an uncompressed .nii cut in half", ("segment", "ct.nii", "-o", "out.nii.gz", *BOX),
         "truncated (", cut(ct("ct.nii"), "ct.nii")),
    Case("corrupt-nii-header", "corrupt NIfTI", "a .nii whose header is overwritten with zeros", ("segment", "ct.nii", "-o", "out.nii.gz", *BOX),
         "cannot read ct.nii", lambda d: (ct("ct.nii")(d), (d / "ct.nii").write_bytes(bytes(348) + (d / "ct.nii").read_bytes()[348:]))),
    Case("truncated-nrrd", "truncated NRRD", "a raw .nrrd cut in half", ("segment", "ct.nrrd", "-o", "out.nii.gz", *BOX),
         "fread got only", cut(ct("ct.nrrd"), "ct.nrrd")),
    Case("corrupt-nrrd-header", "corrupt NRRD", "a .nrrd header with a broken `sizes:` line", ("segment", "ct.nrrd", "-o", "out.nii.gz", *BOX),
         "cannot read ct.nrrd", nrrd_edit("ct.nrrd", b"sizes: 16 16 8", b"sizes: 16 x 8")),
    Case("truncated-dicom", "truncated DICOM", "a DICOM series with one file cut in half", ("segment", "dicom", "-o", "out.nii.gz", *BOX),
         "has missing or unevenly spaced slices (3 files read; a gap of 4 mm between slices 2 mm apart)", cut(dicom("dicom", (UID_A, 4)), "dicom/7_002.dcm")),
    Case("not-dicom-dcm", "corrupt DICOM", "a text file named .dcm", ("segment", "scan.dcm", "-o", "out.nii.gz", *BOX),
         "no DICOM series found", text("scan.dcm")),
    Case("missing-input", "not an image", "a CT file that does not exist", (*SEG, *BOX), "input not found: ct.nii.gz"),
    Case("empty-folder", "empty folder", "an empty folder given as a DICOM series", ("segment", "scans", "-o", "out.nii.gz", *BOX),
         "no DICOM series found in scans", folder("scans")),
    Case("folder-of-text", "empty folder", "a folder without DICOM files", ("segment", "scans", "-o", "out.nii.gz", *BOX),
         "no DICOM series found in scans", text("scans/readme.txt")),
    Case("several-series", "several DICOM series", "a folder holding two DICOM series", ("segment", "dicom", "-o", "out.nii.gz", *BOX),
         f"holds 2 DICOM series: {UID_A} (4 files), {UID_B} (2 files); choose one with --series UID",
         dicom("dicom", (UID_A, 4), (UID_B, 2))),
    Case("unknown-series", "several DICOM series", "`--series` naming a series the folder does not hold", ("segment", "dicom", "-o", "out.nii.gz", "--series", "9.9", *BOX),
         "DICOM series 9.9 is not in dicom", dicom("dicom", (UID_A, 4))),
    # wrong dimensions and pixel types
    Case("2d-as-volume", "2D where 3D is needed", "a 2D NIfTI given as the CT", (*SEG, *BOX),
         "is 2D; a 3D volume is needed", ct(array=_ct_array()[3])),
    Case("png-for-levels", "2D where 3D is needed", "a PNG slice given to `--levels`", ("segment", "slice.png", "-o", "out.nii.gz", "--levels", "L1-L5", "--anchor", "L3", "0", "0", "0"),
         "--levels needs a CT volume", slice_png()),
    Case("volume-as-2d", "3D where 2D is needed", "a 3D (multi-page) TIFF given as a 2D slice", ("segment", "stack.tif", "-o", "mask.png", *BOX_2D),
         "a 2D image is needed", ct("stack.tif", _ct_array().astype(np.uint8))),
    Case("4d", "4D and vector images", "a 4D NIfTI (a time series)", (*SEG, *BOX),
         "is 4D; a 3D volume is needed", four_d("ct.nii.gz")),
    Case("vector", "4D and vector images", "an RGB (3-component) volume", ("segment", "rgb.nrrd", "-o", "out.nii.gz", *BOX),
         "has 3 components; a scalar volume is needed", ct("rgb.nrrd", np.zeros((*SHAPE, 3), np.uint8), vector=True)),
    Case("zero-axis-nifti", "zero-size axes", "a NIfTI whose header has an axis of size 0", ("segment", "ct.nii", "-o", "out.nii.gz", *BOX),
         "has an axis of size 0", nifti_with_dims("ct.nii", (16, 0, 8))),
    Case("zero-axis-nrrd", "zero-size axes", "a NRRD with an axis of size 0", ("segment", "ct.nrrd", "-o", "out.nii.gz", *BOX),
         "size is zero", nrrd_edit("ct.nrrd", b"sizes: 16 16 8", b"sizes: 16 0 8")),
    Case("nan", "NaN/inf voxels", "a float CT with a NaN voxel", ("segment", "ct.mha", "-o", "out.nii.gz", *BOX),
         "1 voxels that are not numbers", non_finite("ct.mha", np.nan)),
    Case("inf", "NaN/inf voxels", "a float CT with an infinite voxel", ("segment", "ct.mha", "-o", "out.nii.gz", *BOX),
         "1 voxels that are not numbers", non_finite("ct.mha", np.inf)),
    Case("constant-volume", "constant image", "a CT whose voxels all have one value", (*SEG, *BOX),
         "is constant (every voxel is -1000)", ct(array=np.full(SHAPE, -1000, np.int16))),
    Case("constant-slice", "constant image", "a black 2D slice", ("segment", "slice.png", "-o", "mask.png", *BOX_2D),
         "is constant (every voxel is 0)", slice_png(value=0)),
    Case("too-large", "image too large for memory", "a CT of 30000 x 30000 x 30000 voxels", (*SEG, *BOX),
         "is too large to read: 30000 x 30000 x 30000 voxels need about", nifti_with_dims("ct.nii.gz", (30000, 30000, 30000)),
         note="a real NIfTI header claiming that size over a few bytes of data: it is refused from the header, "
         "before any voxel is allocated"),
    Case("corrupt-png", "not an image", "a file named .png that is not one", ("segment", "slice.png", "-o", "mask.png", *BOX_2D),
         "cannot read image slice.png", text("slice.png", b"\x89PNG\r\n\x1a\n not really")),
    Case("truncated-png", "not an image", "a PNG cut in half", ("segment", "slice.png", "-o", "mask.png", *BOX_2D),
         "cannot read image slice.png", cut(slice_png(), "slice.png")),
    # prompts
    Case("box-outside", "prompts outside the image", "a box beside the CT", (*SEG, "--box", "50", "50", "50", "60", "60", "60"),
         "the box does not overlap the volume (R -15.5..0.5", ct()),
    Case("point-outside", "prompts outside the image", "a click outside the CT", (*SEG, "--points", "40", "-8", "6"),
         "the point R A S 40 -8 6 lies outside the volume", ct()),
    Case("point-outside-2d", "prompts outside the image", "a click outside a 2D slice", ("segment", "slice.png", "-o", "mask.png", "--points", "70", "10"),
         "the point 70 10 lies outside the 64 x 64 image", slice_png()),
    Case("box-outside-2d", "prompts outside the image", "a 2D box outside the slice", ("segment", "slice.png", "-o", "mask.png", "--box", "500", "500", "600", "600"),
         "lies outside the 64 x 64 image", slice_png()),
    Case("box-empty", "empty boxes", "`--box` with no numbers", (*SEG, "--box"), "argument --box: expected at least one argument", ct()),
    Case("box-flat", "zero-area boxes", "a volume box with no extent along S", (*SEG, "--box", "-12", "-12", "4", "-4", "-4", "4"),
         "--box has zero size along S", ct()),
    Case("box-zero-2d", "zero-area boxes", "a 2D box of zero area", ("segment", "slice.png", "-o", "mask.png", "--box", "10", "10", "10", "40"),
         "has zero area", slice_png()),
    Case("box-inverted-2d", "inverted boxes", "a 2D box with x_max < x_min", ("segment", "slice.png", "-o", "mask.png", "--box", "50", "50", "10", "10"),
         "is inverted: give x_min y_min x_max y_max", slice_png()),
    Case("box-4-for-volume", "empty, zero-area or inverted boxes", "a 2D box (4 numbers) for a volume", (*SEG, "--box", "1", "2", "3", "4"),
         "--box for a volume takes 6 numbers", ct()),
    Case("box-6-for-2d", "empty, zero-area or inverted boxes", "a volume box (6 numbers) for a 2D slice", ("segment", "slice.png", "-o", "mask.png", *BOX),
         "--box for a 2D image takes 4 numbers", slice_png()),
    Case("negative-only", "negative points only", "only negative points on a volume", (*SEG, "--negative", "-8", "-8", "6"),
         "negative points alone do not say what to segment", ct()),
    Case("negative-only-2d", "negative points only", "only negative points on a 2D slice", ("segment", "slice.png", "-o", "mask.png", "--negative", "10", "10"),
         "give --box and/or at least one positive point", slice_png()),
    Case("no-prompt", "empty prompts", "no prompt at all", SEG, "no prompts: give at least one point or an ROI", ct()),
    Case("points-not-triples", "empty prompts", "`--points` with 4 numbers for a volume", (*SEG, "--points", "1", "2", "3", "4"),
         "--points needs R A S triples", ct()),
    Case("points-odd-2d", "empty prompts", "`--points` with 3 numbers for a 2D slice", ("segment", "slice.png", "-o", "mask.png", "--points", "10", "20", "30"),
         "2D points take x y pairs", slice_png()),
    Case("markups-not-json", "empty prompts", "`--prompts` naming a file that is not Slicer markups", (*SEG, "--prompts", "p.mrk.json"),
         "is not a Slicer markups JSON file", both(ct(), text("p.mrk.json", "{}"))),
    Case("oblique-sagittal", "oblique views", "a CT turned 45 degrees about S, default (sagittal) mode", ("segment", "tilted.nii.gz", "-o", "out.nii.gz", "--points", "0", "-10.6", "6"),
         "45.0 degrees oblique to the sagittal view", oblique()),
    Case("oblique-axial", "oblique views", "the same CT with `--slice-only` (axial)", ("segment", "tilted.nii.gz", "-o", "out.nii.gz", "--slice-only", "--points", "0", "-10.6", "6"),
         "45.0 degrees oblique to the axial view", oblique()),
    Case("negative-stride", "bad options", "`--stride-mm -1`", (*SEG, *BOX, "--stride-mm", "-1"), "--stride-mm must be 0 (every slice) or more", ct()),
    Case("anchor-not-numbers", "bad options", "`--anchor L3 a b c` (not R A S numbers)", (*SEG, "--levels", "L1-L5", "--anchor", "L3", "a", "b", "c"),
         "--anchor takes a level and three numbers", ct()),
    Case("unknown-level", "bad options", "`--levels L9-L5` (there is no L9)", (*SEG, "--levels", "L9-L5", "--anchor", "L3", "-8", "-8", "6"),
         "unknown vertebral level 'L9'", ct()),
    Case("anchor-without-levels", "bad options", "`--anchor` without `--levels`", (*SEG, "--anchor", "L3", "0", "0", "0"),
         "--anchor goes with --levels", ct()),
    Case("mask-not-png", "bad options", "a 2D mask written as .nii.gz", ("segment", "slice.png", "-o", "out.nii.gz", *BOX_2D),
         "a 2D mask is written as .png", slice_png()),
    Case("unknown-command", "bad options", "a misspelt command", ("segmnet", "ct.nii.gz"), "argument COMMAND: invalid choice: 'segmnet'"),
    Case("no-output", "bad options", "`segment` without `-o`", ("segment", "ct.nii.gz", *BOX), "the following arguments are required: -o/--output", ct()),
    # evaluate
    Case("evaluate-nothing", "labels missing in evaluate", "`evaluate` without inputs", ("evaluate",), "give either --images and --masks (2D)"),
    Case("evaluate-no-folder", "labels missing in evaluate", "`--images`/`--masks` folders that do not exist", ("evaluate", "--images", "img", "--masks", "msk"),
         "not a folder: img"),
    Case("evaluate-no-pairs", "labels missing in evaluate", "masks whose names match no image", ("evaluate", "--images", "img", "--masks", "msk"),
         "no image in img has a mask of the same name in msk", both(slice_png("img/a.png"), slice_png("msk/b.png"))),
    Case("evaluate-size-mismatch", "image/mask size mismatch", "a 64 x 64 image with a 32 x 32 mask", ("evaluate", "--images", "img", "--masks", "msk"),
         "a.png: image 64 x 64 and mask 32 x 32 differ in size", both(slice_png("img/a.png"), slice_png("msk/a.png", 32))),
    Case("evaluate-bad-fraction", "bad options", "`--val-fraction 1.5`", ("evaluate", "--images", "img", "--masks", "msk", "--val-fraction", "1.5"),
         "the validation fraction must be between 0 and 1", both(slice_png("img/a.png"), slice_png("msk/a.png"))),
    Case("evaluate-no-label-ids", "labels missing in evaluate", "3D evaluation without `--label-ids`", ("evaluate", "--volume", "ct.nii.gz", "--labels", "seg.nii.gz"),
         "3D evaluation needs --volume, --labels and --label-ids", both(ct(), labels())),
    Case("evaluate-labels-missing", "labels missing in evaluate", "a `--labels` file that does not exist", ("evaluate", "--volume", "ct.nii.gz", "--labels", "seg.nii.gz", "--label-ids", "22"),
         "input not found: seg.nii.gz", ct()),
    Case("evaluate-label-absent", "labels missing in evaluate", "`--label-ids 9` absent from the label map", ("evaluate", "--volume", "ct.nii.gz", "--labels", "seg.nii.gz", "--label-ids", "9"),
         "label 9 is not in seg.nii.gz (it has 22)", both(ct(), labels())),
    Case("evaluate-other-grid", "labels on another grid in evaluate", "labels on a grid 500 mm away from the CT", ("evaluate", "--volume", "ct.nii.gz", "--labels", "seg.nii.gz", "--label-ids", "22"),
         "label 22 of seg.nii.gz lies outside ct.nii.gz", both(ct(), labels(origin=(500.0, 0.0, 0.0)))),
    Case("evaluate-json-exists", "existing output without --overwrite", "`--json` naming an earlier result", ("evaluate", "--images", "img", "--masks", "msk", "--json", "r.json"),
         "r.json exists; pass --overwrite", both(slice_png("img/a.png"), slice_png("msk/a.png"), text("r.json", '{"earlier": true}')), keep=("r.json",)),
    # report
    Case("report-swapped", "image/mask mix-up", "`report` with the CT given as the label map", ("report", "ct.nii.gz", "--ct", "ct.nii.gz", "-o", "rep"),
         "this is not a label map", ct()),
    Case("report-no-vertebra", "labels missing", "`report` on an empty label map", ("report", "seg.nii.gz", "--ct", "ct.nii.gz", "-o", "rep"),
         "the label map holds no vertebra", both(ct(), labels(value=0))),
    # checkpoints, adapters, devices
    Case("checkpoint-missing", "checkpoints", "a `--checkpoint` that does not exist", ("info", "--checkpoint", "sam.pth"), "checkpoint not found: sam.pth"),
    Case("checkpoint-truncated", "truncated checkpoints", "a checkpoint cut in half", ("info", "--checkpoint", "sam.pth"),
         "cannot read checkpoint sam.pth: truncated, corrupt", cut(checkpoint("sam.pth", lambda: _vit_keys(768, 12)), "sam.pth")),
    Case("checkpoint-not-torch", "truncated checkpoints", "a text file as the checkpoint", ("info", "--checkpoint", "sam.pth"),
         "cannot read checkpoint sam.pth: truncated, corrupt", text("sam.pth")),
    Case("checkpoint-not-state-dict", "checkpoints of the wrong architecture", "a torch file holding a list, not weights", ("info", "--checkpoint", "sam.pth"),
         "does not contain a state dict of tensors", checkpoint("sam.pth", lambda: [1, 2, 3])),
    Case("checkpoint-foreign", "checkpoints of the wrong architecture", "the weights of another network (a ResNet's keys)", ("info", "--checkpoint", "resnet.pth"),
         "not a SAM, MedSAM or LiteMedSAM state dict", checkpoint("resnet.pth", _foreign_state)),
    Case("checkpoint-other-backbone", "checkpoints of the wrong architecture", "a ViT-B checkpoint with `--model litemedsam`", ("info", "--model", "litemedsam", "--checkpoint", "vit_b.pth"),
         "vit_b.pth is a vit_b checkpoint, but model litemedsam", checkpoint("vit_b.pth", lambda: _vit_keys(768, 12))),
    Case("checkpoint-wrong-depth", "checkpoints of the wrong architecture", "a ViT checkpoint with 3 blocks", ("info", "--checkpoint", "vit.pth"),
         "has 3 blocks; expected 12", checkpoint("vit.pth", lambda: _vit_keys(768, 3))),
    Case("checkpoint-needed", "checkpoints", "`--model vit_h` without its checkpoint", ("info", "--model", "vit_h"), "model vit_h needs --checkpoint"),
    Case("adapter-missing", "adapters", "an `--adapter` that does not exist", ("segment", "slice.png", "-o", "mask.png", *BOX_2D, "--model", "litemedsam", "--adapter", "a.safetensors"),
         "adapter not found: a.safetensors", slice_png()),
    Case("adapter-corrupt", "corrupt adapters", "an adapter file of random bytes", ("segment", "slice.png", "-o", "mask.png", *BOX_2D, "--model", "litemedsam", "--adapter", "a.safetensors"),
         "cannot read adapter a.safetensors: truncated, corrupt", both(slice_png(), text("a.safetensors", bytes(range(256)) * 4))),
    Case("adapter-truncated", "corrupt adapters", "the shipped adapter cut in half", ("segment", "slice.png", "-o", "mask.png", *BOX_2D, "--model", "litemedsam", "--adapter", "a.safetensors"),
         "cannot read adapter a.safetensors: truncated, corrupt", both(slice_png(), cut(shipped_adapter("a.safetensors"), "a.safetensors"))),
    Case("adapter-foreign", "corrupt adapters", "a safetensors file that is not a SpinalSAM-R1 adapter", ("segment", "slice.png", "-o", "mask.png", *BOX_2D, "--model", "litemedsam", "--adapter", "a.safetensors"),
         "is not a SpinalSAM-R1 adapter", both(slice_png(), adapter("a.safetensors", None))),
    Case("adapter-other-backbone", "adapters for another base", "an adapter trained for ViT-B on LiteMedSAM", ("segment", "slice.png", "-o", "mask.png", *BOX_2D, "--model", "litemedsam", "--adapter", "a.safetensors"),
         "adapter a.safetensors was trained for vit_b, not litemedsam", both(slice_png(), lazy(lambda: adapter("a.safetensors", _adapter_meta(backbone="vit_b"))))),
    Case("adapter-other-weights", "adapters for another base", "an adapter trained on other LiteMedSAM weights", ("segment", "slice.png", "-o", "mask.png", *BOX_2D, "--model", "litemedsam", "--adapter", "a.safetensors"),
         "was trained on other litemedsam base weights", both(slice_png(), lazy(lambda: adapter("a.safetensors", _adapter_meta(backbone="litemedsam", base_digest="0" * 24))))),
    Case("unknown-model", "bad options", "`--model` with a name that is not one", ("info", "--model", "sam3"), "argument --model: invalid choice: 'sam3'"),
    Case("device-unknown", "unknown devices", "`--device tpu9`", ("info", "--device", "tpu9"), "unknown device 'tpu9'"),
    Case("device-unsupported", "unknown devices", "`--device mps`", ("info", "--device", "mps"), "device 'mps' is not supported"),
    Case("device-absent", "unknown devices", "`--device cuda:99`", ("info", "--device", "cuda:99"), "no CUDA device",
         note="without CUDA: 'CUDA was requested but no CUDA device is available'; with it: 'there is no CUDA device 99'"),
    # outputs
    Case("output-exists", "existing output without --overwrite", "an output that exists, without `--overwrite`", (*SEG, *BOX),
         "out.nii.gz exists; pass --overwrite", both(ct(), text("out.nii.gz", "an earlier result")), keep=("out.nii.gz",)),
    Case("output-is-folder", "unwritable output locations", "`-o` naming a folder", (*SEG, *BOX, "--overwrite"),
         "out.nii.gz is a folder; give the output a file name", both(ct(), folder("out.nii.gz"))),
    Case("output-parent-is-file", "unwritable output locations", "`-o results/out.nii.gz` where results is a file", ("segment", "ct.nii.gz", "-o", "results/out.nii.gz", *BOX),
         "cannot write results/out.nii.gz: results is a file, not a folder", both(ct(), text("results", "a file")), keep=("results",)),
    Case("output-read-only", "unwritable output locations", "`-o` in a read-only folder, with `--overwrite`", ("segment", "ct.nii.gz", "-o", "locked/seg.nii.gz", *BOX, "--overwrite"),
         "locked is not writable", both(ct(), read_only("locked")), keep=("locked/seg.nii.gz",), only="non-root",
         note="skipped when run as root, whom folder permissions do not stop"),
    Case("output-in-proc", "unwritable output locations", "`-o` inside /proc (a file system nobody can create files in)", ("segment", "ct.nii.gz", "-o", "/proc/spinalsam-r1/out.nii.gz", *BOX),
         "cannot write /proc/spinalsam-r1/out.nii.gz: /proc is not writable", ct(), only="linux",
         note="an unwritable location even for root (Linux)"),
    Case("report-output-exists", "existing output without --overwrite", "`report` into a folder holding an earlier report", ("report", "seg.nii.gz", "--ct", "ct.nii.gz", "-o", "rep"),
         "report.json exists; pass --overwrite", both(ct(), labels(), text("rep/report.json", '{"earlier": true}')), keep=("rep/report.json",)),
    Case("report-disk-full", "full output locations", "`report --overwrite` when the disk fills up while writing", ("report", "seg.nii.gz", "--ct", "ct.nii.gz", "-o", "rep", "--overwrite"),
         "cannot write rep/report.json: File too large", both(ct(), labels(), text("rep/report.json", '{"earlier": true}')), keep=("rep/report.json",),
         file_size_limit=400, note="stand-in for a full disk: a file-size limit (RLIMIT_FSIZE) makes the write fail part-way, "
         "as a full disk does"),
    Case("report-output-is-file", "unwritable output locations", "`report -o` naming a file", ("report", "seg.nii.gz", "--ct", "ct.nii.gz", "-o", "rep"),
         "-o rep is a file; the report needs a folder", both(ct(), labels(), text("rep", "a file")), keep=("rep",)),
    # training and chat
    Case("train-no-data", "bad options", "`train` without data", ("train",), "give training data: --slices and/or --volume"),
    Case("train-export-exists", "existing output without --overwrite", "`train --export` naming an existing adapter", ("train", "--slices", "axial", "--export", "spinal.safetensors"),
         "spinal.safetensors exists; pass --overwrite", text("spinal.safetensors", "earlier adapter"), keep=("spinal.safetensors",)),
    Case("train-unknown-recipe", "bad options", "`train --config` with a recipe that does not exist", ("train", "--config", "nosuch"), "no recipe nosuch"),
    Case("train-vertebra-no-data", "bad options", "`train-vertebra --data` naming no folder", ("train-vertebra", "--data", "verse"), "--data: no such folder: verse"),
    Case("chat-bad-timeout", "bad options", "`chat --llm --timeout -1`", ("chat", "--llm", "--timeout", "-1", "undo"), "--timeout must be a positive number of seconds"),
    Case("bench-missing", "bad options", "`bench commands --data` naming no file", ("bench", "commands", "--data", "cases.jsonl"), "benchmark file not found: cases.jsonl"),
    Case("bench-not-json", "not an image", "a benchmark file that is not JSON lines", ("bench", "commands", "--data", "cases.jsonl"),
         "not valid JSON", jsonl("cases.jsonl", ["{not json"])),
]  # fmt: skip
# The doc names each case's test by its id (test_bad_input[<id>]): two cases with one id are a slip in the
# table, refused when the module is collected.
assert len({c.id for c in CASES}) == len(CASES), "two cases share an id"


# -- running a case ------------------------------------------------------------------------------------
def _snapshot(root: Path) -> dict[str, str]:
    """Every file and folder under ``root`` with its content's digest: what a failed command must not change."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        out[rel] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return out


@contextlib.contextmanager
def _file_size_limit(limit: int | None):
    if limit is None:
        yield
        return
    resource = pytest.importorskip("resource")  # POSIX; Python ignores SIGXFSZ, so a write fails (EFBIG)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


def _run(argv: tuple[str, ...]) -> int:
    try:
        return main(list(argv))
    except SystemExit as exc:  # argparse's own errors exit through SystemExit
        return exc.code if isinstance(exc.code, int) else 1


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, tmp_path, monkeypatch, capfd):
    if case.only == "non-root" and hasattr(os, "geteuid") and os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    if case.only == "linux" and not sys.platform.startswith("linux"):
        pytest.skip("/proc is Linux's")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SPINALSAM_DEBUG", raising=False)
    case.build(tmp_path)
    before = _snapshot(tmp_path)
    capfd.readouterr()
    try:
        with _file_size_limit(case.file_size_limit):
            code = _run(case.argv)
    finally:
        for path in tmp_path.rglob("*"):  # let pytest clean up a read-only folder
            if path.is_dir():
                path.chmod(0o755)
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err
    assert code == 2, err
    assert err.endswith("\n") and err.count("\n") == 1, f"not one line: {err!r}"
    assert err.startswith("spinalsam-r1: error: ") and err.strip() != "spinalsam-r1: error:", err
    assert case.expect in err, err
    assert _snapshot(tmp_path) == before, "a failed command changed the folder"
    for name in case.keep:
        assert (tmp_path / name).is_file()


@pytest.mark.parametrize("case_id", ["box-outside", "adapter-corrupt", "output-parent-is-file"])
def test_debug_shows_the_traceback(case_id, tmp_path, monkeypatch):
    """With --debug the same problem is raised (its traceback shown) instead of the one line."""
    from SpinalSAMR1Lib.errors import UserError

    case = next(c for c in CASES if c.id == case_id)
    monkeypatch.chdir(tmp_path)
    case.build(tmp_path)
    with pytest.raises(UserError, match=re.escape(case.expect)):
        main(["--debug", *case.argv])


# -- the documentation ---------------------------------------------------------------------------------
INTRO = """\
# Bad inputs

What `spinalsam-r1` does with inputs it cannot use. The rule:

- **Command line**: one line on stderr, `spinalsam-r1: error: <what is wrong>`, and exit code **2**; no
  traceback (`--debug`, or `SPINALSAM_DEBUG=1`, shows it). Nothing is left half-written: outputs are
  written atomically (a temporary file renamed into place), an existing output is replaced only with
  `--overwrite`, and when writing fails the old file survives intact. Outputs are checked before any
  work is done, and the inputs before a model is loaded.
- **Python API**: the same problems raise `SpinalSAMR1Lib.errors.UserError`; wrong arguments of the API
  raise its subclass `InputError`, which is also a `ValueError` (an oblique volume:
  `geometry.ObliqueViewError`, an `InputError`). A cancelled run raises `errors.Cancelled` with the
  partial result.
- **Internal errors** are not bad input: a bug of ours ends with exit code **1** and
  `spinalsam-r1: internal error (...); run again with --debug and report it`
  (`Testing/test_cli.py::test_a_bug_is_an_internal_error_not_the_users_fault`).

Every row below is one case of `Testing/test_bad_inputs.py`, run by CI with the other tests. Each builds
its own tiny files, runs the command in-process and checks: exit 2, exactly one line on stderr starting
`spinalsam-r1: error:` and containing the text shown, no traceback, and the working folder unchanged (no
output created, earlier outputs byte-identical). This page is generated from that table:
`python Testing/test_bad_inputs.py > docs/bad-inputs.md` (a test fails when it is out of date).
"""

OTHER_TESTS = [
    ("Ctrl-C during a volume run", "exit 130; the output is not written; the slices done so far are written "
     "beside it as `NAME.partial.nii.gz`", "Testing/test_vertebra.py::test_ctrl_c_writes_no_output_but_keeps_the_partial_result"),
    ("Cancel during a volume run (API)", "`Cancelled` carries the partial label map",
     "Testing/test_volume.py::test_cancel_raises_with_the_partial_result, "
     "Testing/test_vertebra.py::test_cancel_raises_with_the_partial_mask"),
    ("An adapter with missing weights", "one line naming the missing groups, exit 2",
     "Testing/test_adapter_integrity.py::test_segment_with_a_broken_adapter_exits_2_with_one_line"),
    ("Invalid, truncated or blank LLM replies", "re-asked once, then the offline parser answers",
     "Testing/test_commands_llm.py::test_invalid_twice_falls_back_to_offline, "
     "Testing/test_commands_llm.py::test_blank_content_and_truncated_reply_are_reasked"),
    ("LLM HTTP errors, timeouts, refused connections, no API key", "the offline parser answers; the key is "
     "never logged", "Testing/test_commands_llm.py::test_http_errors_fall_back_to_offline, "
     "Testing/test_commands_llm.py::test_timeout_falls_back_quickly, "
     "Testing/test_commands_llm.py::test_connection_refused_falls_back, "
     "Testing/test_commands_llm.py::test_missing_key_for_a_hosted_api_never_sends_a_request"),
    ("Prompt injection in chat text or LLM replies", "only schema actions come out",
     "Testing/test_commands_llm.py::test_prompt_injection_cannot_produce_an_unlisted_action, "
     "Testing/test_fuzz.py::test_embedded_instructions_cannot_smuggle_an_action"),
    ("Any text, any JSON reply (fuzzing)", "never raises; only schema actions",
     "Testing/test_fuzz.py::test_any_text_gives_a_schema_valid_list_and_never_raises, "
     "Testing/test_fuzz.py::test_random_json_replies_yield_only_schema_actions"),
    ("Benchmark files with bad lines", "one-line error naming the file and line",
     "Testing/test_commands_cli.py::test_bench_bad_input_is_a_one_line_user_error"),
    ("The same errors as a user runs them (a separate process)", "exit 2, one line",
     "Testing/test_cli.py::test_bad_input_gives_one_line_and_exit_2, "
     "Testing/test_cli.py::test_bad_2d_boxes_and_devices_give_one_line_and_exit_2"),
]  # fmt: skip


def _cell(value: str) -> str:
    return value.replace("|", "\\|").replace("\n", " ")


def _command(case: Case) -> str:
    return "spinalsam-r1 " + " ".join(a if a and " " not in a else repr(a) for a in case.argv)


def markdown_table() -> str:
    """docs/bad-inputs.md: the intro, the table of CASES and the cases other tests cover."""
    lines = [INTRO, "## The table", ""]
    lines += ["| # | input | what happens (the message) | test |", "|---|---|---|---|"]
    for n, case in enumerate(CASES, 1):
        what = f"{case.did} ({case.kind}): `{_command(case)}`"
        if case.note:
            what += f"; {case.note}"
        happens = f"exit 2: `spinalsam-r1: error: …{case.expect}…`"
        if case.keep:
            happens += "; " + ", ".join(f"`{k}`" for k in case.keep) + " unchanged"
        test = f"`Testing/test_bad_inputs.py::test_bad_input[{case.id}]`"
        lines.append(f"| {n} | {_cell(what)} | {_cell(happens)} | {test} |")
    lines += ["", "## Covered by other tests", ""]
    lines += [
        "Cases that cannot be one in-process command of the table (a signal, a fake LLM server, generated "
        "inputs):",
        "",
        "| input | what happens | tests |",
        "|---|---|---|",
    ]
    for what, happens, tests in OTHER_TESTS:
        cited = ", ".join(f"`{t.strip()}`" for t in tests.split(","))
        lines.append(f"| {_cell(what)} | {_cell(happens)} | {cited} |")
    return "\n".join(lines) + "\n"


def test_the_doc_is_generated_from_the_table():
    assert DOC.is_file() and DOC.read_text(encoding="utf-8") == markdown_table(), (
        "docs/bad-inputs.md is out of date: python Testing/test_bad_inputs.py > docs/bad-inputs.md"
    )


def test_the_other_tests_named_in_the_doc_exist():
    for _, _, tests in OTHER_TESTS:
        for test in tests.split(","):
            path, name = test.strip().split("::")
            assert f"def {name}(" in (ROOT / path).read_text(encoding="utf-8"), test


if __name__ == "__main__":
    sys.stdout.write(markdown_table())
