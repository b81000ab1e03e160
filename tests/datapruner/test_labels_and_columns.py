"""Label columns that are not one scalar class per row, ClassLabel's -1 ("no label"), and methods that never read
the text column."""
from __future__ import annotations

import datasets
import numpy as np
import pytest

import datapruner
from datapruner import DataprunerError
from datapruner.scorers.coverage import NgramCoverageScorer
from datapruner.scorers.el2n import EL2NScorer
from datapruner.selection import select_indices

TEXTS = [f"row {i} says {'good' if i % 2 else 'bad'} things" for i in range(8)]


def _with_labels(labels: list, features: datasets.Features | None = None) -> datasets.Dataset:
    return datasets.Dataset.from_dict({"text": TEXTS[:len(labels)], "label": labels}, features=features)


NON_SCALAR = {
    "ragged lists": ([[0], [0, 1], [1], [], [2], [0, 2], [1], [0]], "lists"),
    "fixed-length lists": ([[0, 1], [1, 0], [1, 1], [0, 0]] * 2, "lists"),
    "structs": ([{"a": i % 2, "b": i % 3} for i in range(8)], "structs"),
}


# ------------------------------------------------------------------------------------ bug 1: non-scalar labels
@pytest.mark.parametrize("name", sorted(NON_SCALAR))
@pytest.mark.parametrize("strategy", ["hard", "easy", "offset", "ccs"])
def test_label_free_methods_run_with_multi_label_or_struct_labels(name, strategy):
    labels, kind = NON_SCALAR[name]
    ds = _with_labels(labels)
    sel = datapruner.select_rows(ds, method="random", keep=0.5, strategy=strategy)
    plain = datapruner.select_rows(ds.remove_columns("label"), method="random", keep=0.5, strategy=strategy)
    np.testing.assert_array_equal(sel.indices, plain.indices)  # the labels change nothing but the report
    assert sel.dataset["label"] == [labels[i] for i in sel.indices]  # the column itself is kept unchanged
    assert "per_class" not in sel.report
    assert sel.report["per_class_omitted"].startswith(f"column 'label' holds {kind} (")
    assert sel.report["per_class_omitted"].endswith("not one class per row")


@pytest.mark.parametrize("name", sorted(NON_SCALAR))
def test_balanced_refuses_non_scalar_labels_in_one_line_naming_the_column(name):
    labels, kind = NON_SCALAR[name]
    with pytest.raises(DataprunerError) as err:
        datapruner.select(_with_labels(labels), method="random", keep=0.5, strategy="balanced")
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"strategy='balanced' needs one scalar class per row, but column 'label' holds {kind}")


@pytest.mark.parametrize("method", ["el2n", "forgetting"])
@pytest.mark.parametrize("name", sorted(NON_SCALAR))
def test_label_based_scorers_refuse_non_scalar_labels(method, name):
    labels, _ = NON_SCALAR[name]
    with pytest.raises(DataprunerError, match=rf"^method='{method}' needs one scalar class per row, but column "
                                              r"'label' holds") as err:
        datapruner.score(_with_labels(labels), method=method, epochs=1, ensemble_size=1, cache=False)
    assert "\n" not in str(err.value)
    with pytest.raises(DataprunerError, match="needs one scalar class per row"):  # the scorer on its own too
        datapruner.get_scorer(method, epochs=1, ensemble_size=1, cache=False).score(_with_labels(labels))


def test_ngram_coverage_refuses_non_scalar_labels_it_would_rank_within():
    ds = _with_labels(NON_SCALAR["ragged lists"][0])
    with pytest.raises(DataprunerError, match=r"ngram_coverage.*column 'label' holds lists.*per_class=False"):
        datapruner.score(ds, method="ngram_coverage")
    assert datapruner.score(ds, method="ngram_coverage", per_class=False).shape == (8,)


def test_select_indices_refuses_lists_of_classes_with_a_clear_error():
    with pytest.raises(DataprunerError, match="one scalar class per row"):
        select_indices([0.1, 0.2, 0.3, 0.4], keep=0.5, labels=[[0], [0, 1], [1], []])
    with pytest.raises(DataprunerError, match=r"one scalar class per row: got shape \(4, 2\) for 4 rows"):
        select_indices([0.1, 0.2, 0.3, 0.4], keep=0.5, labels=[[0, 1], [1, 0], [1, 1], [0, 0]])
    with pytest.raises(DataprunerError, match="one scalar class per row: a row holds a dict"):
        select_indices([0.1, 0.2, 0.3, 0.4], keep=0.5, strategy="balanced", labels=[{"a": 1}] * 4)
    with pytest.raises(DataprunerError, match="there are 3 labels for 4 scores"):  # unchanged
        select_indices([0.1, 0.2, 0.3, 0.4], keep=0.5, labels=[0, 1, 0])


