"""prototype: atypical rows (outliers) score higher than prototypical ones; deterministic; features from any column."""
from __future__ import annotations

import datasets
import numpy as np
import pytest

from datapruner.errors import DataprunerError
from datapruner.scorers import SCORERS, get_scorer
from datapruner.scorers.prototype import PrototypeScorer
from tests.datapruner._scorer_fakes import HashingEmbedder, clustered_embeddings


def _auroc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Probability that a random positive outscores a random negative (ties count half)."""
    pos, neg = scores[positive], scores[~positive]
    greater = (pos[:, None] > neg[None, :]).mean()
    ties = (pos[:, None] == neg[None, :]).mean()
    return float(greater + 0.5 * ties)


def _with_outliers(seed: int = 0):
    x, _ = clustered_embeddings(60, 5, 32, spread=0.5, seed=seed)
    rng = np.random.default_rng(seed + 100)
    outliers = rng.standard_normal((15, 32)).astype(np.float32)
    outliers /= np.linalg.norm(outliers, axis=1, keepdims=True)
    data = np.concatenate([x, outliers])
    is_outlier = np.r_[np.zeros(len(x), bool), np.ones(15, bool)]
    perm = rng.permutation(len(data))
    return data[perm], is_outlier[perm]


def test_outliers_score_higher():
    x, is_outlier = _with_outliers()
    scorer = PrototypeScorer(n_clusters=5, seed=0)
    scores = scorer.score_embeddings(x)
    assert scores.shape == (len(x),) and scores.dtype == np.float64
    assert _auroc(scores, is_outlier) > 0.95
    assert scores.min() >= 0.0 and scores.max() <= 2.0
    assert scorer.centroids_.shape == (5, 32)
    assert np.allclose(np.linalg.norm(scorer.centroids_, axis=1), 1.0, atol=1e-4)
    # hard selection of the outlier share keeps mostly outliers
    top = np.argsort(-scores)[:15]
    assert is_outlier[top].mean() >= 0.8


def test_default_number_of_clusters_still_separates_outliers():
    x, is_outlier = _with_outliers(1)
    scorer = PrototypeScorer(seed=1)
    scores = scorer.score_embeddings(x)
    assert scorer.centroids_.shape[0] == round(np.sqrt(len(x)))
    assert _auroc(scores, is_outlier) > 0.9


def test_scores_do_not_depend_on_row_scale_and_are_deterministic():
    x, _ = _with_outliers(2)
    a = PrototypeScorer(n_clusters=4, seed=7).score_embeddings(x)
    b = PrototypeScorer(n_clusters=4, seed=7).score_embeddings(x * 3.0)
    assert np.allclose(a, b, atol=1e-5)


def test_dataset_text_and_array_columns():
    texts = ["cats purr and sleep"] * 5 + ["dogs bark and run"] * 5 + ["quantum chromodynamics lattice gauge"]
    ds = datasets.Dataset.from_dict({"text": texts, "vec": [[1.0, 0.0]] * 5 + [[0.0, 1.0]] * 5 + [[-1.0, -1.0]]})
    assert SCORERS["prototype"] is PrototypeScorer
    s_text = get_scorer("prototype", model=HashingEmbedder(), n_clusters=2).score(ds)
    assert int(np.argmax(s_text)) == 10
    s_vec = PrototypeScorer(n_clusters=2).score(ds, text_column="vec")
    assert int(np.argmax(s_vec)) == 10


def test_needs_no_labels_and_ignores_label_column():
    ds = datasets.Dataset.from_dict({"text": ["a b", "a c", "z z"]})
    assert PrototypeScorer.needs_labels is False
    scores = PrototypeScorer(model=HashingEmbedder(), n_clusters=1).score(ds, label_column="missing")
    assert scores.shape == (3,)


@pytest.mark.parametrize("params, name", [
    ({"n_clusters": 0}, "n_clusters"), ({"n_clusters": 2.5}, "n_clusters"), ({"n_iter": 0}, "n_iter"),
    ({"sample_per_cluster": -1}, "sample_per_cluster"), ({"cache": "yes"}, "cache"), ({"seed": "x"}, "seed"),
])
def test_bad_params(params, name):
    with pytest.raises(DataprunerError) as info:
        PrototypeScorer(**params).score_embeddings(np.eye(4, dtype=np.float32))
    assert name in str(info.value) and "\n" not in str(info.value)


def test_empty_and_bad_column():
    with pytest.raises(DataprunerError, match="empty"):
        PrototypeScorer(model=HashingEmbedder()).score(datasets.Dataset.from_dict({"text": []}))
    ds = datasets.Dataset.from_dict({"text": ["a", "b"], "flag": [{"x": 1}, {"x": 2}]})
    with pytest.raises(DataprunerError, match="flag"):
        PrototypeScorer().score(ds, text_column="flag")
    numbers = datasets.Dataset.from_dict({"x": np.random.default_rng(0).random(20).tolist()})
    for method in ("prototype", "semdedup", "feature_mapping"):  # one number per row: every score would be equal
        with pytest.raises(DataprunerError, match=f"one number per row: {method} compares rows by cosine"):
            get_scorer(method, **({"target": numbers} if method == "feature_mapping" else {})).score(
                numbers, text_column="x")
