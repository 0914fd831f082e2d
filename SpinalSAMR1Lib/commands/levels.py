"""Vertebra levels in chat text: "L3", "l-3", "T12-L2", "L1 to 3", "third lumbar vertebra",
第三腰椎, 腰3, 腰1到腰3, region words (lumbar / 腰椎 ...).

Patterns run from most to least specific; each match is blanked out of a working copy so a
shorter pattern cannot read the same characters again ("T12-L2" is one range, not T12 + L2).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from .numbers import EN_ORDINALS, ZH_NUMERAL_CHARS, to_int
from .schema import LEVEL_INDEX, LEVEL_LETTER, LEVEL_LETTER_ANY_CASE, LEVEL_NUMBER, LEVELS

_REGION_LEVELS: Final[dict[str, tuple[str, ...]]] = {
    "C": LEVELS[0:7],
    "T": LEVELS[7:19],
    "L": LEVELS[19:24],
    "S": ("S1",),
}
_EN_REGION: Final = {
    "cervical": "C",
    "thoracic": "T",
    "thoracal": "T",
    "dorsal": "T",
    "lumbar": "L",
    "lumber": "L",  # the most common misspelling
    "sacral": "S",
    "sacrum": "S",
}
_ZH_REGION: Final = {"颈": "C", "胸": "T", "腰": "L", "骶": "S"}

# A level written with its letter: L3, l3, L-3, "L 3" (a space only with a capital letter,
# so "it's 1 slice" is not S1).
_LVL: Final = (
    rf"(?<![A-Za-z0-9])(?:({LEVEL_LETTER_ANY_CASE})-?|({LEVEL_LETTER}) )({LEVEL_NUMBER})(?![0-9A-Za-z])"
)
_RANGE_SEP: Final = r"\s*(?i:-|~|to|through|thru|till|until|up to|到|至)\s*"
_N: Final = rf"(\d{{1,2}}|[{ZH_NUMERAL_CHARS}]{{1,3}})"
_EN_N: Final = (
    r"(\d{1,2}|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|"
    + "|".join(EN_ORDINALS)
    + r")(?:st|nd|rd|th)?"
)
_EN_REG: Final = "(" + "|".join(_EN_REGION) + ")"
_ZH_REG: Final = "([颈胸腰骶])"

_PATTERNS: Final[tuple[tuple[str, re.Pattern[str]], ...]] = (
    # between L1 and L3 / from T12 to L2
    ("range", re.compile(rf"(?i:between)\s+{_LVL}\s*(?:and|&|与|和)\s*{_LVL}")),
    ("range", re.compile(rf"{_LVL}{_RANGE_SEP}{_LVL}")),
    # L1-3, L1 to 3: the second end keeps the first one's region
    ("range_short", re.compile(rf"{_LVL}{_RANGE_SEP}(\d{{1,2}})(?![0-9A-Za-z])")),
    # 第一到第三腰椎
    ("zh_range_ord", re.compile(rf"第{_N}[节个]?\s*(?:到|至|-|~)\s*第?{_N}[节个]?{_ZH_REG}椎?")),
    # 腰1到腰3, 腰椎1-3, 腰椎第一到第三节
    (
        "zh_range",
        re.compile(
            rf"{_ZH_REG}椎?第?{_N}[节号]?(?:椎体?)?\s*(?:到|至|-|~)\s*(?:{_ZH_REG}椎?)?第?{_N}[节号]?"
        ),
    ),
    # lumbar 1 to 3, lumbar vertebrae 1-3
    (
        "en_region_range",
        re.compile(rf"(?i:{_EN_REG}(?:\s+vertebra[e]?|\s+spine)?\s+{_EN_N}{_RANGE_SEP}{_EN_N})"),
    ),
    ("level", re.compile(_LVL)),
    # 第三腰椎, 第3节腰椎
    ("zh_ord", re.compile(rf"第{_N}[节个]?{_ZH_REG}椎?")),
    # 腰3, 腰椎3, 腰椎第三节, 胸十二
    ("zh_region_n", re.compile(rf"{_ZH_REG}椎?第?{_N}(?![{ZH_NUMERAL_CHARS}\d])[节号]?")),
    # third lumbar vertebra, 3rd lumbar
    ("en_ord_region", re.compile(rf"(?i:{_EN_N}\s+{_EN_REG})")),
    # lumbar 3, lumbar vertebra three
    ("en_region_n", re.compile(rf"(?i:{_EN_REG}(?:\s+vertebra[e]?)?\s+{_EN_N}(?![a-z]))")),
)

_REGION_WORDS: Final = re.compile(
    r"(?i:(?<![a-z])(lumbosacral|"
    + "|".join(_EN_REGION)
    + r")(?![a-z]))|(腰骶|颈椎|胸椎|腰椎|腰部|骶骨|骶椎|骶部)"
)
_ZH_REGION_WORDS: Final = {
    "颈椎": "C",
    "胸椎": "T",
    "腰椎": "L",
    "腰部": "L",
    "骶骨": "S",
    "骶椎": "S",
    "骶部": "S",
}


@dataclass(frozen=True)
class Mention:
    """Levels said at text[start:end]."""

    start: int
    end: int
    levels: tuple[str, ...]


def find_levels(text: str) -> list[Mention]:
    """All level mentions in the text, in reading order (ranges and regions already expanded).

    Region words ("lumbar", 腰椎) only count when no numbered level is said in the same text:
    in "腰椎L3" or "the lumbar vertebra L3" the region word just qualifies L3.
    """
    work = text
    found: list[Mention] = []
    for kind, pattern in _PATTERNS:
        for match in pattern.finditer(work):
            levels = _levels_of(kind, match)
            if levels:
                found.append(Mention(match.start(), match.end(), levels))
        work = _blank(work, found)
    if not found:
        found = _region_mentions(work)
    return sorted(found, key=lambda m: m.start)


def levels_in(text: str) -> list[str]:
    """Every level mentioned, deduplicated, in spine order."""
    seen = {level for mention in find_levels(text) for level in mention.levels}
    return sorted(seen, key=LEVEL_INDEX.__getitem__)


def first_level(text: str) -> str | None:
    """The first level mentioned (for actions that take a single level), or None."""
    mentions = find_levels(text)
    return mentions[0].levels[0] if mentions else None


def blank_levels(text: str) -> str:
    """The text with level mentions replaced by spaces, so their digits are not read as counts."""
    return _blank(text, find_levels(text))


def expand_range(first: str, last: str) -> tuple[str, ...]:
    """Inclusive range in spine order: ("T12", "L2") -> (T12, L1, L2); reversed ends are swapped."""
    i, j = sorted((LEVEL_INDEX[first], LEVEL_INDEX[last]))
    return LEVELS[i : j + 1]


def _blank(text: str, mentions: list[Mention]) -> str:
    chars = list(text)
    for m in mentions:
        chars[m.start : m.end] = " " * (m.end - m.start)
    return "".join(chars)


def _level(region: str | None, number: str | None) -> str | None:
    """("l", "3") -> "L3" if it is a real vertebra, else None."""
    if not region or number is None:
        return None
    value = _number(number)
    if value is None:
        return None
    name = f"{region.upper()}{value}"
    return name if name in LEVEL_INDEX else None


def _number(text: str) -> int | None:
    text = text.lower()
    if text in EN_ORDINALS:
        return EN_ORDINALS[text]
    return to_int(text)


def _explicit(groups: tuple[str | None, ...]) -> str | None:
    """Level from the three groups of _LVL (lower-case letter, capital-with-space letter, number)."""
    return _level(groups[0] or groups[1], groups[2])


def _levels_of(kind: str, match: re.Match[str]) -> tuple[str, ...]:
    g = match.groups()
    if kind == "level":
        one = _explicit(g)
        return (one,) if one else ()
    if kind == "range":
        a, b = _explicit(g[0:3]), _explicit(g[3:6])
        return expand_range(a, b) if a and b else ()
    if kind == "range_short":
        a = _explicit(g[0:3])
        b = _level((g[0] or g[1]), g[3])
        return expand_range(a, b) if a and b else ()
    if kind == "zh_range_ord":
        region = _ZH_REGION[g[2]]
        return _range_or_empty(_level(region, g[0]), _level(region, g[1]))
    if kind == "zh_range":
        first_region = _ZH_REGION[g[0]]
        second_region = _ZH_REGION[g[2]] if g[2] else first_region
        return _range_or_empty(_level(first_region, g[1]), _level(second_region, g[3]))
    if kind == "en_region_range":
        region = _EN_REGION[g[0].lower()]
        return _range_or_empty(_level(region, g[1]), _level(region, g[2]))
    if kind == "zh_ord":
        one = _level(_ZH_REGION[g[1]], g[0])
    elif kind == "zh_region_n":
        one = _level(_ZH_REGION[g[0]], g[1])
    elif kind == "en_ord_region":
        one = _level(_EN_REGION[g[1].lower()], g[0])
    else:  # en_region_n
        one = _level(_EN_REGION[g[0].lower()], g[1])
    return (one,) if one else ()


def _range_or_empty(first: str | None, last: str | None) -> tuple[str, ...]:
    return expand_range(first, last) if first and last else ()


def _region_mentions(text: str) -> list[Mention]:
    mentions = []
    for match in _REGION_WORDS.finditer(text):
        word = match.group(0)
        if word.lower() == "lumbosacral" or word == "腰骶":
            levels = (*_REGION_LEVELS["L"], "S1")
        elif match.group(1):
            levels = _REGION_LEVELS[_EN_REGION[word.lower()]]
        else:
            levels = _REGION_LEVELS[_ZH_REGION_WORDS[word]]
        mentions.append(Mention(match.start(), match.end(), levels))
    return mentions
