"""semdedup: planted near-duplicates are found and exactly one row per duplicate group is kept (chains too)."""
from __future__ import annotations

from pathlib import Path

import datasets
import numpy as np
import pytest

from datapruner.errors import DataprunerError
from datapruner.scorers import SCORERS, get_scorer
from datapruner.scorers.semdedup import SemDedupScorer
from datapruner.selection import select_indices
from tests.datapruner._scorer_fakes import HashingEmbedder, clustered_embeddings

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v, axis=-1, keepdims=True)).astype(np.float32)


def _planted(seed: int = 0):
    """400 spread-out rows plus 30 planted groups of 2-4 near-copies; returns (x, group id per row or -1)."""
    rng = np.random.default_rng(seed)
    base, _ = clustered_embeddings(100, 4, 32, spread=1.5, seed=seed)
    rows, groups = [base], [np.full(len(base), -1)]
    sources = rng.choice(len(base), size=30, replace=False)
    for g in range(30):
        src = base[sources[g]]
        n_copies = 1 + g % 3
        copies = _unit(src + 0.02 * rng.standard_normal((n_copies, 32)).astype(np.float32))
        rows.append(copies)
        groups.append(np.full(n_copies, g))
    x = np.concatenate(rows)
    group = np.concatenate(groups)
    group[sources] = np.arange(30)  # the source row belongs to its group too
    return x, group


def test_planted_duplicates_one_kept_per_group():
    x, group = _planted()
    scorer = SemDedupScorer(max_similarity=0.95, n_clusters=4, seed=0)
    scores = scorer.score_embeddings(x)
    dup = scorer.is_duplicate_
    for g in range(30):
        assert ((group == g) & ~dup).sum() == 1, f"group {g} must keep exactly one row"
    assert not dup[group == -1].any(), "rows without planted duplicates must all be kept"
    assert len(scorer.duplicate_groups_) == 30
    # the score separates kept and removed rows at max_similarity
    assert np.array_equal(scores > 0.95, dup)
    # selection with the default strategy keeps every kept row before any duplicate
    n_keep_frac = (~dup).sum() / len(x)
    kept = select_indices(scores, keep=n_keep_frac, strategy=SemDedupScorer.default_strategy,
                          higher_is_harder=SemDedupScorer.higher_is_harder)
    assert np.array_equal(np.sort(kept), np.flatnonzero(~dup))


def test_chain_keeps_exactly_one():
    # a ~ b ~ c ~ d along an arc: neighbours are above 0.95, the ends are not
    angles = np.deg2rad([0.0, 15.0, 30.0, 45.0])
    chain = np.stack([np.cos(angles), np.sin(angles), np.zeros(4), np.zeros(4)], axis=1)
    cos_ab = float(chain[0] @ chain[1])
    assert cos_ab > 0.95 and float(chain[0] @ chain[2]) < 0.95  # it really is a chain
    others = np.array([[0, 0, 1, 0], [0, 0, 0, 1], [0, -1, 0, 0]], dtype=np.float32)
    x = np.concatenate([chain, others]).astype(np.float32)
    for order in ([0, 1, 2, 3, 4, 5, 6], [2, 0, 3, 1, 6, 5, 4], [3, 2, 1, 0, 4, 5, 6]):
        scorer = SemDedupScorer(max_similarity=0.95, n_clusters=1)
        scorer.score_embeddings(x[order])
        inv = np.argsort(order)
        dup = scorer.is_duplicate_[inv]
        assert dup[:4].sum() == 3, f"order {order}: a chain of 4 is one group, exactly one row kept"
        assert not dup[4:].any()
        assert len(scorer.duplicate_groups_) == 1 and len(scorer.duplicate_groups_[0]) == 4


def test_representative_closest_vs_farthest():
    centre = np.array([1.0, 0.0, 0.0])
    x = _unit(np.array([[1.0, 0.0, 0.0], [0.995, 0.1, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0],
                        [0.7, 0.7, 0.0], [0.7, 0.0, 0.7]]))
    assert centre is not None
    near = SemDedupScorer(max_similarity=0.99, n_clusters=1, representative="closest")
    near.score_embeddings(x)
    far = SemDedupScorer(max_similarity=0.99, n_clusters=1, representative="farthest")
    far.score_embeddings(x)
    assert [g.tolist() for g in near.duplicate_groups_] != [g.tolist() for g in far.duplicate_groups_]
    assert sorted(near.duplicate_groups_[0].tolist()) == sorted(far.duplicate_groups_[0].tolist()) == [0, 1]


