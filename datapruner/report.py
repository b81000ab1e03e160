"""The selection report: what went in, what came out, per class, and why."""
from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import numpy.typing as npt


def score_summary(scores: npt.NDArray[np.float64]) -> dict[str, float]:
    """Return min, quartiles, max and mean of ``scores``."""
    q = np.quantile(scores, [0.0, 0.25, 0.5, 0.75, 1.0])
    return {"min": float(q[0]), "q25": float(q[1]), "median": float(q[2]), "q75": float(q[3]),
            "max": float(q[4]), "mean": float(scores.mean())}


def build_report(*, n_rows: int, indices: npt.NDArray[np.int64], scores: npt.NDArray[np.float64],
                 labels: npt.ArrayLike | None, params: dict[str, Any], timings: dict[str, float],
                 per_class_omitted: str | None = None) -> dict[str, Any]:
    """Return the JSON-ready report of one selection (rows in/out, per-class counts, score summaries).

    Labels that are not one scalar class per row (lists, structs) get no per-class counts: ``per_class_omitted``
    says why instead (the caller's reason, or what was wrong with ``labels``).
    """
    report: dict[str, Any] = {
        "rows_in": int(n_rows),
        "rows_out": int(indices.size),
        "kept_fraction": float(indices.size / n_rows),
        "parameters": params,
        "scores": {"all": score_summary(scores), "kept": score_summary(scores[indices])},
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
    }
    if labels is not None and per_class_omitted is None:
        from datapruner.errors import DataprunerError
        from datapruner.selection import as_label_array

        try:
            as_label_array(labels, n_rows)
        except DataprunerError as err:
            per_class_omitted = str(err)
    if per_class_omitted is not None:
        report["per_class_omitted"] = per_class_omitted
    elif labels is not None:
        from datapruner._labels import is_missing

        # a missing label (None, or a NaN: each NaN would be a class "nan") is counted under "None"
        label_list = [str(None if is_missing(x) else x) for x in np.asarray(labels, dtype=object).tolist()]
        before = Counter(label_list)
        after = Counter(label_list[i] for i in indices.tolist())
        report["per_class"] = {c: {"before": before[c], "after": after.get(c, 0)} for c in sorted(before)}
    return report
