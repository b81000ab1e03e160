"""Structured pruning physically shrinks the layers and equals the masked dense model (issue 8)."""
from __future__ import annotations

import copy

import pytest
import torch

from eval.errors import EvalError
from eval.weights import structured
from tests.eval._weights_helpers import hidden, tiny_batches, tiny_bert


def _masked_dense(model, kept: dict, d: int):
    """Zero the output-projection columns of removed heads and FFN neurons: the same function, dense shapes."""
    masked = copy.deepcopy(model)
    with torch.no_grad():
        for layer, heads, ffn in zip(masked.encoder.layer, kept["heads"], kept["ffn"]):
            n_heads = layer.attention.self.query.out_features // d
            for h in set(range(n_heads)) - set(heads):
                layer.attention.output.dense.weight[:, h * d:(h + 1) * d] = 0
            gone = sorted(set(range(layer.intermediate.dense.out_features)) - set(ffn))
            layer.output.dense.weight[:, gone] = 0
    return masked


@pytest.mark.parametrize("method", ["magnitude", "wanda", "flap"])
def test_structured_pruning_shrinks_layers_and_equals_masked_dense(method: str) -> None:
    model, batches = tiny_bert(), tiny_batches()
    reference = copy.deepcopy(model)
    kept = structured.prune_structured(model, batches, sparsity=0.5, method=method, bias_compensation=False)
    for layer in model.encoder.layer:
        assert layer.attention.self.query.weight.shape == (16, 32)  # 2 of 4 heads of size 8
        assert layer.attention.output.dense.weight.shape == (32, 16)
        assert layer.intermediate.dense.weight.shape == (32, 32)  # 32 of 64 neurons
        assert layer.output.dense.weight.shape == (32, 32)
        assert structured.n_heads(layer) == 2
    assert [len(h) for h in kept["heads"]] == [2, 2] and [len(f) for f in kept["ffn"]] == [32, 32]
    masked = _masked_dense(reference, kept, d=8)
    torch.testing.assert_close(hidden(model, batches), hidden(masked, batches), atol=1e-5, rtol=1e-4)
    assert not torch.allclose(hidden(model, batches), hidden(reference, batches), atol=1e-3)


def test_bias_compensation_replaces_removed_channels_by_their_mean() -> None:
    layer = tiny_bert().encoder.layer[0]
    act = torch.randn(10, 64)
    mean = act.mean(0).double()
    w, b = layer.output.dense.weight.detach().clone(), layer.output.dense.bias.detach().clone()
    keep = list(range(0, 64, 2))
    structured.remove_ffn_neurons(layer, keep, mean=mean)
    removed = list(range(1, 64, 2))
    expected = act[:, keep] @ w[:, keep].T + b + (w[:, removed] @ act.mean(0)[removed])
    torch.testing.assert_close(layer.output.dense(act[:, keep]), expected, atol=1e-5, rtol=1e-5)


def test_flap_and_wanda_scores_use_activations() -> None:
    layer = tiny_bert().encoder.layer[0]
    model, batches = tiny_bert(), tiny_batches()
    from eval.weights.calibration import collect_stats

    stats = collect_stats(model, batches, {"ffn": model.encoder.layer[0].output.dense})["ffn"]
    flap = structured.ffn_scores(model.encoder.layer[0], "flap", stats)
    stats.sum[:] = 0
    stats.sq_sum[:5] = 0  # silence five channels: zero fluctuation and zero norm
    assert (structured.ffn_scores(model.encoder.layer[0], "flap", stats)[:5] == 0).all()
    assert (structured.ffn_scores(model.encoder.layer[0], "wanda", stats)[:5] == 0).all()
    assert flap.shape == (64,) and structured.head_scores(layer, "magnitude").shape == (4,)


def test_bad_options_raise() -> None:
    model = tiny_bert()
    with pytest.raises(EvalError, match="method='l2'"):
        structured.prune_structured(model, None, sparsity=0.5, method="l2")
    with pytest.raises(EvalError, match="needs calibration batches"):
        structured.prune_structured(model, None, sparsity=0.5, method="flap")
    with pytest.raises(EvalError, match="keep"):
        structured.remove_heads(model.encoder.layer[0], [])
