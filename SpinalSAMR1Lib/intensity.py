"""Intensity transforms from scanner values to the 0..255 grey levels the models see.

The development slices are 8-bit PNGs windowed so that air is about 18, soft tissue about 110 and
cortical bone above 200 on a 0..255 scale: a wide bone window of level 250 HU and width 2900 HU
(-1200..1700 HU). CT volumes in Hounsfield units are mapped with the same window by default so that
slices taken from a volume look like the slices the spinal adapter was trained on.
"""

from __future__ import annotations

import numpy as np

from .errors import InputError

DEFAULT_WINDOW: tuple[float, float] = (250.0, 2900.0)  # (level, width) in HU
BONE_WINDOW: tuple[float, float] = (400.0, 1800.0)  # Slicer's CT-bone display preset
SOFT_TISSUE_WINDOW: tuple[float, float] = (40.0, 400.0)  # Slicer's CT-abdomen display preset


def looks_like_hu(image: np.ndarray) -> bool:
    """True when values span air and bone in Hounsfield units (min <= -500 HU and max >= 300 HU)."""
    if image.size == 0 or image.dtype == np.uint8:
        return False
    lo, hi = float(np.min(image)), float(np.max(image))
    return lo <= -500.0 and hi >= 300.0


def require_contrast(image: np.ndarray, name: str = "the image") -> None:
    """Refuse a constant image (every voxel the same value: nothing to tell apart) with an InputError."""
    a = np.asarray(image)
    if a.size and a.min() == a.max():
        raise InputError(f"{name} is constant (every voxel is {a.flat[0]:g}): there is nothing to segment")


def apply_window(image: np.ndarray, level: float, width: float) -> np.ndarray:
    """Linear window: ``level - width/2`` maps to 0 and ``level + width/2`` to 255, clipped; float32."""
    if width <= 0:
        raise InputError(f"window width must be positive, got {width}")
    lo = level - width / 2.0
    out = (np.asarray(image, np.float32) - np.float32(lo)) * np.float32(255.0 / width)
    return np.clip(out, 0.0, 255.0, out=out)


def choose_window(
    image: np.ndarray, window: tuple[float, float] | str | None = "auto"
) -> tuple[float, float] | None:
    """Resolve a window setting to (level, width) or None (values used as they are, clipped to 0..255).

    "auto": None for uint8 images (already windowed); DEFAULT_WINDOW for Hounsfield units; otherwise
    the 0.5th..99.5th percentile range. Call it once per volume, not per slice, so that every slice
    of a volume gets the same mapping.
    """
    if window is None:
        return None
    if isinstance(window, str):
        if window != "auto":
            raise InputError(f"unknown window {window!r}; use 'auto', None or (level, width)")
        if image.dtype == np.uint8:
            return None
        if looks_like_hu(image):
            return DEFAULT_WINDOW
        lo, hi = np.percentile(np.asarray(image, np.float32), [0.5, 99.5]) if image.size else (0.0, 1.0)
        hi = max(float(hi), float(lo) + 1e-6)
        return (float(lo) + float(hi)) / 2.0, float(hi) - float(lo)
    level, width = window
    return float(level), float(width)


def to_model_range(image: np.ndarray, window: tuple[float, float] | str | None = "auto") -> np.ndarray:
    """Grey levels 0..255 (float32) for a model; ``window`` as in :func:`choose_window`."""
    resolved = choose_window(image, window)
    if resolved is None:
        return np.clip(np.asarray(image, np.float32), 0.0, 255.0)
    return apply_window(image, *resolved)
