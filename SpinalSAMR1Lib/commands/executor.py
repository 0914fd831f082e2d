"""Running chat actions: one executor method per contract action, plus help text and examples.

The Slicer module subclasses :class:`ActionExecutor`; the command line uses
:class:`PrintingExecutor`, which only describes what would happen. :func:`dispatch` validates an
action through the schema before calling anything, so a malformed or invented action (whatever
produced it) never reaches the executor; :func:`execute_all` is the one runner of a message's
actions, for the CLI and the Slicer panel alike.

``schema.ACTIONS`` is the one list of actions: every executor class is checked against it when it
is created (one method per action, its keywords the action's slots), so an action added to the
schema without a handler fails at import, not in a user's chat.
"""

from __future__ import annotations

import abc
import inspect
from collections.abc import Iterable
from typing import Any, Final

from .schema import ACTIONS, SchemaError, validate_action

#: (English, Chinese) example phrasings per action, for help and "unknown" replies.
EXAMPLES: Final[dict[str, tuple[str, str]]] = {
    "load_volume": ("open image  /  load the CT /data/a.nii.gz", "打开图片"),
    "add_points": ("add 2 negative points on L3", "在L2添加两个负点"),
    "add_box": ("draw a box around L2", "添加坐标框"),
    "segment": (
        "segment L1 to L3 on the sagittal view  /  segment the whole volume  /  generate point mask",
        "分割整个体积",
    ),
    "clear": ("clear points  /  clear everything", "清空"),
    "navigate": ("next slice  /  go back two slices", "上一张"),
    "set_view": ("switch to sagittal  /  3D view", "切换到矢状位"),
    "set_window": ("bone window  /  soft tissue window", "骨窗"),
    "device_status": ("check GPU status", "GPU还能用吗"),
    "verify_model": ("verify parameter matching", "验证参数"),
    "undo": ("undo", "撤销"),
    "redo": ("redo", "重做"),
    "save": ("save the segmentation  /  export mask to /tmp/seg.nii.gz", "保存"),
    "show_metrics": ("show the dice score", "计算指标"),
    "report": ("show the spine report  /  measure the vertebral heights of L1 to L3", "测量椎体高度"),
    "name_level": ("this is L4", "这是L4"),
    "help": ("help  /  what can you do?", "帮助"),
}

#: The one help text, of the Slicer chat panel and of ``spinalsam-r1 chat`` alike.
HELP_TEXT: Final = (
    "I can run these commands (English or 中文, several in one message) / "
    "我可以执行这些命令（英文或中文，一条消息可以有几个）:\n"
    + "\n".join(f"- {en}   |   {zh}" for en, zh in EXAMPLES.values())
    + "\nVertebra levels: C1-C7, T1-T12, L1-L5, S1; ranges like T12-L2 or 腰1到腰3. Segmenting levels"
    ' ("segment L1 to L5") makes one named segment per level, from a point placed on one of them, else'
    ' automatically; "this is L4" names the selected vertebra and the others in the spine\'s order.'
    "\n椎体节段：C1-C7、T1-T12、L1-L5、S1；范围如 T12-L2 或 腰1到腰3。分割几个节段（“分割腰1到腰5”）时每个节段"
    "得到一个命名的分割，从放在其中一个节段上的点开始，没有点时自动；“这是L4”为所选椎体命名，其余椎体按脊柱顺序命名。"
)

UNKNOWN_TEXT: Final = (
    "Sorry, I didn't find a command in that. Try for example: "
    f'"{EXAMPLES["add_points"][0]}", "{EXAMPLES["segment"][1]}", "{EXAMPLES["navigate"][0]}" '
    'or type "help" / "帮助".'
)


class ActionExecutor(abc.ABC):
    """Carries out validated actions. Each method returns a short message for the chat.

    Method names and keyword arguments are exactly the contract's action names and slots, so
    ``getattr(executor, action["action"])(**slots)`` is the whole mapping. ``help`` and
    ``unknown`` have working defaults; everything else must be implemented. Defaults of the
    slots live in the schema only (:func:`dispatch` always passes every slot).
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        check_handlers(cls)

    @abc.abstractmethod
    def load_volume(self, path: str | None) -> str:
        """Open a CT volume / image; path None means ask with a file dialog."""

    @abc.abstractmethod
    def add_points(self, count: int, polarity: str, level: str | None) -> str:
        """Place ``count`` prompt points ("positive" or "negative"), optionally on a vertebra level."""

    @abc.abstractmethod
    def add_box(self, level: str | None) -> str:
        """Place a bounding-box prompt, optionally around a vertebra level."""

    @abc.abstractmethod
    def segment(self, prompt: str, scope: str, view: str | None, levels: list[str]) -> str:
        """Run the model: prompt "points" / "box" / "auto", scope "slice" / "volume"."""

    @abc.abstractmethod
    def clear(self, target: str) -> str:
        """Remove "points", "boxes", the "mask", or "all" of them (prompts and results only)."""

    @abc.abstractmethod
    def navigate(self, direction: str, steps: int) -> str:
        """Move ``steps`` slices "next" or "previous"."""

    @abc.abstractmethod
    def set_view(self, view: str) -> str:
        """Show the "axial", "sagittal", "coronal" or "3d" view."""

    @abc.abstractmethod
    def set_window(self, preset: str) -> str:
        """Apply the "bone" or "soft_tissue" CT display window."""

    @abc.abstractmethod
    def device_status(self) -> str:
        """Report the compute device (GPU/CPU) and its memory."""

    @abc.abstractmethod
    def verify_model(self) -> str:
        """Check that the loaded checkpoint matches the model parameters."""

    @abc.abstractmethod
    def undo(self) -> str:
        """Undo the last edit."""

    @abc.abstractmethod
    def redo(self) -> str:
        """Redo the last undone edit."""

    @abc.abstractmethod
    def save(self, path: str | None) -> str:
        """Save / export the segmentation; path None means ask with a file dialog."""

    @abc.abstractmethod
    def show_metrics(self) -> str:
        """Show Dice / IoU / MSD / HD95 against a reference segmentation."""

    @abc.abstractmethod
    def report(self, levels: list[str]) -> str:
        """Compute and show the spine report (body heights, compression, volume, bone HU) for ``levels``,
        or for every segmented level when empty."""

    @abc.abstractmethod
    def name_level(self, level: str) -> str:
        """Name the selected (or last segmented) vertebra ``level``; rename the other segmented levels to
        follow the spine's order."""

    def help(self) -> str:
        """List what the assistant can do."""
        return HELP_TEXT

    def unknown(self) -> str:
        """Nothing actionable: say so, with examples."""
        return UNKNOWN_TEXT


