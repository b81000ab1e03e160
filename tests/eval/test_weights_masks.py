"""Exact sparsity and N:M patterns of the mask helpers and the torch.nn.utils.prune wrappers (issue 8)."""
from __future__ import annotations

import pytest
import torch

from eval.errors import EvalError
from eval.weights import magnitude
from eval.weights.masks import nm_mask, row_mask, sparsity_of, tensor_mask


@pytest.mark.parametrize("sparsity", [0.0, 0.3, 0.5, 0.7, 0.9])
def test_tensor_and_row_masks_hit_exact_sparsity(sparsity: float) -> None:
    scores = torch.randn(24, 40)
    assert int((~tensor_mask(scores, sparsity)).sum()) == round(sparsity * scores.numel())
    rm = row_mask(scores, sparsity)
    assert ((~rm).sum(1) == round(sparsity * 40)).all()  # exact in every row


def test_masks_prune_the_lowest_scores() -> None:
    scores = torch.arange(12.0).reshape(3, 4)
    assert tensor_mask(scores, 0.5).flatten().tolist() == [False] * 6 + [True] * 6
    assert row_mask(scores, 0.5).tolist() == [[False, False, True, True]] * 3


@pytest.mark.parametrize("n,m", [(2, 4), (4, 8), (1, 4)])
def test_nm_pattern_holds_in_every_group(n: int, m: int) -> None:
    scores = torch.randn(16, 64)
    mask = nm_mask(scores, n, m)
    groups = mask.reshape(16, -1, m)
    assert (groups.sum(-1) == n).all()
    kept_min = torch.where(groups, scores.reshape(16, -1, m), torch.inf).amin(-1)
    dropped_max = torch.where(~groups, scores.reshape(16, -1, m), -torch.inf).amax(-1)
    assert (kept_min >= dropped_max).all()  # the n largest of each group are kept


def test_bad_values_raise_eval_error_naming_the_parameter() -> None:
    with pytest.raises(EvalError, match="sparsity=1.5"):
        tensor_mask(torch.randn(3, 3), 1.5)
    with pytest.raises(EvalError, match="n=4"):
        nm_mask(torch.randn(4, 8), 4, 4)
    with pytest.raises(EvalError, match="m=4"):
        nm_mask(torch.randn(4, 6), 2, 4)
    with pytest.raises(EvalError, match="sparsity=True"):
        row_mask(torch.randn(3, 3), True)


def _linears(seed: int = 0) -> dict[str, torch.nn.Linear]:
    torch.manual_seed(seed)
    return {"a": torch.nn.Linear(32, 16), "b": torch.nn.Linear(16, 8), "c": torch.nn.Linear(64, 32)}


@pytest.mark.parametrize("prune_fn", [magnitude.l1_unstructured, magnitude.random_unstructured])
def test_per_layer_pruning_is_exact_in_each_layer(prune_fn) -> None:
    layers = _linears()
    prune_fn(layers, 0.5)
    for layer in layers.values():
        assert int((layer.weight == 0).sum()) == layer.weight.numel() // 2
        assert not hasattr(layer, "weight_orig")  # made permanent


def test_global_magnitude_is_exact_overall_and_uneven_per_layer() -> None:
    layers = _linears()
    with torch.no_grad():
        layers["c"].weight.mul_(10)  # one layer with much larger weights keeps more of them
    magnitude.global_l1_unstructured(layers, 0.5)
    weights = [m.weight for m in layers.values()]
    total = sum(w.numel() for w in weights)
    assert sum(int((w == 0).sum()) for w in weights) == round(0.5 * total)
    assert sparsity_of([layers["c"].weight]) < 0.5 < sparsity_of([layers["a"].weight])


def test_magnitude_nm_keeps_largest_per_group() -> None:
    layers = _linears()
    before = {k: m.weight.detach().clone() for k, m in layers.items()}
    magnitude.magnitude_nm(layers, 2, 4)
    for k, layer in layers.items():
        nz = (layer.weight != 0).reshape(layer.weight.shape[0], -1, 4)
        assert (nz.sum(-1) == 2).all()
        assert torch.equal(layer.weight[layer.weight != 0], before[k][layer.weight != 0])
