"""The chat's action executor for Slicer: one method per contract action, no Slicer import here.

Every action calls the same controller methods as the module's buttons (the widget implements
:class:`Controller`), so a chat edit and a button press are one code path, undoable alike. Each
method returns the reply shown in the chat history. The actions come from ``schema.ACTIONS``
(checked when the class is created) and run through ``commands.executor.execute_all``, the
runner the CLI uses too; ``help`` and ``unknown`` answer with the command layer's texts.
"""

from __future__ import annotations

from typing import Protocol

from ..commands.executor import ActionExecutor


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
    def spineReport(self, levels: list[str]) -> str: ...
    def nameLevel(self, level: str) -> str: ...


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


class SlicerActionExecutor(ActionExecutor):
    """Runs validated contract actions through a :class:`Controller`."""

    def __init__(self, controller: Controller) -> None:
        self.controller = controller

    def load_volume(self, path: str | None) -> str:
        return self.controller.loadVolume(path)

    def add_points(self, count: int, polarity: str, level: str | None) -> str:
        return self.controller.startPlacing(polarity, count, level)

    def add_box(self, level: str | None) -> str:
        return self.controller.startPlacing("box", 1, level)

    def segment(self, prompt: str, scope: str, view: str | None, levels: list[str]) -> str:
        return self.controller.segment(prompt, scope, view, list(levels))

    def clear(self, target: str) -> str:
        return self.controller.clear(target)

    def navigate(self, direction: str, steps: int) -> str:
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

    def save(self, path: str | None) -> str:
        return self.controller.save(path)

    def show_metrics(self) -> str:
        return _format_metrics(self.controller.metrics())

    def report(self, levels: list[str]) -> str:
        return self.controller.spineReport(list(levels))

    def name_level(self, level: str) -> str:
        return self.controller.nameLevel(level)