def check_handlers(cls: type) -> None:
    """Raise TypeError unless ``cls`` has one method per schema action taking exactly its slots."""
    problems = []
    for name, slots in ACTIONS.items():
        method = getattr(cls, name, None)
        if not callable(method):
            problems.append(f"no method for action {name!r}")
            continue
        params = [p for p in inspect.signature(method).parameters if p != "self"]
        wanted = [slot.name for slot in slots]
        if params != wanted:
            problems.append(f"{name}({', '.join(params)}) should take ({', '.join(wanted)})")
    if problems:
        raise TypeError(f"{cls.__qualname__} does not follow schema.ACTIONS: {'; '.join(problems)}")


check_handlers(ActionExecutor)
_stale = ActionExecutor.__abstractmethods__ - set(ACTIONS)
if _stale:  # pragma: no cover - caught by the import itself
    raise TypeError(f"ActionExecutor has methods for actions not in the schema: {', '.join(sorted(_stale))}")


def dispatch(executor: ActionExecutor, action: dict[str, Any]) -> str:
    """Validate one action against the schema, then call the executor method of the same name.

    Raises SchemaError for an invalid action: nothing is executed.
    """
    canonical = validate_action(action)
    name = canonical.pop("action")
    return str(getattr(executor, name)(**canonical))


def execute_all(executor: ActionExecutor, actions: Iterable[dict[str, Any]]) -> list[str]:
    """Run actions in order and return one chat message per action.

    Every action is validated before the first one runs (a bad list runs nothing: SchemaError).
    If an action fails, its error becomes the message and the rest are skipped, since later
    steps usually depend on earlier ones ("load ... and segment").
    """
    checked = [validate_action(action) for action in actions]
    messages = []
    for i, action in enumerate(checked):
        try:
            messages.append(dispatch(executor, action))
        except Exception as exc:  # noqa: BLE001 - report in the chat, don't crash the panel
            messages.append(f"{action['action']} failed: {exc}")
            skipped = len(checked) - i - 1
            if skipped:
                messages.append(f"Skipped {skipped} later action(s).")
            break
    return messages


class PrintingExecutor(ActionExecutor):
    """Headless executor for the command line and tests: describes each action, changes nothing."""

    def load_volume(self, path: str | None) -> str:
        return f"Would open {path}." if path else "Would ask for an image to open."

    def add_points(self, count: int, polarity: str, level: str | None) -> str:
        noun = "point" if count == 1 else "points"
        return f"Would add {count} {polarity} {noun}{_on(level)}."

    def add_box(self, level: str | None) -> str:
        return f"Would add a bounding box{_on(level)}."

    def segment(self, prompt: str, scope: str, view: str | None, levels: list[str]) -> str:
        where = f" in the {view} view" if view else ""
        which = f" {', '.join(levels)}" if levels else ""
        return f"Would segment{which} ({prompt} prompt, {scope}){where}."

    def clear(self, target: str) -> str:
        return "Would clear all prompts and results." if target == "all" else f"Would clear the {target}."

    def navigate(self, direction: str, steps: int) -> str:
        return f"Would move {steps} slice{'s' if steps != 1 else ''} {'forward' if direction == 'next' else 'back'}."

    def set_view(self, view: str) -> str:
        return f"Would show the {view} view."

    def set_window(self, preset: str) -> str:
        return f"Would apply the {preset.replace('_', ' ')} window."

    def device_status(self) -> str:
        return "Would report the compute device."

    def verify_model(self) -> str:
        return "Would verify the model parameters."

    def undo(self) -> str:
        return "Would undo the last edit."

    def redo(self) -> str:
        return "Would redo the last undone edit."

    def save(self, path: str | None) -> str:
        return (
            f"Would save the segmentation to {path}." if path else "Would ask where to save the segmentation."
        )

    def show_metrics(self) -> str:
        return "Would show Dice / IoU / MSD / HD95."

    def report(self, levels: list[str]) -> str:
        which = ", ".join(levels) if levels else "every segmented level"
        return f"Would show the spine report (heights, compression, volume, bone HU) of {which}."

    def name_level(self, level: str) -> str:
        return f"Would name the selected vertebra {level} and rename the others in the spine's order."


def _on(level: str | None) -> str:
    return f" on {level}" if level else ""


__all__ = [
    "EXAMPLES",
    "HELP_TEXT",
    "UNKNOWN_TEXT",
    "ActionExecutor",
    "PrintingExecutor",
    "SchemaError",
    "check_handlers",
    "dispatch",
    "execute_all",
]
