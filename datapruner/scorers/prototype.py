"""Self-supervised prototype scores (Sorscher et al., 2022, "Beyond neural scaling laws").

Rows are embedded, k-means finds prototypes (cluster centroids), and a row's score is its cosine distance to the
nearest prototype: prototypical rows are easy, rows far from every prototype are hard. No labels are needed.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from datapruner._validation import check_columns
from datapruner.scorers._embedding import check_embedding_options, dataset_features
from datapruner.scorers._kmeans import (assign, check_features, default_n_clusters, fit_centroids,
                                         normalize_rows, threads_for)
from datapruner.scorers.base import Scorer

if TYPE_CHECKING:
    import datasets

    from datapruner.models.embedder import SupportsEncode

__all__ = ["PrototypeScorer"]


class PrototypeScorer(Scorer):
    """Return the cosine distance of each row to its nearest k-means centroid; higher means harder.

    Text is embedded with ``model`` (cached on disk, see :func:`datapruner.models.embedder.column_features`);
    numeric and array columns are used as features directly. Rows are L2-normalised, spherical k-means (faiss) is
    fit on a seeded sample, then every row is assigned to its most similar centroid. Scores are in [0, 2]:
    0 for a row on a prototype, larger for atypical rows (outliers, rare sub-populations, and mislabeled or
    corrupted inputs). The paper keeps hard rows when data is plentiful and easy rows when it is scarce:
    ``strategy="hard"`` (default) or ``"easy"``.

    Args:
        model: Embedding model name or path, or an object with ``encode(texts)`` and ``identity``; ``None`` is the
            embedded all-MiniLM-L6-v2.
        n_clusters: Number of prototypes; ``None`` uses ``round(sqrt(n_rows))`` (see
            :func:`datapruner.scorers._kmeans.default_n_clusters`). Clamped to ``n_rows``.
        n_iter: k-means iterations.
        sample_per_cluster: k-means is fit on at most ``sample_per_cluster * n_clusters`` sampled rows.
        seed: Seed of the k-means sample and initialisation.
        batch_size: Texts per forward pass of the embedder.
        device: Torch device of the embedder; ``None`` lets sentence-transformers choose.
        show_progress_bar: Progress bar while embedding; ``None`` follows the logger level.
        cache: Cache embeddings on disk under ``$DATAPRUNER_CACHE`` (resumable).

    Attributes:
        centroids_: ``(k, dim)`` unit-norm prototypes of the last call.
        cluster_labels_: ``(n_rows,)`` index of each row's nearest prototype.

    Example:
        >>> import numpy as np
        >>> x = np.array([[1, 0], [0.99, 0.14], [0.98, -0.2], [0, 1]], dtype=np.float32)
        >>> s = PrototypeScorer(n_clusters=1).score_embeddings(x)
        >>> int(s.argmax())  # the row pointing away from the others
        3
    """

    name = "prototype"
    higher_is_harder = True
    needs_labels = False
    default_strategy = "hard"

    def __init__(self, model: str | SupportsEncode | None = None, *, n_clusters: int | None = None,
                 n_iter: int = 20, sample_per_cluster: int = 64, seed: Any = 0, batch_size: int = 32,
                 device: str | None = None, show_progress_bar: bool | None = None, cache: bool = True) -> None:
        self.model = model
        self.n_clusters = n_clusters
        self.n_iter = n_iter
        self.sample_per_cluster = sample_per_cluster
        self.seed = seed
        self.batch_size = batch_size
        self.device = device
        self.show_progress_bar = show_progress_bar
        self.cache = cache

    def score(self, dataset: datasets.Dataset, *, text_column: str = "text",
              label_column: str | None = "label") -> npt.NDArray[np.float64]:
        """Return one score per row, shape ``(n_rows,)``: cosine distance to the nearest prototype.

        ``label_column`` is ignored (no labels needed).

        Raises:
            DataprunerError: On a bad option, a missing column or an empty dataset.
        """
        check_embedding_options(self)
        check_columns(dataset.column_names, text_column)
        return self.score_embeddings(dataset_features(self, dataset, text_column))

    def score_embeddings(self, embeddings: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Return the scores of precomputed ``(n_rows, dim)`` embeddings (a memory map is not copied whole)."""
        check_embedding_options(self)
        x = check_features(embeddings)
        with threads_for(x.size):
            x = normalize_rows(x)
            k = self.n_clusters if self.n_clusters is not None else default_n_clusters(x.shape[0])
            self.centroids_ = fit_centroids(x, k, n_iter=self.n_iter, sample_per_cluster=self.sample_per_cluster,
                                            seed=self.seed)
            self.cluster_labels_, sims = assign(x, self.centroids_)
        return np.clip(1.0 - sims.astype(np.float64), 0.0, 2.0)
