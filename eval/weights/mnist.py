"""MNIST from the IDX files (gz or plain), split into train/test, and the LeNet-300-100 classifier."""
from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from eval.errors import EvalError

__all__ = ["read_idx", "load_mnist_split", "lenet_300_100", "train_epochs", "accuracy"]


def read_idx(path: str | Path) -> npt.NDArray[np.uint8]:
    """Return the array stored in an IDX file (magic ``0x0801`` labels or ``0x0803`` images)."""
    path = Path(path)
    if not path.exists():
        raise EvalError(f"{path} does not exist: pass --data-root pointing at the shared data folder.")
    raw = gzip.open(path, "rb").read() if path.suffix == ".gz" else path.read_bytes()
    magic = int.from_bytes(raw[:4], "big")
    if magic not in (0x801, 0x803):
        raise EvalError(f"{path} is not an IDX1/IDX3 file (magic={magic:#x}).")
    ndim = magic & 0xFF
    shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise EvalError(f"{path} is truncated: expected {int(np.prod(shape))} values, found {data.size}.")
    return data.reshape(shape)


def load_mnist_split(images: str | Path, labels: str | Path, *, n_train: int = 8000, n_test: int = 2000,
                     seed: int = 0) -> tuple[Any, Any, Any, Any]:
    """Return ``(x_train, y_train, x_test, y_test)`` tensors drawn disjointly from one IDX file pair.

    Images are flattened to ``(n, 784)`` floats in [0, 1], standardised with the MNIST mean and std.
    """
    import torch

    x = read_idx(images).reshape(-1, 784).astype(np.float32) / 255.0
    y = read_idx(labels).astype(np.int64)
    if len(x) != len(y):
        raise EvalError(f"images ({len(x)}) and labels ({len(y)}) differ in length: use a matching pair.")
    if n_train + n_test > len(x):
        raise EvalError(f"n_train + n_test = {n_train + n_test} is not valid: only {len(x)} images exist.")
    order = np.random.default_rng(seed).permutation(len(x))
    tr, te = order[:n_train], order[n_train:n_train + n_test]
    x = (x - 0.1307) / 0.3081
    return (torch.from_numpy(x[tr]), torch.from_numpy(y[tr]), torch.from_numpy(x[te]), torch.from_numpy(y[te]))


def lenet_300_100(*, seed: int = 0) -> Any:
    """LeNet-300-100: 784 -> 300 -> 100 -> 10 with ReLU (the lottery-ticket paper's MNIST network)."""
    import torch
    import torch.nn as nn

    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(784, 300), nn.ReLU(), nn.Linear(300, 100), nn.ReLU(), nn.Linear(100, 10))


def train_epochs(model: Any, x: Any, y: Any, *, epochs: int, lr: float = 1.2e-3, batch_size: int = 60,
                 seed: int = 0, on_step: Any = None) -> int:
    """Train with Adam on cross-entropy; call ``on_step(step)`` after every optimiser step; return the steps."""
    import torch
    import torch.nn.functional as F

    generator = torch.Generator().manual_seed(seed)
    optimiser = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    model.train()
    step = 0
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), batch_size):
            idx = order[start:start + batch_size]
            optimiser.zero_grad()
            F.cross_entropy(model(x[idx]), y[idx]).backward()
            optimiser.step()
            step += 1
            if on_step is not None:
                on_step(step)
    model.eval()
    return step


def accuracy(model: Any, x: Any, y: Any) -> float:
    """Top-1 accuracy of ``model`` on ``(x, y)``."""
    import torch

    with torch.inference_mode():
        return float((model(x).argmax(1) == y).float().mean())
