"""Lottery tickets (Frankle & Carbin, 2019): iterative magnitude pruning with weight rewinding.

Each round trains the masked network, prunes ``rate`` of the surviving weights of every layer by magnitude
(``torch.nn.utils.prune.l1_unstructured`` on the already-masked layer, so the fraction is of the survivors; the
output layer at half the rate, as in the paper), then rewinds the survivors to their values at initialisation.
The paper's control, random re-initialisation (``rewind="random"``), is a branch off that chain, as in the paper
and OpenLTH's ``lottery/branch/randomly_reinitialize.py``: at every level it keeps exactly the mask the IMP chain
has at that level (the winning ticket), draws a fresh random initialisation (a seed other than the original
init's) for the surviving weights and biases, and trains it with the same schedule. The control changes the
initialisation only, never the mask, and runs no pruning chain of its own.
"""
from __future__ import annotations

import copy
from typing import Any, Literal

from eval.errors import EvalError

__all__ = ["prunable", "rewind_to", "iterative_magnitude_pruning", "imp_with_random_control", "weight_sparsity"]


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
    """Set every (masked) weight and bias back to ``state`` (a ``state_dict`` of the unpruned model); masks stay.

    A pruned tensor's visible value (``orig * mask``) is refreshed at once, not only at the next forward pass.
    """
    import torch

    for name, module in model.named_modules():
        for pname in ("weight", "bias"):
            key = f"{name}.{pname}"
            if key not in state:
                continue
            target = getattr(module, pname + "_orig", None)
            with torch.no_grad():
                (target if target is not None else getattr(module, pname)).copy_(state[key])
            if target is not None and hasattr(module, pname + "_mask"):
                setattr(module, pname, target * getattr(module, pname + "_mask"))


def iterative_magnitude_pruning(model: Any, train: Any, *, rounds: int, rate: float = 0.2,
                                rewind: Literal["init", "random"] = "init", seed: int = 0,
                                evaluate: Any = None) -> list[dict[str, float]]:
    """Run IMP on ``model`` in place; return one record per level ``{"round", "sparsity", "accuracy"}``.

    With ``rewind="init"`` the records are the IMP chain's (the lottery tickets) and ``model`` ends as the
    last trained ticket. With ``rewind="random"`` the IMP chain runs on a copy and the records are the random
    re-initialisation control's: level ``k`` trains the chain's level-``k`` mask from a fresh random
    initialisation (see ``imp_with_random_control``); ``model`` ends as the last trained control network.
    To get both sets of records from one chain, call ``imp_with_random_control``.

    Args:
        model: A freshly initialised network; its current weights are the rewinding point.
        train: ``train(model) -> None``, trains in place (the same schedule every round).
        rounds: Pruning rounds after the first dense training (round 0 is the dense network).
        rate: Fraction of surviving weights pruned per round in hidden layers (output layer: ``rate / 2``).
        rewind: ``"init"`` rewinds survivors to the initial weights; ``"random"`` is the paper's control: the
            IMP chain's mask at each level with freshly drawn random weights.
        seed: Seed of the control's random initialisations (level ``k`` uses ``seed + 1000 * (k + 1)``).
        evaluate: ``evaluate(model) -> float`` accuracy after each training.
    """
    if rewind not in ("init", "random"):
        raise EvalError(f"rewind={rewind!r} is not valid: use 'init' or 'random'.")
    if rewind == "init":
        return _imp(model, train, rounds=rounds, rate=rate, seed=seed, evaluate=evaluate)[0]
    return _imp(copy.deepcopy(model), train, rounds=rounds, rate=rate, seed=seed, evaluate=evaluate,
                control=model, chain_records=False)[1]


