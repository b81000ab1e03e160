"""Lottery-ticket rewinding, random re-init control, gradual pruning and the MNIST reader (issue 8)."""
from __future__ import annotations

import gzip
import struct
import warnings

import numpy as np
import pytest
import torch

from eval.errors import EvalError
from eval.weights import gradual, lottery, mnist


def _data(n: int = 256, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 784, generator=g)
    y = (x[:, :10].argmax(1)).long()
    return x, y


def test_rewinding_restores_initial_weights_of_survivors() -> None:
    x, y = _data()
    model = mnist.lenet_300_100(seed=0)
    init = {k: v.clone() for k, v in model.state_dict().items()}
    seen = []

    def train(m) -> None:
        seen.append({k: v.detach().clone() for k, v in m.named_parameters()})
        seen[-1]["masks"] = [getattr(layer, "weight_mask", None) for layer in lottery.prunable(m)]
        mnist.train_epochs(m, x, y, epochs=1, batch_size=64)

    records = lottery.iterative_magnitude_pruning(model, train, rounds=2, rate=0.2, rewind="init")
    assert [r["round"] for r in records] == [0, 1, 2]
    assert records[1]["sparsity"] > 0.15 and records[2]["sparsity"] > records[1]["sparsity"]
    for state in seen[1:]:  # at the start of every later round, survivors hold their initial values
        for i, name in enumerate(["0", "2", "4"]):
            mask = state["masks"][i].bool()
            assert torch.equal(state[f"{name}.weight_orig"][mask], init[f"{name}.weight"][mask])
            assert torch.equal(state[f"{name}.bias"], init[f"{name}.bias"])
    # the output layer is pruned at half the rate
    layers = lottery.prunable(model)
    out_sparsity = float((layers[2].weight == 0).float().mean())
    hidden_sparsity = float((layers[0].weight == 0).float().mean())
    assert out_sparsity == pytest.approx(1 - 0.9 ** 2, abs=0.01)
    assert hidden_sparsity == pytest.approx(1 - 0.8 ** 2, abs=0.01)


def test_random_reinit_control_does_not_restore_initial_weights() -> None:
    x, y = _data()
    model = mnist.lenet_300_100(seed=0)
    init = model[0].weight.detach().clone()
    seen = []

    def train(m) -> None:
        seen.append((m[0].weight.detach().clone(), m[0].weight_mask.clone() if hasattr(m[0], "weight_mask") else None))
        mnist.train_epochs(m, x, y, epochs=1, batch_size=64)

    lottery.iterative_magnitude_pruning(model, train, rounds=1, rate=0.2, rewind="random", seed=3)
    weight, mask = seen[1]
    assert not torch.allclose(weight[mask.bool()], init[mask.bool()])
    assert (weight[~mask.bool()] == 0).all()
    with pytest.raises(EvalError, match="rewind='late'"):
        lottery.iterative_magnitude_pruning(model, train, rounds=1, rewind="late")


def test_gradual_pruning_reaches_the_target_sparsity() -> None:
    x, y = _data(512)
    model = mnist.lenet_300_100(seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gradual.gradual_magnitude_pruning(model, x, y, sparsity=0.8, epochs=3, start_epoch=0.5, dt=2,
                                          batch_size=64)
    for layer in lottery.prunable(model):
        assert float((layer.weight == 0).float().mean()) == pytest.approx(0.8, abs=0.01)
    assert not hasattr(model[0], "parametrizations") or "weight" not in model[0].parametrizations


def _write_idx(path, array: np.ndarray, magic: int) -> None:
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape)
    with gzip.open(path, "wb") as fh:
        fh.write(header + array.astype(np.uint8).tobytes())


def test_read_idx_and_disjoint_split(tmp_path) -> None:
    images = np.random.default_rng(0).integers(0, 255, size=(50, 28, 28))
    labels = np.arange(50) % 10
    _write_idx(tmp_path / "img.gz", images, 0x803)
    _write_idx(tmp_path / "lab.gz", labels, 0x801)
    assert mnist.read_idx(tmp_path / "img.gz").shape == (50, 28, 28)
    xtr, ytr, xte, yte = mnist.load_mnist_split(tmp_path / "img.gz", tmp_path / "lab.gz", n_train=30, n_test=20)
    assert xtr.shape == (30, 784) and xte.shape == (20, 784)
    rows = {tuple(r.tolist()) for r in xtr} & {tuple(r.tolist()) for r in xte}
    assert not rows
    with pytest.raises(EvalError, match="n_train"):
        mnist.load_mnist_split(tmp_path / "img.gz", tmp_path / "lab.gz", n_train=40, n_test=20)
