"""The local engine: everything runs in this process (the scorers themselves work block by block)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from datapruner.engines.base import Engine

if TYPE_CHECKING:
    import datasets

    from datapruner.scorers.base import Scorer

__all__ = ["LocalEngine"]


class LocalEngine(Engine):
    """Run scorers and selection strategies in this process.

    Example:
        >>> LocalEngine().select_indices([0.1, 0.9, 0.5, 0.7], keep=0.5)
        array([1, 3])
    """

    name = "local"

    def score(self, scorer: Scorer, dataset: datasets.Dataset, *, text_column: str = "text",
              label_column: str | None = None) -> npt.NDArray[np.float64]:
        """Return ``scorer.score(dataset, ...)``."""
        return scorer.score(dataset, text_column=text_column, label_column=label_column)

    def select_indices(self, scores: npt.ArrayLike, *, keep: float, strategy: str = "hard",
                       labels: npt.ArrayLike | None = None, higher_is_harder: bool = True, seed: Any = 0,
                       **strategy_params: Any) -> npt.NDArray[np.int64]:
        """Return ``datapruner.selection.select_indices(...)``."""
        from datapruner.selection import select_indices

        return select_indices(scores, keep=keep, strategy=strategy, labels=labels,
                              higher_is_harder=higher_is_harder, seed=seed, **strategy_params)
