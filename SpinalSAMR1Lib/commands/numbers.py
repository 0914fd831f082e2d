"""Number words in English ("three", "twenty-two") and Chinese (三, 两, 十二, 二十) to integers.

Our own ~60 lines instead of text2num / cn2an: we only need small counts, and those libraries
convert whole sentences, which breaks Chinese words (cn2an turns 下一张 into 下1张, 统一 into
统1). Here a number is only read where the caller's pattern expects one.
"""

from __future__ import annotations

import re
from typing import Final

EN_UNITS: Final[dict[str, int]] = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
}
EN_TENS: Final[dict[str, int]] = {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
#: Words that stand for a count on their own ("a point", "a couple of slices", "twice").
EN_QUANTIFIERS: Final[dict[str, int]] = {
    "a": 1,
    "an": 1,
    "single": 1,
    "another": 1,
    "once": 1,
    "couple": 2,
    "pair": 2,
    "twice": 2,
    "double": 2,
    "both": 2,
    "thrice": 3,
    "dozen": 12,
}
EN_ORDINALS: Final[dict[str, int]] = {
    "first": 1,
    "second": 2,
    "third": 3,
    "fourth": 4,
    "fifth": 5,
    "sixth": 6,
    "seventh": 7,
    "eighth": 8,
    "ninth": 9,
    "tenth": 10,
    "eleventh": 11,
    "twelfth": 12,
}

ZH_DIGITS: Final[dict[str, int]] = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "壹": 1,
    "二": 2,
    "两": 2,
    "俩": 2,
    "贰": 2,
    "三": 3,
    "叁": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
ZH_NUMERAL_CHARS: Final = "".join(ZH_DIGITS) + "十拾百"

_EN_NUMBER_WORDS: Final = sorted([*EN_UNITS, *EN_TENS, "hundred"], key=len, reverse=True)
#: Regex fragment: one number (digits, English words, "twenty-two", "one hundred and five").
_EN_WORD: Final = "(?:" + "|".join(_EN_NUMBER_WORDS) + ")(?![a-z])"
EN_NUMBER: Final = rf"(?:\d+|{_EN_WORD}(?:[\s-]+{_EN_WORD})*)"
#: Regex fragment: a run of Chinese numerals or ASCII digits.
ZH_NUMBER: Final = rf"(?:\d+|[{ZH_NUMERAL_CHARS}]{{1,5}})"

_SPLIT_RE: Final = re.compile(r"[\s-]+")


def en_words_to_int(text: str) -> int | None:
    """Return "twenty two" / "twenty-two" / "one hundred and five" / "7" -> int; None if not a number."""
    text = text.strip().lower()
    if text.isdigit():
        return int(text)
    total = 0
    current = 0
    seen = False
    for word in _SPLIT_RE.split(text):
        if word == "and" and seen:
            continue
        if word in EN_UNITS:
            current += EN_UNITS[word]
        elif word in EN_TENS:
            current += EN_TENS[word]
        elif word == "hundred":
            current = max(current, 1) * 100
        else:
            return None
        seen = True
    total += current
    return total if seen else None


def zh_to_int(text: str) -> int | None:
    """Chinese numerals -> int: 三 -> 3, 两 -> 2, 十二 -> 12, 二十 -> 20, 一百零五 -> 105.

    Digit strings ("12") and digit-by-digit forms ("一二" -> 12) are accepted too.
    Returns None for anything else.
    """
    text = text.strip()
    if not text:
        return None
    if text.isdigit():
        return int(text)
    if any(ch not in ZH_NUMERAL_CHARS for ch in text):
        return None
    if not any(ch in "十拾百" for ch in text):
        # 一二 written digit by digit.
        return int("".join(str(ZH_DIGITS[ch]) for ch in text))
    total = 0
    digit = 0
    for ch in text:
        if ch in ZH_DIGITS:
            digit = ZH_DIGITS[ch]
        elif ch in "十拾":
            total += (digit or 1) * 10  # 十二: a bare 十 means 10
            digit = 0
        elif ch == "百":
            total += (digit or 1) * 100
            digit = 0
    return total + digit


def to_int(text: str) -> int | None:
    """Any supported number spelling (digits, English words, Chinese numerals, quantifiers)."""
    text = text.strip().lower()
    if text in EN_QUANTIFIERS:
        return EN_QUANTIFIERS[text]
    value = en_words_to_int(text)
    if value is None:
        value = zh_to_int(text)
    return value
