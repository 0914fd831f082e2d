"""Double of vtk.util.numpy_support: the array double wraps numpy, so conversions share memory."""

from __future__ import annotations

import numpy as np

from .. import vtkDataArray


def vtk_to_numpy(vtk_array):
    return vtk_array._values


def numpy_to_vtk(num_array, deep=0, array_type=None):
    values = np.ravel(num_array)
    return vtkDataArray(values.copy() if deep else values)