# ------------------------------------------------------------------------------- bug 2: ClassLabel's -1 is missing
CLASS_LABEL = datasets.Features({"text": datasets.Value("string"),
                                 "label": datasets.ClassLabel(names=["neg", "pos"])})


def test_class_label_minus_one_is_reported_like_a_missing_label():
    with_minus_one = _with_labels([0, 1, -1, 1, 0, -1, 1, 0], CLASS_LABEL)
    with_none = _with_labels([0, 1, None, 1, 0, None, 1, 0])
    a = datapruner.select_rows(with_minus_one, method="random", keep=0.5)
    b = datapruner.select_rows(with_none, method="random", keep=0.5)
    np.testing.assert_array_equal(a.indices, b.indices)
    assert a.report["per_class"] == b.report["per_class"]
    assert "-1" not in a.report["per_class"] and a.report["per_class"]["None"]["before"] == 2


def test_balanced_refuses_class_label_minus_one_like_none():
    with pytest.raises(DataprunerError, match="needs a label on every row: 2 rows have none"):
        datapruner.select(_with_labels([0, 1, -1, 1, 0, -1, 1, 0], CLASS_LABEL), method="random", keep=0.5,
                          strategy="balanced")
    # an unlabelled split (every row -1, as GLUE test splits) is not silently "balanced"
    with pytest.raises(DataprunerError, match="needs a label on every row: 8 rows have none"):
        datapruner.select(_with_labels([-1] * 8, CLASS_LABEL), method="random", keep=0.5, strategy="balanced")


def test_class_label_without_minus_one_is_read_as_before():
    ds = _with_labels([0, 1, 1, 0, 1, 0, 1, 1], CLASS_LABEL)
    sel = datapruner.select_rows(ds, method="random", keep=0.5, strategy="balanced")
    plain = datapruner.select_rows(_with_labels([0, 1, 1, 0, 1, 0, 1, 1]), method="random", keep=0.5,
                                   strategy="balanced")
    np.testing.assert_array_equal(sel.indices, plain.indices)
    assert sel.report["per_class"] == {"0": {"before": 3, "after": 2}, "1": {"before": 5, "after": 2}}


def test_el2n_refuses_class_label_minus_one_like_none_instead_of_training_a_third_class():
    rng = np.random.default_rng(0)
    features = datasets.Features({"x": datasets.List(datasets.Value("float32")),
                                  "label": datasets.ClassLabel(names=["a", "b"])})
    ds = datasets.Dataset.from_dict({"x": rng.normal(size=(30, 4)).astype("float32").tolist(),
                                     "label": [0, 1, -1] * 10}, features=features)
    with pytest.raises(DataprunerError, match="column 'label' has 10 missing labels: fill or drop them first"):
        EL2NScorer(ensemble_size=1, epochs=1, cache=False).score(ds, text_column="x")


def test_ngram_coverage_refuses_class_label_minus_one_like_none():
    with pytest.raises(DataprunerError, match="labels are missing in 2 rows"):
        NgramCoverageScorer().score(_with_labels([0, 1, -1, 1, 0, -1, 1, 0], CLASS_LABEL))


def test_training_refuses_class_label_minus_one_like_none():
    from datapruner.training.distill import train

    train_ds = _with_labels([0, 1, 0, 1, 0, 1, 0, 1], CLASS_LABEL)
    with pytest.raises(DataprunerError, match="column 'label' of the test data has 8 missing labels: fill or drop"):
        train(train_ds, test=_with_labels([-1] * 8, CLASS_LABEL), model_type="fasttext", epochs=1)
    with pytest.raises(DataprunerError, match="column 'label' of the training data has 1 missing labels: fill or drop"):
        train(_with_labels([0, 1, -1, 1, 0, 1, 0, 1], CLASS_LABEL), model_type="fasttext", epochs=1)



# ------------------------------------------------------------- NaN labels: missing, like None, everywhere
NAN_LABELS = [0.0, 1.0, float("nan"), 1.0, 0.0, float("nan"), 1.0, 0.0]


