"""Forgetting scores (Toneva et al., 2019, "An Empirical Study of Example Forgetting during Deep Neural Network
Learning").

A forgetting event is a row that the proxy classified correctly at one evaluation and wrongly at the next. Rows
that are forgotten often, or never learned at all, are hard; rows learned once and never forgotten are easy.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from datapruner.scorers._proxy import ProxyData, ensemble_scores, row_predictions, train_member
from datapruner.scorers.base import Scorer

if TYPE_CHECKING:
    import datasets
    import torch

__all__ = ["ForgettingScorer", "forgetting_scores"]

logger = logging.getLogger(__name__)


def forgetting_scores(correct: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Return forgetting scores from a ``(n_evaluations, n_rows)`` boolean history of correct predictions.

    ``score = events + misclassified_share / 2`` where ``events`` counts correct -> wrong transitions and
    ``misclassified_share`` (in [0, 1]) is the share of evaluations the row was wrong, which orders rows with the
    same count (most rows have 0 events). A row never classified correctly gets
    ``n_evaluations // 2 + 1.5``, above any row that was learned (at most ``n_evaluations // 2`` events).

    Example:
        >>> h = [[1, 0, 1, 0], [1, 1, 0, 0], [1, 1, 1, 0], [1, 0, 1, 0]]  # 4 evaluations x 4 rows
        >>> forgetting_scores(h).tolist()
        [0.0, 1.25, 1.125, 3.5]
    """
    hist = np.asarray(correct, dtype=bool)
    events = (hist[:-1] & ~hist[1:]).sum(axis=0).astype(np.float64)
    wrong_share = 1.0 - hist.mean(axis=0)
    scores = events + wrong_share / 2.0
    never = ~hist.any(axis=0)
    scores[never] = hist.shape[0] // 2 + 1.5
    return scores


class ForgettingScorer(Scorer):
    """Return how often each row is forgotten while a proxy trains; never-learned rows rank hardest.

    A proxy is trained on all rows for ``epochs`` epochs and every row is classified after each epoch; the score
    (see :func:`forgetting_scores`) is the number of correct -> wrong flips plus a tie-breaker in [0, 0.5] (the
    share of epochs the row was misclassified); rows never classified correctly score above every learned row.
    With ``ensemble_size > 1`` the scores of independently initialised runs are averaged.

    Defaults, and why: the paper counts flips over a full training run (200 epochs, evaluated at every mini-batch
    presentation); here predictions are read once per epoch, which needs enough epochs for flips to happen, so
    ``epochs=None`` uses the proxy's full default training length (20 for the MiniLM heads, 5 for fastText, 30 for
    the MLP, 8 for the CNN; see :data:`datapruner.models.pipeline.TRAINING_DEFAULTS`, at least 4). One run
    (``ensemble_size=1``) is the paper's setting.

    Args:
        proxy: Proxy model type: ``"auto"`` (MiniLM embeddings + linear head for text, MLP for numeric vectors,
            CNN for images), or one of ``"minilm-linear"``, ``"minilm-mlp"``, ``"fasttext"``, ``"mlp"``, ``"cnn"``.
        model: Embedding model (name, path or embedder object) for the ``minilm-*`` proxies; ``None`` is the
            embedded all-MiniLM-L6-v2. Embeddings are cached on disk.
        model_factory: Your own network: called as ``model_factory(n_classes=..., input_shape=...)`` under a seeded
            torch RNG, it must return a fresh ``torch.nn.Module`` mapping a batch of features to logits. Runs with
            a factory are not cached.
        ensemble_size: Number of independently initialised runs averaged, >= 1.
        epochs: Training epochs (= evaluations); ``None`` uses the default described above.
        batch_size: Training batch size; ``None`` uses the proxy's default.
        learning_rate: AdamW learning rate; ``None`` uses the proxy's default.
        seed: Seed of run ``i`` is ``seed + i``.
        cache: Save each run's scores as soon as it is done (under ``$DATAPRUNER_CACHE/scores``), so an
            interrupted run resumes and a repeated run trains nothing.
        show_progress_bar: Progress bars while training; ``None`` follows the logger level.

    Attributes:
        member_scores_: ``(ensemble_size, n_rows)`` scores of each run.
        classes_: Label values in class-id order.
    """

    name = "forgetting"
    higher_is_harder = True
    needs_labels = True
    default_strategy = "hard"

    def __init__(self, proxy: str = "auto", *, model: str | Any | None = None,
                 model_factory: Callable[..., torch.nn.Module] | None = None, ensemble_size: int = 1,
                 epochs: int | None = None, batch_size: int | None = None, learning_rate: float | None = None,
                 seed: int = 0, cache: bool = True, show_progress_bar: bool | None = None) -> None:
        self.proxy = proxy
        self.model = model
        self.model_factory = model_factory
        self.ensemble_size = ensemble_size
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.seed = seed
        self.cache = cache
        self.show_progress_bar = show_progress_bar

    @staticmethod
    def default_epochs(model_type: str) -> int:
        """Return the default number of epochs for a proxy type: its full normal training, at least 4."""
        from datapruner.models.pipeline import TRAINING_DEFAULTS

        return max(4, TRAINING_DEFAULTS[model_type]["epochs"])

    def score(self, dataset: datasets.Dataset, *, text_column: str = "text",
              label_column: str | None = "label") -> npt.NDArray[np.float64]:
        """Return one score per row, shape ``(n_rows,)``: forgetting events (+ tie-breaker), mean over runs.

        Raises:
            DataprunerError: On a bad option, missing columns or labels, fewer than 2 classes, an empty dataset.
        """
        return ensemble_scores(self, dataset, text_column, label_column, part_prefix="run",
                               member_score=self._member_scores)

    def _member_scores(self, data: ProxyData, member: int) -> npt.NDArray[np.float64]:
        """Train one run, recording which rows are right after each epoch; return its forgetting scores."""
        history: list[npt.NDArray[np.bool_]] = []

        def on_epoch_end(epoch: int, model: torch.nn.Module) -> None:
            history.append(row_predictions(model, data.features).argmax(axis=1) == data.labels)

        train_member(self, data, member, on_epoch_end)
        logger.info("forgetting: run %d/%d done", member + 1, self.ensemble_size)
        return forgetting_scores(np.stack(history))
