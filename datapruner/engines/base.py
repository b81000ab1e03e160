"""The two operations every engine implements: score a dataset with a scorer, select indices from scores."""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    import datasets

    from datapruner.scorers.base import Scorer

__all__ = ["Engine"]


class Engine(ABC):
    """Run a scorer over a dataset and a selection strategy over scores.

    Engines differ in where the work runs, never in the result: for the same scorer, data and seed every engine
    returns the same selection (scores agree to float32 rounding).
    """

    name: ClassVar[str]

    @abstractmethod
    def score(self, scorer: Scorer, dataset: datasets.Dataset, *, text_column: str = "text",
              label_column: str | None = None) -> npt.NDArray[np.float64]:
        """Return ``scorer``'s score of every row of ``dataset``, shape ``(n_rows,)``."""

    @abstractmethod
    def select_indices(self, scores: npt.ArrayLike, *, keep: float, strategy: str = "hard",
                       labels: npt.ArrayLike | None = None, higher_is_harder: bool = True, seed: Any = 0,
                       **strategy_params: Any) -> npt.NDArray[np.int64]:
        """Return the sorted indices of the rows to keep (see ``datapruner.selection.select_indices``)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
