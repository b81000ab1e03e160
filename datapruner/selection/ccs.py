"""Coverage-centric coreset selection (CCS, Zheng et al., ICLR 2023).

Drop the ``beta`` share of hardest rows (likely noisy), split the remaining score range into ``n_bins`` equal-width
bins, then fill the budget bin by bin, smallest bin first, giving each bin at most an equal share of what is left;
rows inside a bin are sampled uniformly. Easy and hard regions both stay covered even at high pruning rates.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from datapruner._validation import check_fraction, check_positive_int
from datapruner.selection.topk import rank_hardest_first


def select_ccs(hardness: npt.NDArray[np.float64], n_keep: int, *, rng: np.random.Generator,
               beta: float = 0.1, n_bins: int = 50, **_: Any) -> npt.NDArray[np.int64]:
    """Return ``n_keep`` rows chosen by CCS; ``beta`` is clamped so enough rows remain for the budget."""
    beta = check_fraction("beta", beta, high=1.0)
    n_bins = check_positive_int("n_bins", n_bins)
    n_rows = hardness.size
    n_cut = min(int(beta * n_rows), n_rows - n_keep)  # floor, as the reference code's int(mis_ratio * n)
    pool = rank_hardest_first(hardness)[n_cut:]
    pool_scores = hardness[pool]
    low, high = float(pool_scores.min()), float(pool_scores.max())
    if high > low:
        edges = np.linspace(low, high, n_bins + 1)
        bin_of = np.clip(np.searchsorted(edges, pool_scores, side="right") - 1, 0, n_bins - 1)
    else:
        bin_of = np.zeros(pool.size, dtype=np.int64)
    bins = [np.sort(pool[bin_of == b]) for b in range(n_bins)]
    bins = [b for b in bins if b.size]
    chosen = []
    budget = n_keep
    for position, members in enumerate(sorted(bins, key=lambda b: (b.size, b[0]))):
        take = min(members.size, budget // (len(bins) - position))
        chosen.append(rng.choice(members, size=take, replace=False))
        budget -= take
    return np.sort(np.concatenate(chosen))
