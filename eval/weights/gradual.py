"""Gradual magnitude pruning during training (Zhu & Gupta, 2017) with ``torch.ao.pruning``.

``WeightNormSparsifier`` (unstructured: 1x1 blocks, one zero per block) holds the masks of every Linear weight;
``CubicSL`` raises the sparsity level as ``s_t = s_f + (s_0 - s_f) (1 - (t - t_0) / (n dt))^3``. The scheduler
advances every optimiser step and the masks are recomputed every ``dt`` steps, from ``t_0`` until
``t_0 + n dt``; training then continues at the final sparsity. For runs too short for the requested ``t_0`` and
``dt``, pruning starts at step 0 and ``dt`` shrinks so that the target is still reached by ``end_fraction``.
"""
from __future__ import annotations

from typing import Any

from eval.errors import EvalError
from eval.weights.masks import check_sparsity

__all__ = ["gradual_magnitude_pruning"]


def gradual_magnitude_pruning(model: Any, x: Any, y: Any, *, sparsity: float, epochs: int,
                              start_epoch: float = 1.0, end_fraction: float = 0.7, dt: int = 20,
                              lr: float = 1.2e-3, batch_size: int = 60, seed: int = 0) -> Any:
    """Train ``model`` in place while pruning every Linear weight gradually to ``sparsity``; return the model.

    Args:
        model: The network, at initialisation.
        x: Training inputs, ``(n, features)``.
        y: Training labels, ``(n,)``.
        sparsity: Final fraction of zero weights per layer, in [0, 1).
        epochs: Training epochs in total.
        start_epoch: When pruning starts (``t_0``), in epochs.
        end_fraction: Pruning reaches ``sparsity`` at this fraction of training.
        dt: Steps between mask updates (``Delta t``).
        lr: Adam learning rate.
        batch_size: Mini-batch size.
        seed: Seed of the data order.
    """
    from torch.ao.pruning import CubicSL, WeightNormSparsifier

    from eval.weights.lottery import prunable
    from eval.weights.mnist import train_epochs

    sparsity = check_sparsity(sparsity)
    if epochs < 1 or dt < 1:
        raise EvalError(f"epochs={epochs!r}, dt={dt!r} are not valid: use positive ints.")
    steps_per_epoch = -(-len(x) // batch_size)
    total = epochs * steps_per_epoch
    end = max(1, int(end_fraction * total))
    t0 = int(start_epoch * steps_per_epoch)
    if t0 >= end:  # short runs (tests, quick mode): start pruning at once
        t0 = 0
    dt = max(1, min(dt, (end - t0) // 2))
    n_updates = max(1, (end - t0) // dt)
    names = {module: name for name, module in model.named_modules()}
    sparsifier = WeightNormSparsifier(sparsity_level=sparsity, sparse_block_shape=(1, 1), zeros_per_block=1)
    sparsifier.prepare(model, config=[{"tensor_fqn": f"{names[m]}.weight"} for m in prunable(model)])
    scheduler = CubicSL(sparsifier, init_sl=0.0, init_t=t0, delta_t=dt, total_t=n_updates, initially_zero=True)

    def on_step(step: int) -> None:
        scheduler.step()
        if step % dt == 0 and step >= t0:
            sparsifier.step()

    train_epochs(model, x, y, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed, on_step=on_step)
    sparsifier.step()
    sparsifier.squash_mask()
    return model
