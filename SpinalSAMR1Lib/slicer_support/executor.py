"""The chat's action executor for Slicer: one method per contract action, no Slicer import here.

Every action calls the same controller methods as the module's buttons (the widget implements
:class:`Controller`), so a chat edit and a button press are one code path, undoable alike. Each
method returns the reply shown in the chat history.
"""

from __future__ import annotations

from typing import Any, Protocol

try:  # the command layer's base class, when present (it validates actions before dispatch)
    from ..commands.executor import ActionExecutor as _Base
except ImportError:  # pragma: no cover - only while the command layer is being written
    _Base = object  # type: ignore[assignment,misc]


class Controller(Protocol):
    """What the Slicer widget offers the chat; each returns a short human-readable result."""

    def loadVolume(self, path: str | None) -> str: ...
    def startPlacing(self, kind: str, count: int, level: str | None) -> str: ...
    def segment(self, prompt: str, scope: str, view: str | None, levels: list[str]) -> str: ...
    def clear(self, target: str) -> str: ...
    def navigate(self, steps: int) -> str: ...
    def setView(self, view: str) -> str: ...
    def setWindow(self, preset: str) -> str: ...
    def deviceStatus(self) -> dict: ...
    def verifyModel(self) -> str: ...
    def undo(self) -> str: ...
    def redo(self) -> str: ...
    def save(self, path: str | None) -> str: ...
    def metrics(self) -> dict | str: ...


def _format_status(status: dict) -> str:
    if status.get("cuda_available"):
        return (
            f"GPU {status.get('name')} ({status.get('device')}): {status.get('memory_free_gb')} of "
            f"{status.get('memory_total_gb')} GB free; torch {status.get('torch')}."
        )
    return (
        f"No GPU: running on CPU ({status.get('threads')} threads, {status.get('memory_free_gb')} of "
        f"{status.get('memory_total_gb')} GB RAM free); torch {status.get('torch')}."
    )


def _format_metrics(m: dict | str) -> str:
    if isinstance(m, str):
        return m
    return (
        f"{m.get('segment', 'segment')} vs reference {m.get('reference', '')}: Dice {m['dice']:.3f}, IoU {m['iou']:.3f}, "
        f"MSD {m['msd']:.2f} mm, HD95 {m['hd95']:.2f} mm."
    )


class SlicerActionExecutor(_Base):
    """Runs validated contract actions through a :class:`Controller`."""

    def __init__(self, controller: Controller, *args: Any, **kwargs: Any) -> None:
        if _Base is not object:
            super().__init__(*args, **kwargs)
        self.controller = controller

    def load_volume(self, path: str | None = None) -> str:
        return self.controller.loadVolume(path)

    def add_points(self, count: int = 1, polarity: str = "positive", level: str | None = None) -> str:
        return self.controller.startPlacing(polarity, count, level)

    def add_box(self, level: str | None = None) -> str:
        return self.controller.startPlacing("box", 1, level)

    def segment(
        self, prompt: str = "auto", scope: str = "slice", view: str | None = None, levels: list | None = None
    ) -> str:
        return self.controller.segment(prompt, scope, view, list(levels or []))

    def clear(self, target: str = "all") -> str:
        return self.controller.clear(target)

    def navigate(self, direction: str = "next", steps: int = 1) -> str:
        return self.controller.navigate(steps if direction == "next" else -steps)

    def set_view(self, view: str) -> str:
        return self.controller.setView(view)

    def set_window(self, preset: str) -> str:
        return self.controller.setWindow(preset)

    def device_status(self) -> str:
        return _format_status(self.controller.deviceStatus())

    def verify_model(self) -> str:
        return self.controller.verifyModel()

    def undo(self) -> str:
        return self.controller.undo()

    def redo(self) -> str:
        return self.controller.redo()

    def save(self, path: str | None = None) -> str:
        return self.controller.save(path)

    def show_metrics(self) -> str:
        return _format_metrics(self.controller.metrics())

    def report(self, levels: list[str] | None = None) -> str:
        return self.controller.spineReport(list(levels or []))

    def name_level(self, level: str) -> str:
        return self.controller.nameLevel(level)


def run_actions(executor: SlicerActionExecutor, actions: list[dict]) -> list[str]:
    """Execute actions in order; one reply per action. A failing action stops the rest."""
    try:
        from ..commands.executor import dispatch
    except ImportError:  # pragma: no cover - only while the command layer is being written
        dispatch = _dispatch
    replies = []
    for action in actions:
        try:
            replies.append(str(dispatch(executor, action)))
        except Exception as exc:  # noqa: BLE001 - one clear line in the chat, not a traceback
            replies.append(f"Could not {action.get('action', 'do that')}: {exc}")
            break
    return replies


def _dispatch(executor: SlicerActionExecutor, action: dict) -> str:
    name = action.get("action")
    method = getattr(executor, str(name), None) if name in _ACTIONS else None
    if method is None:
        return executor.unknown()
    return method(**{k: v for k, v in action.items() if k != "action"})


_ACTIONS = (
    "load_volume add_points add_box segment clear navigate set_view set_window device_status verify_model "
    "undo redo save show_metrics report name_level help unknown"
).split()
