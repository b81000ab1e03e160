"""Exact-sparsity masks: one tensor at a time, one output row at a time, or N:M groups.

A mask is a bool tensor shaped like the weight; ``True`` marks a weight that is **kept**.
Lower scores are pruned first; ties are broken by position (``torch.topk`` on the scores), so the count of
pruned entries is always exact.
"""
from __future__ import annotations

import torch

from eval.errors import EvalError

__all__ = ["check_sparsity", "check_nm", "n_to_prune", "tensor_mask", "row_mask", "nm_mask", "sparsity_of"]


def check_sparsity(sparsity: float) -> float:
    """Return ``sparsity`` as a float, or raise EvalError unless it lies in [0, 1)."""
    if isinstance(sparsity, bool) or not isinstance(sparsity, (int, float)) or not 0 <= sparsity < 1:
        raise EvalError(f"sparsity={sparsity!r} is not valid: use a fraction in [0, 1).")
    return float(sparsity)


def check_nm(n: int, m: int) -> tuple[int, int]:
    """Validate an N:M pattern (keep ``n`` of every ``m`` consecutive input weights)."""
    for name, value in (("n", n), ("m", m)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise EvalError(f"{name}={value!r} is not valid: use a positive int for the N:M pattern.")
    if n >= m:
        raise EvalError(f"n={n} is not valid for m={m}: an N:M pattern keeps n < m weights per group.")
    return n, m


def n_to_prune(numel: int, sparsity: float) -> int:
    """Number of entries pruned out of ``numel`` at ``sparsity`` (rounded, as ``torch.nn.utils.prune`` does)."""
    return int(round(check_sparsity(sparsity) * numel))


def tensor_mask(scores: torch.Tensor, sparsity: float) -> torch.Tensor:
    """Keep-mask that prunes the ``round(sparsity * numel)`` lowest scores of the whole tensor."""
    k = n_to_prune(scores.numel(), sparsity)
    mask = torch.ones(scores.numel(), dtype=torch.bool, device=scores.device)
    if k:
        mask[torch.topk(scores.flatten(), k, largest=False).indices] = False
    return mask.view_as(scores)


def row_mask(scores: torch.Tensor, sparsity: float) -> torch.Tensor:
    """Keep-mask that prunes the ``round(sparsity * n_cols)`` lowest scores within each row (output unit)."""
    if scores.dim() != 2:
        raise EvalError(f"scores.dim()={scores.dim()} is not valid: row masks need a 2-D weight.")
    k = n_to_prune(scores.shape[1], sparsity)
    mask = torch.ones_like(scores, dtype=torch.bool)
    if k:
        mask.scatter_(1, torch.topk(scores, k, dim=1, largest=False).indices, False)
    return mask


def nm_mask(scores: torch.Tensor, n: int, m: int) -> torch.Tensor:
    """Keep-mask that keeps the ``n`` highest scores in every group of ``m`` consecutive columns of each row."""
    n, m = check_nm(n, m)
    if scores.dim() != 2 or scores.shape[1] % m:
        raise EvalError(f"scores.shape={tuple(scores.shape)} is not valid for m={m}: columns must divide by m.")
    groups = scores.reshape(-1, m)
    mask = torch.zeros_like(groups, dtype=torch.bool)
    mask.scatter_(1, torch.topk(groups, n, dim=1).indices, True)
    return mask.view_as(scores)


def sparsity_of(tensors: list[torch.Tensor]) -> float:
    """Fraction of exact zeros over a list of tensors."""
    total = sum(t.numel() for t in tensors)
    zeros = sum(int((t == 0).sum()) for t in tensors)
    return zeros / total if total else 0.0
