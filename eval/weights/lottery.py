"""Lottery tickets (Frankle & Carbin, 2019): iterative magnitude pruning with weight rewinding.

Each round trains the masked network, prunes ``rate`` of the surviving weights of every layer by magnitude
(``torch.nn.utils.prune.l1_unstructured`` on the already-masked layer, so the fraction is of the survivors; the
output layer at half the rate, as in the paper), then rewinds the survivors to their values at initialisation
(``rewind="init"``) or re-initialises them at random (``rewind="random"``, the paper's control).
"""
from __future__ import annotations

import copy
from typing import Any, Literal

from eval.errors import EvalError

__all__ = ["prunable", "rewind_to", "iterative_magnitude_pruning", "weight_sparsity"]


def prunable(model: Any) -> list[Any]:
    """The Linear layers of ``model`` (weights only are pruned)."""
    import torch.nn as nn

    return [m for m in model.modules() if isinstance(m, nn.Linear)]


def weight_sparsity(model: Any) -> float:
    """Fraction of zero weights over the Linear layers (biases excluded)."""
    layers = prunable(model)
    total = sum(m.weight.numel() for m in layers)
    return sum(int((m.weight == 0).sum()) for m in layers) / total


def rewind_to(model: Any, state: dict[str, Any]) -> None:
    """Set every (masked) weight and bias back to ``state`` (a ``state_dict`` of the unpruned model); masks stay."""
    import torch

    with torch.no_grad():
        for name, module in model.named_modules():
            for pname in ("weight", "bias"):
                key = f"{name}.{pname}"
                if key not in state:
                    continue
                target = getattr(module, pname + "_orig", None)
                if target is None:
                    target = getattr(module, pname)
                target.copy_(state[key])


def iterative_magnitude_pruning(model: Any, train: Any, *, rounds: int, rate: float = 0.2,
                                rewind: Literal["init", "random"] = "init", seed: int = 0,
                                evaluate: Any = None) -> list[dict[str, float]]:
    """Run IMP on ``model`` in place; return one record per round ``{"round", "sparsity", "accuracy"}``.

    Args:
        model: A freshly initialised network; its current weights are the rewinding point.
        train: ``train(model) -> None``, trains in place (the same schedule every round).
        rounds: Pruning rounds after the first dense training (round 0 is the dense network).
        rate: Fraction of surviving weights pruned per round in hidden layers (output layer: ``rate / 2``).
        rewind: ``"init"`` rewinds survivors to the initial weights; ``"random"`` draws fresh random ones.
        seed: Seed of the random re-initialisations.
        evaluate: ``evaluate(model) -> float`` accuracy after each training.
    """
    import torch.nn.utils.prune as prune

    if rewind not in ("init", "random"):
        raise EvalError(f"rewind={rewind!r} is not valid: use 'init' or 'random'.")
    if not 0 < rate < 1:
        raise EvalError(f"rate={rate!r} is not valid: use a fraction in (0, 1).")
    init_state = copy.deepcopy(model.state_dict())
    layers = prunable(model)
    records = []
    for rnd in range(rounds + 1):
        train(model)
        records.append({"round": rnd, "sparsity": weight_sparsity(model),
                        "accuracy": evaluate(model) if evaluate is not None else float("nan")})
        if rnd == rounds:
            break
        for i, layer in enumerate(layers):
            prune.l1_unstructured(layer, "weight", amount=rate / 2 if i == len(layers) - 1 else rate)
        if rewind == "init":
            rewind_to(model, init_state)
        else:
            rewind_to(model, _random_state(model, seed + 1000 * (rnd + 1)))
    return records


def _random_state(model: Any, seed: int) -> dict[str, Any]:
    """A fresh default initialisation of ``model``'s Linear layers, as a state dict keyed like the unpruned model."""
    import torch
    import torch.nn as nn

    torch.manual_seed(seed)
    state = {}
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            fresh = nn.Linear(module.in_features, module.out_features, bias=module.bias is not None)
            state[f"{name}.weight"] = fresh.weight.detach()
            if module.bias is not None:
                state[f"{name}.bias"] = fresh.bias.detach()
    return state
