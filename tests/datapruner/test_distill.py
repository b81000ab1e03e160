"""Knowledge distillation: the loss, the default weight, subset matching and the train() entry point."""
from __future__ import annotations

import math

import datasets
import numpy as np
import pytest
import torch

from datapruner.errors import DataprunerError
from datapruner.io import load_data
from datapruner.models.pipeline import ClassifierBundle
from datapruner.training.distill import (ALPHA_MAX, ALPHA_MIN, default_alpha, distillation_loss, match_subset,
                                         train)
from tests.datapruner._train_data import mnist_arrays, one_torch_thread  # noqa: F401 (autouse fixture)


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_issue_4_kd_loss_matches_hand_computation():
    student = np.array([[1.0, -0.5, 0.2], [0.3, 0.8, -1.2]])
    teacher = np.array([[2.0, 0.1, -1.0], [-0.4, 1.5, 0.0]])
    labels = np.array([0, 2])
    alpha, T = 0.7, 3.0
    # by hand: CE on hard labels at T=1, KL(teacher_T || student_T) scaled by T^2
    ce = -np.log(_softmax(student)[np.arange(2), labels])
    p_t, p_s = _softmax(teacher / T), _softmax(student / T)
    kl = (p_t * (np.log(p_t) - np.log(p_s))).sum(axis=1)
    expected = ((1 - alpha) * ce + alpha * T ** 2 * kl).mean()
    got = distillation_loss(torch.tensor(student), torch.tensor(labels), torch.tensor(teacher), alpha=alpha,
                            temperature=T)
    assert math.isclose(float(got), expected, rel_tol=1e-9)
    per_row = distillation_loss(torch.tensor(student), torch.tensor(labels), torch.tensor(teacher), alpha=alpha,
                                temperature=T, reduction="none")
    assert np.allclose(per_row.numpy(), (1 - alpha) * ce + alpha * T ** 2 * kl)


def test_kd_loss_endpoints_and_teacher_gets_no_gradient():
    s = torch.tensor([[0.5, 1.5], [2.0, -1.0]], requires_grad=True)
    t = torch.tensor([[1.0, 0.0], [0.0, 1.0]], requires_grad=True)
    y = torch.tensor([1, 0])
    ce = torch.nn.functional.cross_entropy(s, y)
    assert torch.isclose(distillation_loss(s, y, t, alpha=0.0, temperature=5.0), ce)
    pure = distillation_loss(s, y, t, alpha=1.0, temperature=1.0)
    kl = torch.nn.functional.kl_div(torch.log_softmax(s, 1), torch.log_softmax(t, 1), log_target=True,
                                    reduction="batchmean")
    assert torch.isclose(pure, kl)
    pure.backward()
    assert t.grad is None and s.grad is not None
    assert float(distillation_loss(t.detach(), y, t.detach(), alpha=1.0, temperature=2.0)) == pytest.approx(0.0)


def test_kd_loss_rejects_bad_options():
    s, y = torch.zeros(2, 3), torch.tensor([0, 1])
    with pytest.raises(DataprunerError, match="alpha=1.2"):
        distillation_loss(s, y, s, alpha=1.2)
    with pytest.raises(DataprunerError, match="temperature=-1"):
        distillation_loss(s, y, s, alpha=0.5, temperature=-1)
    with pytest.raises(DataprunerError, match="teacher_logits shape"):
        distillation_loss(s, y, torch.zeros(2, 4), alpha=0.5)


def test_issue_4_default_alpha_gives_the_teacher_more_weight_when_less_is_kept():
    keeps = [0.01, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 1.0]
    alphas = [default_alpha(k) for k in keeps]
    assert all(a > b for a, b in zip(alphas, alphas[1:]))  # strictly decreasing in keep
    assert alphas[-1] == ALPHA_MIN == 0.5 and ALPHA_MIN <= min(alphas) and max(alphas) < ALPHA_MAX
    assert default_alpha(0.1) == pytest.approx(0.86) and default_alpha(0.5) == pytest.approx(0.7)
    for bad in (0, 1.5, -0.1, True, float("nan")):
        with pytest.raises(DataprunerError, match="keep="):
            default_alpha(bad)


