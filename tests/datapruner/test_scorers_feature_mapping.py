"""feature_mapping: source rows that look like the target domain rank first."""
from __future__ import annotations

import datasets
import numpy as np
import pytest

from datapruner.errors import DataprunerError
from datapruner.scorers import SCORERS
from datapruner.scorers.feature_mapping import FeatureMappingScorer
from datapruner.selection import select_indices
from tests.datapruner._scorer_fakes import HashingEmbedder, clustered_embeddings


def test_target_like_rows_rank_first_on_embeddings():
    x, domain = clustered_embeddings(50, 6, 32, spread=0.6, seed=0)
    target_like = np.isin(domain, [1, 4])
    rng = np.random.default_rng(1)
    target, _ = clustered_embeddings(20, 6, 32, spread=0.6, seed=0)  # same centres as the source
    target = target[np.isin(np.repeat(np.arange(6), 20), [1, 4])]
    target = target + 0.01 * rng.standard_normal(target.shape).astype(np.float32)
    scorer = FeatureMappingScorer(target, n_clusters=2)
    scores = scorer.score_embeddings(x)
    kept = select_indices(scores, keep=target_like.mean(), strategy=FeatureMappingScorer.default_strategy,
                          higher_is_harder=FeatureMappingScorer.higher_is_harder)
    assert target_like[kept].mean() >= 0.95
    assert scores[target_like].min() > np.median(scores[~target_like])


def test_text_target_with_fake_embedder():
    source = ["the striker scored a late goal", "the goalkeeper saved a penalty", "parliament passed the budget",
              "the senate vote on taxes", "the midfielder scored a goal", "inflation and the budget deficit"]
    sports = [0, 1, 4]
    target = ["a goal scored by the striker", "penalty saved by the goalkeeper", "late goal in the match"]
    ds = datasets.Dataset.from_dict({"text": source})
    assert SCORERS["feature_mapping"] is FeatureMappingScorer
    emb = HashingEmbedder()
    scores = FeatureMappingScorer(target, model=emb, n_clusters=2).score(ds)
    assert set(np.argsort(-scores)[:3].tolist()) == set(sports)
    # a target dataset with its own column name works the same
    tds = datasets.Dataset.from_dict({"sentence": target})
    scores2 = FeatureMappingScorer(tds, model=emb, target_column="sentence", n_clusters=2).score(ds)
    assert np.allclose(scores, scores2)


def test_target_from_a_file_path(tmp_path):
    path = tmp_path / "target.jsonl"
    path.write_text('{"text": "a goal scored by the striker"}\n{"text": "penalty saved by the keeper"}\n')
    ds = datasets.Dataset.from_dict({"text": ["the striker scored a goal", "parliament passed the budget"]})
    scores = FeatureMappingScorer(str(path), model=HashingEmbedder(), n_clusters=1).score(ds)
    assert scores[0] > scores[1]


def test_bad_targets():
    ds = datasets.Dataset.from_dict({"text": ["a", "b"]})
    with pytest.raises(DataprunerError, match="target"):
        FeatureMappingScorer(None, model=HashingEmbedder()).score(ds)
    with pytest.raises(DataprunerError, match="no_such_target"):
        FeatureMappingScorer("no_such_target.jsonl", model=HashingEmbedder()).score(ds)
    with pytest.raises(DataprunerError, match="dimension"):
        FeatureMappingScorer(np.ones((3, 5), np.float32)).score_embeddings(np.ones((4, 6), np.float32))
    with pytest.raises(DataprunerError, match="column 'nope'"):
        FeatureMappingScorer(datasets.Dataset.from_dict({"x": ["a"]}), model=HashingEmbedder(),
                             target_column="nope").score(ds)
    with pytest.raises(DataprunerError, match="array"):
        FeatureMappingScorer(["a text"]).score_embeddings(np.ones((4, 6), np.float32))