def imp_with_random_control(model: Any, train: Any, *, rounds: int, rate: float = 0.2, seed: int = 0,
                            evaluate: Any = None) -> tuple[list[dict[str, float]], list[dict[str, float]]]:
    """Run one IMP chain (rewind to init) on ``model`` in place and branch the random re-init control off it.

    Returns ``(imp_records, control_records)``, one ``{"round", "sparsity", "accuracy"}`` per level each. At
    level ``k`` (round 0 is dense) the control takes exactly the IMP chain's level-``k`` mask, sets the
    surviving weights and the biases to a fresh default initialisation drawn with seed
    ``seed + 1000 * (k + 1)`` (never the original initialisation), and trains with the same ``train``. The
    control runs on a copy of ``model``; ``model`` ends as the last trained ticket, as with
    ``iterative_magnitude_pruning(..., rewind="init")``, whose records equal ``imp_records``.
    """
    return _imp(model, train, rounds=rounds, rate=rate, seed=seed, evaluate=evaluate,
                control=copy.deepcopy(model))


def _imp(chain: Any, train: Any, *, rounds: int, rate: float, seed: int, evaluate: Any, control: Any = None,
         chain_records: bool = True) -> tuple[list[dict[str, float]], list[dict[str, float]]]:
    """The IMP chain on ``chain``; with ``control`` (an unpruned copy of ``chain``) also the random re-init
    branch at every level. ``chain_records=False`` skips the chain's last training (only the control's records
    are wanted)."""
    import torch.nn.utils.prune as prune

    if not 0 < rate < 1:
        raise EvalError(f"rate={rate!r} is not valid: use a fraction in (0, 1).")
    init_state = copy.deepcopy(chain.state_dict())
    layers = prunable(chain)
    records: list[dict[str, float]] = []
    control_records: list[dict[str, float]] = []
    for rnd in range(rounds + 1):
        if control is not None:
            _set_masks(control, [getattr(layer, "weight_mask", None) for layer in layers])
            rewind_to(control, _fresh_state(control, seed + 1000 * (rnd + 1), init_state))
            train(control)
            control_records.append({"round": rnd, "sparsity": weight_sparsity(control),
                                    "accuracy": evaluate(control) if evaluate is not None else float("nan")})
        if rnd == rounds and not chain_records:
            break
        train(chain)
        records.append({"round": rnd, "sparsity": weight_sparsity(chain),
                        "accuracy": evaluate(chain) if evaluate is not None else float("nan")})
        if rnd == rounds:
            break
        for i, layer in enumerate(layers):
            prune.l1_unstructured(layer, "weight", amount=rate / 2 if i == len(layers) - 1 else rate)
        rewind_to(chain, init_state)
    return records, control_records


def _set_masks(model: Any, masks: list[Any]) -> None:
    """Give the Linear layers of ``model`` exactly ``masks`` (``None``: dense), replacing any mask they had."""
    import torch.nn.utils.prune as prune

    for layer, mask in zip(prunable(model), masks):
        if mask is None:
            if hasattr(layer, "weight_mask"):
                raise EvalError("a dense level cannot follow a pruned one")  # IMP masks only shrink
            continue
        if hasattr(layer, "weight_mask"):
            layer.weight_mask.copy_(mask)
        else:
            prune.custom_from_mask(layer, "weight", mask.clone())


def _fresh_state(model: Any, seed: int, init_state: dict[str, Any]) -> dict[str, Any]:
    """A fresh default initialisation of ``model``'s Linear layers, keyed like the unpruned model.

    Drawn from ``seed`` without touching the global RNG; should it reproduce a weight of ``init_state`` (the
    seed the model was built with), the next seed is used, so the control never starts from the original init.
    """
    import torch

    while True:
        state = _random_state(model, seed)
        if not any(key.endswith(".weight") and key in init_state and torch.equal(value, init_state[key])
                   for key, value in state.items()):
            return state
        seed += 1


def _random_state(model: Any, seed: int) -> dict[str, Any]:
    """A fresh default initialisation of ``model``'s Linear layers, as a state dict keyed like the unpruned model."""
    import torch
    import torch.nn as nn

    state = {}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for name, module in model.named_modules():
            if isinstance(module, nn.Linear):
                fresh = nn.Linear(module.in_features, module.out_features, bias=module.bias is not None)
                state[f"{name}.weight"] = fresh.weight.detach()
                if module.bias is not None:
                    state[f"{name}.bias"] = fresh.bias.detach()
    return state
