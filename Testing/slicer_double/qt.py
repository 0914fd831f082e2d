"""Test double of the PythonQt ``qt`` module: the widgets, timers and settings the module uses.

Signals work both ways PythonQt offers: ``w.connect("clicked(bool)", slot)`` and
``w.clicked.connect(slot)``. Timers fire only inside ``slicer.app.processEvents()``, like real Qt
timers fire only from the event loop, so code that forgets to return to the loop fails here too.
"""

from __future__ import annotations

import inspect
import time


class _BoundSignal:
    def __init__(self):
        self._slots = []

    def connect(self, slot):
        self._slots.append(slot)

    def disconnect(self, slot=None):
        if slot is None:
            self._slots.clear()
        elif slot in self._slots:
            self._slots.remove(slot)

    def emit(self, *args):
        for slot in list(self._slots):
            _call_slot(slot, args)


def _call_slot(slot, args):
    # PythonQt drops trailing signal arguments a slot does not accept.
    try:
        sig = inspect.signature(slot)
    except (TypeError, ValueError):
        return slot(*args)
    params = list(sig.parameters.values())
    if any(p.kind == p.VAR_POSITIONAL for p in params):
        return slot(*args)
    n = len([p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)])
    return slot(*args[:n])


class Signal:
    """Class attribute declaring a signal; each instance gets its own connection list."""

    def __set_name__(self, owner, name):
        self._name = name

    def __get__(self, obj, objtype=None):
        if obj is None:
            return self
        signals = obj.__dict__.setdefault("_signals", {})
        return signals.setdefault(self._name, _BoundSignal())


class QObject:
    destroyed = Signal()

    def __init__(self, parent=None):
        self._parent = parent
        self._properties = {}
        self.objectName = ""

    def connect(self, signal, slot):
        getattr(self, signal.split("(")[0]).connect(slot)
        return True

    def disconnect(self, signal, slot=None):
        getattr(self, signal.split("(")[0]).disconnect(slot)
        return True

    def setProperty(self, name, value):
        self._properties[name] = value
        return False  # like Qt for dynamic properties

    def property(self, name):
        return self._properties.get(name)

    def dynamicPropertyNames(self):
        return list(self._properties)

    def parent(self):
        return self._parent

    def setObjectName(self, name):
        self.objectName = name

    def deleteLater(self):
        pass


def _text_and_parent(text, parent):
    """Qt's (text, parent) constructors also accept (parent) alone."""
    return ("", text) if isinstance(text, QObject) else (text, parent)


class QWidget(QObject):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.enabled = True
        self.visible = True
        self.toolTip = ""
        self._layout = None
        self._children = []

    def setEnabled(self, enabled):
        self.enabled = bool(enabled)

    def isEnabled(self):
        return self.enabled

    def setVisible(self, visible):
        self.visible = bool(visible)

    def isVisible(self):
        return self.visible

    def show(self):
        self.visible = True

    def hide(self):
        self.visible = False

    def setToolTip(self, text):
        self.toolTip = text

    def setLayout(self, layout):
        self._layout = layout

    def layout(self):
        return self._layout

    def children(self):
        return list(self._children)


class QLayout(QObject):
    def __init__(self, parent=None):
        super().__init__(parent)
        self._items = []
        if isinstance(parent, QWidget):
            parent.setLayout(self)

    def addWidget(self, widget, *args):
        self._items.append(widget)

    def addLayout(self, layout, *args):
        self._items.append(layout)

    def addStretch(self, stretch=0):
        pass

    def addRow(self, *args):
        self._items.extend(a for a in args if not isinstance(a, str))


class QVBoxLayout(QLayout):
    pass


class QHBoxLayout(QLayout):
    pass


class QFormLayout(QLayout):
    pass


class QGridLayout(QLayout):
    pass


class QLabel(QWidget):
    def __init__(self, text="", parent=None):
        text, parent = _text_and_parent(text, parent)
        super().__init__(parent)
        self.text = text
        self.wordWrap = False

    def setText(self, text):
        self.text = text


class QAbstractButton(QWidget):
    clicked = Signal()
    toggled = Signal()

    def __init__(self, text="", parent=None):
        text, parent = _text_and_parent(text, parent)
        super().__init__(parent)
        self.text = text
        self.checkable = False
        self._checked = False

    @property
    def checked(self):
        return self._checked

    @checked.setter
    def checked(self, value):
        value = bool(value)
        if value != self._checked:
            self._checked = value
            self.toggled.emit(value)

    def setChecked(self, value):
        self.checked = value

    def isChecked(self):
        return self._checked

    def setText(self, text):
        self.text = text

    def click(self):
        if not self.enabled:
            return
        if self.checkable:
            self.checked = not self._checked
        self.clicked.emit(self._checked)


class QPushButton(QAbstractButton):
    pass


class QToolButton(QAbstractButton):
    pass


class QCheckBox(QAbstractButton):
    def __init__(self, text="", parent=None):
        super().__init__(text, parent)
        self.checkable = True


class QRadioButton(QCheckBox):
    pass


