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


def _recording_train(x, y, log: list, only: object = None):
    """``train`` that logs, before training, each layer's mask (None: dense), weights and biases."""
    def train(m) -> None:
        if only is None or m is only:
            layers = lottery.prunable(m)
            log.append({"masks": [layer.weight_mask.bool().clone() if hasattr(layer, "weight_mask") else None
                                  for layer in layers],
                        "orig": [getattr(layer, "weight_orig", layer.weight).detach().clone() for layer in layers],
                        "weight": [layer.weight.detach().clone() for layer in layers],
                        "bias": [layer.bias.detach().clone() for layer in layers]})
        mnist.train_epochs(m, x, y, epochs=1, batch_size=64)
    return train


def _same_mask(a, b) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and torch.equal(a, b))


def test_random_reinit_control_keeps_the_imp_mask_and_draws_a_fresh_init() -> None:
    # Frankle & Carbin's control (OpenLTH randomly_reinitialize): at every level the winning ticket's mask from
    # the IMP chain, with fresh random weights; not a pruning chain of its own trained from random inits.
    x, y = _data()
    imp_log: list = []
    imp = lottery.iterative_magnitude_pruning(mnist.lenet_300_100(seed=0), _recording_train(x, y, imp_log),
                                              rounds=2, rate=0.2, rewind="init")
    model = mnist.lenet_300_100(seed=0)
    init = {k: v.clone() for k, v in model.state_dict().items()}
    ctrl_log: list = []
    ctrl = lottery.iterative_magnitude_pruning(model, _recording_train(x, y, ctrl_log, only=model), rounds=2,
                                               rate=0.2, rewind="random", seed=3)
    assert len(imp_log) == len(ctrl_log) == 3
    assert [r["sparsity"] for r in ctrl] == [r["sparsity"] for r in imp]
    for level, (chain, control) in enumerate(zip(imp_log, ctrl_log)):
        for i, name in enumerate(["0", "2", "4"]):
            assert _same_mask(control["masks"][i], chain["masks"][i]), (level, name)
            mask = control["masks"][i]
            if mask is None:  # level 0 is dense
                mask = torch.ones_like(init[f"{name}.weight"], dtype=torch.bool)
            # survivors and biases start from a fresh draw, not the original initialisation
            assert float((control["orig"][i][mask] == init[f"{name}.weight"][mask]).float().mean()) < 0.01
            assert not torch.equal(control["bias"][i], init[f"{name}.bias"])
            assert (control["weight"][i][~mask] == 0).all() and torch.equal(control["weight"][i][mask],
                                                                             control["orig"][i][mask])
    for i in range(3):  # each level draws its own initialisation
        assert not torch.equal(ctrl_log[1]["orig"][i], ctrl_log[2]["orig"][i])
    assert [bool(layer.weight_mask.equal(m)) for layer, m in zip(lottery.prunable(model), imp_log[2]["masks"])] \
        == [True] * 3  # ``model`` ends as the last control network
    with pytest.raises(EvalError, match="rewind='late'"):
        lottery.iterative_magnitude_pruning(model, lambda m: None, rounds=1, rewind="late")


def test_imp_with_random_control_branches_off_one_chain() -> None:
    x, y = _data()
    xe, ye = _data(128, seed=1)

    def evaluate(m) -> float:
        return mnist.accuracy(m, xe, ye)

    calls: list = []
    model = mnist.lenet_300_100(seed=0)

    def train(m) -> None:
        calls.append(m is model)
        mnist.train_epochs(m, x, y, epochs=1, batch_size=64)

    imp, ctrl = lottery.imp_with_random_control(model, train, rounds=2, rate=0.2, seed=3, evaluate=evaluate)
    assert calls.count(True) == 3 and calls.count(False) == 3  # one chain on ``model``, three control branches

    def train_only(m) -> None:
        mnist.train_epochs(m, x, y, epochs=1, batch_size=64)

    alone = mnist.lenet_300_100(seed=0)
    assert imp == lottery.iterative_magnitude_pruning(alone, train_only, rounds=2, rate=0.2, evaluate=evaluate)
    assert ctrl == lottery.iterative_magnitude_pruning(mnist.lenet_300_100(seed=0), train_only, rounds=2, rate=0.2,
                                                       rewind="random", seed=3, evaluate=evaluate)
    for a, b in zip(lottery.prunable(model), lottery.prunable(alone)):  # ``model`` ends as the last ticket
        assert torch.equal(a.weight_mask, b.weight_mask) and torch.equal(a.weight, b.weight)


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
