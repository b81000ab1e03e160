"""The public entry points: ``score`` a dataset, ``select`` its most useful rows."""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from datapruner._labels import (check_scalar_labels, describe_label_feature, is_scalar_label_feature,
                                missing_as_none)
from datapruner._validation import check_columns, check_keep, check_option, check_scores, check_seed
from datapruner.engines import ENGINES, get_engine
from datapruner.errors import DataprunerError
from datapruner.io import data_fingerprint, load_data, read_scores, write_scores
from datapruner.report import build_report
from datapruner.scorers import SCORERS, get_scorer
from datapruner.selection import STRATEGIES, check_strategy_params

logger = logging.getLogger(__name__)

__all__ = ["Selection", "score", "select", "select_rows"]


@dataclass(frozen=True)
class Selection:
    """The outcome of ``select_rows``.

    Attributes:
        dataset: The kept rows, every column unchanged, in input order.
        indices: Positions of the kept rows in the input, ascending, shape ``(n_kept,)``.
        scores: The score of every input row, shape ``(n_rows,)``.
        report: JSON-ready summary (rows in/out, per-class counts, score summaries, parameters, timings).
    """

    dataset: Any
    indices: npt.NDArray[np.int64]
    scores: npt.NDArray[np.float64]
    report: dict[str, Any]


#: The ``text_column`` used when none is named: only methods that read it need it to exist.
DEFAULT_TEXT_COLUMN = "text"


def _prepare(data: Any, method: str, split: str, text_column: str, label_column: str | None, *,
             scoring: bool = True) -> Any:
    """Load the data and check the columns the work will read.

    ``text_column`` must exist when the method's scorer reads it and ``scoring`` (no precomputed scores are given),
    or when it is named explicitly (another name than the default ``"text"``: a typo otherwise). A label-based
    method that scores needs one scalar class per row.
    """
    check_option("method", method, SCORERS)
    reads_text = scoring and SCORERS[method].reads_text_column
    dataset = load_data(data, split=split)
    if len(dataset) == 0:
        raise DataprunerError("the dataset is empty: there are no rows to score.")
    if reads_text or text_column != DEFAULT_TEXT_COLUMN:
        check_columns(dataset.column_names, text_column)
    if SCORERS[method].needs_labels:
        if label_column is None:
            raise DataprunerError(f"method={method!r} needs labels: pass label_column.")
        check_columns(dataset.column_names, label_column)
        if scoring:
            check_scalar_labels(dataset, label_column, f"method={method!r}")
    return dataset


def score(data: Any, *, method: str, text_column: str = "text", label_column: str | None = "label",
          split: str = "train", seed: int = 0, out: str | Path | None = None, engine: str = "local",
          **params: Any) -> npt.NDArray[np.float64]:
    """Return one score per row, shape ``(n_rows,)``; what a high score means depends on the method.

    Args:
        data: A ``datasets.Dataset``, a local file/folder or a dataset name (see ``datapruner.io.load_data``).
        method: Scorer name, one of ``sorted(SCORERS)``.
        text_column: Column holding the text (or numeric features) to score.
        label_column: Label column; required by label-based methods (el2n, forgetting), read by ngram_coverage
            when present (ranks within each class), else ignored.
        split: Split to read from a dataset dict or a named dataset.
        seed: Seed of every random choice of the scorer.
        out: If given, also write the scores to this ``.parquet`` file with the method and its parameters.
        engine: Where the work runs, one of ``sorted(ENGINES)``: ``local`` (this process) or ``ray`` (Ray Data
            batch maps and grouped operations; same scores for the same seed).
        **params: Scorer parameters (e.g. ``n_clusters`` for prototype).

    Example:
        >>> import datasets
        >>> ds = datasets.Dataset.from_dict({"text": ["a", "b", "c"], "label": [0, 1, 0]})
        >>> score(ds, method="random").shape
        (3,)
    """
    check_option("engine", engine, ENGINES)
    check_seed(seed)
    if out is not None and Path(out).suffix.lower() != ".parquet":
        raise DataprunerError(f"out={str(out)!r} is not valid: scores are written as .parquet.")
    dataset = _prepare(data, method, split, text_column, label_column)
    scorer = get_scorer(method, seed=seed, **params)
    reads_labels = scorer.needs_labels or (scorer.uses_labels and label_column in dataset.column_names)
    scores = check_scores(get_engine(engine).score(scorer, dataset, text_column=text_column,
                                                   label_column=label_column if reads_labels else None),
                          n_rows=len(dataset))
    if out is not None:
        write_scores(out, scores, meta=_scores_meta(scorer, dataset, text_column, label_column))
    return scores


