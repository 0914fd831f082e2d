"""Test double of the few CTK widgets in SpinalSAMR1.ui."""

from __future__ import annotations

from qt import QWidget, Signal


class ctkCollapsibleButton(QWidget):
    contentsCollapsed = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.text = ""
        self.collapsed = False


class ctkPathLineEdit(QWidget):
    currentPathChanged = Signal()
    validInputChanged = Signal()

    Files = 0x2
    Dirs = 0x1

    def __init__(self, parent=None):
        super().__init__(parent)
        self._path = ""
        self.filters = ctkPathLineEdit.Files
        self.nameFilters = []

    @property
    def currentPath(self):
        return self._path

    @currentPath.setter
    def currentPath(self, path):
        self.setCurrentPath(path)

    def setCurrentPath(self, path):
        if path != self._path:
            self._path = path
            self.currentPathChanged.emit(path)