def _nan_labelled() -> datasets.Dataset:
    rng = np.random.default_rng(0)
    return datasets.Dataset.from_dict({"x": rng.normal(size=(8, 4)).astype("float32").tolist(), "label": NAN_LABELS})


@pytest.mark.parametrize("method", ["el2n", "forgetting"])
def test_proxy_scorers_refuse_nan_labels_as_missing(method):
    # NaN was taken for a class and crashed with KeyError: nan (each NaN read back is a different object)
    with pytest.raises(DataprunerError, match="column 'label' has 2 missing labels: fill or drop them first"):
        datapruner.score(_nan_labelled(), method=method, text_column="x", ensemble_size=1, epochs=1, cache=False)


def test_training_refuses_nan_labels_as_missing():
    from datapruner.training.distill import train

    # NaN was a class of its own and its rows failed later with "labels must be integer class ids ... got -1"
    with pytest.raises(DataprunerError, match="column 'label' of the training data has 2 missing labels"):
        train(_nan_labelled(), text_column="x", model_type="mlp", epochs=1)
    labelled = _nan_labelled().map(lambda row: {"label": 1.0 if row["label"] != row["label"] else row["label"]})
    with pytest.raises(DataprunerError, match="column 'label' of the test data has 2 missing labels"):
        train(labelled, test=_nan_labelled(), text_column="x", model_type="mlp", epochs=1)


def test_report_counts_nan_labels_under_none_not_as_a_class():
    # every NaN was a class "nan" of the per-class report, though no strategy takes it for one
    sel = datapruner.select_rows(_nan_labelled(), method="random", keep=0.5)
    assert sorted(sel.report["per_class"]) == ["0.0", "1.0", "None"]
    assert sel.report["per_class"]["None"]["before"] == 2
    assert sum(c["after"] for c in sel.report["per_class"].values()) == 4


def test_is_missing_covers_none_and_every_float_nan():
    from datapruner._labels import is_missing

    assert [is_missing(v) for v in (None, float("nan"), np.float32("nan"), np.nan)] == [True] * 4
    assert not any(is_missing(v) for v in (0, 0.0, "nan", "", -1, False))
    # an object array mixing NaN and strings: balanced and ngram_coverage count the NaN as missing
    with pytest.raises(DataprunerError, match="1 rows have none"):
        select_indices(np.zeros(4), keep=0.5, strategy="balanced", labels=np.array(["a", np.nan, "b", "a"], object))
    with pytest.raises(DataprunerError, match="labels are missing in 1 rows"):
        NgramCoverageScorer().score_ids([np.array([0]), np.array([1]), np.array([2])],
                                        labels=np.array(["a", np.nan, "b"], object))

# --------------------------------------------------------------- bug 7: the text column only when it is read
@pytest.fixture(scope="module")
def images() -> datasets.Dataset:
    rng = np.random.default_rng(0)
    return datasets.Dataset.from_dict(
        {"img": rng.integers(0, 255, (10, 8, 8), dtype=np.uint8), "label": [0, 1] * 5},
        features=datasets.Features({"img": datasets.Array2D((8, 8), "uint8"), "label": datasets.Value("int64")}))


def test_random_needs_no_text_column(images):
    kept = datapruner.select(images, method="random", keep=0.5)
    assert kept.num_rows == 5 and kept.column_names == ["img", "label"]
    assert datapruner.select(images, method="random", keep=0.4, strategy="balanced").num_rows == 4
    assert datapruner.score(images, method="random").shape == (10,)


def test_precomputed_scores_need_no_text_column(images, tmp_path):
    kept = datapruner.select_rows(images, method="el2n", keep=0.5, scores=np.arange(10.0))
    np.testing.assert_array_equal(kept.indices, [5, 6, 7, 8, 9])
    path = tmp_path / "s.parquet"
    datapruner.score(images, method="random", out=path)
    assert datapruner.select(images, method="random", keep=0.5, scores=path).num_rows == 5


def test_methods_that_read_the_column_or_a_named_column_still_need_it(images):
    with pytest.raises(DataprunerError, match="column 'text' is not in the dataset"):
        datapruner.select(images, method="prototype", keep=0.5)
    with pytest.raises(DataprunerError, match="column 'body' is not in the dataset"):  # named: probably a typo
        datapruner.select(images, method="random", keep=0.5, text_column="body")