def _scores_meta(scorer: Any, dataset: Any, text_column: str, label_column: str | None) -> dict[str, Any]:
    return {"method": scorer.name, "params": scorer.get_params(), "higher_is_harder": scorer.higher_is_harder,
            "n_rows": len(dataset), "text_column": text_column, "label_column": label_column,
            "data_fingerprint": data_fingerprint(dataset)}


def check_select_options(*, method: str, keep: float, strategy: str | None, label_column: str | None, seed: int,
                         strategy_params: dict[str, Any] | None, engine: str, params: dict[str, Any]) -> str:
    """Check ``select_rows``' options before any data is read; return the strategy (None -> the scorer's default).

    The CLI calls it before loading the data, so a bad option fails in a second, not after a large load.
    """
    check_keep(keep)
    check_seed(seed)
    check_option("engine", engine, ENGINES)
    check_option("method", method, SCORERS)
    if "out" in params:  # not a scorer parameter: score's own argument, which select_rows sets from scores
        raise DataprunerError("out is not a parameter of select_rows: pass scores='....parquet' to write the scores.")
    strategy = SCORERS[method].default_strategy if strategy is None else strategy
    check_option("strategy", strategy, STRATEGIES)
    check_strategy_params(strategy, strategy_params or {})
    if strategy == "balanced" and label_column is None:
        raise DataprunerError("strategy='balanced' needs labels: pass label_column.")
    return strategy


def select_rows(data: Any, *, method: str = "random", keep: float, strategy: str | None = None,
                scores: npt.ArrayLike | str | Path | None = None, text_column: str = "text",
                label_column: str | None = "label", split: str = "train", seed: int = 0,
                strategy_params: dict[str, Any] | None = None, engine: str = "local", **params: Any) -> Selection:
    """Score (or reuse scores) and keep exactly ``round(keep * n_rows)`` rows; return a ``Selection``.

    Args:
        data: A ``datasets.Dataset``, a local file/folder or a dataset name.
        method: Scorer name, one of ``sorted(SCORERS)``.
        keep: Fraction of rows to keep, in (0, 1].
        strategy: One of ``sorted(STRATEGIES)``; None uses the scorer's default (``hard`` for most).
        scores: Precomputed scores (an array, or a ``.parquet`` file from ``score``). A file that does not
            exist yet is written after scoring, so the next call reuses it; a reused file's scores were made with
            its own scorer parameters (the report records them), and ``params`` that differ are an error.
        text_column: Column holding the text (or features).
        label_column: Label column; needed by label-based methods and ``strategy="balanced"``; reported per class
            when present.
        split: Split to read.
        seed: Seed for scoring and sampling strategies.
        strategy_params: Strategy options (``offset``, ``beta``, ``n_bins``).
        engine: ``local`` or ``ray`` (see ``score``); the same seed selects the same rows on either.
        **params: Scorer parameters.
    """
    strategy = check_select_options(method=method, keep=keep, strategy=strategy, label_column=label_column,
                                    seed=seed, strategy_params=strategy_params, engine=engine, params=params)
    scorer_cls = SCORERS[method]
    timings: dict[str, float] = {}
    started = time.perf_counter()
    scores_path = Path(scores) if isinstance(scores, (str, Path)) else None
    precomputed = scores is not None and (scores_path is None or scores_path.exists())
    dataset = _prepare(data, method, split, text_column, label_column, scoring=not precomputed)
    if label_column is not None and label_column not in dataset.column_names:
        if strategy == "balanced":
            check_columns(dataset.column_names, label_column)
        label_column = None  # absent labels are fine for label-free methods: just not reported
    per_class_omitted = None
    if label_column is not None and not is_scalar_label_feature(dataset.features[label_column]):
        if strategy == "balanced":
            check_scalar_labels(dataset, label_column, "strategy='balanced'")
        # multi-label (lists) or struct labels: label-free methods run without them, the report says why
        per_class_omitted = (f"column {label_column!r} holds "
                             f"{describe_label_feature(dataset.features[label_column])}, not one class per row")
    timings["load"] = time.perf_counter() - started
    started = time.perf_counter()
    higher_is_harder = scorer_cls.higher_is_harder
    scorer_params: dict[str, Any] = dict(params)
    if scores_path is not None and scores_path.exists():
        values, meta = read_scores(scores_path)
        _check_scores_match(meta, method, dataset, scores_path)
        _check_scores_params(meta, params, scores_path)
        scorer_params = {**meta.get("params", {}), "scores_file": str(scores_path)}  # what made the scores
        higher_is_harder = bool(meta.get("higher_is_harder", higher_is_harder))
        values = check_scores(values, n_rows=len(dataset))
        logger.info("reusing scores from %s", scores_path)
    elif scores is not None and scores_path is None:
        values = check_scores(scores, n_rows=len(dataset))
    else:
        values = score(dataset, method=method, text_column=text_column, label_column=label_column,
                       seed=seed, out=scores_path, engine=engine, **params)
        scorer_params = _as_recorded(get_scorer(method, seed=seed, **params).get_params())
        if scores_path is not None:
            scorer_params["scores_file"] = str(scores_path)
    timings["score"] = time.perf_counter() - started
    started = time.perf_counter()
    labels = None
    if label_column is not None and per_class_omitted is None:
        labels = missing_as_none(dataset, label_column, dataset[label_column])  # ClassLabel's -1: no label
    indices = get_engine(engine).select_indices(values, keep=keep, strategy=strategy, labels=labels,
                                                higher_is_harder=higher_is_harder, seed=seed,
                                                **(strategy_params or {}))
    kept = dataset.select(indices)
    timings["select"] = time.perf_counter() - started
    report = build_report(
        n_rows=len(dataset), indices=indices, scores=values, labels=labels, timings=timings,
        params={"method": method, "strategy": strategy, "keep": keep, "seed": seed, "split": split,
                "text_column": text_column, "label_column": label_column,
                "higher_is_harder": higher_is_harder, "engine": engine, "scorer_params": scorer_params,
                "strategy_params": strategy_params or {}},
        per_class_omitted=per_class_omitted,
    )
    return Selection(dataset=kept, indices=indices, scores=values, report=report)


