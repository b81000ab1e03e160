"""Reference baselines through ``torch.nn.utils.prune``: random and L1 per layer, L1 global, and N:M magnitude.

Every function prunes the given Linear modules in place and makes the pruning permanent
(``prune.remove``): the zeros stay in ``weight`` and the re-parametrisation is dropped.
"""
from __future__ import annotations

from typing import Any

from eval.errors import EvalError
from eval.weights.masks import check_sparsity, nm_mask

__all__ = ["random_unstructured", "l1_unstructured", "global_l1_unstructured", "magnitude_nm", "apply_mask"]


def _check_modules(modules: dict[str, Any]) -> None:
    if not modules:
        raise EvalError("modules={} is not valid: pass at least one nn.Linear to prune.")


def random_unstructured(modules: dict[str, Any], sparsity: float, *, seed: int = 0) -> None:
    """Prune ``round(sparsity * numel)`` random weights of each module (``prune.random_unstructured``)."""
    import torch
    import torch.nn.utils.prune as prune

    _check_modules(modules)
    sparsity = check_sparsity(sparsity)
    torch.manual_seed(seed)
    for module in modules.values():
        prune.random_unstructured(module, "weight", amount=sparsity)
        prune.remove(module, "weight")


def l1_unstructured(modules: dict[str, Any], sparsity: float) -> None:
    """Prune the smallest-magnitude ``sparsity`` fraction of each module (``prune.l1_unstructured``)."""
    import torch.nn.utils.prune as prune

    _check_modules(modules)
    sparsity = check_sparsity(sparsity)
    for module in modules.values():
        prune.l1_unstructured(module, "weight", amount=sparsity)
        prune.remove(module, "weight")


def global_l1_unstructured(modules: dict[str, Any], sparsity: float) -> None:
    """Prune the smallest-magnitude ``sparsity`` fraction over all modules together (``prune.global_unstructured``)."""
    import torch.nn.utils.prune as prune

    _check_modules(modules)
    sparsity = check_sparsity(sparsity)
    params = [(module, "weight") for module in modules.values()]
    prune.global_unstructured(params, pruning_method=prune.L1Unstructured, amount=sparsity)
    for module in modules.values():
        prune.remove(module, "weight")


def apply_mask(module: Any, mask: Any) -> None:
    """Apply a keep-mask to ``module.weight`` through ``prune.custom_from_mask`` and make it permanent."""
    import torch.nn.utils.prune as prune

    prune.custom_from_mask(module, "weight", mask)
    prune.remove(module, "weight")


def magnitude_nm(modules: dict[str, Any], n: int, m: int) -> None:
    """Keep the ``n`` largest-magnitude weights in every group of ``m`` consecutive inputs of each output row."""
    _check_modules(modules)
    for module in modules.values():
        apply_mask(module, nm_mask(module.weight.detach().abs(), n, m))
