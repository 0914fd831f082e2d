"""Double of slicer.parameterNodeWrapper: typed properties over a vtkMRMLScriptedModuleNode.

Supported field types: bool, int, float, str (with Choice/WithinRange/Minimum/Maximum/Default)
and MRML node classes (stored as node references named like the field), with GUI binding
through the ``SlicerParameterName`` dynamic property of widgets, like Slicer's.
"""

from __future__ import annotations

import typing

import qt

__all__ = [
    "parameterNodeWrapper",
    "Default",
    "Choice",
    "WithinRange",
    "Minimum",
    "Maximum",
    "SlicerParameterNamePropertyName",
]

SlicerParameterNamePropertyName = "SlicerParameterName"


class Default:
    def __init__(self, value=None, *, generator=None):
        self._value = value
        self._generator = generator

    @property
    def value(self):
        return self._generator() if self._generator else self._value


class Validator:
    def validate(self, value):
        pass


class Choice(Validator):
    def __init__(self, choices):
        self.choices = list(choices)

    def validate(self, value):
        if value not in self.choices:
            raise ValueError(f"{value!r} is not one of {self.choices}")


class WithinRange(Validator):
    def __init__(self, minimum, maximum):
        self.minimum, self.maximum = minimum, maximum

    def validate(self, value):
        if not self.minimum <= value <= self.maximum:
            raise ValueError(f"{value!r} is outside [{self.minimum}, {self.maximum}]")


class Minimum(WithinRange):
    def __init__(self, minimum):
        super().__init__(minimum, float("inf"))


class Maximum(WithinRange):
    def __init__(self, maximum):
        super().__init__(float("-inf"), maximum)


def _is_node_type(t):
    return isinstance(t, type) and any(c.__name__ == "vtkMRMLNode" for c in t.__mro__)


class _Param:
    def __init__(self, name, type_, validators, default):
        self.name, self.type, self.validators, self.default = name, type_, validators, default

    def read(self, node):
        if _is_node_type(self.type):
            return node.GetNodeReference(self.name)
        raw = node.GetParameter(self.name)
        if self.type is bool:
            return raw == "True"
        return self.type(raw)

    def write(self, node, value):
        if _is_node_type(self.type):
            if value is not None and not isinstance(value, self.type):
                raise TypeError(f"{self.name}: expected {self.type.__name__}, got {type(value).__name__}")
            node.SetNodeReferenceID(self.name, value.GetID() if value is not None else None)
            return
        value = self.type(value)
        for v in self.validators:
            v.validate(value)
        node.SetParameter(self.name, str(value))


def _connector(widget, param):
    """(read, write, signal) for the widget kinds Slicer's wrapper binds, with its rules: a QComboBox
    needs a Choice annotation and is refilled with the choices; a node combobox gets the field's type."""
    cls = type(widget).__name__
    if cls == "qMRMLNodeComboBox" and _is_node_type(param.type):
        widget.nodeTypes = [param.type.__name__]
        return widget.currentNode, widget.setCurrentNode, widget.currentNodeChanged
    if cls == "QCheckBox" and param.type is bool:
        return (lambda: widget.checked), widget.setChecked, widget.toggled
    if cls == "QComboBox" and param.type in (int, float, str, bool):
        choice = next((v for v in param.validators if isinstance(v, Choice)), None)
        if choice is None:
            raise RuntimeError("ComboBoxToStringableConnector requires the Choice annotation to be used.")
        widget.clear()
        for c in choice.choices:
            widget.addItem(str(c))

        def write(value):
            if value not in choice.choices:
                raise ValueError(f"Unable to find value {value} in choices {choice.choices}")
            widget.setCurrentIndex(choice.choices.index(value))

        return (lambda: choice.choices[widget.currentIndex]), write, widget.currentIndexChanged
    if cls == "QLineEdit" and param.type is str:
        return (lambda: widget.text), widget.setText, widget.textChanged
    if cls == "QSpinBox" and param.type is int:
        return (lambda: widget.value), (lambda v: setattr(widget, "value", v)), widget.valueChanged
    raise RuntimeError(f"no GUI connector for {cls} and {param.type}")