class QComboBox(QWidget):
    currentIndexChanged = Signal()
    currentTextChanged = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self._items = []  # (text, userData)
        self._index = -1

    def addItem(self, text, userData=None):
        self._items.append((text, userData))
        if self._index < 0:
            self.setCurrentIndex(0)

    def addItems(self, texts):
        for t in texts:
            self.addItem(t)

    def clear(self):
        self._items = []
        self._index = -1

    @property
    def count(self):
        return len(self._items)

    def itemText(self, index):
        return self._items[index][0] if 0 <= index < len(self._items) else ""

    def itemData(self, index):
        return self._items[index][1] if 0 <= index < len(self._items) else None

    def findText(self, text):
        return next((i for i, (t, _) in enumerate(self._items) if t == text), -1)

    def findData(self, data):
        return next((i for i, (_, d) in enumerate(self._items) if d == data), -1)

    @property
    def currentIndex(self):
        return self._index

    @currentIndex.setter
    def currentIndex(self, index):
        self.setCurrentIndex(index)

    def setCurrentIndex(self, index):
        if index != self._index and -1 <= index < len(self._items):
            self._index = index
            self.currentIndexChanged.emit(index)
            self.currentTextChanged.emit(self.currentText)

    @property
    def currentText(self):
        return self.itemText(self._index)

    @currentText.setter
    def currentText(self, text):
        self.setCurrentText(text)

    def setCurrentText(self, text):
        i = self.findText(text)
        if i >= 0:
            self.setCurrentIndex(i)

    def currentData(self):
        return self.itemData(self._index)


class QLineEdit(QWidget):
    textChanged = Signal()
    returnPressed = Signal()
    editingFinished = Signal()

    def __init__(self, text="", parent=None):
        text, parent = _text_and_parent(text, parent)
        super().__init__(parent)
        self._text = text
        self.placeholderText = ""
        self.echoMode = 0
        self.readOnly = False

    @property
    def text(self):
        return self._text

    @text.setter
    def text(self, value):
        self.setText(value)

    def setText(self, value):
        if value != self._text:
            self._text = value
            self.textChanged.emit(value)

    def clear(self):
        self.setText("")

    Normal = 0
    Password = 2


class QPlainTextEdit(QWidget):
    textChanged = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self._text = ""
        self.readOnly = False

    def appendPlainText(self, text):
        self._text = text if not self._text else self._text + "\n" + text
        self.textChanged.emit()

    def toPlainText(self):
        return self._text

    def setPlainText(self, text):
        self._text = text
        self.textChanged.emit()

    def clear(self):
        self.setPlainText("")


class QTextEdit(QPlainTextEdit):
    def append(self, text):
        self.appendPlainText(text)


class QTextBrowser(QTextEdit):
    pass


class QProgressBar(QWidget):
    valueChanged = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.minimum = 0
        self.maximum = 100
        self.value = 0

    def setRange(self, minimum, maximum):
        self.minimum, self.maximum = minimum, maximum

    def setValue(self, value):
        self.value = value
        self.valueChanged.emit(value)

    def reset(self):
        self.value = self.minimum


class QSpinBox(QWidget):
    valueChanged = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.minimum = 0
        self.maximum = 99
        self._value = 0

    @property
    def value(self):
        return self._value

    @value.setter
    def value(self, v):
        v = max(self.minimum, min(self.maximum, int(v)))
        if v != self._value:
            self._value = v
            self.valueChanged.emit(v)


class QGroupBox(QWidget):
    def __init__(self, title="", parent=None):
        title, parent = _text_and_parent(title, parent)
        super().__init__(parent)
        self.title = title


class QFrame(QWidget):
    pass


class QIcon:
    def __init__(self, path=""):
        self._path = path


class QSettings(QObject):
    """All instances share one store, like one application's settings file."""

    _store: dict = {}

    def value(self, key, defaultValue=None):
        return QSettings._store.get(key, defaultValue)

    def setValue(self, key, value):
        QSettings._store[key] = value

    def remove(self, key):
        for k in [k for k in QSettings._store if k == key or k.startswith(key + "/")]:
            del QSettings._store[k]

    def contains(self, key):
        return key in QSettings._store

    def allKeys(self):
        return list(QSettings._store)

    def sync(self):
        pass


_timers = []


class QTimer(QObject):
    timeout = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.singleShot_ = False
        self.interval = 0
        self._due = None
        _timers.append(self)

    def setSingleShot(self, value):
        self.singleShot_ = bool(value)

    def isSingleShot(self):
        return self.singleShot_

    def setInterval(self, msec):
        self.interval = int(msec)

    def start(self, msec=None):
        if msec is not None:
            self.interval = int(msec)
        self._due = time.monotonic() + self.interval / 1000.0

    def stop(self):
        self._due = None

    def isActive(self):
        return self._due is not None

    @property
    def active(self):
        return self.isActive()

    @staticmethod
    def singleShot(msec, slot):
        t = QTimer()
        t.setSingleShot(True)
        t.timeout.connect(slot)
        t._oneOff = True
        t.start(msec)


def _processTimers():
    """Fire every due timer once (called by the double's ``slicer.app.processEvents``)."""
    now = time.monotonic()
    for t in list(_timers):
        if t._due is not None and t._due <= now:
            if t.singleShot_:
                t._due = None
            else:
                t._due = now + t.interval / 1000.0
            t.timeout.emit()
            if getattr(t, "_oneOff", False) and t in _timers:
                _timers.remove(t)


class QFileDialog(QObject):
    _answers: list = []

    @staticmethod
    def getSaveFileName(parent=None, caption="", dir="", filter=""):
        return QFileDialog._answers.pop(0) if QFileDialog._answers else ""

    @staticmethod
    def getOpenFileName(parent=None, caption="", dir="", filter=""):
        return QFileDialog._answers.pop(0) if QFileDialog._answers else ""


class Qt:
    Horizontal = 1
    Vertical = 2
    WaitCursor = 3
    ArrowCursor = 0


class QCursor:
    def __init__(self, shape=0):
        self._shape = shape