def test_default_keeps_the_copy_farthest_from_the_centroid_as_the_paper():
    # SemDeDup (Abbas et al. 2023) keeps the group member least similar to its cluster centroid.
    x = _unit(np.array([[1.0, 0.0, 0.0], [0.999, -0.04, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]))
    scorer = SemDedupScorer(max_similarity=0.95, n_clusters=1)
    scorer.score_embeddings(x)
    centroid = _unit(x.mean(axis=0, keepdims=True))[0]
    group = scorer.duplicate_groups_[0]
    assert sorted(group.tolist()) == [0, 1]
    assert group[0] == int(np.argmin(x[[0, 1]] @ centroid))
    assert scorer.is_duplicate_.tolist() == [i != group[0] and i in (0, 1) for i in range(4)]


def test_max_similarity_one_removes_nothing_even_for_exact_copies():
    # Unit vectors' self-similarity rounds to 1.0000001 often enough: unclipped, half of these copies were removed.
    rng = np.random.default_rng(0)
    base = _unit(rng.normal(size=(50, 384)))
    x = np.repeat(base, 3, axis=0)
    scorer = SemDedupScorer(max_similarity=1.0, n_clusters=5, seed=0)
    scores = scorer.score_embeddings(x)
    assert not scorer.is_duplicate_.any() and scorer.duplicate_groups_ == []
    assert scores.max() <= 1.0


@pytest.mark.slow
def test_text_fixture_with_minilm_finds_planted_variants():
    """Real model on the shipped fixture: SST-2 sentences with planted copies / punctuation / case variants."""
    ds = datasets.Dataset.from_json(str(FIXTURES / "text_near_duplicates.jsonl"))
    group = np.array(ds["dup_group"])
    scorer = SemDedupScorer(max_similarity=0.9, n_clusters=4)
    scorer.score(ds)
    dup = scorer.is_duplicate_
    kept_per_group = [int(((group == g) & ~dup).sum()) for g in range(20)]
    assert kept_per_group == [1] * 20
    assert not dup[group == -1].any()
    # the stricter default still removes no distinct sentence and most planted variants
    strict = SemDedupScorer(n_clusters=4)
    strict.score(ds)
    planted = (group >= 0).sum() - 20
    assert not strict.is_duplicate_[group == -1].any()
    assert strict.is_duplicate_.sum() >= 0.9 * planted


def test_fake_embedder_dataset_path_and_registry():
    texts = ["the cat sat on the mat", "the cat sat on the mat", "stock prices fell sharply today",
             "rain is expected tomorrow", "the cat sat on the mat", "a completely different sentence"]
    ds = datasets.Dataset.from_dict({"text": texts, "label": [0] * 6})
    assert SCORERS["semdedup"] is SemDedupScorer
    scorer = get_scorer("semdedup", model=HashingEmbedder(), n_clusters=1, seed=0)
    scores = scorer.score(ds)
    assert scores.dtype == np.float64 and scores.shape == (6,)
    assert [sorted(g.tolist()) for g in scorer.duplicate_groups_] == [[0, 1, 4]]
    assert scorer.is_duplicate_.sum() == 2


def test_deterministic_for_a_seed():
    x, _ = _planted(1)
    a = SemDedupScorer(max_similarity=0.95, seed=3).score_embeddings(x)
    b = SemDedupScorer(max_similarity=0.95, seed=3).score_embeddings(x)
    assert np.array_equal(a, b)


@pytest.mark.parametrize("params, name", [
    ({"max_similarity": 0.0}, "max_similarity"),
    ({"max_similarity": 1.5}, "max_similarity"),
    ({"max_similarity": True}, "max_similarity"),
    ({"n_clusters": 0}, "n_clusters"),
    ({"representative": "middle"}, "representative"),
    ({"batch_size": 0}, "batch_size"),
    ({"model": 3}, "model"),
])
def test_bad_params_raise_one_line_error_naming_the_parameter(params, name):
    with pytest.raises(DataprunerError) as info:
        SemDedupScorer(**params).score_embeddings(np.eye(3, dtype=np.float32))
    assert name in str(info.value) and "\n" not in str(info.value)


def test_bad_inputs():
    with pytest.raises(DataprunerError, match="column 'nope'"):
        SemDedupScorer(model=HashingEmbedder()).score(datasets.Dataset.from_dict({"text": ["a"]}),
                                                      text_column="nope")
    with pytest.raises(DataprunerError, match="NaN"):
        SemDedupScorer().score_embeddings(np.array([[np.nan, 1.0], [1.0, 0.0]], dtype=np.float32))
    with pytest.raises(DataprunerError, match="shape"):
        SemDedupScorer().score_embeddings(np.ones(3, dtype=np.float32))


@pytest.mark.parametrize("representative", ["farthest", "closest"])
def test_exact_copies_compared_once_give_what_comparing_every_row_gives(representative):
    from datapruner.scorers.semdedup import _dedup_cluster, _dedup_rows

    rng = np.random.default_rng(3)
    base = rng.normal(size=(30, 16)).astype(np.float32)
    near = base[:10] + 0.05 * rng.normal(size=(10, 16)).astype(np.float32)  # near-duplicates of some bases
    emb = np.concatenate([base, near, base[rng.integers(0, 30, 60)]])  # copies, some of near-duplicated rows
    emb = emb[rng.permutation(len(emb))]
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    central = (emb @ emb.mean(axis=0)).astype(np.float32)
    scores, groups = _dedup_cluster(emb, central, 0.95, representative)
    every_row_scores, every_row_groups = _dedup_rows(emb, central, 0.95, representative)
    assert sorted(g.tolist() for g in groups) == sorted(g.tolist() for g in every_row_groups)
    np.testing.assert_allclose(scores, every_row_scores, atol=1e-6)
    assert len(groups) > 10 and max(map(len, groups)) > 3


def test_many_exact_copies_are_fast():
    x = np.concatenate([np.tile([[1.0, 0.0, 0.0]], (200_000, 1)), [[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]])
    scorer = SemDedupScorer(max_similarity=0.95, n_clusters=1)
    import time

    started = time.perf_counter()
    scorer.score_embeddings(x.astype(np.float32))
    assert time.perf_counter() - started < 10  # comparing every row: 4 * 10**10 products, minutes
    assert [g.size for g in scorer.duplicate_groups_] == [200_000] and scorer.is_duplicate_.sum() == 199_999
