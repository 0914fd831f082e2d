"""Per-vertebra training samples from CT volumes with instance labels (VerSe-style label maps).

A prompt on vertebra V has V alone as its target: neighbours inside the prompt's box are background.
Slices are taken in all three views through :mod:`SpinalSAMR1Lib.geometry` (the code inference uses),
windowed with the default window, and keep their physical pixel size. Three kinds of sample mimic the
prompts the 3D vertebra mode (:mod:`SpinalSAMR1Lib.vertebra`) gives the model:

- ``roi``: the box is V's 3D bounding box projected onto the slice (what a 3D ROI gives every slice);
  near V's ends the section is small and the box holds mostly the neighbours' endplates;
- ``walk``: the box is V's tight box on the neighbouring slice towards V's centre, padded by 2 pixels
  (what propagation from a click gives the next slice);
- ``point``: no box, the target's interior gives the points (the first click).

``roi`` and ``walk`` samples continue ``beyond`` slices past V's ends with an empty target: the model
must answer "nothing here" there, which is how a walk knows to stop.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import geometry as geo
from ..evaluation import box_from_mask
from ..intensity import choose_window, to_model_range
from ..io import read_volume
from ..volume import WALK_PAD_PX
from .data import Sample


def vertebra_ids(labels: np.ndarray, min_voxels: int = 500) -> list[int]:
    """Label values present with at least ``min_voxels`` voxels (0 excluded), ascending."""
    values, counts = np.unique(labels[labels > 0], return_counts=True)
    return [int(v) for v, c in zip(values, counts, strict=True) if c >= min_voxels]


def load_vertebra_samples(
    volume_path: Path,
    labels_path: Path,
    label_ids: list[int] | None = None,
    views: tuple[str, ...] = geo.VIEWS,
    step_mm: float = 3.0,
    beyond: int = 2,
    min_pixels: int = 30,
    case: str | None = None,
) -> list[Sample]:
    """Samples of every vertebra in ``label_ids`` (default: every label present) of one labelled CT.

    ``step_mm``: distance between sampled slices along each view's normal (at least one slice);
    ``beyond``: empty-target slices sampled past each end of a vertebra; ``min_pixels``: smallest
    section that gets a ``point`` sample. Labels are aligned with the CT by physical position.
    """
    vol, seg = read_volume(volume_path), read_volume(labels_path)
    labels = geo.resample_nearest(seg.array, seg.ijk_to_ras, vol.shape, vol.ijk_to_ras)
    ids = vertebra_ids(labels) if label_ids is None else [i for i in label_ids if (labels == i).any()]
    window = choose_window(vol.array)
    case = case or Path(volume_path).name.split(".")[0]
    samples: list[Sample] = []
    for view in views:
        frame = geo.view_frame(vol.ijk_to_ras, vol.shape, view)
        spacing = geo.pixel_spacing(vol.ijk_to_ras, frame)
        normal_mm = float(geo.spacing_ijk(vol.ijk_to_ras)[frame.normal_ijk])
        step = max(1, int(round(step_mm / normal_mm)))
        images: dict[int, np.ndarray] = {}
        for vid in ids:
            roi_box, (first, last) = geo.roi_to_box(
                geo.label_roi(labels, vid, vol.ijk_to_ras), vol.ijk_to_ras, frame
            )
            centre = (first + last) / 2
            ends = [*range(first - beyond, first), first, last, *range(last + 1, last + beyond + 1)]
            indices = sorted({*range(first, last + 1, step), *ends} & set(range(frame.num_slices)))
            for index in indices:
                target = geo.extract_slice(labels, frame, index) == vid
                if index not in images:
                    images[index] = to_model_range(geo.extract_slice(vol.array, frame, index), window)
                name = f"{case}/{view}/{vid}/{index}"
                common = dict(view=view, image=images[index], mask=target, pixel_spacing=spacing)
                samples.append(Sample(f"{name}/roi", box=roi_box.copy(), source="instance", **common))
                toward = index + (1 if index < centre else -1)
                if 0 <= toward < frame.num_slices:
                    prev = geo.extract_slice(labels, frame, toward) == vid
                    walk_box = box_from_mask(prev, WALK_PAD_PX)
                    if walk_box is not None:
                        samples.append(Sample(f"{name}/walk", box=walk_box, source="instance", **common))
                central = abs(index - centre) <= 0.3 * (last - first + 1)  # where users click
                if central and target.sum() >= min_pixels:
                    samples.append(Sample(f"{name}/point", source="instance", **common))
    return samples