def test_match_subset_by_content_row_id_and_indices():
    data = datasets.Dataset.from_dict({"text": ["a", "b", "a", "c"], "label": [0, 1, 0, 1]})
    sub = datasets.Dataset.from_dict({"text": ["c", "a", "a"], "label": [1, 0, 0]})
    assert match_subset(data, sub).tolist() == [0, 2, 3]  # identical rows are interchangeable, each used once
    with pytest.raises(DataprunerError, match="subset row 3 is not a row"):
        match_subset(data, datasets.Dataset.from_dict({"text": ["a", "a", "c", "a"], "label": [0, 0, 1, 0]}))
    with pytest.raises(DataprunerError, match="subset row 0 is not a row"):
        match_subset(data, datasets.Dataset.from_dict({"text": ["a"], "label": [1]}))
    with pytest.raises(DataprunerError, match=r"columns \['extra'\]"):
        match_subset(data, datasets.Dataset.from_dict({"text": ["a"], "extra": [1]}))
    with_ids = data.add_column("row_id", [10, 11, 12, 13])
    edited = datasets.Dataset.from_dict({"row_id": [13, 11], "text": ["changed", "b"]})
    assert match_subset(with_ids, edited).tolist() == [1, 3]  # row_id wins over content
    with pytest.raises(DataprunerError, match="row_id=99"):
        match_subset(with_ids, datasets.Dataset.from_dict({"row_id": [99]}))
    assert match_subset(data, [3, 1]).tolist() == [1, 3]
    for bad, match in (([4], r"in \[0, 4\)"), ([1, 1], "repeated"), ([], "empty")):
        with pytest.raises(DataprunerError, match=match):
            match_subset(data, np.asarray(bad, dtype=np.int64))


def test_match_subset_reads_a_csv_subset_with_the_training_data_types(tmp_path):
    # TRAIN's codes hold a text ("x5") so they are texts; the subset's are all digits, read back as numbers
    (tmp_path / "train.csv").write_text("text,label,code\n" + "".join(
        f"t{i},{i % 2},{'x' if i == 5 else ''}{i}\n" for i in range(8)), encoding="utf-8")
    (tmp_path / "sub.csv").write_text("text,label,code\nt6,0,6\nt2,0,2\n", encoding="utf-8")
    data, subset = load_data(str(tmp_path / "train.csv")), load_data(str(tmp_path / "sub.csv"))
    assert data.features["code"].dtype != subset.features["code"].dtype
    assert match_subset(data, subset).tolist() == [2, 6]
    numbered = data.remove_columns("code").add_column("row_id", list(range(8)))
    assert match_subset(numbered, datasets.Dataset.from_dict({"row_id": ["3", "1"]})).tolist() == [1, 3]
    with pytest.raises(DataprunerError, match=r"subset column 'row_id' holds Value\('string'\) values, which the "
                                              r"training data's Value\('int64'\) cannot take: pass rows selected"):
        match_subset(numbered, datasets.Dataset.from_dict({"row_id": ["x5"]}))


@pytest.fixture(scope="module")
def mnist_split():
    images, labels = mnist_arrays()
    ds = datasets.Dataset.from_dict({"image": images.tolist(), "label": labels.tolist()})
    return ds.select(range(300)), ds.select(range(300, 400))


