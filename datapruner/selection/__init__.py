"""Selection strategies: turn one score per row into the sorted row indices to keep.

Every strategy receives *hardness* (higher = harder; ``select_indices`` flips scores of scorers whose
``higher_is_harder`` is False) and returns exactly ``resolve_keep(keep, n_rows)`` unique, sorted indices,
deterministic for a seed, with ties broken by row order.
"""
from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import numpy.typing as npt

from datapruner._labels import is_missing
from datapruner._validation import as_rng, check_option, check_scores, resolve_keep
from datapruner.errors import DataprunerError
from datapruner.selection.balanced import select_balanced
from datapruner.selection.ccs import select_ccs
from datapruner.selection.topk import select_easy, select_hard, select_offset

STRATEGIES = {
    "hard": select_hard,
    "easy": select_easy,
    "offset": select_offset,
    "balanced": select_balanced,
    "ccs": select_ccs,
}

__all__ = ["STRATEGIES", "as_label_array", "check_balanced_labels", "check_strategy_params", "select_indices"]

_NOT_SCALAR = (list, tuple, dict, set, np.ndarray)


def as_label_array(labels: npt.ArrayLike, n_rows: int) -> npt.NDArray[Any]:
    """Return ``labels`` as a 1-d array of ``n_rows`` classes, refusing lists, structs or arrays as classes."""
    try:
        label_array = np.asarray(labels)
    except (TypeError, ValueError) as err:  # ragged lists
        raise DataprunerError(f"labels must be one scalar class per row: they hold lists of different lengths "
                              f"({str(err).splitlines()[0]}).") from err
    if label_array.ndim > 1 and label_array.shape[0] == n_rows:
        raise DataprunerError(f"labels must be one scalar class per row: got shape {label_array.shape} for "
                              f"{n_rows} rows (lists or arrays of classes).")
    if label_array.shape != (n_rows,):
        raise DataprunerError(f"there are {label_array.size} labels for {n_rows} scores.")
    if label_array.dtype.kind == "O":
        bad = next((x for x in label_array.tolist() if isinstance(x, _NOT_SCALAR)), None)
        if bad is not None:
            raise DataprunerError(f"labels must be one scalar class per row: a row holds a "
                                  f"{type(bad).__name__} ({str(bad)[:40]}).")
    return label_array


def _count_missing(labels: npt.NDArray[Any]) -> int:
    """Count null (None) or NaN labels."""
    if labels.dtype.kind == "f":
        return int(np.isnan(labels).sum())
    if labels.dtype.kind == "O":
        return sum(map(is_missing, labels.tolist()))
    return 0


def check_balanced_labels(labels: npt.NDArray[Any] | None) -> npt.NDArray[Any]:
    """Return ``labels`` after checking the ``balanced`` strategy can use them: present, one on every row."""
    if labels is None:
        raise DataprunerError("strategy='balanced' needs labels: pass label_column or labels.")
    missing = _count_missing(labels)
    if missing:
        raise DataprunerError(f"strategy='balanced' needs a label on every row: {missing} rows have none; "
                              "fill or drop them first.")
    return labels


def check_strategy_params(strategy: str, params: dict[str, Any]) -> None:
    """Refuse options the strategy does not take (a misspelt ``ofset`` would otherwise be ignored)."""
    signature = inspect.signature(STRATEGIES[strategy]).parameters
    options = sorted(n for n, p in signature.items() if p.kind is p.KEYWORD_ONLY and n not in ("rng", "labels"))
    unknown = sorted(set(params) - set(options))
    if unknown:
        raise DataprunerError(f"strategy {strategy!r} has no option {', '.join(map(repr, unknown))}: "
                              f"its options are {options}.")


def select_indices(scores: npt.ArrayLike, *, keep: float, strategy: str = "hard",
                   labels: npt.ArrayLike | None = None, higher_is_harder: bool = True, seed: Any = 0,
                   **strategy_params: Any) -> npt.NDArray[np.int64]:
    """Return the sorted indices of the rows to keep.

    Args:
        scores: One score per row, shape ``(n_rows,)``.
        keep: Fraction of rows to keep, in (0, 1]; exactly ``round(keep * n_rows)`` rows (at least 1) are kept.
        strategy: One of ``sorted(STRATEGIES)``: ``hard`` keeps the hardest, ``easy`` the easiest, ``offset`` a
            window that skips the ``offset`` hardest share, ``balanced`` gives every class an equal quota
            (hardest first within a class), ``ccs`` is coverage-centric selection over score bins.
        labels: Class of each row; required by ``balanced``, used by nothing else.
        higher_is_harder: Whether a higher score means a harder row (the scorer declares it).
        seed: Seed for the strategies that sample (``ccs``) and for tie-free random order.
        **strategy_params: Strategy options (``offset`` for offset; ``beta``, ``n_bins`` for ccs).

    Raises:
        DataprunerError: On a bad ``keep``, an unknown strategy, NaN scores, missing labels, or labels that are not
            one scalar class per row (lists, structs).

    Example:
        >>> select_indices([0.1, 0.9, 0.5, 0.7], keep=0.5)
        array([1, 3])
    """
    check_option("strategy", strategy, STRATEGIES)
    check_strategy_params(strategy, strategy_params)
    hardness = check_scores(scores)
    n_keep = resolve_keep(keep, hardness.size)
    if not higher_is_harder:
        hardness = -hardness
    label_array = None
    if labels is not None:
        label_array = as_label_array(labels, hardness.size)
    if strategy == "balanced":
        strategy_params["labels"] = check_balanced_labels(label_array)
    chosen = STRATEGIES[strategy](hardness, n_keep, rng=as_rng(seed), **strategy_params)
    chosen = np.unique(np.asarray(chosen, dtype=np.int64))
    if chosen.size != n_keep:  # a strategy bug, not a user error
        raise RuntimeError(f"strategy {strategy!r} returned {chosen.size} rows instead of {n_keep}")
    return chosen
