"""Model families, the training loop and the saved bundle."""
from __future__ import annotations

import zlib

import datasets
import numpy as np
import pytest
import torch

from datapruner.errors import DataprunerError
from datapruner.models import ARCHITECTURES, FastTextClassifier, HashingTokenizer, build_model
from datapruner.models.pipeline import ClassifierBundle, infer_model_type
from datapruner.training.loop import _RowSparseAdam, fit_classifier, predict_logits, predict_proba
from tests.datapruner._train_data import mnist_arrays, one_torch_thread  # noqa: F401 (autouse fixture)


def _blobs(n: int = 240, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    centers = rng.normal(scale=3.0, size=(3, 8))
    return (centers[y] + rng.normal(size=(n, 8))).astype(np.float32), y


@pytest.mark.parametrize("architecture,inputs,kwargs", [
    ("linear", torch.zeros(5, 12), {"in_dim": 12}),
    ("mlp", torch.zeros(5, 12), {"in_dim": 12}),
    ("fasttext", torch.tensor([[3, 4, 0], [5, 0, 0], [6, 7, 8], [1, 0, 0], [0, 0, 0]]), {"n_buckets": 64}),
    ("cnn", torch.zeros(5, 1, 28, 28), {}),
])
def test_every_architecture_gives_logits_and_seeded_init(architecture, inputs, kwargs):
    a = build_model(architecture, n_classes=4, seed=1, **kwargs)
    b = build_model(architecture, n_classes=4, seed=1, **kwargs)
    c = build_model(architecture, n_classes=4, seed=2, **kwargs)
    assert a(inputs).shape == (5, 4)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not all(torch.equal(p, q) for p, q in zip(a.parameters(), c.parameters()))
    assert set(ARCHITECTURES) == {"linear", "mlp", "fasttext", "cnn"}


def test_build_model_rejects_bad_options():
    with pytest.raises(DataprunerError, match="architecture='resnet'"):
        build_model("resnet", n_classes=2)
    with pytest.raises(DataprunerError, match="in_dim=None"):
        build_model("linear", n_classes=2)
    with pytest.raises(DataprunerError, match="n_classes=1"):
        build_model("cnn", n_classes=1)


def test_hashing_tokenizer_is_stable_and_pads():
    tok = HashingTokenizer(n_buckets=1000)
    assert tok.tokenize("It's NOT good!") == ["it's", "not", "good", "!", "it's not", "not good", "good !"]
    ids = tok.encode(["not good", "", "a b c"])
    assert ids.shape == (3, 5)
    assert ids[0, 0] == zlib.crc32(b"not") % 999 + 1  # stable across processes, unlike hash()
    assert (ids[1] == 0).all() and (ids > 0).sum(axis=1).tolist() == [3, 0, 5]


def test_fasttext_pools_the_mean_of_its_ids_and_ignores_padding_wherever_it_is():
    model = build_model("fasttext", n_classes=2, n_buckets=50, seed=0)
    assert isinstance(model, FastTextClassifier)
    table, linear = model.embedding.weight.detach(), model.linear
    batch = torch.tensor([[4, 9, 11, 0, 0, 0], [0, 4, 0, 9, 11, 0], [7, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0]])
    expected = torch.stack([table[[4, 9, 11]].mean(0), table[[4, 9, 11]].mean(0), table[7],
                            torch.zeros(table.shape[1])])  # an all-padding row pools to zeros
    with torch.no_grad():
        assert torch.allclose(model(batch), linear(expected), atol=1e-6)
        assert torch.allclose(model(torch.tensor([[4, 9, 11]])), model(batch[:1]))


def test_fit_classifier_learns_and_is_deterministic():
    x, y = _blobs()
    seen = []
    models = []
    for _ in range(2):
        model = build_model("mlp", n_classes=3, in_dim=8, seed=0)
        fit_classifier(model, x[:180], y[:180], epochs=5, batch_size=16, learning_rate=1e-2, seed=3,
                       on_epoch_end=lambda epoch, m: seen.append((epoch, m.training)))
        models.append(model)
    assert all(torch.equal(p, q) for p, q in zip(models[0].parameters(), models[1].parameters()))
    assert seen[:5] == [(1, False), (2, False), (3, False), (4, False), (5, False)]
    accuracy = (predict_logits(models[0], x[180:]).argmax(1) == y[180:]).mean()
    assert accuracy > 0.9  # three well-separated blobs; chance is 1/3
    other = build_model("mlp", n_classes=3, in_dim=8, seed=0)
    fit_classifier(other, x[:180], y[:180], epochs=5, batch_size=16, learning_rate=1e-2, seed=4)
    assert not all(torch.equal(p, q) for p, q in zip(models[0].parameters(), other.parameters()))
    proba = predict_proba(models[0], x[:4])
    assert proba.dtype == np.float64 and np.allclose(proba.sum(axis=1), 1.0)


def test_fit_classifier_leaves_global_rng_alone():
    x, y = _blobs(40)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    fit_classifier(build_model("mlp", n_classes=3, in_dim=8), x, y, epochs=1, seed=0)
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize("kwargs,match", [
    ({"epochs": 0}, "epochs=0"),
    ({"learning_rate": -1.0}, "learning_rate=-1.0"),
    ({"alpha": 0.5}, "alpha=0.5 needs teacher_logits"),
    ({"alpha": 1.5}, "alpha=1.5"),
    ({"temperature": 0.0}, "temperature=0.0"),
    ({"teacher_logits": np.zeros((3, 3))}, "teacher_logits must have shape"),
    ({"sample_weight": -np.ones(40)}, "sample_weight"),
])
def test_fit_classifier_rejects_bad_options(kwargs, match):
    x, y = _blobs(40)
    opts = {"epochs": 1, **kwargs}
    with pytest.raises(DataprunerError, match=match):
        fit_classifier(build_model("linear", n_classes=3, in_dim=8), x, y, **opts)


def test_fit_classifier_rejects_mismatched_labels():
    x, y = _blobs(40)
    with pytest.raises(DataprunerError, match=r"labels must have shape \(40,\)"):
        fit_classifier(build_model("linear", n_classes=3, in_dim=8), x, y[:10], epochs=1)
    with pytest.raises(DataprunerError, match="integer class ids"):
        fit_classifier(build_model("linear", n_classes=3, in_dim=8), x, y.astype(float), epochs=1)


def test_row_sparse_adam_matches_torch_sparse_adam():
    torch.manual_seed(0)
    ours = torch.nn.Embedding(20, 4, sparse=True)
    ref = torch.nn.Embedding(20, 4, sparse=True)
    ref.load_state_dict(ours.state_dict())
    opt_ours = _RowSparseAdam(list(ours.parameters()), lr=0.05)
    opt_ref = torch.optim.SparseAdam(ref.parameters(), lr=0.05)
    for step in range(6):
        ids = torch.tensor([[1, 2, 2, 7], [3, 1, 9, 9]]) + step % 3
        for emb, opt in ((ours, opt_ours), (ref, opt_ref)):
            opt.zero_grad()
            (emb(ids) ** 2).sum().backward()
            opt.step()
    assert torch.allclose(ours.weight, ref.weight, atol=1e-6)
    assert not torch.allclose(ours.weight[0], ours.weight[1])  # untouched row 0 kept its init, touched rows moved


def test_bundle_save_load_round_trip(tmp_path):
    images, labels = mnist_arrays()
    ds = datasets.Dataset.from_dict({"image": images[:60].tolist(), "label": labels[:60].tolist()})
    assert infer_model_type(ds, "image") == "cnn"
    bundle = ClassifierBundle.create("cnn", train=ds, text_column="image", classes=list(range(10)), seed=0)
    feats = bundle.featurize(ds)
    assert feats.shape == (60, 1, 28, 28) and feats.max() <= 1.0
    fit_classifier(bundle.network, feats, labels[:60], epochs=1, seed=0)
    bundle.save(tmp_path / "m")
    bundle.save(tmp_path / "m")  # replacing an existing folder works
    loaded = ClassifierBundle.load(tmp_path / "m")
    assert loaded.model_type == "cnn" and loaded.classes == list(range(10))
    assert np.allclose(loaded.predict_logits(ds), bundle.predict_logits(ds), atol=1e-6)
    with pytest.raises(DataprunerError, match="is not a saved model"):
        ClassifierBundle.load(tmp_path)


def test_bundle_fasttext_and_mlp_types():
    text = datasets.Dataset.from_dict({"text": ["good fun", "bad film", "great"], "label": [1, 0, 1]})
    numbers = datasets.Dataset.from_dict({"x": [[1.0, 2.0], [3.0, 4.0], [5.0, 9.0]], "label": [0, 1, 1]})
    assert infer_model_type(text, "text") == "minilm-linear"
    assert infer_model_type(numbers, "x") == "mlp"
    ft = ClassifierBundle.create("fasttext", train=text, text_column="text", classes=[0, 1])
    assert ft.featurize(text).dtype == np.int64
    mlp = ClassifierBundle.create("mlp", train=numbers, text_column="x", classes=[0, 1])
    feats = mlp.featurize(numbers)
    assert np.allclose(feats.mean(axis=0), 0.0, atol=1e-6)  # standardised with the training statistics
    with pytest.raises(DataprunerError, match="needs a text column"):
        ClassifierBundle.create("fasttext", train=numbers, text_column="x", classes=[0, 1])
    with pytest.raises(DataprunerError, match="needs a numeric or array column"):
        ClassifierBundle.create("cnn", train=text, text_column="text", classes=[0, 1])
