"""What the embedding-based scorers (prototype, semdedup, feature_mapping) share: options checks and features."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from datapruner._validation import check_positive_int
from datapruner.errors import DataprunerError

if TYPE_CHECKING:
    import datasets

__all__ = ["check_embedding_options", "check_vectors", "dataset_features"]


def check_embedding_options(scorer: Any) -> None:
    """Validate the options every embedding scorer has (``model``, ``batch_size``, ``n_clusters``, ``n_iter``...)."""
    from datapruner.models.embedder import SupportsEncode

    model = scorer.model
    if model is not None and not isinstance(model, str) and not isinstance(model, SupportsEncode):
        raise DataprunerError(
            f"model={model!r} is not valid: use a model name or path, or an object with encode(texts) and identity.")
    check_positive_int("batch_size", scorer.batch_size)
    if getattr(scorer, "n_clusters", None) is not None:
        check_positive_int("n_clusters", scorer.n_clusters)
    for name in ("n_iter", "sample_per_cluster"):
        if hasattr(scorer, name):
            check_positive_int(name, getattr(scorer, name))
    if not isinstance(scorer.cache, bool):
        raise DataprunerError(f"cache={scorer.cache!r} is not valid: use True or False.")


def dataset_features(scorer: Any, dataset: datasets.Dataset, column: str) -> npt.NDArray[np.float32]:
    """Return the ``(n_rows, dim)`` features of ``dataset[column]`` with the scorer's model and cache options."""
    from datapruner.models.embedder import column_features

    if len(dataset) == 0:
        raise DataprunerError("the dataset is empty: there are no rows to score.")
    return check_vectors(column_features(dataset, column, model=scorer.model, batch_size=scorer.batch_size,
                                         device=scorer.device, show_progress_bar=scorer.show_progress_bar,
                                         cache=scorer.cache), scorer, column)


def check_vectors(features: npt.NDArray[np.float32], scorer: Any, column: str) -> npt.NDArray[np.float32]:
    """Return ``features`` after checking they are vectors: cosine similarity of 1-d features is only +-1, so every
    score would be the same."""
    if features.ndim != 2 or features.shape[1] < 2:
        raise DataprunerError(f"column {column!r} holds one number per row: {scorer.name} compares rows by cosine "
                              "similarity, which needs vectors; pass a text column or a column of number lists.")
    return features
