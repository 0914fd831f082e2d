"""File paths in chat messages, kept exactly as written.

Found on the raw text (before NFKC / lower-casing, which would alter them): Windows drive paths
(C:\\scans\\a.nii.gz, D:/x), UNC (\\\\server\\share), POSIX (/data/a.nii.gz, ~/x, ./x, ../x),
relative paths with a separator, bare file names with an imaging extension (seg.nii.gz) and
quoted strings that look like paths. Surrounding quotes and trailing punctuation are dropped.
An unquoted path containing spaces runs to the end of the message, unless it reaches a file
extension first ("save to /tmp/my seg.nii.gz then show the dice").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

EXTENSIONS: Final = (
    r"nii\.gz|nii|seg\.nrrd|nrrd|nhdr|mha|mhd|mgz|dcm|dicom|ima|img|hdr|png|jpe?g|bmp|tiff?|gif|"
    r"vtk|vtp|vtu|stl|obj|ply|npy|npz|h5|hdf5|pt|pth|ckpt|safetensors|json|csv|txt|zip|gz|mat|mrb"
)
_EXT_END: Final = re.compile(rf"\.(?:{EXTENSIONS})(?![A-Za-z0-9])", re.IGNORECASE)
_EXT_AT_END: Final = re.compile(rf"\.(?:{EXTENSIONS})$", re.IGNORECASE)
_SEPARATOR: Final = re.compile(r"[\\/]")
_TRAILING: Final = ".,;:!?)]}>'\"`。，；：！？、）】」』”’》…"
_CJK: Final = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_CHAR: Final = re.compile(f"[{_CJK}]")

# An opening quote at the start, after a space, punctuation or Chinese text (so the apostrophe
# in "it's" does not open a quote), up to its closing partner on the same line.
_QUOTED: Final = re.compile(
    rf"(?:^|(?<=[\s:=(\[,，：{_CJK}]))"
    r"""(?:"([^"\n]+)"|'([^'\n]+)'|“([^”\n]+)”|‘([^’\n]+)’|「([^」\n]+)」|『([^』\n]+)』|`([^`\n]+)`)"""
)

_STARTS: Final = re.compile(
    r"(?P<win>(?<![A-Za-z0-9_])[A-Za-z]:[\\/])"  # C:\ or C:/
    r"|(?P<unc>(?<![\\\w])\\\\(?=[^\\\s]))"  # \\server\share
    r"|(?P<posix>(?<![A-Za-z0-9_\-.~/\\:])(?:~|\.{1,2})?/(?=[^\s/]))"  # /a, ~/a, ./a, ../a
    r"|(?P<rel>(?<![A-Za-z0-9_\-.~/\\:])[A-Za-z0-9_.\-~]+(?:[\\/][\w.\-~]+)*[\\/][\w.\-~]+"
    rf"\.(?:{EXTENSIONS})(?![A-Za-z0-9]))"  # data/a.nii.gz, scans\a.nii.gz
    rf"|(?P<bare>(?<![A-Za-z0-9_\-.~/\\:])[A-Za-z0-9_][A-Za-z0-9_\-.]*\.(?:{EXTENSIONS})(?![A-Za-z0-9]|\.[A-Za-z0-9]))",
    re.IGNORECASE,
)
# Words after a path's first token that start a new clause rather than continue the path.
_CONTINUATION_STOP: Final = re.compile(
    r"^\s*(?:,|;|&|\band\b|\bthen\b|\bafter\b|\bplease\b|\bpls\b|\bthanks?\b|\bthank you\b"
    r"|然后|并|再|接着|之后|后|吧|谢谢)",
    re.IGNORECASE,
)
_TRAILING_FILLER: Final = re.compile(
    r"\s+(?:please|pls|thanks|thank you|now)\s*$|(?:吧|谢谢|好吗|可以吗)\s*$", re.IGNORECASE
)


@dataclass(frozen=True)
class PathSpan:
    """A path found at raw[start:end] (quotes included in the span, not in ``path``)."""

    start: int
    end: int
    path: str


def find_paths(raw: str) -> list[PathSpan]:
    """All paths in the message, left to right."""
    spans = _quoted_paths(raw)
    taken = [(span.start, span.end) for span in spans]
    pos = 0
    while pos < len(raw):
        match = _STARTS.search(raw, pos)
        if match is None:
            break
        inside = next((end for start, end in taken if start <= match.start() < end), None)
        if inside is not None:
            pos = inside
            continue
        span = _unquoted(raw, match)
        if span is None:
            pos = match.end()
            continue
        spans.append(span)
        pos = max(span.end, match.start() + 1)
    return sorted(spans, key=lambda span: span.start)


def _quoted_paths(raw: str) -> list[PathSpan]:
    """Quoted strings that look like a path (a separator or an imaging extension) are paths,
    spaces included; the quotes are dropped."""
    spans = []
    for match in _QUOTED.finditer(raw):
        path = next(group for group in match.groups() if group is not None).strip()
        if path and (_SEPARATOR.search(path) or _EXT_END.search(path)):
            spans.append(PathSpan(match.start(), match.end(), path))
    return spans


def _unquoted(raw: str, match: re.Match[str]) -> PathSpan | None:
    start = match.start()
    if match.lastgroup in ("bare", "rel"):
        return PathSpan(start, match.end(), match.group(0))
    rest = raw[start:]
    first = rest.split(maxsplit=1)[0] if rest.strip() else ""
    glued = _cut_after_extension_in_cjk(first)
    if glued != first or _is_complete(first) or len(first) == len(rest.rstrip()):
        text = glued
    else:
        text = _with_spaces(rest, first)
    text = _strip_trailing(text)
    if len(text) < 2:
        return None
    return PathSpan(start, start + len(text), text)


def _is_complete(token: str) -> bool:
    """A token that already looks like a whole path: ends with an extension or a separator."""
    token = _strip_trailing(token)
    return _EXT_AT_END.search(token) is not None or token.endswith(("/", "\\"))


def _with_spaces(rest: str, first: str) -> str:
    """After an incomplete first token the path goes on through spaces, up to a file extension,
    a word that starts a new clause, or the end of the message."""
    after = rest[len(first) :]
    if _CONTINUATION_STOP.match(after):
        return first
    ext = _EXT_END.search(rest)
    if ext is not None:
        return rest[: ext.end()]
    return _TRAILING_FILLER.sub("", rest.rstrip())


def _cut_after_extension_in_cjk(token: str) -> str:
    """'/tmp/a.nii.gz然后退出' -> '/tmp/a.nii.gz' (Chinese text glued to the file name)."""
    for ext in _EXT_END.finditer(token):
        if ext.end() < len(token) and _CJK_CHAR.match(token, ext.end()):
            return token[: ext.end()]
    return token


def _strip_trailing(text: str) -> str:
    """Drop sentence punctuation and closing quotes after a path ("... /tmp/a.nii.gz.")."""
    return text.rstrip().rstrip(_TRAILING).rstrip()
