"""Views for distillation: the view functions, fit_classifier with a teacher module, and train(views=...)."""
from __future__ import annotations

import datasets
import numpy as np
import pytest
import torch

from datapruner.errors import DataprunerError
from datapruner.training.distill import VIEW_EPOCH_FACTOR, train
from datapruner.training.loop import fit_classifier, predict_logits
from datapruner.training.views import make_views, ngram_dropout, random_shift
from tests.datapruner._train_data import mnist_arrays, one_torch_thread, sentconv_rows  # noqa: F401


def test_ngram_dropout_drops_ids_in_place_and_never_empties_a_row():
    ids = torch.tensor([[4, 5, 6, 7, 8, 9, 0, 0], [3, 0, 0, 0, 0, 0, 0, 0], [1, 2, 3, 4, 5, 6, 7, 8]] * 50)
    out = ngram_dropout(0.9)(ids, torch.Generator().manual_seed(0))
    assert out.shape == ids.shape and out.dtype == ids.dtype
    dropped = 0
    for row_in, row_out in zip(ids.tolist(), out.tolist()):
        kept = [i for i in row_out if i != 0]
        assert kept and all(o in (i, 0) for i, o in zip(row_in, row_out))  # each id kept where it was, or 0
        dropped += sum(1 for i in row_in if i != 0) - len(kept)
    assert dropped > 0.2 * int((ids != 0).sum())  # rates drawn from U(0, 0.9): about 45% dropped on average
    assert torch.equal(ngram_dropout(0.0)(ids, torch.Generator().manual_seed(0)), ids)


def test_random_shift_moves_images_without_losing_ink_away_from_the_border():
    images = torch.zeros(64, 1, 9, 9)
    images[:, 0, 3:6, 3:6] = 1.0
    out = random_shift(2)(images, torch.Generator().manual_seed(0))
    assert out.shape == images.shape
    assert torch.allclose(out.sum(dim=(1, 2, 3)), images.sum(dim=(1, 2, 3)))  # 2 pixels from a 3-pixel margin
    assert not torch.equal(out, images)
    moved = {tuple(torch.nonzero(o[0])[0].tolist()) for o in out}
    assert len(moved) > 5 and all(1 <= r <= 5 and 1 <= c <= 5 for r, c in moved)
    assert torch.equal(random_shift(0)(images, torch.Generator()), images)


@pytest.mark.parametrize("build,match", [
    (lambda: ngram_dropout(1.0), "max_rate=1.0"),
    (lambda: random_shift(-1), "max_shift=-1"),
    (lambda: make_views("mixup", 0.5), "views='mixup'"),
])
def test_views_reject_bad_options(build, match):
    with pytest.raises(DataprunerError, match=match):
        build()


def _toy(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(96, 6)).astype(np.float32)
    return x, (x[:, 0] + x[:, 1] > 0).astype(np.int64)


def test_a_teacher_module_gives_the_same_student_as_its_precomputed_logits():
    x, y = _toy()
    teacher = fit_classifier(torch.nn.Linear(6, 2), x, y, epochs=5, batch_size=16, seed=0)
    teacher.train()
    students = []
    for kwargs in ({"teacher_logits": predict_logits(teacher, x)}, {"teacher": teacher}):
        torch.manual_seed(3)
        student = torch.nn.Linear(6, 2)
        fit_classifier(student, x, y, epochs=3, batch_size=16, seed=1, alpha=0.7, temperature=2.0, **kwargs)
        students.append(student.weight.detach().clone())
    assert torch.allclose(students[0], students[1], atol=1e-6)
    assert teacher.training  # the teacher's mode is given back


def test_views_change_the_student_and_need_a_teacher():
    x, y = _toy()
    teacher = fit_classifier(torch.nn.Linear(6, 2), x, y, epochs=5, batch_size=16, seed=0)

    def noise(batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return batch + torch.randn(batch.shape, generator=generator)

    weights = []
    for views in (None, noise):
        torch.manual_seed(3)
        student = torch.nn.Linear(6, 2)
        fit_classifier(student, x, y, epochs=3, batch_size=16, seed=1, alpha=0.7, teacher=teacher, views=views)
        weights.append(student.weight.detach().clone())
    assert not torch.allclose(weights[0], weights[1])
    with pytest.raises(DataprunerError, match="views need a teacher"):
        fit_classifier(torch.nn.Linear(6, 2), x, y, epochs=1, views=noise)
    with pytest.raises(DataprunerError, match="not both"):
        fit_classifier(torch.nn.Linear(6, 2), x, y, epochs=1, alpha=0.5, teacher=teacher,
                       teacher_logits=predict_logits(teacher, x))


@pytest.fixture(scope="module")
def sst2_sample():
    return (datasets.Dataset.from_list(sentconv_rows("stsa.binary.train.gz")),
            datasets.Dataset.from_list(sentconv_rows("stsa.binary.test.gz")))


def test_train_uses_views_for_a_fasttext_student_with_a_fasttext_teacher(sst2_sample):
    train_ds, test_ds = sst2_sample
    opts = {"test": test_ds, "subset": np.arange(0, len(train_ds), 3), "model_type": "fasttext", "distill": True,
            "epochs": 3, "min_steps": 0}
    on = train(train_ds, **opts)
    assert on.metrics["views"] == ["ngram_dropout", 0.8] and 0.0 <= on.metrics["test_accuracy"] <= 1.0
    off = train(train_ds, views=False, **opts)
    assert off.metrics["views"] is None
    assert not all(torch.equal(a, b) for a, b in zip(on.student.network.parameters(),
                                                      off.student.network.parameters()))
    plain = train(train_ds, test=test_ds, model_type="fasttext", epochs=1, min_steps=0)
    assert plain.metrics["views"] is None  # no distillation, no views
    defaults = {k: v for k, v in opts.items() if k != "epochs"}
    patient = train(train_ds, **defaults).metrics["training"]["epochs"]
    assert patient == VIEW_EPOCH_FACTOR * train(train_ds, views=False, **defaults).metrics["training"]["epochs"]


def test_train_views_need_a_teacher_that_reads_the_student_inputs(sst2_sample):
    train_ds, _ = sst2_sample
    other = train(train_ds, model_type="fasttext", epochs=1, min_steps=0).student
    other.config["tokenizer"] = {**other.config["tokenizer"], "ngrams": 1}
    auto = train(train_ds, subset=np.arange(50), model_type="fasttext", teacher=other, epochs=1, min_steps=0)
    assert auto.metrics["views"] is None  # a teacher with another featurizer: distil on the kept rows only
    with pytest.raises(DataprunerError, match="views=True cannot be used: the teacher"):
        train(train_ds, subset=np.arange(50), model_type="fasttext", teacher=other, views=True, epochs=1)
    with pytest.raises(DataprunerError, match="views=True needs distillation"):
        train(train_ds, model_type="fasttext", views=True, epochs=1)
    with pytest.raises(DataprunerError, match="views='yes'"):
        train(train_ds, model_type="fasttext", views="yes", epochs=1)


def test_train_uses_shifted_views_for_a_cnn_student():
    images, labels = mnist_arrays()
    ds = datasets.Dataset.from_dict({"image": images[:200].tolist(), "label": labels[:200].tolist()})
    result = train(ds, subset=np.arange(80), model_type="cnn", distill=True, text_column="image", epochs=1,
                   min_steps=0)
    assert result.metrics["views"] == ["random_shift", 2]
