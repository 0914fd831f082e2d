"""A piece of the module's widget that lives in its own class (the chat controller, the segment runner)."""

from __future__ import annotations


class WidgetPart:
    """Reaches the widget's parameter node, ui and logic; ``widget`` is the SpinalSAMR1Widget."""

    def __init__(self, widget) -> None:
        self.widget = widget

    @property
    def _pn(self):
        return self.widget._parameterNode

    @property
    def _ui(self):
        return self.widget.ui

    @property
    def _logic(self):
        return self.widget.logic
