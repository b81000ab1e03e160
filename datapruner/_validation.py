"""Parameter checks shared by every public entry point (one place, one message shape)."""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from numbers import Integral, Real
from typing import Any

import numpy as np
import numpy.typing as npt

from datapruner.errors import DataprunerError


def check_keep(keep: Any) -> float:
    """Return ``keep`` as a float after checking it is a fraction in (0, 1]."""
    if isinstance(keep, bool) or not isinstance(keep, Real) or not math.isfinite(float(keep)):
        raise DataprunerError(f"keep={keep!r} is not valid: use a fraction in (0, 1].")
    if not 0.0 < float(keep) <= 1.0:
        raise DataprunerError(f"keep={keep!r} is not valid: use a fraction in (0, 1].")
    return float(keep)


def resolve_keep(keep: Any, n_rows: int) -> int:
    """Return how many rows ``keep`` means for ``n_rows`` rows: ``round(keep * n_rows)``, at least 1."""
    keep = check_keep(keep)
    if n_rows < 1:
        raise DataprunerError("the dataset is empty: there are no rows to select from.")
    return int(min(n_rows, max(1, round(keep * n_rows))))


def kept_at_most(n_kept: int, n_rows: int, keep: float) -> bool:
    """Whether ``n_kept`` of ``n_rows`` rows is at most what ``keep`` selects (``resolve_keep``): the one rule for
    options that apply "when at most a fraction of the data is kept", so a subset made with ``select(keep=...)``
    gets them whatever the rounding."""
    return n_kept <= resolve_keep(keep, n_rows)


def check_fraction(name: str, value: Any, *, low: float = 0.0, high: float = 1.0,
                   low_open: bool = False) -> float:
    """Return ``value`` as a float in [low, high] (or (low, high] with ``low_open``)."""
    ok = not isinstance(value, bool) and isinstance(value, Real) and math.isfinite(float(value))
    if ok:
        v = float(value)
        ok = (v > low if low_open else v >= low) and v <= high
    if not ok:
        bracket = "(" if low_open else "["
        raise DataprunerError(f"{name}={value!r} is not valid: use a number in {bracket}{low:g}, {high:g}].")
    return float(value)


def check_positive_int(name: str, value: Any, *, minimum: int = 1) -> int:
    """Return ``value`` as an int >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, Integral) or int(value) < minimum:
        raise DataprunerError(f"{name}={value!r} is not valid: use an integer >= {minimum}.")
    return int(value)


def check_option(name: str, value: Any, options: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``options``; otherwise list the valid ones."""
    options = sorted(options)
    if value not in options:
        raise DataprunerError(f"{name}={value!r} is not valid: use one of {options}.")
    return value


def check_columns(column_names: Sequence[str], *columns: str | None) -> None:
    """Raise if a requested column is missing, listing the columns that exist."""
    for column in columns:
        if column is not None and column not in column_names:
            raise DataprunerError(
                f"column {column!r} is not in the dataset: current columns are {list(column_names)}."
            )


def check_scores(scores: npt.ArrayLike, n_rows: int | None = None) -> npt.NDArray[np.float64]:
    """Return scores as a 1-d float64 array, rejecting NaN and a length that does not match the data."""
    try:
        arr = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise DataprunerError(f"scores are not numeric: {err}.") from err
    if arr.ndim != 1:
        raise DataprunerError(f"scores must have shape (n_rows,), got shape {arr.shape}.")
    if arr.size == 0:
        raise DataprunerError("the dataset is empty: there are no rows to select from.")
    if n_rows is not None and arr.size != n_rows:
        raise DataprunerError(
            f"there are {arr.size} scores for {n_rows} rows: rescore the data or pass the matching scores file."
        )
    bad = int(np.isnan(arr).sum() + np.isinf(arr).sum())
    if bad:
        raise DataprunerError(f"scores contain {bad} NaN or infinite values: rescore the data.")
    return arr


_FLOAT32_MAX = float(np.finfo(np.float32).max)


def check_learning_rate(value: Any) -> float:
    """Return ``value`` as a float after checking it is a finite number > 0 that float32 weights can take."""
    if isinstance(value, bool) or not isinstance(value, Real) or not (
            math.isfinite(value) and 0 < value <= _FLOAT32_MAX):
        raise DataprunerError(f"learning_rate={value!r} is not valid: use a number > 0 (at most 3.4e38).")
    return float(value)


#: The largest seed: numpy's generators take any integer >= 0, torch's at most 2**64 - 1, and proxy members and
#: views are seeded with ``seed + i`` (small ``i``), which must stay in torch's range too.
MAX_SEED = 2**63 - 1


def check_seed(seed: Any) -> int:
    """Return ``seed`` as an int after checking it is in [0, MAX_SEED] (what numpy and torch both take)."""
    if isinstance(seed, bool) or not isinstance(seed, Integral) or not 0 <= seed <= MAX_SEED:
        raise DataprunerError(f"seed={seed!r} is not valid: use an integer in [0, 2**63 - 1].")
    return int(seed)


def as_rng(seed: Any) -> np.random.Generator:
    """Turn None, an int or a Generator into a Generator (every random choice goes through here)."""
    if seed is None:
        return np.random.default_rng()
    if isinstance(seed, Integral) and not isinstance(seed, bool):
        return np.random.default_rng(check_seed(seed))
    if isinstance(seed, np.random.Generator):
        return seed
    raise DataprunerError(f"seed={seed!r} is not valid: use an int, None or a numpy Generator.")
