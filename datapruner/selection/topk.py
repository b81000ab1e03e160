"""Keep the hardest, the easiest, or an offset window of rows ranked by hardness."""
from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from datapruner._validation import check_fraction


def rank_hardest_first(hardness: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """Return row indices from hardest to easiest; ties keep row order (stable)."""
    return np.argsort(-hardness, kind="stable")


def select_hard(hardness: npt.NDArray[np.float64], n_keep: int, **_: Any) -> npt.NDArray[np.int64]:
    """Keep the ``n_keep`` hardest rows (EL2N/forgetting papers' choice when data is plentiful)."""
    return np.sort(rank_hardest_first(hardness)[:n_keep])


def select_easy(hardness: npt.NDArray[np.float64], n_keep: int, **_: Any) -> npt.NDArray[np.int64]:
    """Keep the ``n_keep`` easiest rows (better when very little data is kept, Sorscher et al. 2022)."""
    order = np.argsort(hardness, kind="stable")
    return np.sort(order[:n_keep])


def select_offset(hardness: npt.NDArray[np.float64], n_keep: int, *, offset: float = 0.1,
                  **_: Any) -> npt.NDArray[np.int64]:
    """Skip the ``offset`` share of hardest rows (often mislabeled), then keep the next ``n_keep``.

    The window slides back when it would run past the easiest row, so exactly ``n_keep`` rows are kept.
    """
    offset = check_fraction("offset", offset, high=1.0)
    order = rank_hardest_first(hardness)
    start = min(int(round(offset * hardness.size)), hardness.size - n_keep)
    return np.sort(order[start:start + n_keep])
