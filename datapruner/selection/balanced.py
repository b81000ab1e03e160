"""Class-balanced quotas: every class gets an equal share of the budget, hardest first inside a class."""
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
    open_classes = list(np.argsort(class_sizes, kind="stable"))
    while remaining > 0 and open_classes:
        share = remaining // len(open_classes)
        smallest = open_classes[0]
        room = class_sizes[smallest] - quotas[smallest]
        if share >= room:  # the smallest class fits whole: take it and re-share the rest
            quotas[smallest] += room
            remaining -= room
            open_classes.pop(0)
            continue
        for c in open_classes:
            quotas[c] += share
        remaining -= share * len(open_classes)
        for c in sorted(open_classes)[:remaining]:
            quotas[c] += 1
        remaining = 0
    return quotas


def select_balanced(hardness: npt.NDArray[np.float64], n_keep: int, *, labels: npt.NDArray[Any],
                    **_: Any) -> npt.NDArray[np.int64]:
    """Keep the hardest rows of each class up to its quota (with the random scorer: a class-balanced random sample)."""
    classes, inverse = np.unique(labels, return_inverse=True)
    sizes = np.bincount(inverse, minlength=classes.size).astype(np.int64)
    quotas = class_quotas(sizes, n_keep)
    order = rank_hardest_first(hardness)
    chosen = []
    for c in range(classes.size):
        members = order[inverse[order] == c]
        chosen.append(members[: quotas[c]])
    return np.sort(np.concatenate(chosen))
