"""What leaves the machine: text bound for an external LLM has file paths, dates, IDs and names
replaced by placeholders (``<path-1>``, ``<date-1>``, ``<id-1>``, ``<name-1>``); the actions that come
back get the originals again. The offline parser always sees the original text (it runs here).

What counts (heuristics, chosen to leave every command of the contract intact: levels such as ``L3`` or
``T12``, counts, slice steps, views and windows are never touched):

- paths: every path the command parser finds (:func:`.paths.find_paths`: POSIX, Windows and UNC paths,
  spaces and quotes included, and bare file names such as ``scan_042.nii.gz``);
- dates: ``2024-03-05``, ``05/03/2024``, ``5.3.24``, DICOM's ``20240305``, ``2024年3月5日``;
- IDs: runs of five or more digits, words holding four or more digits (``MRN8812345``, ``AB-12345``),
  and whatever follows ``MRN``, ``ID``, ``accession``, ``病历号``, ``住院号``;
- names: capitalised words after a title or "patient" (``Mr. John Smith``, ``patient Jane Doe``) and
  two or three Han characters after ``患者``, ``病人`` or ``姓名``.
"""

from __future__ import annotations

import re
from typing import Any

from .paths import find_paths
from .schema import LEVEL_LETTER, LEVEL_NUMBER

_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("date", re.compile(r"(?<!\d)\d{4}年\d{1,2}月\d{1,2}日?")),
    ("date", re.compile(r"(?<![\w.])\d{4}[-/.]\d{1,2}[-/.]\d{1,2}(?![\w.])")),
    ("date", re.compile(r"(?<![\w.])\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}(?![\w.])")),
    ("date", re.compile(r"(?<![\w])(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])(?![\w])")),
    (
        "id",
        re.compile(r"(?i:\b(?:MRN|PID|ID|accession)\b[\s:#：=-]*)(?P<secret>[A-Za-z0-9][A-Za-z0-9-]{2,})"),
    ),
    ("id", re.compile(r"(?:病历号|住院号|门诊号)[\s:#：]*(?P<secret>[A-Za-z0-9-]{3,})")),
    ("id", re.compile(r"(?<![\w<-])\d{5,}(?![\w>])")),
    (
        "id",
        re.compile(r"(?<![\w<-])(?=[\w-]*[A-Za-z])(?=[\w-]*(?:\d[A-Za-z_-]*){4})[A-Za-z0-9][\w-]*(?![\w>])"),
    ),
    ("name", re.compile(r"\b(?:Mr|Mrs|Ms|Miss|Dr|Prof)\.?\s+(?P<secret>[A-Z][a-z]+(?:[ -][A-Z][a-z]+)?)")),
    ("name", re.compile(r"(?i:\b(?:patient|pt)\b)[\s:：]+(?P<secret>[A-Z][a-z]+(?:[ -][A-Z][a-z]+)?)")),
    (
        "name",
        re.compile(
            r"(?:患者|病人|姓名)[\s:：]*(?P<secret>[\u4e00-\u9fff]{2,3}?)(?=[的了在和与是做]|[^\u4e00-\u9fff]|$)"
        ),
    ),
    ("name", re.compile(r"(?:患者|病人|姓名)[\s:：]*(?P<secret>[\u4e00-\u9fff]{2,4})")),
)
_LEVELS_ONLY = re.compile(  # T10-T12: levels, not an ID
    rf"(?i:{LEVEL_LETTER}{LEVEL_NUMBER}(?:[-–~]+{LEVEL_LETTER}?{LEVEL_NUMBER})*)"
)
_PLACEHOLDER = re.compile(r"<(?:path|date|id|name)-\d+>")


def mask_private(text: str) -> tuple[str, dict[str, str]]:
    """(text with placeholders, placeholder -> original). The same value gets the same placeholder;
    text that already looks like a placeholder is masked too, so restoring never invents a value."""
    secrets: dict[str, str] = {}
    by_value: dict[str, str] = {}
    counts: dict[str, int] = {}

    def placeholder(kind: str, value: str) -> str:
        if value not in by_value:
            counts[kind] = counts.get(kind, 0) + 1
            by_value[value] = f"<{kind}-{counts[kind]}>"
            secrets[by_value[value]] = value
        return by_value[value]

    def replace(kind: str, match: re.Match[str]) -> str:
        if "secret" in match.re.groupindex:
            start, end = match.span("secret")
            whole = match.group(0)
            offset = match.start()
            return whole[: start - offset] + placeholder(kind, match.group("secret")) + whole[end - offset :]
        if kind == "id" and _LEVELS_ONLY.fullmatch(match.group(0)):
            return match.group(0)
        return placeholder(kind, match.group(0))

    masked = _PLACEHOLDER.sub(lambda m: placeholder("id", m.group(0)), text)
    masked = _mask_paths(masked, lambda path: placeholder("path", path))
    for kind, pattern in _PATTERNS:
        masked = _mask_outside_placeholders(masked, pattern, lambda m, k=kind: replace(k, m))
    return masked, secrets


def _mask_paths(text: str, placeholder) -> str:
    """Every path the command parser finds (:func:`.paths.find_paths`, spaces and quotes handled) masked."""
    out, last = [], 0
    for span in find_paths(text):
        if _PLACEHOLDER.fullmatch(span.path):
            continue
        chunk = text[span.start : span.end]
        out += [text[last : span.start], chunk.replace(span.path, placeholder(span.path), 1)]
        last = span.end
    out.append(text[last:])
    return "".join(out)


def _mask_outside_placeholders(text: str, pattern: re.Pattern[str], repl) -> str:
    """``pattern.sub(repl, text)`` on the stretches between placeholders already made."""
    parts, last = [], 0
    for m in _PLACEHOLDER.finditer(text):
        parts += [pattern.sub(repl, text[last : m.start()]), m.group(0)]
        last = m.end()
    parts.append(pattern.sub(repl, text[last:]))
    return "".join(parts)


def restore_private(value: Any, secrets: dict[str, str]) -> Any:
    """``value`` (actions: dicts, lists, strings) with every placeholder of ``secrets`` put back."""
    if not secrets:
        return value
    if isinstance(value, str):
        return _PLACEHOLDER.sub(lambda m: secrets.get(m.group(0), m.group(0)), value)
    if isinstance(value, list):
        return [restore_private(v, secrets) for v in value]
    if isinstance(value, dict):
        return {k: restore_private(v, secrets) for k, v in value.items()}
    return value
