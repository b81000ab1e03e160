"""The one shape every scorer has (sklearn-style: ``__init__`` stores parameters, ``score`` computes)."""
from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    import datasets


class Scorer(ABC):
    """Score every row of a dataset; the result is aligned to the input rows.

    Subclasses set ``name``, ``higher_is_harder`` (so selection never guesses what a high score means) and
    ``needs_labels`` (and ``default_strategy`` when "hard" is not the natural choice), store their parameters unchanged in ``__init__`` and implement ``score``. Every scorer's ``__init__`` accepts
    ``seed`` (``datapruner.score`` passes it to all of them; deterministic scorers just record it). Caches key
    data by ``datapruner.io.data_fingerprint``.
    """

    name: ClassVar[str]
    higher_is_harder: ClassVar[bool] = True
    needs_labels: ClassVar[bool] = False
    #: Reads labels when the data has them, without needing them (e.g. ngram_coverage ranks within each class).
    uses_labels: ClassVar[bool] = False
    #: Reads ``text_column`` (text or features); ``select``/``score`` only require the column when it does.
    reads_text_column: ClassVar[bool] = True
    #: Strategy ``select`` uses when the caller names none (e.g. semdedup keeps the least redundant rows).
    default_strategy: ClassVar[str] = "hard"

    @abstractmethod
    def score(self, dataset: datasets.Dataset, *, text_column: str = "text",
              label_column: str | None = "label") -> npt.NDArray[np.float64]:
        """Return one float64 score per row, shape ``(n_rows,)``."""

    def get_params(self) -> dict[str, Any]:
        """Return the constructor parameters (recorded next to persisted scores)."""
        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return {name: getattr(self, name) for name in names if hasattr(self, name)}

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"