def test_issue_4_train_on_subset_with_distillation_beats_chance(mnist_split):
    train_ds, test_ds = mnist_split
    keep = np.arange(0, 300, 2)  # half of the rows
    result = train(train_ds, test=test_ds, subset=keep, model_type="mlp", distill=True, text_column="image",
                   seed=0, min_steps=100)
    m = result.metrics
    assert m["n_train"] == 150 and m["n_full"] == 300 and m["keep"] == 0.5
    assert m["distill"] is True and m["alpha"] == pytest.approx(default_alpha(0.5)) and m["temperature"] == 2.0
    assert m["teacher_trained_here"] is True and m["teacher_test_accuracy"] > 0.5
    assert m["test_accuracy"] > 0.5  # 10 classes: chance is about 0.1
    assert result.subset_indices.tolist() == keep.tolist()
    again = train(train_ds, test=test_ds, subset=keep, model_type="mlp", distill=True, text_column="image",
                  seed=0, min_steps=100)
    assert again.metrics["test_accuracy"] == m["test_accuracy"]  # deterministic for a seed


def test_train_with_a_passed_in_smaller_teacher(mnist_split):
    train_ds, test_ds = mnist_split
    teacher = train(train_ds, model_type="mlp", text_column="image", seed=1, epochs=3, min_steps=0).student
    small = ClassifierBundle.create("mlp", train=train_ds, text_column="image", classes=list(range(10)),
                                    hidden=[16])
    assert sum(p.numel() for p in small.network.parameters()) < sum(p.numel() for p in teacher.network.parameters())
    result = train(train_ds, test=test_ds, subset=np.arange(60), model_type="mlp", teacher=teacher, alpha=0.3,
                   temperature=4.0, text_column="image", epochs=2, min_steps=0)
    assert result.metrics["distill"] is True and result.metrics["alpha"] == 0.3
    assert result.metrics["teacher_trained_here"] is False and result.teacher is teacher
    wrong = ClassifierBundle.create("mlp", train=train_ds, text_column="image", classes=list(range(11)))
    with pytest.raises(DataprunerError, match="the teacher predicts classes"):
        train(train_ds, subset=np.arange(60), model_type="mlp", teacher=wrong, text_column="image", epochs=1)


@pytest.mark.parametrize("kwargs,match", [
    ({"model_type": "resnet"}, "model_type='resnet'"),
    ({"alpha": 2.0}, "alpha=2.0"),
    ({"temperature": 0}, "temperature=0"),
    ({"text_column": "pixels"}, "column 'pixels' is not in the dataset"),
    ({"label_column": None}, "label_column=None"),
    ({"subset": np.array([500])}, r"in \[0, 300\)"),
    ({"seed": -1}, r"seed=-1 is not valid: use an integer in \[0, 2\*\*63 - 1\]"),
    ({"seed": 2**64}, r"seed=18446744073709551616 is not valid"),
    ({"distill": True, "alpha": 0.0, "views": True}, "views=True needs alpha > 0"),
    ({"learning_rate": 1e39}, "learning_rate=1e[+]39 is not valid"),
    ({"teacher": "run/teacher", "teacher_model_type": "mlp"}, "teacher_model_type is for a teacher trained here"),
])
def test_train_rejects_bad_input(mnist_split, kwargs, match):
    opts = {"text_column": "image", "model_type": "mlp", "epochs": 1, **kwargs}
    with pytest.raises(DataprunerError, match=match):
        train(mnist_split[0], **opts)


def test_alpha_zero_trains_on_labels_only_without_views(mnist_split):
    """alpha=0 gives the teacher no weight: the views and copies it would label are left out, not an error."""
    train_ds, test_ds = mnist_split
    result = train(train_ds, test=test_ds, subset=np.arange(60), model_type="cnn", distill=True, alpha=0.0,
                   text_column="image", epochs=1, min_steps=0)
    assert result.metrics["alpha"] == 0.0 and result.metrics["views"] is None


def test_test_labels_of_another_type_are_one_clear_error(mnist_split):
    train_ds, test_ds = mnist_split
    as_text = test_ds.cast_column("label", datasets.Value("string"))
    with pytest.raises(DataprunerError, match="no test label is a training label"):
        train(train_ds, test=as_text, model_type="mlp", text_column="image", epochs=1, min_steps=0)
