"""Test double of the few VTK classes the module uses (real names and arities, numpy inside)."""

from __future__ import annotations

import itertools

import numpy as np

VTK_UNSIGNED_CHAR = 3
VTK_SHORT = 4
VTK_INT = 6
VTK_FLOAT = 10
VTK_DOUBLE = 11

_NUMPY_OF_VTK = {
    VTK_UNSIGNED_CHAR: np.uint8,
    VTK_SHORT: np.int16,
    VTK_INT: np.int32,
    VTK_FLOAT: np.float32,
    VTK_DOUBLE: np.float64,
}
_mtime = itertools.count(1)


class vtkCommand:
    AnyEvent = 0
    ModifiedEvent = 33
    UserEvent = 1000


def _event_id(event) -> int:
    if isinstance(event, str):
        return getattr(vtkCommand, event)
    return int(event)


def _event_name(event_id: int) -> str:
    # Like vtkCommand::GetStringFromEventId: every id from UserEvent on is reported as "UserEvent".
    if event_id >= vtkCommand.UserEvent:
        return "UserEvent"
    for name, value in vars(vtkCommand).items():
        if value == event_id and name.endswith("Event"):
            return name
    return "NoEvent"


class vtkObject:
    """Observers are called as ``callback(caller, eventName)`` like VTK's Python wrapping."""

    def __init__(self):
        self._observers = {}
        self._tags = itertools.count(1)
        self._mtimeValue = next(_mtime)

    def AddObserver(self, event, callback, priority=0.0):
        tag = next(self._tags)
        self._observers[tag] = (_event_id(event), callback, priority)
        return tag

    def RemoveObserver(self, tag):
        self._observers.pop(tag, None)

    def RemoveAllObservers(self):
        self._observers.clear()

    def HasObserver(self, event):
        eid = _event_id(event)
        return int(any(n == eid for n, _, _ in self._observers.values()))

    def InvokeEvent(self, event, callData=None):
        eid = _event_id(event)
        name = _event_name(eid)
        entries = sorted(self._observers.items(), key=lambda kv: -kv[1][2])
        for _, (n, callback, _) in entries:
            if n in (eid, vtkCommand.AnyEvent):
                if callData is not None and getattr(callback, "CallDataType", None) is not None:
                    callback(self, name, callData)
                else:
                    callback(self, name)
        return 0

    def Modified(self):
        self._mtimeValue = next(_mtime)
        self.InvokeEvent(vtkCommand.ModifiedEvent)

    def GetMTime(self):
        return self._mtimeValue

    def GetClassName(self):
        return type(self).__name__

    def IsA(self, className):
        return int(any(c.__name__ == className for c in type(self).__mro__))


def calldata_type(t):
    """Like vtk.calldata_type: mark an observer that wants the event's call data."""

    def wrap(f):
        f.CallDataType = t
        return f

    return wrap


class vtkMatrix4x4(vtkObject):
    def __init__(self):
        super().__init__()
        self._m = np.eye(4)

    def GetElement(self, i, j):
        return float(self._m[i, j])

    def SetElement(self, i, j, value):
        self._m[i, j] = value
        self.Modified()

    def Identity(self):
        self._m = np.eye(4)
        self.Modified()

    def DeepCopy(self, source):
        self._m = np.array(
            source._m if isinstance(source, vtkMatrix4x4) else np.reshape(source, (4, 4)), float
        )
        self.Modified()

    def Invert(self, *args):
        if not args:
            self._m = np.linalg.inv(self._m)
            self.Modified()
            return
        source, target = args
        target.DeepCopy(np.linalg.inv(source._m))

    def MultiplyPoint(self, point):
        return tuple(float(v) for v in self._m @ np.asarray(point, float))

    @staticmethod
    def Multiply4x4(a, b, c):
        c.DeepCopy(a._m @ b._m)


class vtkAbstractTransform(vtkObject):
    pass


class vtkGeneralTransform(vtkAbstractTransform):
    """Linear only: the double keeps one 4x4 matrix (VTK's class also handles non-linear pipelines)."""

    def __init__(self):
        super().__init__()
        self._m = np.eye(4)

    def Identity(self):
        self._m = np.eye(4)
        self.Modified()

    def Concatenate(self, matrix):
        # VTK's default PreMultiply: the new transform is applied first.
        self._m = self._m @ matrix._m
        self.Modified()

    def Inverse(self):
        self._m = np.linalg.inv(self._m)
        self.Modified()

    def TransformPoint(self, point):
        p = self._m @ np.append(np.asarray(point, float)[:3], 1.0)
        return tuple(float(v) for v in p[:3])


class vtkTransform(vtkGeneralTransform):
    def SetMatrix(self, matrix):
        self._m = np.array(matrix._m, float)
        self.Modified()

    def GetMatrix(self, *args):
        if args:
            args[0].DeepCopy(self._m)
            return None
        m = vtkMatrix4x4()
        m.DeepCopy(self._m)
        return m


class vtkDataArray(vtkObject):
    def __init__(self, values=None):
        super().__init__()
        self._values = np.zeros(0) if values is None else values

    def GetNumberOfTuples(self):
        return int(self._values.shape[0])

    def GetNumberOfComponents(self):
        return 1 if self._values.ndim == 1 else int(self._values.shape[1])


class vtkPointData(vtkObject):
    def __init__(self):
        super().__init__()
        self._scalars = None

    def GetScalars(self, *args):
        return self._scalars

    def SetScalars(self, scalars):
        self._scalars = scalars
        self.Modified()


class vtkImageData(vtkObject):
    """Scalars are one flat numpy array, i fastest, like VTK's memory layout."""

    def __init__(self):
        super().__init__()
        self._extent = (0, -1, 0, -1, 0, -1)
        self._pointData = vtkPointData()
        self._spacing = (1.0, 1.0, 1.0)
        self._origin = (0.0, 0.0, 0.0)

    def SetExtent(self, *extent):
        ext = extent[0] if len(extent) == 1 else extent
        self._extent = tuple(int(v) for v in ext)
        self.Modified()

    def GetExtent(self):
        return tuple(self._extent)

    def SetDimensions(self, *dims):
        d = dims[0] if len(dims) == 1 else dims
        self.SetExtent(0, d[0] - 1, 0, d[1] - 1, 0, d[2] - 1)

    def GetDimensions(self):
        e = self._extent
        return (e[1] - e[0] + 1, e[3] - e[2] + 1, e[5] - e[4] + 1)

    def GetNumberOfPoints(self):
        d = self.GetDimensions()
        return max(0, d[0]) * max(0, d[1]) * max(0, d[2])

    def AllocateScalars(self, dataType, numComponents):
        if numComponents != 1:
            raise NotImplementedError("the double holds single-component images only")
        values = np.zeros(self.GetNumberOfPoints(), dtype=_NUMPY_OF_VTK[dataType])
        self._pointData.SetScalars(vtkDataArray(values))

    def GetPointData(self):
        return self._pointData

    def GetScalarType(self):
        dtype = self._pointData.GetScalars()._values.dtype
        return next(k for k, v in _NUMPY_OF_VTK.items() if np.dtype(v) == dtype)

    def GetSpacing(self):
        return self._spacing

    def GetOrigin(self):
        return self._origin

    def DeepCopy(self, source):
        self._extent = source._extent
        values = source.GetPointData().GetScalars()
        self._pointData.SetScalars(None if values is None else vtkDataArray(values._values.copy()))
        self.Modified()
