"""SparseGPT (Frantar & Alistarh, 2023): one-shot pruning with OBS weight updates.

For a Linear layer with weight ``W`` (rows = outputs) and calibration inputs ``X``, the layer-wise Hessian is
``H = 2/n X^T X``. Columns are processed left to right in blocks of ``blocksize`` (128): inside a block the
mask is chosen adaptively from ``w^2 / [H^-1]_jj^2`` (per block for unstructured sparsity, per ``m`` columns for
N:M), each pruned weight's error is spread over the not-yet-processed columns of its row with the row of the
upper Cholesky factor of ``H^-1`` (the paper's row-wise Cholesky trick), and the accumulated error of a block
is applied to all later columns at once (lazy batch update). ``H`` is dampened by 1% of its mean diagonal.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eval.errors import EvalError
from eval.weights.masks import check_nm, check_sparsity

__all__ = ["sparsegpt_layer", "prune_sparsegpt"]


def sparsegpt_layer(weight: Any, hessian: Any, *, sparsity: float | None = None,
                    nm: tuple[int, int] | None = None, blocksize: int = 128,
                    percdamp: float = 0.01) -> tuple[Any, Any]:
    """Return ``(new_weight, keep_mask)`` for one layer; the input tensors are not modified.

    Args:
        weight: Layer weight, shape ``(out, in)``.
        hessian: ``2/n X^T X``, shape ``(in, in)``.
        sparsity: Fraction pruned (unstructured), in [0, 1). Ignored when ``nm`` is given.
        nm: ``(n, m)``: keep ``n`` of every ``m`` consecutive inputs of each row; the number of inputs must
            divide by ``m`` (``EvalError`` otherwise, as Wanda's ``nm_mask``).
        blocksize: Columns per lazy-update block (the paper uses 128).
        percdamp: Dampening, as a fraction of the mean diagonal of ``H``.
    """
    import torch

    if nm is not None:
        n_keep, m = check_nm(*nm)
        if blocksize % m:
            raise EvalError(f"blocksize={blocksize} is not valid for m={m}: it must divide by m.")
        if weight.dim() != 2 or weight.shape[1] % m:  # a short last group would lose all its columns
            raise EvalError(f"weight.shape={tuple(weight.shape)} is not valid for m={m}: columns must divide by m.")
    else:
        sparsity = check_sparsity(sparsity if sparsity is not None else 0.0)
    if not 0 <= percdamp < 1:
        raise EvalError(f"percdamp={percdamp!r} is not valid: use a fraction in [0, 1).")

    W = weight.detach().to(torch.float64).clone()
    H = hessian.detach().to(torch.float64).clone()
    rows, cols = W.shape
    dead = torch.diag(H) == 0
    H[dead, dead] = 1.0
    W[:, dead] = 0.0
    damp = percdamp * torch.mean(torch.diag(H))
    H += damp * torch.eye(cols, dtype=H.dtype)
    Hinv = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(H)), upper=True)

    Hinv = Hinv.to(torch.float32)  # the factorisation is done in float64, the sweep in float32
    W = W.to(torch.float32)
    keep = torch.ones_like(W, dtype=torch.bool)
    for i1 in range(0, cols, blocksize):
        i2 = min(i1 + blocksize, cols)
        W1 = W[:, i1:i2].clone()
        Err1 = torch.zeros_like(W1)
        Hinv1 = Hinv[i1:i2, i1:i2]
        d = torch.diag(Hinv1)
        prune1 = torch.zeros_like(W1, dtype=torch.bool)
        if nm is None:
            k = int(round(sparsity * W1.numel()))
            if k:
                saliency = (W1 ** 2 / d.reshape(1, -1) ** 2).flatten()
                prune1.view(-1)[torch.topk(saliency, k, largest=False).indices] = True
        for i in range(i2 - i1):
            if nm is not None and i % m == 0:
                saliency = W1[:, i:i + m] ** 2 / d[i:i + m].reshape(1, -1) ** 2
                prune1[:, i:i + m].scatter_(1, torch.topk(saliency, m - n_keep, dim=1, largest=False).indices,
                                            True)
            # err = (w - q) / d with q = w except at pruned entries, where q = 0
            err = torch.where(prune1[:, i], W1[:, i], 0.0) / d[i]
            # after this update column i equals q, and only columns > i change later
            W1[:, i:].addr_(err, Hinv1[i, i:], alpha=-1.0)
            Err1[:, i] = err
        W[:, i1:i2] = W1
        keep[:, i1:i2] = ~prune1
        W[:, i2:] -= Err1 @ Hinv[i1:i2, i2:]
    W[~keep] = 0.0
    return W.to(weight.dtype), keep


def prune_sparsegpt(bert: Any, batches: Sequence[dict[str, Any]], *, sparsity: float | None = None,
                    nm: tuple[int, int] | None = None, blocksize: int = 128, percdamp: float = 0.01) -> None:
    """Prune every encoder Linear of ``bert`` in place with SparseGPT, layer by layer on calibration ``batches``."""
    import torch

    from eval.weights.calibration import sequential_calibrate

    if nm is None:
        check_sparsity(sparsity if sparsity is not None else 0.0)
    else:
        check_nm(*nm)

    def prune_layer(_index: int, linears: dict[str, Any], stats: dict) -> None:
        for name, module in linears.items():
            new_weight, _ = sparsegpt_layer(module.weight, stats[name].hessian, sparsity=sparsity, nm=nm,
                                            blocksize=blocksize, percdamp=percdamp)
            with torch.no_grad():
                module.weight.copy_(new_weight)

    sequential_calibrate(bert, batches, prune_layer, hessian=True)
