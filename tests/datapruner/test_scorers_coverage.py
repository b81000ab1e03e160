"""ngram_coverage: lazy greedy equals plain greedy; duplicates rank last; per-class ranks keep classes in
proportion; subsets are nested; bad input fails in one line."""
from __future__ import annotations

import datasets
import numpy as np
import pytest

import datapruner
from datapruner.errors import DataprunerError
from datapruner.scorers import SCORERS, get_scorer
from datapruner.scorers.coverage import NgramCoverageScorer, greedy_coverage_order


def _plain_greedy(rows, weights):
    """Reference: rescan every row at every step; ties go to the lower index."""
    covered, left, order = set(), list(range(len(rows))), []
    while left:
        gains = [sum(weights[g] for g in set(rows[i].tolist()) - covered) for i in left]
        best = left[int(np.argmax(gains))]  # argmax takes the first (lowest index) of equal gains
        order.append(best)
        covered |= set(rows[best].tolist())
        left.remove(best)
    return order


@pytest.mark.parametrize("seed", range(5))
def test_lazy_greedy_picks_like_plain_greedy(seed):
    rng = np.random.default_rng(seed)
    rows = [np.unique(rng.integers(0, 30, size=rng.integers(0, 8))) for _ in range(40)]
    weights = rng.integers(1, 4, size=30).astype(np.float64)
    assert greedy_coverage_order(rows, weights).tolist() == _plain_greedy(rows, weights)


def test_duplicates_and_empty_rows_rank_last():
    texts = ["the cat sat", "the cat sat", "a dog ran far", "", "the cat sat", "birds fly south"]
    scores = NgramCoverageScorer().score(datasets.Dataset.from_dict({"text": texts}))
    # the repeated sentence covers the most weight (each of its n-grams is in 3 rows), then the longer new sentence;
    # copies and the empty row add nothing and follow in row order
    assert np.argsort(-scores, kind="stable").tolist() == [0, 2, 5, 1, 3, 4]


def test_greedy_subset_covers_more_vocabulary_than_random_subsets():
    rng = np.random.default_rng(0)
    vocab = [f"w{i}" for i in range(300)]
    texts = [" ".join(rng.choice(vocab, size=rng.integers(2, 12))) for _ in range(400)]
    ds = datasets.Dataset.from_dict({"text": texts})
    keep = 40

    def covered(idx):
        return len({w for i in idx for w in texts[i].split()})

    greedy = np.argsort(-NgramCoverageScorer(ngrams=1).score(ds), kind="stable")[:keep]
    randoms = [covered(rng.permutation(len(texts))[:keep]) for _ in range(20)]
    assert covered(greedy) > max(randoms)


def test_per_class_ranks_keep_classes_in_proportion_and_subsets_nest():
    rng = np.random.default_rng(1)
    texts = [" ".join(f"t{int(x)}" for x in rng.integers(0, 200, size=6)) for _ in range(120)]
    labels = [0] * 90 + [1] * 30
    ds = datasets.Dataset.from_dict({"text": texts, "label": labels})
    small = datapruner.select_rows(ds, method="ngram_coverage", keep=0.2)
    large = datapruner.select_rows(ds, method="ngram_coverage", keep=0.5)
    assert small.dataset["label"].count(1) == 6 and small.dataset["label"].count(0) == 18
    assert set(small.indices.tolist()) <= set(large.indices.tolist())
    # without per-class ranks the same data may drift from the class shares, but still ranks every row once
    scores = get_scorer("ngram_coverage", per_class=False).score(ds)
    assert np.unique(scores).size == len(ds)


def test_registry_and_determinism():
    assert SCORERS["ngram_coverage"] is NgramCoverageScorer
    ds = datasets.Dataset.from_dict({"text": ["a b", "b c", "c d e"], "label": [0, 1, 0]})
    np.testing.assert_array_equal(NgramCoverageScorer(seed=0).score(ds), NgramCoverageScorer(seed=9).score(ds))


@pytest.mark.parametrize("params, name", [({"ngrams": 0}, "ngrams"), ({"n_buckets": 1}, "n_buckets"),
                                          ({"per_class": "no"}, "per_class")])
def test_bad_params(params, name):
    with pytest.raises(DataprunerError) as info:
        NgramCoverageScorer(**params).score(datasets.Dataset.from_dict({"text": ["a"]}))
    assert name in str(info.value) and "\n" not in str(info.value)


def test_bad_data():
    with pytest.raises(DataprunerError, match="empty"):
        NgramCoverageScorer().score(datasets.Dataset.from_dict({"text": []}))
    with pytest.raises(DataprunerError, match="'body'"):
        NgramCoverageScorer().score(datasets.Dataset.from_dict({"text": ["a"]}), text_column="body")
    with pytest.raises(DataprunerError, match="needs text"):
        NgramCoverageScorer().score(datasets.Dataset.from_dict({"text": [1.5, 2.5]}))
    with pytest.raises(DataprunerError, match="labels must have shape"):
        NgramCoverageScorer().score_ids([np.array([1]), np.array([2])], labels=[0])
    for labels in (["x", None], [1.0, float("nan")]):
        with pytest.raises(DataprunerError, match="labels are missing in 1 rows"):
            NgramCoverageScorer().score(datasets.Dataset.from_dict({"text": ["a", "b"], "label": labels}))
