"""Class-balanced quotas: every class gets an equal share of the budget, hardest first inside a class.

Both steps are O(n log n) in the rows and O(C log C) in the classes (a sort each), so a label column with one class
per few rows costs no more than a sort.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from datapruner.selection.topk import rank_hardest_first


def class_quotas(class_sizes: npt.NDArray[np.int64], n_keep: int) -> npt.NDArray[np.int64]:
    """Split ``n_keep`` into per-class quotas as equal as possible, capped by each class's size.

    Water-filling: small classes are taken whole and the rest of the budget is shared by the larger ones;
    leftover units go to the classes listed first. The quotas sum to ``n_keep``.
    """
    quotas = np.zeros_like(class_sizes)
    remaining = n_keep
    by_size = np.argsort(class_sizes, kind="stable")
    n_classes = len(by_size)
    first_open = 0  # classes by_size[first_open:] are still open, smallest first
    while remaining > 0 and first_open < n_classes:
        n_open = n_classes - first_open
        share = remaining // n_open
        smallest = by_size[first_open]
        room = class_sizes[smallest] - quotas[smallest]
        if share >= room:  # the smallest class fits whole: take it and re-share the rest
            quotas[smallest] += room
            remaining -= room
            first_open += 1
            continue
        open_classes = by_size[first_open:]
        quotas[open_classes] += share
        remaining -= share * n_open
        quotas[np.sort(open_classes)[:remaining]] += 1
        remaining = 0
    return quotas


def select_balanced(hardness: npt.NDArray[np.float64], n_keep: int, *, labels: npt.NDArray[Any],
                    **_: Any) -> npt.NDArray[np.int64]:
    """Keep the hardest rows of each class up to its quota (with the random scorer: a class-balanced random sample)."""
    classes, inverse = np.unique(labels, return_inverse=True)
    inverse = inverse.reshape(-1)
    sizes = np.bincount(inverse, minlength=classes.size).astype(np.int64)
    quotas = class_quotas(sizes, n_keep)
    order = rank_hardest_first(hardness)
    # Rows grouped by class, hardest first inside each class (a stable sort keeps the hardness order).
    by_class = order[np.argsort(inverse[order], kind="stable")]
    class_of = inverse[by_class]
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    rank_in_class = np.arange(by_class.size) - starts[class_of]
    return np.sort(by_class[rank_in_class < quotas[class_of]])
