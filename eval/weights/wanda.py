"""Wanda (Sun et al., 2023): prune by ``|W_ij| * ||X_j||_2``, compared within each output row.

``X_j`` is the j-th input feature of the layer over all calibration tokens. Unlike magnitude pruning the
comparison group is the output row ``i`` (the paper's per-output comparison), not the whole layer; with an N:M
pattern the group is ``m`` consecutive inputs of a row. (torchao's ``WandaSparsifier`` compares over the whole
tensor, which the paper reports as worse.)
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eval.weights.magnitude import apply_mask
from eval.weights.masks import check_nm, check_sparsity, nm_mask, row_mask

__all__ = ["wanda_scores", "wanda_mask", "prune_wanda"]


def wanda_scores(weight: Any, input_norm: Any) -> Any:
    """Return ``|W| * ||X||_2`` broadcast over rows; shape of ``weight`` ``(out, in)``."""
    return weight.detach().abs() * input_norm.to(weight.dtype).reshape(1, -1)


def wanda_mask(weight: Any, input_norm: Any, *, sparsity: float | None = None,
               nm: tuple[int, int] | None = None) -> Any:
    """Keep-mask of Wanda: per output row at ``sparsity``, or per N:M group when ``nm=(n, m)`` is given."""
    scores = wanda_scores(weight, input_norm)
    if nm is not None:
        return nm_mask(scores, *check_nm(*nm))
    return row_mask(scores, check_sparsity(sparsity if sparsity is not None else 0.0))


def prune_wanda(bert: Any, batches: Sequence[dict[str, Any]], *, sparsity: float | None = None,
                nm: tuple[int, int] | None = None) -> None:
    """Prune every encoder Linear of ``bert`` in place with Wanda, layer by layer on calibration ``batches``."""
    from eval.weights.calibration import sequential_calibrate

    if nm is None:
        check_sparsity(sparsity if sparsity is not None else 0.0)
    else:
        check_nm(*nm)

    def prune_layer(_index: int, linears: dict[str, Any], stats: dict) -> None:
        for name, module in linears.items():
            apply_mask(module, wanda_mask(module.weight, stats[name].norm, sparsity=sparsity, nm=nm))

    sequential_calibrate(bert, batches, prune_layer)
