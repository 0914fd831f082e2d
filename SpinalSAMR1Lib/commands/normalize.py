"""Text normalisation for chat messages: NFKC, punctuation, control characters, case, language.

Every function keeps the string length unchanged (except :func:`nfkc`), so the case-preserving
and lower-cased copies of a message stay aligned character by character.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

# Chinese and other wide punctuation that NFKC leaves alone, mapped to ASCII so one set of
# rules handles both languages. One character to one character keeps strings aligned.
_PUNCT: Final = str.maketrans(
    {
        "。": ".",
        "、": ",",
        "｡": ".",
        "“": '"',
        "”": '"',
        "‘": "'",
        "’": "'",
        "「": '"',
        "」": '"',
        "『": '"',
        "』": '"',
        "【": "[",
        "】": "]",
        "《": '"',
        "》": '"',
        "〈": '"',
        "〉": '"',
        "—": "-",
        "–": "-",
        "‐": "-",
        "‑": "-",
        "−": "-",
        "～": "~",
        "〜": "~",
        "…": ".",
        "\u3000": " ",
    }
)

_ASCII_LOWER: Final = str.maketrans({chr(c): chr(c + 32) for c in range(ord("A"), ord("Z") + 1)})

# C0/C1 controls, DEL, zero-width and bidi marks: replaced by a space so words do not glue.
_CONTROL_RE: Final = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff\ufffe\uffff]"
)

# CJK Unified Ideographs (+ extension A, compatibility ideographs, extensions B..F).
_CJK_RE: Final = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ebef]")


def strip_controls(text: str) -> str:
    """Replace control / invisible formatting characters with spaces (same length)."""
    return _CONTROL_RE.sub(" ", text)


def nfkc(text: str) -> str:
    """NFKC (full-width "Ｌ３" -> "L3") and wide punctuation mapped to ASCII."""
    return unicodedata.normalize("NFKC", text).translate(_PUNCT)


def lower_ascii(text: str) -> str:
    """Lower-case ASCII letters only; unlike str.lower() this never changes the length."""
    return text.translate(_ASCII_LOWER)


def has_cjk(text: str) -> bool:
    """True if the text contains any Chinese character."""
    return _CJK_RE.search(text) is not None


def detect_lang(text: str) -> str:
    """The contract's language rule: "zh" if any Chinese character, else "en"."""
    return "zh" if has_cjk(text) else "en"
