"""Selection strategies: exact budget, sorted unique indices, determinism, and signal per strategy."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datapruner import DataprunerError, select_indices
from datapruner._validation import resolve_keep
from datapruner.selection import STRATEGIES
from datapruner.selection.balanced import class_quotas

scores_st = st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=300)
keep_st = st.floats(0.001, 1.0)


def _labels(n: int) -> np.ndarray:
    return np.arange(n) % 3


def _holds_budget_property(select, scores, keep, strategy) -> bool:
    """The contract every strategy must meet; reused to reject known-bad twins."""
    n = len(scores)
    chosen = select(scores, keep=keep, strategy=strategy, labels=_labels(n), seed=1)
    return (len(chosen) == resolve_keep(keep, n) and np.all(np.diff(chosen) > 0)
            and chosen.min() >= 0 and chosen.max() < n)


@settings(max_examples=60, deadline=None)
@given(scores=scores_st, keep=keep_st, strategy=st.sampled_from(sorted(STRATEGIES)))
def test_every_strategy_returns_exact_sorted_unique_budget(scores, keep, strategy):
    assert _holds_budget_property(select_indices, scores, keep, strategy)


def test_budget_property_rejects_an_off_by_one_twin():
    def off_by_one(scores, **kwargs):
        return select_indices(scores, **kwargs)[:-1]

    assert not _holds_budget_property(off_by_one, [0.3, 0.1, 0.9, 0.5], 0.5, "hard")


@settings(max_examples=40, deadline=None)
@given(scores=scores_st, strategy=st.sampled_from(sorted(STRATEGIES)), seed=st.integers(0, 10))
def test_same_seed_same_rows(scores, strategy, seed):
    a = select_indices(scores, keep=0.5, strategy=strategy, labels=_labels(len(scores)), seed=seed)
    b = select_indices(scores, keep=0.5, strategy=strategy, labels=_labels(len(scores)), seed=seed)
    np.testing.assert_array_equal(a, b)


@settings(max_examples=40, deadline=None)
@given(scores=scores_st)
def test_hard_grows_monotonically_with_keep(scores):
    previous: set[int] = set()
    for keep in (0.1, 0.3, 0.5, 0.8, 1.0):
        current = set(select_indices(scores, keep=keep, strategy="hard").tolist())
        assert previous <= current
        previous = current


def test_hard_easy_and_ties():
    scores = [0.5, 0.9, 0.5, 0.1, 0.5]
    np.testing.assert_array_equal(select_indices(scores, keep=0.4, strategy="hard"), [0, 1])
    np.testing.assert_array_equal(select_indices(scores, keep=0.4, strategy="easy"), [0, 3])
    # lower-is-harder scorers are flipped before ranking
    np.testing.assert_array_equal(select_indices(scores, keep=0.2, strategy="hard", higher_is_harder=False), [3])


def test_strategies_differ_so_the_strategy_argument_matters():
    scores = np.linspace(0, 1, 100)
    hard = select_indices(scores, keep=0.2, strategy="hard")
    easy = select_indices(scores, keep=0.2, strategy="easy")
    offset = select_indices(scores, keep=0.2, strategy="offset", offset=0.1)
    assert hard.min() == 80 and easy.max() == 19
    np.testing.assert_array_equal(offset, np.arange(70, 90))


def test_balanced_gives_equal_quotas_and_caps_small_classes():
    labels = np.array([0] * 90 + [1] * 10)
    chosen = select_indices(np.zeros(100), keep=0.2, strategy="balanced", labels=labels)
    counts = np.bincount(labels[chosen])
    np.testing.assert_array_equal(counts, [10, 10])
    chosen = select_indices(np.zeros(100), keep=0.5, strategy="balanced", labels=labels)
    np.testing.assert_array_equal(np.bincount(labels[chosen]), [40, 10])


@given(sizes=st.lists(st.integers(1, 50), min_size=1, max_size=8), data=st.data())
def test_class_quotas_sum_to_budget_and_fit(sizes, data):
    sizes_arr = np.array(sizes)
    n_keep = data.draw(st.integers(1, int(sizes_arr.sum())))
    quotas = class_quotas(sizes_arr, n_keep)
    assert quotas.sum() == n_keep and np.all(quotas <= sizes_arr) and np.all(quotas >= 0)
    # as equal as possible: no unfilled class gets two fewer than another
    unfilled = quotas < sizes_arr
    if unfilled.any():
        assert quotas.max() - quotas[unfilled].min() <= 1 or quotas[unfilled].min() == quotas[unfilled].max()


def test_ccs_cuts_the_hardest_and_covers_all_bins():
    rng = np.random.default_rng(0)
    scores = rng.random(10_000)
    chosen = select_indices(scores, keep=0.1, strategy="ccs", beta=0.1, n_bins=10, seed=0)
    assert chosen.size == 1000
    assert scores[chosen].max() <= np.quantile(scores, 0.9) + 1e-9  # the 10% hardest are cut
    bins = np.histogram(scores[chosen], bins=10, range=(scores.min(), np.quantile(scores, 0.9)))[0]
    assert bins.min() > 50  # every score region is covered, not only the easy end


def test_ccs_hard_cutoff_floors_like_the_reference():
    # Zheng et al.'s code cuts int(mis_ratio * n) hardest rows: 19 of 199 at beta 0.1 (round() would cut 20).
    scores = np.arange(199, dtype=np.float64)  # row i is the i-th easiest
    picked = set()
    for seed in range(5):  # 179 of the 180-row pool 0..179 (with round(): all of 0..178, never 179)
        chosen = select_indices(scores, keep=179 / 199, strategy="ccs", beta=0.1, n_bins=1, seed=seed)
        assert chosen.size == 179 and chosen.max() <= 179
        picked.update(chosen.tolist())
    assert 179 in picked


def test_ccs_exact_budget_with_skewed_bins():
    scores = np.r_[np.zeros(5), np.ones(995)]
    for keep in (0.01, 0.5, 0.99, 1.0):
        assert select_indices(scores, keep=keep, strategy="ccs").size == resolve_keep(keep, 1000)


@pytest.mark.parametrize("bad", [0, 1.5, -0.1, True, float("nan"), "0.5", None])
def test_bad_keep_is_rejected_with_the_parameter_named(bad):
    with pytest.raises(DataprunerError, match="keep="):
        select_indices([0.1, 0.2], keep=bad)


def test_bad_inputs():
    with pytest.raises(DataprunerError, match="NaN"):
        select_indices([0.1, float("nan")], keep=0.5)
    with pytest.raises(DataprunerError, match="strategy="):
        select_indices([0.1, 0.2], keep=0.5, strategy="nope")
    with pytest.raises(DataprunerError, match="needs labels"):
        select_indices([0.1, 0.2], keep=0.5, strategy="balanced")
    with pytest.raises(DataprunerError, match="empty"):
        select_indices([], keep=0.5)
