"""Colour overlays of label maps on grey slices, for quick visual checks (demo, training reports)."""

from __future__ import annotations

import numpy as np

# One colour per label value 1..N (RGB 0..255), cycled.
PALETTE = np.array(
    [
        [230, 25, 75],
        [60, 180, 75],
        [255, 225, 25],
        [0, 130, 200],
        [245, 130, 48],
        [145, 30, 180],
        [70, 240, 240],
    ],
    np.uint8,
)


def overlay(
    gray_0_255: np.ndarray,
    labels: np.ndarray,
    alpha: float = 0.45,
    outline: np.ndarray | None = None,
    colours: dict[int, tuple[float, float, float]] | None = None,
) -> np.ndarray:
    """RGB (rows, cols, 3) uint8: ``labels`` (0 = none) blended over a grey image; ``outline`` (bool)
    drawn in white, e.g. the reference boundary. ``colours``: label -> RGB 0..1 (e.g. each level's
    own, ``anatomy.level_color``); labels not in it take the palette by value."""
    g = np.clip(np.asarray(gray_0_255, np.float32), 0, 255)
    rgb = np.repeat(g[..., None], 3, axis=2)
    lab = np.asarray(labels).astype(int)
    on = lab > 0
    table = PALETTE[(np.arange(lab.max() + 1 if on.any() else 1) - 1) % len(PALETTE)].astype(np.float32)
    for value, colour in (colours or {}).items():
        if 0 < value < len(table):
            table[value] = 255.0 * np.asarray(colour, np.float32)
    rgb[on] = (1 - alpha) * rgb[on] + alpha * table[lab[on]]
    if outline is not None:
        rgb[outline] = 255.0
    return rgb.astype(np.uint8)


def boundary(mask: np.ndarray) -> np.ndarray:
    """Pixels of a 2D mask that touch the background (4-neighbourhood)."""
    m = np.asarray(mask, bool)
    inner = m.copy()
    inner[1:, :] &= m[:-1, :]
    inner[:-1, :] &= m[1:, :]
    inner[:, 1:] &= m[:, :-1]
    inner[:, :-1] &= m[:, 1:]
    return m & ~inner


def zoom_nearest(image: np.ndarray, factor_rows: float, factor_cols: float) -> np.ndarray:
    """Nearest-neighbour resize of a (rows, cols[, C]) image, e.g. to show anisotropic voxels square."""
    rows = np.clip(
        (np.arange(int(round(image.shape[0] * factor_rows))) / factor_rows).astype(int), 0, image.shape[0] - 1
    )
    cols = np.clip(
        (np.arange(int(round(image.shape[1] * factor_cols))) / factor_cols).astype(int), 0, image.shape[1] - 1
    )
    return image[rows][:, cols]
