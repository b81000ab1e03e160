"""Wanda compares within output rows; SparseGPT beats magnitude on layer reconstruction (issue 8)."""
from __future__ import annotations

import pytest
import torch

from eval.errors import EvalError
from eval.weights import calibration, encoder, wanda
from eval.weights.masks import sparsity_of
from eval.weights.sparsegpt import prune_sparsegpt, sparsegpt_layer
from tests.eval._weights_helpers import hidden, tiny_batches, tiny_bert


def test_wanda_compares_within_output_rows_not_the_whole_layer() -> None:
    # Row 0 has large weights, row 1 small ones. A per-layer comparison would prune all of row 1;
    # Wanda prunes half of each row, and inside a row the input norm decides.
    weight = torch.tensor([[10.0, 9.0, 8.0, 7.0], [0.4, 0.3, 0.2, 0.1]])
    norm = torch.tensor([1.0, 1.0, 1.0, 100.0])  # input 3 is loud
    mask = wanda.wanda_mask(weight, norm, sparsity=0.5)
    assert mask.tolist() == [[True, False, False, True], [True, False, False, True]]
    per_layer = (weight.abs() * norm).flatten().argsort()[:4]  # what a per-layer comparison would prune
    assert set(per_layer.tolist()) != {1, 2, 5, 6}
    assert ((~mask).sum(1) == 2).all()


def test_wanda_nm_mask_and_bad_values() -> None:
    weight, norm = torch.randn(8, 16), torch.rand(16)
    mask = wanda.wanda_mask(weight, norm, nm=(2, 4))
    assert (mask.reshape(8, 4, 4).sum(-1) == 2).all()
    with pytest.raises(EvalError, match="sparsity"):
        wanda.wanda_mask(weight, norm, sparsity=-0.1)


def test_statistics_ignore_padding_tokens() -> None:
    lin = torch.nn.Linear(3, 2)
    x = torch.tensor([[[1.0, 2.0, 3.0], [100.0, 100.0, 100.0]]])  # second token is padding
    stats = calibration._record({"l": lin}, [lambda: lin(x)], [torch.tensor([[1, 0]])], hessian=True)["l"]
    assert stats.n_tokens == 1
    assert torch.allclose(stats.sq_sum, torch.tensor([1.0, 4.0, 9.0], dtype=torch.float64))
    assert torch.allclose(stats.hessian, 2 * torch.tensor([[1.0, 2, 3], [2, 4, 6], [3, 6, 9]], dtype=torch.float64))


def test_prune_wanda_on_tiny_bert_is_exact_per_row_and_changes_outputs_little() -> None:
    model, batches = tiny_bert(), tiny_batches()
    dense = hidden(model, batches)
    wanda.prune_wanda(model, batches, sparsity=0.5)
    for module in encoder.encoder_linears(model).values():
        assert ((module.weight == 0).sum(1) == module.in_features // 2).all()
    assert not torch.allclose(hidden(model, batches), dense)


def _layer_problem(seed: int = 0, rows: int = 32, cols: int = 256, tokens: int = 1024):
    g = torch.Generator().manual_seed(seed)
    # correlated inputs with uneven scales: the regime where second-order updates matter
    x = torch.randn(tokens, cols, generator=g) @ (torch.randn(cols, cols, generator=g) / cols ** 0.5)
    x = x * torch.rand(cols, generator=g) * 3
    w = torch.randn(rows, cols, generator=g)
    return w, x, 2 * x.T.double() @ x.double() / tokens


@pytest.mark.parametrize("spec", [{"sparsity": 0.5}, {"sparsity": 0.7}, {"nm": (2, 4)}])
def test_sparsegpt_reduces_reconstruction_error_vs_magnitude(spec: dict) -> None:
    w, x, h = _layer_problem()
    new_w, keep = sparsegpt_layer(w, h, **spec)
    if "nm" in spec:
        assert (keep.reshape(32, -1, 4).sum(-1) == 2).all()
        mag_keep = torch.zeros_like(w, dtype=torch.bool).reshape(32, -1, 4)
        mag_keep.scatter_(2, w.abs().reshape(32, -1, 4).topk(2, dim=-1).indices, True)
        mag_keep = mag_keep.reshape_as(w)
    else:
        assert int((~keep).sum()) == round(spec["sparsity"] * w.numel())
        k = round(spec["sparsity"] * w.numel())
        mag_keep = torch.ones(w.numel(), dtype=torch.bool)
        mag_keep[w.abs().flatten().topk(k, largest=False).indices] = False
        mag_keep = mag_keep.reshape_as(w)
    assert torch.equal(new_w == 0, ~keep) or bool(((new_w != 0) <= keep).all())
    err_sgpt = ((new_w - w) @ x.T).pow(2).mean()
    err_mag = ((w * mag_keep - w) @ x.T).pow(2).mean()
    assert err_sgpt < 0.8 * err_mag


def test_sparsegpt_without_updates_would_not_win() -> None:
    # known-bad twin: SparseGPT's mask with the original (non-updated) weights is worse than the real output
    w, x, h = _layer_problem(seed=1)
    new_w, keep = sparsegpt_layer(w, h, sparsity=0.5)
    err_real = ((new_w - w) @ x.T).pow(2).mean()
    err_twin = ((w * keep - w) @ x.T).pow(2).mean()
    assert err_real < err_twin


def test_prune_sparsegpt_on_tiny_bert_hits_sparsity() -> None:
    model, batches = tiny_bert(), tiny_batches()
    prune_sparsegpt(model, batches, sparsity=0.5, blocksize=16)
    weights = [m.weight for m in encoder.encoder_linears(model).values()]
    assert abs(sparsity_of(weights) - 0.5) < 1e-9
    with pytest.raises(EvalError, match="blocksize"):
        sparsegpt_layer(torch.randn(4, 8), torch.eye(8), nm=(2, 3), blocksize=8)


@pytest.mark.parametrize("nm", [(2, 4), (1, 4)])
def test_sparsegpt_nm_rejects_columns_not_divisible_by_m(nm: tuple[int, int]) -> None:
    # 6 columns in groups of 4: the short last group lost all its columns (2:4) or crashed in topk (1:4)
    g = torch.Generator().manual_seed(0)
    w, x = torch.randn(4, 6, generator=g), torch.randn(100, 6, generator=g)
    h = 2 * x.T @ x / 100
    with pytest.raises(EvalError, match=r"weight\.shape=\(4, 6\) is not valid for m=4: columns must divide by m"):
        sparsegpt_layer(w, h, nm=nm, blocksize=4)
    with pytest.raises(EvalError, match=r"shape=\(4, 6\) is not valid for m=4: columns must divide by m"):
        wanda.wanda_mask(w, x.norm(dim=0), nm=nm)  # the same kind of error as Wanda's
    w8, x8 = torch.randn(4, 8, generator=g), torch.randn(100, 8, generator=g)
    _, keep = sparsegpt_layer(w8, 2 * x8.T @ x8 / 100, nm=nm, blocksize=4)
    assert (keep.reshape(4, 2, 4).sum(-1) == nm[0]).all()
