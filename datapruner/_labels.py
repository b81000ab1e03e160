"""Label columns as the class-based code reads them: one scalar class per row, ClassLabel's -1 as a missing label.

Hugging Face ``ClassLabel`` columns store "no label" as -1 (the test splits of GLUE, for example); everything that
handles missing (None or NaN) labels treats -1 in a ``ClassLabel`` column the same way. A column of lists, structs or
arrays (multi-label data) has no single class per row: label-free methods run without it (the report says why
there are no per-class counts), and what needs a class per row refuses it with one line.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

from datapruner.errors import DataprunerError

if TYPE_CHECKING:
    import datasets

__all__ = ["check_labelled", "check_scalar_labels", "describe_label_feature", "is_missing", "is_scalar_label_feature",
           "missing_as_none"]

#: The value a Hugging Face ``ClassLabel`` column stores for a row without a label.
CLASS_LABEL_MISSING = -1


def is_scalar_label_feature(feature: Any) -> bool:
    """Return whether a column of this ``datasets`` feature holds one scalar value per row."""
    import datasets as hf

    return isinstance(feature, (hf.Value, hf.ClassLabel))


def describe_label_feature(feature: Any) -> str:
    """Return what a non-scalar label column holds, for messages: ``lists (List(Value('int64')))``."""
    import datasets as hf

    list_types = tuple(t for t in (getattr(hf, "Sequence", None), getattr(hf, "List", None),
                                   getattr(hf, "LargeList", None)) if isinstance(t, type))
    if isinstance(feature, dict):
        kind = "structs"
    elif list_types and isinstance(feature, list_types) or isinstance(feature, list):
        kind = "lists"
    elif type(feature).__name__.startswith("Array"):
        kind = "arrays"
    else:
        kind = "values of another kind"
    return f"{kind} ({feature})"


def check_scalar_labels(dataset: datasets.Dataset, column: str, what: str) -> None:
    """Raise unless ``dataset[column]`` holds one scalar class per row; ``what`` names who needs it."""
    feature = dataset.features[column]
    if not is_scalar_label_feature(feature):
        raise DataprunerError(f"{what} needs one scalar class per row, but column {column!r} holds "
                              f"{describe_label_feature(feature)}: pass a label column with one class per row.")


def is_missing(value: Any) -> bool:
    """Whether a label value means "no label": None, or a float NaN (how pandas and a float column hold a gap)."""
    return value is None or (isinstance(value, (float, np.floating)) and math.isnan(value))


def check_labelled(values: Iterable[Any], column: str, where: str = "") -> None:
    """Raise unless every value of ``column`` is a label; ``where`` (``" of the test data"``) names the data."""
    missing = sum(map(is_missing, values))
    if missing:
        raise DataprunerError(f"column {column!r}{where} has {missing} missing labels: fill or drop them first.")


def missing_as_none(dataset: datasets.Dataset, column: str, values: Any) -> Any:
    """Return ``values`` (the rows of ``dataset[column]``) with a ``ClassLabel``'s -1 replaced by None.

    ``values`` is returned unchanged (the same object) when the column is not a ``ClassLabel`` or has no -1, so
    labelled data is read exactly as before.
    """
    import datasets as hf
    import pyarrow.compute as pc

    if not isinstance(dataset.features.get(column), hf.ClassLabel):
        return values
    if not pc.any(pc.equal(dataset.data.column(column), CLASS_LABEL_MISSING)).as_py():  # no -1 at all: a fast no
        return values
    as_list = list(values)
    if CLASS_LABEL_MISSING not in as_list:  # the -1 is in the table but not in these rows (select/shuffle mapping)
        return values
    return [None if v == CLASS_LABEL_MISSING else v for v in as_list]
