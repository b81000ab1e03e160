"""EL2N scores (Paul et al., 2021, "Deep Learning on a Data Diet: Finding Important Examples Early in Training").

EL2N of a row is ``|| softmax(f(x)) - onehot(y) ||_2`` for a proxy ``f`` trained briefly on all rows, averaged over
an ensemble of independently initialised proxies. Rows the proxies still get wrong early on (hard, atypical or
mislabeled rows) have a high score.
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

__all__ = ["EL2NScorer", "el2n"]

logger = logging.getLogger(__name__)


def el2n(probs: npt.ArrayLike, labels: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Return ``|| probs - onehot(labels) ||_2`` per row, in [0, sqrt(2)].

    Example:
        >>> el2n([[0.9, 0.1], [0.5, 0.5], [0.0, 1.0]], [0, 0, 0]).round(3).tolist()
        [0.141, 0.707, 1.414]
    """
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    err = p.copy()
    err[np.arange(y.size), y] -= 1.0
    return np.sqrt((err ** 2).sum(axis=1))


class EL2NScorer(Scorer):
    """Return the mean EL2N of each row over an ensemble of briefly trained proxies; higher means harder.

    Each of ``ensemble_size`` proxies (seeds ``seed``, ``seed + 1``, ...) is trained on all rows for ``epochs``
    epochs, and EL2N is read from its predictions at the end of that epoch. Scores are in [0, sqrt(2)].

    Defaults, and why: the paper averages 10 ResNets after 20 of 200 epochs (10% of training) and finds 5 or more
    members make the ranking stable. Here ``ensemble_size=5``; ``epochs=None`` uses half of the proxy's normal
    training length (the per-proxy defaults of :data:`datapruner.models.pipeline.TRAINING_DEFAULTS`, at least 2
    epochs: 10 for the MiniLM heads, 2 for fastText, 15 for the MLP, 4 for the CNN). The paper's 10% is
    for deep networks trained from scratch; the proxies here are small heads on frozen features that reach their
    plateau in a few epochs, so at 10% they have barely moved, while training to the end lets the head fit
    flipped labels and hides them. Measured with the MiniLM linear head and 3 members, the AUROC of EL2N for
    finding flipped labels was nearly flat in the number of epochs: 0.73 / 0.75 / 0.75 / 0.75 at 2 / 5 / 10 / 20
    epochs on the 200-row noisy SST-2 fixture, 0.86 at 2 and 5 epochs on 2,000 SST-2 rows with 10% flipped.

    Args:
        proxy: Proxy model type: ``"auto"`` (MiniLM embeddings + linear head for text, MLP for numeric vectors,
            CNN for images), or one of ``"minilm-linear"``, ``"minilm-mlp"``, ``"fasttext"``, ``"mlp"``, ``"cnn"``.
        model: Embedding model (name, path or embedder object) for the ``minilm-*`` proxies; ``None`` is the
            embedded all-MiniLM-L6-v2. Embeddings are cached on disk.
        model_factory: Your own network instead of the proxy's: called as
            ``model_factory(n_classes=..., input_shape=...)`` (``input_shape`` is one row of the proxy's features,
            e.g. ``(384,)`` for MiniLM embeddings) under a seeded torch RNG; it must return a fresh
            ``torch.nn.Module`` mapping a batch of features to logits. Runs with a factory are not cached.
        ensemble_size: Number of independently initialised proxies averaged, >= 1.
        epochs: Training epochs before EL2N is read; ``None`` uses the default described above.
        batch_size: Training batch size; ``None`` uses the proxy's default.
        learning_rate: AdamW learning rate; ``None`` uses the proxy's default.
        seed: Seed of member ``i`` is ``seed + i`` (weights, batch order, dropout).
        cache: Save each member's scores as soon as it is trained (under ``$DATAPRUNER_CACHE/scores``), so an
            interrupted run resumes with the next member and a repeated run trains nothing.
        show_progress_bar: Progress bars while training; ``None`` follows the logger level.

    Attributes:
        member_scores_: ``(ensemble_size, n_rows)`` EL2N of each member.
        classes_: Label values in class-id order.

    Example:
        >>> import datasets, numpy as np
        >>> rng = np.random.default_rng(0)
        >>> x = np.r_[rng.normal(-2, 1, (40, 2)), rng.normal(2, 1, (40, 2))].astype("float32")
        >>> y = [0] * 40 + [1] * 40
        >>> y[0] = 1  # a flipped label
        >>> ds = datasets.Dataset.from_dict({"x": x.tolist(), "label": y})
        >>> scores = EL2NScorer(ensemble_size=2, epochs=20).score(ds, text_column="x")
        >>> int(np.argmax(scores))
        0
    """

    name = "el2n"
    higher_is_harder = True
    needs_labels = True
    default_strategy = "hard"

    def __init__(self, proxy: str = "auto", *, model: str | Any | None = None,
                 model_factory: Callable[..., torch.nn.Module] | None = None, ensemble_size: int = 5,
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
        """Return the default number of epochs for a proxy type: half its normal training, at least 2."""
        from datapruner.models.pipeline import TRAINING_DEFAULTS

        return max(2, TRAINING_DEFAULTS[model_type]["epochs"] // 2)

    def score(self, dataset: datasets.Dataset, *, text_column: str = "text",
              label_column: str | None = "label") -> npt.NDArray[np.float64]:
        """Return one score per row, shape ``(n_rows,)``: mean EL2N over the ensemble.

        Raises:
            DataprunerError: On a bad option, missing columns or labels, fewer than 2 classes, an empty dataset.
        """
        return ensemble_scores(self, dataset, text_column, label_column, part_prefix="member",
                               member_score=self._member_scores)

    def _member_scores(self, data: ProxyData, member: int) -> npt.NDArray[np.float64]:
        """Train one member for ``epochs`` and return its EL2N of every row."""
        result: dict[str, npt.NDArray[np.float64]] = {}
        epochs = data.options["epochs"]

        def on_epoch_end(epoch: int, model: torch.nn.Module) -> None:
            if epoch == epochs:
                result["el2n"] = el2n(row_predictions(model, data.features), data.labels)

        train_member(self, data, member, on_epoch_end)
        logger.info("el2n: member %d/%d trained", member + 1, self.ensemble_size)
        return result["el2n"]
