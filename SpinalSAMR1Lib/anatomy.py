"""Vertebral levels and their label values: VerSe numbering, the one convention of every label map here.

1..7 = C1..C7, 8..19 = T1..T12, 20..24 = L1..L5, 25 = L6 (a sixth lumbar vertebra), 26 = sacrum,
28 = T13 (a thirteenth thoracic vertebra). Smaller values lie higher (cranial), except T13 (28), which
lies between T12 (19) and L1 (20).
"""

from __future__ import annotations

from typing import Final

from .errors import InputError

LEVEL_LABELS: Final[dict[str, int]] = {
    **{f"C{i}": i for i in range(1, 8)},
    **{f"T{i}": 7 + i for i in range(1, 13)},
    **{f"L{i}": 19 + i for i in range(1, 6)},
    "L6": 25,
    "sacrum": 26,
    "T13": 28,
}
LABEL_LEVELS: Final[dict[int, str]] = {v: k for k, v in LEVEL_LABELS.items()}


def level_name(label: int) -> str:
    """The level of a VerSe label value ("L3" for 22); unknown values are named "label N"."""
    return LABEL_LEVELS.get(int(label), f"label {int(label)}")


def level_label(name: str) -> int:
    """The VerSe label value of a level name ("L3" -> 22; "S1" and "sacrum" -> 26)."""
    key = "sacrum" if name.strip().lower() in ("s", "s1", "sacrum") else name.strip().upper()
    if key not in LEVEL_LABELS:
        raise InputError(f"unknown vertebral level {name!r}; expected C1..C7, T1..T13, L1..L6 or sacrum")
    return LEVEL_LABELS[key]


def cranial_to_caudal(labels: list[int]) -> list[int]:
    """Label values sorted from head to feet (T13 between T12 and L1)."""
    return sorted(labels, key=lambda v: 19.5 if v == 28 else float(v))


def names_in_spine_order(ids_cranial_to_caudal: list[str], named: str, level: str) -> dict[str, str]:
    """New names for vertebra segments listed from head to feet when ``named`` is ``level`` ("this is
    L4"): each other one is named by its distance from it along C1..C7, T1..T12, L1..L5, S1."""
    from .commands.schema import LEVELS

    if level not in LEVELS:
        raise InputError(f"unknown vertebral level {level!r}")
    anchor = ids_cranial_to_caudal.index(named)
    start = LEVELS.index(level) - anchor
    if start < 0 or start + len(ids_cranial_to_caudal) > len(LEVELS):
        raise InputError(
            f"{len(ids_cranial_to_caudal)} vertebrae with this one as {level} would run past C1 or S1"
        )
    return {seg: LEVELS[start + n] for n, seg in enumerate(ids_cranial_to_caudal)}


def level_color(name: str) -> tuple[float, float, float]:
    """An RGB colour (0..1) for a level, the same everywhere (Slicer segments, pictures): seven distinct
    colours in turn down the spine (overlay.PALETTE), so that neighbouring levels never look alike."""
    from .overlay import PALETTE

    order = cranial_to_caudal(list(LEVEL_LABELS.values()))
    rgb = PALETTE[order.index(level_label(name)) % len(PALETTE)]
    return tuple(float(c) / 255.0 for c in rgb)
