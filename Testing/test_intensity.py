"""Intensity windowing: HU, uint8 and other ranges map to 0..255 as documented."""

from __future__ import annotations

import numpy as np
import pytest

from SpinalSAMR1Lib.intensity import (
    DEFAULT_WINDOW,
    apply_window,
    choose_window,
    looks_like_hu,
    to_model_range,
)


def test_window_maps_level_and_edges():
    level, width = DEFAULT_WINDOW
    out = apply_window(np.array([level - width / 2, level, level + width / 2, 5000.0, -5000.0]), level, width)
    np.testing.assert_allclose(out, [0.0, 127.5, 255.0, 255.0, 0.0])
    with pytest.raises(ValueError):
        apply_window(np.zeros(2), 0, 0)


def test_auto_window_matches_the_training_slices_look():
    """Air ~18, soft tissue ~110, dense bone near 200 on 0..255, like the development PNGs."""
    hu = np.array([-1000.0, 40.0, 1000.0, -500.0, 300.0], np.float32)
    out = to_model_range(hu)
    assert abs(out[0] - 18) < 8 and abs(out[1] - 110) < 8 and out[2] > 180


def test_uint8_is_kept_and_other_units_are_rescaled():
    u8 = np.arange(256, dtype=np.uint8)
    np.testing.assert_array_equal(to_model_range(u8), u8.astype(np.float32))
    mr = np.linspace(0, 4000, 1000)
    assert not looks_like_hu(mr)
    out = to_model_range(mr)
    assert out.min() == 0 and out.max() == 255
    assert choose_window(mr, (10, 20)) == (10.0, 20.0) and choose_window(mr, None) is None
    with pytest.raises(ValueError):
        choose_window(mr, "bone")