def _check_scores_match(meta: dict[str, Any], method: str, dataset: Any, path: Path) -> None:
    if meta.get("method") not in (None, method):
        raise DataprunerError(f"{path} holds {meta['method']!r} scores, not {method!r}: pass the matching "
                              "--method or another scores file.")
    if meta.get("n_rows") not in (None, len(dataset)):
        raise DataprunerError(f"{path} has scores for {meta['n_rows']} rows but the data has {len(dataset)}.")
    fingerprint = meta.get("data_fingerprint")
    if fingerprint is not None and fingerprint != data_fingerprint(dataset):
        raise DataprunerError(f"{path} was computed on different data: rescore or pass the matching data.")


def _as_recorded(params: dict[str, Any]) -> dict[str, Any]:
    """Scorer parameters as a scores file records them (``write_scores`` stores them as JSON, objects as str)."""
    return json.loads(json.dumps(params, default=str))


#: Scorer parameters that change how scores are computed, not what they are.
_RUN_ONLY_PARAMS = frozenset({"cache", "show_progress_bar"})


def _check_scores_params(meta: dict[str, Any], given: dict[str, Any], path: Path) -> None:
    """Scorer parameters given along with a scores file to reuse must be the ones its scores were made with (the
    file's own are used otherwise; ``seed`` still seeds the selection)."""
    stored = meta.get("params")
    if stored is None:
        return
    given = _as_recorded(given)
    differ = sorted(k for k in given if k not in _RUN_ONLY_PARAMS and stored.get(k) != given[k])
    if differ:
        made = ", ".join(f"{k}={stored.get(k)!r}" for k in differ)
        asked = ", ".join(f"{k}={given[k]!r}" for k in differ)
        raise DataprunerError(f"{path} holds scores made with {made}, not {asked}: drop those options to reuse "
                              "it, or pass another scores file.")


def select(data: Any, *, method: str = "random", keep: float, strategy: str | None = None,
           scores: npt.ArrayLike | str | Path | None = None, text_column: str = "text",
           label_column: str | None = "label", split: str = "train", seed: int = 0,
           strategy_params: dict[str, Any] | None = None, engine: str = "local", **params: Any) -> Any:
    """Return the kept rows as a ``datasets.Dataset`` (every column unchanged, input order).

    Same arguments as ``select_rows``; use that for the indices, scores and report.

    Example:
        >>> import datasets
        >>> ds = datasets.Dataset.from_dict({"text": list("abcdefghij"), "label": [0, 1] * 5})
        >>> select(ds, method="random", keep=0.4, strategy="balanced").num_rows
        4
    """
    return select_rows(data, method=method, keep=keep, strategy=strategy, scores=scores,
                       text_column=text_column, label_column=label_column, split=split, seed=seed,
                       strategy_params=strategy_params, engine=engine, **params).dataset
