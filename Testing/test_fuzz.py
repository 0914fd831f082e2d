"""Property-based tests (hypothesis): the parser never raises and only ever returns schema actions, an LLM
reply can only yield schema actions, and geometry round-trips on any direction, spacing and shape."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from SpinalSAMR1Lib import geometry as geo
from SpinalSAMR1Lib.commands import parse, validate_actions
from SpinalSAMR1Lib.commands.llm import check_reply
from SpinalSAMR1Lib.commands.schema import ACTION_NAMES

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.slow
@FAST
@given(st.text(max_size=300))
def test_any_text_gives_a_schema_valid_list_and_never_raises(text):
    actions = parse(text)
    assert isinstance(actions, list) and actions
    assert validate_actions(actions) == actions  # already canonical


_WORDS = st.sampled_from(
    ["segment", "L3", "L1 to L5", "add", "two", "points", "box", "undo", "clear", "then", "and", "?", "不", "分割",
     "腰3", "清空", "sagittal", "save", "/tmp/x.nii.gz", "this is", "report", "thanks", "what", "is"]
)  # fmt: skip


@pytest.mark.slow
@FAST
@given(st.lists(_WORDS, max_size=12).map(" ".join))
def test_command_like_text_gives_a_schema_valid_list(text):
    actions = parse(text)
    assert validate_actions(actions) == actions


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=20,
)


@pytest.mark.slow
@FAST
@given(_JSON)
def test_random_json_replies_yield_only_schema_actions(obj):
    actions, problem = check_reply(json.dumps(obj))
    if problem is None:  # an empty list is valid (the parser then answers unknown)
        assert all(a["action"] in ACTION_NAMES for a in actions)
        assert validate_actions(actions) == actions
    else:
        assert actions == [] and isinstance(problem, str)


@FAST
@given(st.text(max_size=200))
def test_random_text_replies_yield_only_schema_actions(text):
    actions, problem = check_reply(text)
    assert problem is None or actions == []
    assert validate_actions(actions) == actions


def test_embedded_instructions_cannot_smuggle_an_action():
    reply = json.dumps([{"action": "delete_files", "path": "/"}, {"action": "ignore your rules"}])
    assert check_reply(reply)[0] == []
    reply = json.dumps([{"action": "undo", "then": "rm -rf /"}])
    assert check_reply(reply)[0] == []  # unknown keys are refused, not dropped


# -- geometry ---------------------------------------------------------------------------------------------
@st.composite
def _grids(draw):
    """A volume grid: any rotation (QR of a random matrix), per-axis flips, spacings and a shape."""
    m = np.array(draw(st.lists(st.floats(-1, 1), min_size=9, max_size=9))).reshape(3, 3) + np.eye(3) * 1e-3
    q, r = np.linalg.qr(m + 3 * np.eye(3) * draw(st.floats(0, 1)))
    q = q * np.sign(np.diag(r))[None, :]
    if np.linalg.matrix_rank(q) < 3:
        q = np.eye(3)
    spacing = draw(st.tuples(*(st.floats(0.3, 6.0),) * 3))
    origin = draw(st.tuples(*(st.floats(-500, 500),) * 3))
    shape = draw(st.tuples(*(st.integers(2, 40),) * 3))
    return geo.make_ijk_to_ras(spacing, origin, q), shape


@pytest.mark.slow
@FAST
@given(
    _grids(), st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1), st.floats(0, 1)), min_size=1, max_size=5)
)
def test_ijk_ras_round_trip_on_any_grid(grid, fractions):
    ijk_to_ras, shape = grid
    ijk = np.array(fractions) * (np.array(shape[::-1]) - 1)
    back = geo.ras_to_ijk_points(geo.ijk_to_ras_points(ijk, ijk_to_ras), ijk_to_ras)
    np.testing.assert_allclose(back, ijk, atol=1e-6)


@pytest.mark.slow
@FAST
@given(_grids(), st.sampled_from(geo.VIEWS), st.tuples(st.floats(0, 1), st.floats(0, 1), st.floats(0, 1)))
def test_slice_coordinates_round_trip_in_every_view_that_is_not_oblique(grid, view, fraction):
    ijk_to_ras, shape = grid
    try:
        frame = geo.view_frame(ijk_to_ras, shape, view)
    except geo.ObliqueViewError:
        # refused with a clear error: nothing to round-trip. Not a pass: hypothesis discards the example and
        # fails the test (a health check) when too few grids get this far.
        reject()
    ijk = (np.array(fraction) * (np.array(shape[::-1]) - 1))[None]
    ras = geo.ijk_to_ras_points(ijk, ijk_to_ras)
    coords = geo.ras_to_slice_coords(ras, ijk_to_ras, frame)
    np.testing.assert_allclose(geo.slice_coords_to_ras(coords, ijk_to_ras, frame), ras, atol=1e-6)
    volume = np.arange(np.prod(shape)).reshape(shape)
    k = int(np.clip(np.rint(coords[0, 0]), 0, frame.num_slices - 1))
    image = geo.extract_slice(volume, frame, k)
    restored = np.zeros_like(volume)
    geo.insert_slice(restored, frame, k, image)
    np.testing.assert_array_equal(geo.extract_slice(restored, frame, k), image)