def parameterNodeWrapper(classtype=None):
    def wrap(cls):
        params = {}
        for name, hint in typing.get_type_hints(cls, include_extras=True).items():
            base, extras = hint, ()
            if typing.get_origin(hint) is typing.Annotated:
                base, *extras = typing.get_args(hint)
            if typing.get_origin(base) is typing.Union:  # Optional[Node]
                base = next(a for a in typing.get_args(base) if a is not type(None))
            defaults = [e for e in extras if isinstance(e, Default)]
            if hasattr(cls, name):
                default = getattr(cls, name)
            elif defaults:
                default = defaults[0].value
            else:
                default = None if _is_node_type(base) else base()
            params[name] = _Param(name, base, [e for e in extras if isinstance(e, Validator)], default)

        def __init__(self, parameterNode):
            self.parameterNode = parameterNode
            self._guis = {}
            self._observerTags = {}
            self._nextTag = 1
            self._updating = False
            for p in params.values():
                if not _is_node_type(p.type) and p.name not in parameterNode.GetParameterNames():
                    p.write(parameterNode, p.default)

        def make_property(p):
            return property(
                lambda self: p.read(self.parameterNode), lambda self, v: p.write(self.parameterNode, v)
            )

        for name, p in params.items():
            setattr(cls, name, make_property(p))

        def getValue(self, name):
            return params[name].read(self.parameterNode)

        def setValue(self, name, value):
            params[name].write(self.parameterNode, value)

        def _toGui(self):
            if self._updating:
                return
            self._updating = True
            try:
                for mapping in self._guis.values():
                    for name, (read, write, _, _) in mapping.items():
                        value = self.getValue(name)
                        if read() != value:
                            write(value)
            finally:
                self._updating = False

        def connectGui(self, gui):
            widgets = getattr(gui, "__dict__", {}).values()
            mapping = {}
            for w in widgets:
                pname = w.property(SlicerParameterNamePropertyName) if hasattr(w, "property") else None
                if pname:
                    if pname not in params:
                        raise ValueError(f"widget {w.objectName} names unknown parameter {pname!r}")
                    read, write, signal = _connector(w, params[pname])

                    def on_changed(*args, name=pname, read=read):
                        if not self._updating:
                            self.setValue(name, read())

                    signal.connect(on_changed)
                    mapping[pname] = (read, write, signal, on_changed)
            tag = self._nextTag
            self._nextTag += 1
            self._guis[tag] = mapping
            _toGui(self)
            self._observerTags[tag] = self.parameterNode.AddObserver(33, lambda caller, event: _toGui(self))
            return tag

        def disconnectGui(self, tag):
            mapping = self._guis.pop(tag, {})
            observer = self._observerTags.pop(tag, None)
            if observer is not None:
                self.parameterNode.RemoveObserver(observer)
            for _, _, signal, on_changed in mapping.values():
                signal.disconnect(on_changed)

        cls.__init__ = __init__
        cls.allParameters = params
        cls.getValue = getValue
        cls.setValue = setValue
        cls.default = lambda self, name: params[name].default
        cls.connectGui = connectGui
        cls.disconnectGui = disconnectGui
        cls.StartModify = lambda self: self.parameterNode.StartModify()
        cls.EndModify = lambda self, wasModified: self.parameterNode.EndModify(wasModified)
        cls.AddObserver = lambda self, event, callback, priority=0.0: self.parameterNode.AddObserver(
            event, callback, priority
        )
        cls.RemoveObserver = lambda self, tag: self.parameterNode.RemoveObserver(tag)
        cls.Modified = lambda self: self.parameterNode.Modified()
        return cls

    if classtype is None:
        return wrap
    return wrap(classtype)


_ = qt  # the real module imports qt for its connectors
