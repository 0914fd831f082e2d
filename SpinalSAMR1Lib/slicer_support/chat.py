"""Chat panel helpers: help text and reasoning stripping."""

from __future__ import annotations

import re

HELP_EXAMPLES: tuple[str, ...] = (
    "add three points",
    "add 2 negative points on L3",
    "draw a box around L2",
    "generate point mask",
    "segment the whole volume",
    "add a point on L3, then: segment L1 to L5 (one named segment per level; no point: automatic)",
    "segment L1 to L3 on the sagittal view",
    "this is L4 (names the others in the spine's order)",
    "show the spine report / 测量椎体高度",
    "clear points",
    "next slice / go back two slices",
    "switch to sagittal",
    "bone window",
    "undo / redo",
    "save the segmentation to /tmp/seg.nii.gz",
    "check GPU status",
    "verify parameter matching",
    "show the dice score",
)

_THINK = re.compile(r"<think>.*?(</think>|$)", re.DOTALL | re.IGNORECASE)


def help_text() -> str:
    """What the assistant can do, with one example per line."""
    return "I can run these (English or Chinese):\n" + "\n".join(f"  - {e}" for e in HELP_EXAMPLES)


def unknown_reply(text: str = "") -> str:
    """The answer to a message that asks for nothing the tool can do."""
    head = "Sorry, I did not find an action in that." if text.strip() else "Type a command."
    examples = ", ".join(f'"{e}"' for e in HELP_EXAMPLES[:6])
    return f'{head} Try for example {examples}. Type "help" for the full list.'


def strip_reasoning(text: str, show: bool = False) -> str:
    """Remove a reasoning model's <think>...</think> block unless ``show`` (then it is kept, marked)."""
    if show:
        return _THINK.sub(
            lambda m: "[reasoning] " + m.group(0)[7:].replace("</think>", "").strip() + "\n", text
        )
    return _THINK.sub("", text).strip()
