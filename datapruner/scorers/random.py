"""Seeded random scores: the baseline every other scorer must beat (and, with distillation, often does not)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from datapruner._validation import as_rng
from datapruner.scorers.base import Scorer

if TYPE_CHECKING:
    import datasets


class RandomScorer(Scorer):
    """Uniform random scores in [0, 1); selecting the "hardest" of them is a uniform random subset.

    With ``strategy="balanced"`` it gives the class-balanced random baseline.

    Args:
        seed: Seed of the scores; the same seed gives the same scores.
    """

    name = "random"
    reads_text_column = False

    def __init__(self, seed: Any = 0) -> None:
        self.seed = seed

    def score(self, dataset: datasets.Dataset, *, text_column: str = "text",
              label_column: str | None = "label") -> npt.NDArray[np.float64]:
        return as_rng(self.seed).random(len(dataset))
