"""Structured pruning of a BERT encoder: FFN neurons and attention heads physically removed.

Removing FFN neuron ``j`` of a layer drops row ``j`` of ``intermediate.dense`` and column ``j`` of
``output.dense``; removing head ``h`` drops its rows of ``query``/``key``/``value`` and its columns of
``attention.output.dense``. The Linear layers become smaller, so the speed-up is real on any backend.

Scores (higher = more important), per layer, with the same fraction removed in every layer:

- ``"magnitude"``: L2 norm of all weights attached to the unit;
- ``"wanda"``: ``sum_i |W_ij| * ||X_j||_2`` over the unit's input channels ``j`` of the output projection;
- ``"flap"`` (An et al., 2024): fluctuation ``Var(X_j) * ||W_:,j||_2^2`` summed over the unit's channels, and
  the removed channels are replaced by their calibration mean in the bias (``b += W_:,pruned @ mean(X_pruned)``).

Heads use the same statistics on the input channels of ``attention.output.dense`` (the concatenated head
contexts), summed over the head's channels.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from eval.errors import EvalError
from eval.weights.masks import check_sparsity

__all__ = ["STRUCTURED_METHODS", "ffn_scores", "head_scores", "remove_ffn_neurons", "remove_heads",
           "prune_structured", "n_heads"]

STRUCTURED_METHODS = ("magnitude", "wanda", "flap")


def _check_method(method: str) -> None:
    if method not in STRUCTURED_METHODS:
        raise EvalError(f"method={method!r} is not valid: use one of {sorted(STRUCTURED_METHODS)}.")


def n_heads(layer: Any) -> int:
    """Number of attention heads a (possibly pruned) BERT layer still has."""
    sa = layer.attention.self
    return sa.query.out_features // sa.attention_head_size


def ffn_scores(layer: Any, method: str, stats: Any = None) -> Any:
    """Importance of each FFN neuron, shape ``(intermediate_size,)``; ``stats`` are the output.dense inputs."""
    _check_method(method)
    w_in = layer.intermediate.dense.weight.detach().double()
    w_out = layer.output.dense.weight.detach().double()
    if method == "magnitude":
        return (w_in.pow(2).sum(1) + w_out.pow(2).sum(0)).sqrt()
    if stats is None:
        raise EvalError(f"method={method!r} needs calibration statistics: pass stats.")
    if method == "wanda":
        return (w_out.abs() * stats.norm.reshape(1, -1)).sum(0)
    return stats.fluctuation * w_out.pow(2).sum(0)


def head_scores(layer: Any, method: str, stats: Any = None) -> Any:
    """Importance of each attention head, shape ``(n_heads,)``; ``stats`` are the attention.output.dense inputs."""
    _check_method(method)
    sa = layer.attention.self
    d = sa.attention_head_size
    w_o = layer.attention.output.dense.weight.detach().double()
    if method == "magnitude":
        qkv = sum(m.weight.detach().double().pow(2).sum(1) for m in (sa.query, sa.key, sa.value))
        per_channel = qkv + w_o.pow(2).sum(0)
    elif stats is None:
        raise EvalError(f"method={method!r} needs calibration statistics: pass stats.")
    elif method == "wanda":
        per_channel = (w_o.abs() * stats.norm.reshape(1, -1)).sum(0)
    else:
        per_channel = stats.fluctuation * w_o.pow(2).sum(0)
    return per_channel.reshape(-1, d).sum(1)


def _shrink(linear: Any, *, rows: Any = None, cols: Any = None) -> None:
    import torch
    import torch.nn as nn

    with torch.no_grad():
        weight = linear.weight.detach()
        if rows is not None:
            weight = weight[rows]
            if linear.bias is not None:
                linear.bias = nn.Parameter(linear.bias.detach()[rows].clone())
        if cols is not None:
            weight = weight[:, cols]
        linear.weight = nn.Parameter(weight.clone().contiguous())
    linear.out_features, linear.in_features = linear.weight.shape


def _compensate(linear: Any, removed: Any, mean: Any) -> None:
    import torch

    if linear.bias is None or len(removed) == 0:
        return
    with torch.no_grad():
        shift = linear.weight.detach().double()[:, removed] @ mean.double()[removed]
        linear.bias += shift.to(linear.bias.dtype)


def remove_ffn_neurons(layer: Any, keep: Sequence[int], *, mean: Any = None) -> None:
    """Keep only FFN neurons ``keep`` of ``layer`` (in place); with ``mean``, compensate the removed ones in the bias."""
    import torch

    size = layer.intermediate.dense.out_features
    keep_t = torch.as_tensor(sorted(set(int(k) for k in keep)), dtype=torch.long)
    if len(keep_t) == 0 or keep_t[0] < 0 or keep_t[-1] >= size:
        raise EvalError(f"keep has {len(keep_t)} neurons in [0, {size}): keep at least one valid index.")
    removed = torch.tensor(sorted(set(range(size)) - set(keep_t.tolist())), dtype=torch.long)
    if mean is not None:
        _compensate(layer.output.dense, removed, mean)
    _shrink(layer.intermediate.dense, rows=keep_t)
    _shrink(layer.output.dense, cols=keep_t)


def remove_heads(layer: Any, keep: Sequence[int], *, mean: Any = None) -> None:
    """Keep only attention heads ``keep`` of ``layer`` (in place); with ``mean``, compensate removed heads in the bias."""
    import torch

    sa = layer.attention.self
    d = sa.attention_head_size
    heads = n_heads(layer)
    keep_h = sorted(set(int(k) for k in keep))
    if not keep_h or keep_h[0] < 0 or keep_h[-1] >= heads:
        raise EvalError(f"keep has {len(keep_h)} heads in [0, {heads}): keep at least one valid head.")
    channels = torch.tensor([h * d + i for h in keep_h for i in range(d)], dtype=torch.long)
    removed = torch.tensor([h * d + i for h in range(heads) if h not in keep_h for i in range(d)],
                           dtype=torch.long)
    if mean is not None:
        _compensate(layer.attention.output.dense, removed, mean)
    for linear in (sa.query, sa.key, sa.value):
        _shrink(linear, rows=channels)
    _shrink(layer.attention.output.dense, cols=channels)
    sa.num_attention_heads = len(keep_h)
    sa.all_head_size = len(keep_h) * d


def _top(scores: Any, n_keep: int) -> list[int]:
    import torch

    return sorted(torch.topk(scores, n_keep).indices.tolist())


def prune_structured(bert: Any, batches: Sequence[dict[str, Any]] | None, *, sparsity: float,
                     method: Literal["magnitude", "wanda", "flap"] = "magnitude", ffn: bool = True,
                     heads: bool = True, bias_compensation: bool | None = None) -> dict[str, list]:
    """Remove ``sparsity`` of the FFN neurons and heads of every encoder layer in place; return what was kept.

    Args:
        bert: A Hugging Face BERT module.
        batches: Calibration batches (needed for ``"wanda"`` and ``"flap"``; statistics are collected layer by
            layer on the already-pruned model below).
        sparsity: Fraction of units removed per layer, in [0, 1); at least one head and one neuron stay.
        method: Scoring rule, see the module docstring.
        ffn: Prune FFN neurons.
        heads: Prune attention heads.
        bias_compensation: Replace removed channels by their mean in the bias; ``None`` means ``method == "flap"``.

    Returns:
        ``{"ffn": [kept neuron indices per layer], "heads": [kept head indices per layer]}``.
    """
    from eval.weights.calibration import sequential_calibrate

    _check_method(method)
    sparsity = check_sparsity(sparsity)
    if method != "magnitude" and not batches:
        raise EvalError(f"method={method!r} needs calibration batches: pass batches.")
    compensate = (method == "flap") if bias_compensation is None else bias_compensation
    kept: dict[str, list] = {"ffn": [], "heads": []}

    def prune_layer(index: int, _linears: dict[str, Any], stats: dict[str, Any] | None) -> None:
        layer = bert.encoder.layer[index]
        attn = stats["attention.output.dense"] if stats else None
        inter = stats["output.dense"] if stats else None
        if heads:
            h = n_heads(layer)
            keep = _top(head_scores(layer, method, attn), max(1, h - int(round(sparsity * h))))
            remove_heads(layer, keep, mean=attn.mean if compensate else None)
            kept["heads"].append(keep)
        if ffn:
            size = layer.intermediate.dense.out_features
            keep = _top(ffn_scores(layer, method, inter), max(1, size - int(round(sparsity * size))))
            remove_ffn_neurons(layer, keep, mean=inter.mean if compensate else None)
            kept["ffn"].append(keep)

    if method != "magnitude" or compensate:
        sequential_calibrate(bert, batches, prune_layer)
    else:
        for index in range(len(bert.encoder.layer)):
            prune_layer(index, {}, None)
    return kept
