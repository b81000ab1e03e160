"""Weight-pruning baselines for the eval harness (issue 8).

Small functional pieces, each usable on its own:

- :mod:`eval.weights.masks`: exact-sparsity masks (per tensor, per output row, N:M groups);
- :mod:`eval.weights.magnitude`: random / L1 per layer and global, through ``torch.nn.utils.prune``;
- :mod:`eval.weights.calibration`: real calibration text and layer-input statistics (sequential, layer by layer);
- :mod:`eval.weights.wanda`: Wanda, ``|W| * ||X||_2`` compared within each output row;
- :mod:`eval.weights.sparsegpt`: SparseGPT, OBS updates with the calibration Hessian;
- :mod:`eval.weights.structured`: FFN neurons and attention heads physically removed (magnitude, Wanda, FLAP);
- :mod:`eval.weights.metrics`: fidelity to the dense embeddings and SQuAD retrieval recall;
- :mod:`eval.weights.lottery`, :mod:`eval.weights.gradual`: LeNet-300-100 on MNIST (IMP with rewinding,
  gradual magnitude pruning with ``CubicSL``, one-shot global magnitude);
- :mod:`eval.weights.recovery`: distillation of a pruned encoder on data chosen by ``datapruner``.

Heavy libraries (torch, transformers) are imported by the modules that need them; importing this package
imports nothing heavy.
"""
from __future__ import annotations

__all__ = ["masks", "magnitude", "calibration", "wanda", "sparsegpt", "structured", "metrics", "lottery",
           "gradual", "mnist", "recovery", "encoder"]
