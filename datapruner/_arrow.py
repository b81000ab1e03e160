"""Numeric and array columns read through Arrow, in chunks, as one ``float32`` array.

``np.asarray(dataset.with_format("numpy")[column], dtype=np.float32)`` builds one numpy array per row (datasets 5.x
walks the rows one by one): 50,000 rows of 384 floats took 5.4 s. Flattening the Arrow list arrays and converting
their values at once takes 0.15 s. The result is the same array: the leaf values are converted to numpy in their own
Arrow type and cast to ``float32`` once, as the numpy format's arrays were. Columns this path does not cover (null
values, ragged lists, types that need decoding such as ``Image``, an empty dataset) are read the old way, which
also raises the same errors for them.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    import datasets
    import pyarrow as pa

__all__ = ["float32_column"]

#: Values converted per chunk (64 MiB of float32): bounds the temporary arrays of one conversion.
_CHUNK_VALUES = 1 << 24


class _OtherPath(Exception):
    """The column is not a null-free, rectangular numeric column: read it through the numpy format."""


def float32_column(dataset: datasets.Dataset, column: str) -> npt.NDArray[np.float32]:
    """Return ``dataset[column]`` as a ``float32`` array of shape ``(n_rows, *row_shape)`` (``(n_rows,)`` for numbers).

    Equal, value for value and in shape, to ``np.asarray(dataset.with_format("numpy")[column], dtype=np.float32)``,
    which is what it falls back to (and what raises ``TypeError``/``ValueError`` on ragged or missing values).
    Rows are read through the dataset's indices mapping (after ``select``, ``shuffle``, ``train_test_split``).
    """
    try:
        return _via_arrow(dataset, column)
    except _OtherPath:
        return np.asarray(dataset.with_format("numpy")[column], dtype=np.float32)


def _via_arrow(dataset: datasets.Dataset, column: str) -> npt.NDArray[np.float32]:
    n = len(dataset)
    if n == 0 or not _is_numeric_type(dataset.data.schema.field(column).type):
        raise _OtherPath
    rows = dataset.select_columns([column]).with_format("arrow")  # reads through the indices mapping, if any
    first = _chunk_values(rows[0:1].column(0))
    row_shape = first.shape[1:]
    per_row = max(1, math.prod(row_shape))
    step = max(1, _CHUNK_VALUES // per_row)
    out = np.empty((n, *row_shape), dtype=np.float32)
    for start in range(0, n, step):
        end = min(start + step, n)
        values = _chunk_values(rows[start:end].column(0))
        if values.shape != (end - start, *row_shape):  # rows of different lengths in different chunks
            raise _OtherPath
        out[start:end] = values
    return out


def _is_numeric_type(arrow_type: pa.DataType) -> bool:
    """Whether ``arrow_type`` is a number, a bool, or (nested, fixed-size) lists of them."""
    import pyarrow as pa

    while True:
        if isinstance(arrow_type, pa.ExtensionType):  # datasets' Array2D..Array5D
            arrow_type = arrow_type.storage_type
        elif pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type) or \
                pa.types.is_fixed_size_list(arrow_type):
            arrow_type = arrow_type.value_type
        else:
            return (pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type)
                    or pa.types.is_boolean(arrow_type))


def _chunk_values(column: pa.ChunkedArray) -> npt.NDArray[Any]:
    """Return the values of ``column`` as one numpy array ``(n_rows, *row_shape)``, in their own dtype."""
    if column.num_chunks != 1:  # rows gathered through an indices mapping come one chunk per row
        column = column.combine_chunks()
    else:
        column = column.chunk(0)
    return _array_values(column)


def _array_values(array: pa.Array, *, in_list: bool = False) -> npt.NDArray[Any]:
    import pyarrow as pa

    if isinstance(array.type, pa.ExtensionType):
        array = array.storage
    if array.null_count:
        raise _OtherPath
    arrow_type = array.type
    if pa.types.is_fixed_size_list(arrow_type) or pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
        if pa.types.is_fixed_size_list(arrow_type):
            size = arrow_type.list_size
        else:
            lengths = np.diff(np.asarray(array.offsets))  # the offsets of this (possibly sliced) array's rows
            size = int(lengths[0])
            if (lengths != size).any():
                raise _OtherPath
        if size == 0:
            raise _OtherPath
        values = _array_values(array.flatten(), in_list=True)  # only the values of this array's rows
        return values.reshape(len(array), size, *values.shape[1:])
    values = array.to_numpy(zero_copy_only=False)
    if in_list and values.dtype == np.uint64:
        # the numpy format reads integers inside lists as int64 (2**64 - 1 becomes -1): read them the same way
        values = values.view(np.int64)
    return values
