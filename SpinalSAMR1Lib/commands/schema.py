"""The one chat action schema (contract v1): action names, slots, defaults, key order and validation.

Both the offline rule parser and the LLM backend build their output through :func:`make_action` /
:func:`validate_action`, and the executor validates again before running anything, so an action
outside this table can never reach Slicer, whatever a model replies.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final

SCHEMA_VERSION: Final = "1.1"  # v1.1 added report and name_level

#: Vertebra levels in the spine's order; ranges and sorting follow this order.
LEVELS: Final[tuple[str, ...]] = (
    *(f"C{i}" for i in range(1, 8)),
    *(f"T{i}" for i in range(1, 13)),
    *(f"L{i}" for i in range(1, 6)),
    "S1",
)
LEVEL_INDEX: Final[dict[str, int]] = {name: i for i, name in enumerate(LEVELS)}

# What a level name looks like in text, the one definition every level pattern is built from (the
# chat's level finder, the privacy filter, the "this is L4" rule, the Slicer module's label reader):
# a region letter, then a one- or two-digit number. Whether a match names a real level ("L6" looks
# like one) is LEVEL_INDEX's to say, after upper-casing.
#: The region letters, "CTLS".
LEVEL_LETTERS: Final = "".join(dict.fromkeys(name[0] for name in LEVELS))
#: A region letter (regex character class; upper case as in LEVELS).
LEVEL_LETTER: Final = f"[{LEVEL_LETTERS}]"
#: A region letter in either case.
LEVEL_LETTER_ANY_CASE: Final = f"[{LEVEL_LETTERS}{LEVEL_LETTERS.lower()}]"
#: The number after the letter.
LEVEL_NUMBER: Final = r"\d{1,2}"

VIEWS: Final = ("axial", "sagittal", "coronal", "3d")
#: "3d" in a segment request means scope "volume", so segment.view only names 2D views.
SEGMENT_VIEWS: Final = ("axial", "sagittal", "coronal")
WINDOW_PRESETS: Final = ("bone", "soft_tissue")
PROMPTS: Final = ("auto", "points", "box")
SCOPES: Final = ("slice", "volume")
POLARITIES: Final = ("positive", "negative")
CLEAR_TARGETS: Final = ("all", "points", "boxes", "mask")
DIRECTIONS: Final = ("next", "previous")

MAX_COUNT: Final = 100
MAX_STEPS: Final = 1000
#: More actions than this in one message is not a command a person typed.
MAX_ACTIONS: Final = 20
MAX_PATH_CHARS: Final = 4096

_REQUIRED: Final = object()


class SchemaError(ValueError):
    """An action (or list of actions) that does not follow the contract; the message says why."""


@dataclass(frozen=True)
class Slot:
    """One slot of an action: its name, kind, default and allowed values."""

    name: str
    kind: str  # "int" | "enum" | "level" | "levels" | "path"
    default: Any = _REQUIRED
    choices: tuple[str, ...] = ()
    nullable: bool = False
    maximum: int = 0

    @property
    def required(self) -> bool:
        """True when the slot has no default (the caller must give it)."""
        return self.default is _REQUIRED


#: Action name -> slots in the contract's key order ("action" always comes first).
ACTIONS: Final[dict[str, tuple[Slot, ...]]] = {
    "load_volume": (Slot("path", "path", None, nullable=True),),
    "add_points": (
        Slot("count", "int", 1, maximum=MAX_COUNT),
        Slot("polarity", "enum", "positive", POLARITIES),
        Slot("level", "level", None, nullable=True),
    ),
    "add_box": (Slot("level", "level", None, nullable=True),),
    "segment": (
        Slot("prompt", "enum", "auto", PROMPTS),
        Slot("scope", "enum", "slice", SCOPES),
        Slot("view", "enum", None, SEGMENT_VIEWS, nullable=True),
        Slot("levels", "levels", ()),
    ),
    "clear": (Slot("target", "enum", "all", CLEAR_TARGETS),),
    "navigate": (
        Slot("direction", "enum", "next", DIRECTIONS),
        Slot("steps", "int", 1, maximum=MAX_STEPS),
    ),
    "set_view": (Slot("view", "enum", choices=VIEWS),),
    "set_window": (Slot("preset", "enum", choices=WINDOW_PRESETS),),
    "device_status": (),
    "verify_model": (),
    "undo": (),
    "redo": (),
    "save": (Slot("path", "path", None, nullable=True),),
    "show_metrics": (),
    "report": (Slot("levels", "levels", ()),),
    "name_level": (Slot("level", "level"),),
    "help": (),
    "unknown": (),
}

ACTION_NAMES: Final[tuple[str, ...]] = tuple(ACTIONS)


def unknown() -> dict[str, Any]:
    """The canonical "nothing actionable" action."""
    return {"action": "unknown"}


def sort_levels(levels: list[str] | tuple[str, ...]) -> list[str]:
    """Deduplicate levels and put them in spine order (C1 .. S1)."""
    return sorted(set(levels), key=LEVEL_INDEX.__getitem__)


def make_action(name: str, **slots: Any) -> dict[str, Any]:
    """Build a canonical action from keyword slots (defaults filled); raise SchemaError if invalid."""
    return validate_action({"action": name, **slots})


def validate_action(obj: object) -> dict[str, Any]:
    """Check one action against the contract and return its canonical form.

    Canonical means: every slot present (defaults filled), keys in the table's order with
    "action" first, enum/level spelling normalised (e.g. "l3" -> "L3", "Sagittal" -> "sagittal"),
    levels deduplicated in spine order. Unknown actions, unknown keys and bad values raise
    SchemaError; nothing is guessed.
    """
    if not isinstance(obj, dict):
        raise SchemaError(f"an action must be a JSON object, got {type(obj).__name__}")
    name = obj.get("action")
    if not isinstance(name, str) or name not in ACTIONS:
        raise SchemaError(f"unknown action {_short(name)}; allowed: {', '.join(ACTION_NAMES)}")
    slots = ACTIONS[name]
    allowed = {"action", *(slot.name for slot in slots)}
    extra = [key for key in obj if key not in allowed]
    if extra:
        raise SchemaError(f"action {name!r} has unexpected field(s): {', '.join(map(_short, extra))}")
    out: dict[str, Any] = {"action": name}
    for slot in slots:
        if slot.name in obj:
            out[slot.name] = _check_slot(name, slot, obj[slot.name])
        elif slot.required:
            raise SchemaError(f"action {name!r} needs field {slot.name!r}")
        else:
            out[slot.name] = list(slot.default) if slot.kind == "levels" else slot.default
    return out


def validate_actions(obj: object) -> list[dict[str, Any]]:
    """Validate a whole reply: either ``{"actions": [...]}`` (nothing else) or a bare list.

    An empty list is valid (the contract allows it); callers that must always answer turn it
    into ``[unknown()]``.
    """
    if isinstance(obj, dict):
        extra = [key for key in obj if key != "actions"]
        if extra:
            raise SchemaError(f"unexpected top-level field(s): {', '.join(map(_short, extra))}")
        if "actions" not in obj:
            raise SchemaError('missing top-level field "actions"')
        obj = obj["actions"]
    if not isinstance(obj, list):
        raise SchemaError(f'"actions" must be a list, got {type(obj).__name__}')
    if len(obj) > MAX_ACTIONS:
        raise SchemaError(f"too many actions ({len(obj)} > {MAX_ACTIONS})")
    return [validate_action(item) for item in obj]


def _check_slot(action: str, slot: Slot, value: Any) -> Any:
    """Validate and canonicalise one slot value."""
    where = f"{action}.{slot.name}"
    if value is None:
        if slot.nullable:
            return None
        raise SchemaError(f"{where} must not be null")
    checker = _CHECKERS[slot.kind]
    return checker(where, slot, value)


def _check_int(where: str, slot: Slot, value: Any) -> int:
    # bool is an int subclass in Python; true/false is never a count.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SchemaError(f"{where} must be an integer, got {_short(value)}")
    if isinstance(value, float):
        if not math.isfinite(value) or value != int(value):
            raise SchemaError(f"{where} must be a whole number, got {_short(value)}")
        value = int(value)
    if not 1 <= value <= slot.maximum:
        raise SchemaError(f"{where} must be between 1 and {slot.maximum}, got {value}")
    return value


def _check_enum(where: str, slot: Slot, value: Any) -> str:
    if not isinstance(value, str):
        raise SchemaError(f"{where} must be a string, got {_short(value)}")
    canonical = value.strip().lower().replace("-", "_").replace(" ", "_")
    if canonical not in slot.choices:
        raise SchemaError(f"{where} must be one of {', '.join(slot.choices)}, got {_short(value)}")
    return canonical


def _check_level(where: str, slot: Slot, value: Any) -> str:
    if not isinstance(value, str):
        raise SchemaError(f"{where} must be a level string like 'L3', got {_short(value)}")
    canonical = value.strip().upper().replace(" ", "").replace("-", "")
    if canonical not in LEVEL_INDEX:
        raise SchemaError(f"{where} must be one of C1..C7, T1..T12, L1..L5, S1, got {_short(value)}")
    return canonical


def _check_levels(where: str, slot: Slot, value: Any) -> list[str]:
    if not isinstance(value, list | tuple):
        raise SchemaError(f"{where} must be a list of levels, got {_short(value)}")
    return sort_levels([_check_level(where, slot, item) for item in value])


def _check_path(where: str, slot: Slot, value: Any) -> str:
    if not isinstance(value, str):
        raise SchemaError(f"{where} must be a string or null, got {_short(value)}")
    if not value.strip():
        raise SchemaError(f"{where} must not be empty (use null to ask with a file dialog)")
    if len(value) > MAX_PATH_CHARS or any(ord(ch) < 32 for ch in value):
        raise SchemaError(f"{where} is not a usable file path")
    return value  # paths are kept exactly as written


_CHECKERS: Final = {
    "int": _check_int,
    "enum": _check_enum,
    "level": _check_level,
    "levels": _check_levels,
    "path": _check_path,
}


def _short(value: Any, limit: int = 40) -> str:
    """repr() cut to a readable length, for error messages that may go back to a model."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe_actions() -> str:
    """One line per action with its slots, allowed values and defaults (for prompts and help)."""
    lines = []
    for name, slots in ACTIONS.items():
        parts = [_describe_slot(slot) for slot in slots]
        lines.append(f"- {name}" + (f": {'; '.join(parts)}" if parts else " (no fields)"))
    return "\n".join(lines)


def _describe_slot(slot: Slot) -> str:
    if slot.kind == "int":
        kind = f"integer 1..{slot.maximum}"
    elif slot.kind == "enum":
        kind = " | ".join(f'"{c}"' for c in slot.choices)
    elif slot.kind == "level":
        kind = 'one level like "L3"'
    elif slot.kind == "levels":
        kind = 'list of levels like ["L1","L2"]'
    else:
        kind = "file path string exactly as written"
    if slot.nullable:
        kind += " | null"
    default = "required" if slot.required else f"default {_json_literal(slot.default)}"
    return f"{slot.name} ({kind}; {default})"


def _json_literal(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, tuple | list):
        return "[]"
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)
