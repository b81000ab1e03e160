"""Target-guided source pruning by feature mapping (after DP4TL: Zhang et al., 2023, "Selectivity Drives
Productivity: Efficient Dataset Pruning for Enhanced Transfer Learning").

The target (downstream) data is embedded and clustered; each source row is scored by its cosine similarity to the
nearest target cluster centroid, so the rows that look most like the target domain rank first.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from datapruner._validation import check_columns
from datapruner.errors import DataprunerError
from datapruner.io import load_data
from datapruner.scorers._embedding import check_embedding_options, dataset_features
from datapruner.scorers._kmeans import (assign, check_features, default_n_clusters, fit_centroids,
                                         normalize_rows, threads_for)
from datapruner.scorers.base import Scorer

if TYPE_CHECKING:
    import datasets

    from datapruner.models.embedder import SupportsEncode

__all__ = ["FeatureMappingScorer"]


class FeatureMappingScorer(Scorer):
    """Return each source row's cosine similarity to the nearest target-domain cluster; higher = more target-like.

    The target is embedded with the same ``model`` as the source (text) or used as features (numeric/array), then
    spherical k-means finds ``n_clusters`` target prototypes. A source row's score is its highest cosine similarity
    to one of them, in [-1, 1]. A target-like row is treated as *easy* (in-domain for the downstream task), so
    ``higher_is_harder`` is False and ``default_strategy`` is ``"easy"``: ``select`` keeps the most target-like
    rows unless told otherwise. DP4TL's feature mapping maps target clusters to clusters of the source and keeps
    whole source clusters; this scorer works per row (a row is as good as its own closeness to a target cluster),
    which ranks the same rows first when source clusters are tight and is finer-grained when they are not.

    Args:
        target: The small target dataset: a ``datasets.Dataset`` or a path/name that
            :func:`datapruner.io.load_data` reads (on the CLI: ``--param target=target.jsonl``), read from
            ``target_column``; a list of texts; or a ``(n_target, dim)`` array of features in the source's space.
        model: Embedding model name or path, or an object with ``encode(texts)`` and ``identity``; ``None`` is the
            embedded all-MiniLM-L6-v2.
        target_column: Column of ``target`` to use; ``None`` uses the source's ``text_column``.
        n_clusters: Number of target clusters; ``None`` uses ``round(sqrt(n_target))``. Clamped to ``n_target``.
        n_iter: k-means iterations.
        sample_per_cluster: k-means is fit on at most ``sample_per_cluster * n_clusters`` sampled target rows.
        seed: Seed of the k-means sample and initialisation.
        batch_size: Texts per forward pass of the embedder.
        device: Torch device of the embedder; ``None`` lets sentence-transformers choose.
        show_progress_bar: Progress bar while embedding; ``None`` follows the logger level.
        cache: Cache embeddings on disk under ``$DATAPRUNER_CACHE`` (resumable).

    Attributes:
        target_centroids_: ``(k, dim)`` unit-norm target prototypes of the last call.
        cluster_labels_: ``(n_rows,)`` index of the target cluster each source row is closest to.

    Example:
        >>> import numpy as np
        >>> target = np.array([[1, 0], [0.98, 0.2]], dtype=np.float32)
        >>> source = np.array([[0, 1], [1, 0.05], [-1, 0]], dtype=np.float32)
        >>> FeatureMappingScorer(target, n_clusters=1).score_embeddings(source).round(2).tolist()
        [0.1, 1.0, -0.99]
    """

    name = "feature_mapping"
    higher_is_harder = False
    needs_labels = False
    default_strategy = "easy"

    def __init__(self, target: datasets.Dataset | Sequence[str] | npt.ArrayLike | None = None, *,
                 model: str | SupportsEncode | None = None, target_column: str | None = None,
                 n_clusters: int | None = None, n_iter: int = 20, sample_per_cluster: int = 64, seed: Any = 0,
                 batch_size: int = 32, device: str | None = None, show_progress_bar: bool | None = None,
                 cache: bool = True) -> None:
        self.target = target
        self.model = model
        self.target_column = target_column
        self.n_clusters = n_clusters
        self.n_iter = n_iter
        self.sample_per_cluster = sample_per_cluster
        self.seed = seed
        self.batch_size = batch_size
        self.device = device
        self.show_progress_bar = show_progress_bar
        self.cache = cache

    def _target_kind(self) -> str:
        import datasets as hf

        target = self.target
        if target is None:
            raise DataprunerError("target=None is not valid: pass the target dataset, a list of texts or an array.")
        if isinstance(target, hf.Dataset):
            if len(target) == 0:
                raise DataprunerError("target is empty: pass at least one target row.")
            return "dataset"
        if isinstance(target, (str, os.PathLike)):
            return "path"
        if isinstance(target, Sequence) and target and all(isinstance(t, str) for t in target):
            return "texts"
        arr = np.asarray(target)
        if arr.ndim != 2 or arr.shape[0] == 0 or not np.issubdtype(arr.dtype, np.number):
            raise DataprunerError(
                f"target has shape {arr.shape} and dtype {arr.dtype}: pass a dataset, a non-empty list of texts, "
                "or a (n_target, dim) numeric array.")
        return "array"

    def _target_features(self, source_column: str) -> npt.NDArray[np.float32]:
        import datasets as hf

        kind = self._target_kind()
        if kind == "array":
            return check_features(self.target)
        if kind == "texts":
            target = hf.Dataset.from_dict({"text": list(self.target)})
            column = "text"
        else:
            target = load_data(self.target) if kind == "path" else self.target
            if len(target) == 0:
                raise DataprunerError("target is empty: pass at least one target row.")
            column = self.target_column or source_column
            check_columns(target.column_names, column)
        return dataset_features(self, target, column)

    def score(self, dataset: datasets.Dataset, *, text_column: str = "text",
              label_column: str | None = "label") -> npt.NDArray[np.float64]:
        """Return one score per source row, shape ``(n_rows,)`` (``label_column`` is ignored).

        Raises:
            DataprunerError: On a bad option or target, a missing column, an empty dataset, or a target whose
                features do not have the source's dimension.
        """
        check_embedding_options(self)
        self._target_kind()
        check_columns(dataset.column_names, text_column)
        source = dataset_features(self, dataset, text_column)
        return self._score(source, self._target_features(text_column))

    def score_embeddings(self, embeddings: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Return the scores of precomputed source embeddings; ``target`` must then be an array too."""
        check_embedding_options(self)
        if self._target_kind() != "array":
            raise DataprunerError("score_embeddings needs target as a (n_target, dim) array of the same features.")
        return self._score(check_features(embeddings), check_features(self.target))

    def _score(self, source: npt.NDArray[np.float32], target: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        if source.shape[1] != target.shape[1]:
            raise DataprunerError(
                f"target features have dimension {target.shape[1]} but the source has {source.shape[1]}: "
                "embed both with the same model or column type.")
        with threads_for(source.size + target.size):
            target = normalize_rows(target)
            k = self.n_clusters if self.n_clusters is not None else default_n_clusters(target.shape[0])
            self.target_centroids_ = fit_centroids(target, k, n_iter=self.n_iter,
                                                   sample_per_cluster=self.sample_per_cluster, seed=self.seed)
            self.cluster_labels_, sims = assign(normalize_rows(source), self.target_centroids_)
        return np.clip(sims.astype(np.float64), -1.0, 1.0)
