"""What leaves the machine: paths, dates, IDs and names are masked before the LLM sees a message."""

from __future__ import annotations

import re

import test_commands_cases as cases
from hypothesis import given, settings
from hypothesis import strategies as st

from SpinalSAMR1Lib.commands.paths import find_paths
from SpinalSAMR1Lib.commands.privacy import mask_private, restore_private

ALL_CASES = cases.CASES_BASIC + cases.CASES_VARIANTS + cases.CASES_HARDER


def test_private_values_are_replaced_and_restored():
    text = (
        "save the segmentation to /home/jdoe/MRN8812345/seg.nii.gz for patient John Smith (MRN: 55120943), "
        "scanned 2024-03-05, seen by Dr. Li; 患者张三的CT 2024年3月5日"
    )
    masked, secrets = mask_private(text)
    for private in ("/home/jdoe", "8812345", "John Smith", "55120943", "2024-03-05", "Li;", "张三", "2024年"):
        assert private not in masked, private
    assert "save the segmentation to <path-1>" in masked and re.search(
        r"patient <name-\d+> \(MRN: <id-\d+>\)", masked
    )
    assert restore_private(masked, secrets) == text
    action = {"action": "save", "path": "<path-1>"}
    assert restore_private([action], secrets) == [
        {"action": "save", "path": "/home/jdoe/MRN8812345/seg.nii.gz"}
    ]


def test_commands_lose_nothing_but_their_paths():
    """Every message of our command cases: only its paths are masked (levels, counts, steps, views and
    windows stay as written), and masking then restoring gives the message back."""
    masked_any = 0
    for message, *_ in ALL_CASES:
        masked, secrets = mask_private(message)
        assert restore_private(masked, secrets) == message
        assert all(key.startswith("<path-") for key in secrets), (message, secrets)
        assert all(span.path not in masked for span in find_paths(message)), message
        masked_any += bool(secrets)
    assert masked_any >= 30  # the cases hold that many paths


def test_text_that_looks_like_a_placeholder_is_not_restored_into_something_else():
    masked, secrets = mask_private("rename <path-1> and keep <name-2>")
    assert restore_private(masked, secrets) == "rename <path-1> and keep <name-2>"
    assert restore_private("<path-1>", {}) == "<path-1>"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_masking_any_text_round_trips(text):
    masked, secrets = mask_private(text)
    assert restore_private(masked, secrets) == text
    assert all(value not in masked or value in key for key, value in secrets.items())
