"""Knowledge distillation for training on a pruned subset (after "Distilling the Knowledge in Data Pruning").

The student is trained on the kept rows with

    loss = (1 - alpha) * CE(student, y) + alpha * T**2 * KL(softmax(teacher / T) || softmax(student / T))

where the teacher was trained on the *full* data (or is passed in; it may be smaller than the student).
The ``T**2`` factor keeps the gradient scale of the soft term comparable across temperatures (Hinton et al.).
For ``fasttext`` and ``cnn`` students the teacher labels a random view of every batch instead of the kept rows as
they are (:mod:`datapruner.training.views`), so the subset teaches more of the teacher's function; a ``fasttext``
student on a small subset also learns from word-substitution copies of the kept rows that the teacher labels
(:mod:`datapruner.training.substitution`), which carry words the subset lacks.
"""
from __future__ import annotations

import json
import logging
import math
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from datapruner._labels import check_labelled, check_scalar_labels, missing_as_none
from datapruner._validation import (
    check_columns,
    check_fraction,
    check_learning_rate,
    check_option,
    check_positive_int,
    check_seed,
    kept_at_most,
)
from datapruner.errors import DataprunerError
from datapruner.training.substitution import SUBSTITUTION_DEFAULTS, substitution_epochs
from datapruner.training.views import VIEW_DEFAULTS, ViewFn, default_views

if TYPE_CHECKING:
    import datasets
    import torch

__all__ = ["distillation_loss", "default_alpha", "train", "match_subset", "TrainResult", "ALPHA_MIN", "ALPHA_MAX",
           "DEFAULT_TEMPERATURE"]

logger = logging.getLogger(__name__)

# Checked on validation splits (``scripts/tune_kd_teacher.py --alphas``, ``eval/results/data/kd_alpha_tuning.json``;
# keep 0.1/0.3, random subsets, two seeds): mean validation accuracy of the line against fixed weights 0.5 / 0.75 /
# 0.9 / 0.95 / 1 was fastText 84.93 against 84.40 / 84.89 / 84.87 / 84.91 / 84.94, MiniLM head 83.38 against
# 82.84 / 83.31 / 83.54 / 83.50 / 83.65: no fixed weight beat it by more than 0.3 points. The MNIST CNN scored 92.5
# against 94.05 at 0.5, but on a 500-image validation split and on one seed (+3.0 points; +0.1 on the other), so
# the line stays for every family.
#: ``default_alpha`` at keep = 1 (all data kept: labels and teacher weigh the same).
ALPHA_MIN = 0.5
#: ``default_alpha`` as keep -> 0 (almost no data kept: rely almost only on the teacher).
ALPHA_MAX = 0.9


def default_alpha(keep: float) -> float:
    """Return the default distillation weight for a kept fraction: ``ALPHA_MAX - (ALPHA_MAX - ALPHA_MIN) * keep``.

    The less data is kept, the more weight goes to the teacher: the seed paper finds the best weight grows as the
    pruning gets more aggressive, because the teacher saw the full data and its soft labels also damp the noisy
    labels that pruning scores tend to keep. The line runs from 0.9 as keep -> 0 down to 0.5 at keep = 1
    (0.86 at keep 0.1, 0.78 at keep 0.3, 0.7 at keep 0.5). It is monotone non-increasing in ``keep``; pass an
    explicit ``alpha`` to override it.

    Args:
        keep: Kept fraction of the training data, in (0, 1].

    Raises:
        DataprunerError: If ``keep`` is not in (0, 1].

    Example:
        >>> default_alpha(0.1), default_alpha(0.5), default_alpha(1.0)
        (0.86, 0.7, 0.5)
    """
    keep = check_fraction("keep", keep, low=0.0, high=1.0, low_open=True)
    return round(ALPHA_MAX - (ALPHA_MAX - ALPHA_MIN) * keep, 10)


def _check_temperature(temperature: Any) -> float:
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not (
            math.isfinite(temperature) and temperature > 0):
        raise DataprunerError(f"temperature={temperature!r} is not valid: use a number > 0.")
    return float(temperature)


def distillation_loss(
    student_logits: torch.Tensor,
    labels: torch.Tensor,
    teacher_logits: torch.Tensor,
    *,
    alpha: float,
    temperature: float = 1.0,
    reduction: Literal["mean", "none"] = "mean",
) -> torch.Tensor:
    """Return ``(1 - alpha) * CE(student, y) + alpha * T**2 * KL(softmax(teacher/T) || softmax(student/T))``.

    Args:
        student_logits: Student logits ``(batch, n_classes)``.
        labels: Integer class ids ``(batch,)``.
        teacher_logits: Teacher logits ``(batch, n_classes)``; no gradient flows into them.
        alpha: Weight of the distillation term, in [0, 1].
        temperature: Softening temperature ``T > 0``.
        reduction: ``"mean"`` over the batch (the KL term is then the usual ``batchmean``) or ``"none"`` for one
            value per row.

    Example:
        >>> import torch
        >>> s = torch.tensor([[2.0, 0.0]]); t = torch.tensor([[2.0, 0.0]]); y = torch.tensor([0])
        >>> round(float(distillation_loss(s, y, t, alpha=1.0, temperature=2.0)), 6)  # same logits: KL = 0
        0.0
    """
    import torch
    import torch.nn.functional as F

    alpha = check_fraction("alpha", alpha)
    temperature = _check_temperature(temperature)
    if reduction not in ("mean", "none"):
        raise DataprunerError(f"reduction={reduction!r} is not valid: use one of ['mean', 'none'].")
    if student_logits.shape != teacher_logits.shape:
        raise DataprunerError(
            f"teacher_logits shape {tuple(teacher_logits.shape)} does not match the student's "
            f"{tuple(student_logits.shape)}: the teacher must predict the same classes.")
    ce = F.cross_entropy(student_logits, labels, reduction="none")
    log_p_student = F.log_softmax(student_logits / temperature, dim=-1)
    log_p_teacher = F.log_softmax(teacher_logits.detach().to(student_logits.dtype) / temperature, dim=-1)
    kl = (log_p_teacher.exp() * (log_p_teacher - log_p_student)).sum(dim=-1)
    per_row = (1.0 - alpha) * ce + alpha * temperature ** 2 * kl
    if reduction == "none":
        return per_row
    return per_row.mean() if per_row.numel() else per_row.sum() * torch.tensor(0.0)


# ---------------------------------------------------------------------------------------------------------------
# Python entry point: train a student on a subset, optionally distilling from a teacher trained on all the data.
# ---------------------------------------------------------------------------------------------------------------

#: Epochs of a student distilled on views, as a multiple of its default epochs (when ``epochs`` is not given): on
#: validation splits, fastText students on views gained from 2x and 4x the steps and students without a teacher did
#: not (``eval/results/data/kd_steps_tuning.json``).
VIEW_EPOCH_FACTOR = 2

#: Default softening temperature of the distillation term.
DEFAULT_TEMPERATURE = 2.0

#: Name of the column that, when TRAIN and the subset both have it, identifies subset rows (else: by content).
ROW_ID_COLUMN = "row_id"


@dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes:
        student: The trained student bundle.
        teacher: The teacher bundle (trained here or passed in), or ``None`` without distillation.
        subset_indices: Row indices into the training data that the student was trained on, sorted.
        metrics: ``test_accuracy`` (when ``test`` was given), ``n_train``, ``n_full``, ``keep``, ``distill``,
            ``alpha``, ``temperature``, ``model_type``, training options, timings, and the teacher's figures.
    """

    student: Any
    teacher: Any
    subset_indices: npt.NDArray[np.int64]
    metrics: dict[str, Any] = field(default_factory=dict)


def _row_key(row: dict[str, Any]) -> str:
    return json.dumps(row, sort_keys=True, default=str)


def match_subset(data: datasets.Dataset, subset: Any) -> npt.NDArray[np.int64]:
    """Return the sorted indices of ``data`` rows that make up ``subset``.

    ``subset`` is either row indices into ``data`` or a dataset whose rows are rows of ``data``. Rows are matched by
    the ``row_id`` column when both datasets have it (values must be unique in ``data``); otherwise by content on
    the columns they share (every column of ``subset`` must exist in ``data``). Identical rows of ``data`` are
    interchangeable; a subset row that matches nothing left is an error.

    Raises:
        DataprunerError: If an index is out of range or repeated, or a subset row is not a row of ``data``.
    """
    import datasets as hf

    n = len(data)
    if not isinstance(subset, hf.Dataset):
        idx = np.asarray(subset)
        if idx.ndim != 1 or (idx.size and not np.issubdtype(idx.dtype, np.integer)):
            raise DataprunerError("subset must be a dataset of rows of the training data or a 1-d array of row "
                                  "indices.")
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            raise DataprunerError(f"subset indices must be in [0, {n}), got {int(idx.min())}..{int(idx.max())}.")
        if np.unique(idx).size != idx.size:
            raise DataprunerError("subset indices contain repeated rows: pass each row at most once.")
        if idx.size == 0:
            raise DataprunerError("subset is empty: keep at least one row.")
        return np.sort(idx.astype(np.int64))
    if len(subset) == 0:
        raise DataprunerError("subset is empty: keep at least one row.")
    if ROW_ID_COLUMN in subset.column_names and ROW_ID_COLUMN in data.column_names:
        subset = _with_types_of(data, subset, [ROW_ID_COLUMN])
        ids = data[ROW_ID_COLUMN]
        position = {}
        for i, value in enumerate(ids):
            if value in position:
                raise DataprunerError(f"column {ROW_ID_COLUMN!r} of the training data repeats {value!r}: "
                                      "row ids must be unique.")
            position[value] = i
        out = []
        for j, value in enumerate(subset[ROW_ID_COLUMN]):
            if value not in position:
                raise DataprunerError(f"subset row {j} has {ROW_ID_COLUMN}={value!r}, which is not in the "
                                      "training data.")
            out.append(position[value])
    else:
        missing = [c for c in subset.column_names if c not in data.column_names]
        if missing:
            raise DataprunerError(f"subset columns {missing} are not in the training data: the subset must hold "
                                  f"rows of the training data (its columns are {data.column_names}).")
        columns = list(subset.column_names)
        subset = _with_types_of(data, subset, columns)
        pool: dict[str, list[int]] = {}
        for i, row in enumerate(data.select_columns(columns).with_format(None)):
            pool.setdefault(_row_key(row), []).append(i)
        for rows in pool.values():
            rows.reverse()
        out = []
        for j, row in enumerate(subset.with_format(None)):
            rows = pool.get(_row_key(row))
            if not rows:
                raise DataprunerError(f"subset row {j} is not a row of the training data (or appears more often "
                                      "than there): pass rows selected from --data.")
            out.append(rows.pop())
    idx = np.asarray(out, dtype=np.int64)
    if np.unique(idx).size != idx.size:
        raise DataprunerError(f"subset repeats rows of the training data ({ROW_ID_COLUMN} duplicated).")
    return np.sort(idx)


def _with_types_of(data: datasets.Dataset, subset: datasets.Dataset, columns: list[str]) -> datasets.Dataset:
    """``subset`` with ``columns`` cast to ``data``'s types, so that equal rows compare equal: a subset read back
    from a file may type a value otherwise (a CSV column of "10" and "11" is read as numbers, of "10" and "x1" as
    texts)."""
    for column in columns:
        if subset.features[column] != data.features[column]:
            try:
                subset = subset.cast_column(column, data.features[column])
            except Exception as err:  # datasets/pyarrow raise several types for a value the type cannot take
                raise DataprunerError(f"subset column {column!r} holds {subset.features[column]} values, which the "
                                      f"training data's {data.features[column]} cannot take: pass rows selected "
                                      "from --data.") from err
    return subset


def _class_ids(values: list[Any], classes: list[Any], *, what: str, label_column: str) -> npt.NDArray[np.int64]:
    position = {c: i for i, c in enumerate(classes)}
    check_labelled(values, label_column, f" of the {what}")
    return np.asarray([position.get(v, -1) for v in values], dtype=np.int64)


def _resolve_training_options(model_type: str, n_rows: int, *, epochs: int | None, batch_size: int | None,
                              learning_rate: float | None, weight_decay: float | None,
                              min_steps: int | None) -> dict[str, Any]:
    from datapruner.models.pipeline import TRAINING_DEFAULTS

    base = TRAINING_DEFAULTS[model_type]
    opts = {"epochs": base["epochs"] if epochs is None else check_positive_int("epochs", epochs),
            "batch_size": base["batch_size"] if batch_size is None else check_positive_int("batch_size", batch_size),
            "learning_rate": base["learning_rate"] if learning_rate is None else learning_rate,
            "weight_decay": base["weight_decay"] if weight_decay is None else weight_decay}
    if min_steps is None:
        min_steps = base["min_steps"] if epochs is None else 0  # explicit epochs are taken as they are
    else:
        min_steps = check_positive_int("min_steps", min_steps, minimum=0)
    steps_per_epoch = math.ceil(n_rows / opts["batch_size"])
    opts["epochs"] = max(opts["epochs"], math.ceil(min_steps / steps_per_epoch)) if min_steps else opts["epochs"]
    return opts


def _use_substitution(wanted: bool | None, model_type: str, n_kept: int, n_rows: int, view_fn: ViewFn | None
                      ) -> bool:
    """Whether the student trains on word-substitution copies too (see ``train``'s ``substitution``)."""
    if wanted is None:
        return (model_type == "fasttext" and view_fn is not None
                and kept_at_most(n_kept, n_rows, SUBSTITUTION_DEFAULTS["max_keep"]))
    if wanted and model_type != "fasttext":
        raise DataprunerError(f"substitution=True needs a fasttext student (it reads words), not {model_type!r}.")
    return wanted


def _with_copies(student: Any, kept_ds: datasets.Dataset, features: npt.NDArray[Any], labels: npt.NDArray[Any], *,
                 text_column: str, seed: int) -> tuple[datasets.Dataset, npt.NDArray[Any], npt.NDArray[Any]]:
    """The kept rows followed by their word-substitution copies: as a dataset of texts, as features and labels."""
    import datasets as hf

    from datapruner.training.substitution import WordNeighbors, stack_ids

    spec = SUBSTITUTION_DEFAULTS
    texts = kept_ds.with_format(None)[text_column]
    copies = WordNeighbors(top_k=int(spec["top_k"])).substitute(texts, copies=int(spec["copies"]),
                                                                rate=spec["rate"], seed=seed)
    copies_ds = hf.Dataset.from_dict({text_column: copies})
    all_texts = hf.Dataset.from_dict({text_column: list(texts) + copies})
    return (all_texts, stack_ids([features, student.featurize(copies_ds)]),
            np.tile(labels, int(spec["copies"]) + 1))


def _student_views(student: Any, teacher: Any, wanted: bool | None) -> ViewFn | None:
    """Return the student's view function when views apply (see ``train``'s ``views``), else ``None``."""
    view_fn = default_views(student.model_type)
    why = None
    if view_fn is None:
        why = f"model type {student.model_type!r} has no views (types with views: {sorted(VIEW_DEFAULTS)})"
    elif not student.same_inputs(teacher):
        why = (f"the teacher ({teacher.model_type}) does not read the student's inputs ({student.model_type}, same "
               "featurizer)")
    if why is None:
        return None if wanted is False else view_fn
    if wanted:
        raise DataprunerError(f"views=True cannot be used: {why}.")
    return None


def _accuracy(bundle: Any, dataset: datasets.Dataset, labels: npt.NDArray[np.int64]) -> float:
    pred = bundle.predict_logits(dataset).argmax(axis=1)
    return float((pred == labels).mean()) if labels.size else float("nan")


def train(
    data: Any,
    *,
    test: Any = None,
    subset: Any = None,
    model_type: str = "auto",
    distill: bool = False,
    teacher: Any = None,
    teacher_model_type: str | None = None,
    alpha: float | None = None,
    temperature: float = DEFAULT_TEMPERATURE,
    text_column: str = "text",
    label_column: str = "label",
    split: str = "train",
    seed: int = 0,
    epochs: int | None = None,
    batch_size: int | None = None,
    learning_rate: float | None = None,
    weight_decay: float | None = None,
    min_steps: int | None = None,
    views: bool | None = None,
    substitution: bool | None = None,
    embedding_model: str | None = None,
    show_progress_bar: bool | None = None,
) -> TrainResult:
    """Return a student trained on ``subset`` of ``data`` (all of it by default), optionally with distillation.

    With ``distill=True`` the loss is :func:`distillation_loss` with the teacher's logits on the kept rows. The
    teacher is ``teacher`` (a :class:`~datapruner.models.pipeline.ClassifierBundle` or a folder it was saved to;
    any model type, e.g. smaller than the student) or, when ``None``, a model of ``teacher_model_type`` trained
    here on *all* of ``data`` first (same seed).

    Args:
        data: Training data: a ``datasets.Dataset`` or anything :func:`datapruner.load_data` reads.
        test: Optional test data (same columns); adds ``test_accuracy`` (and ``teacher_test_accuracy``).
        subset: Rows to train the student on: a dataset of rows of ``data`` or row indices; ``None`` is all rows.
            Rows are matched as in :func:`match_subset` (``row_id`` column if both have it, else by content).
        model_type: Student type, one of ``sorted(MODEL_TYPES)`` or ``"auto"`` (see
            :mod:`datapruner.models.pipeline`).
        distill: Train with the teacher's soft labels.
        teacher: A trained teacher (bundle or folder); implies ``distill=True``.
        teacher_model_type: Type of the teacher trained here when ``teacher`` is None (default: ``model_type``).
        alpha: Distillation weight in [0, 1]; ``None`` is :func:`default_alpha` of the kept fraction.
        temperature: Softening temperature ``T > 0`` (default 2).
        text_column: Feature column (text, numbers or arrays).
        label_column: Label column; class ids follow the sorted distinct labels of ``data``.
        split: Split to read when ``data``/``test``/``subset`` name a dataset dict or hub dataset.
        seed: Seeds initial weights, batch order and dropout of student and teacher.
        epochs, batch_size, learning_rate, weight_decay: Training options; ``None`` takes
            :data:`~datapruner.models.pipeline.TRAINING_DEFAULTS` of the model type.
        min_steps: Raise the epochs of a small subset until at least this many optimisation steps are taken
            (``None``: the model type's default when ``epochs`` is None, else 0, so explicit epochs are kept).
        views: Let the teacher label a random view of every batch (:mod:`datapruner.training.views`: n-gram
            dropout for ``fasttext``, shifts for ``cnn``). ``None`` (default) uses them whenever they apply: with
            distillation, a student type that has views, and a teacher that reads the same inputs (same model
            type and featurizer). ``True`` requires them; ``False`` turns them off. A student on views trains for
            :data:`VIEW_EPOCH_FACTOR` times its default epochs unless ``epochs`` is given.
        substitution: Add word-substitution copies of the kept rows, labelled by the teacher
            (:mod:`datapruner.training.substitution`, :data:`SUBSTITUTION_DEFAULTS`), in the same number of
            optimisation steps. ``None`` (default) adds them to a distilled ``fasttext`` student on views when at
            most ``max_keep`` of the data is kept; ``True`` requires distillation and a ``fasttext`` student (any
            teacher that reads text); ``False`` turns them off.
        embedding_model: Sentence-transformers model for the ``minilm-*`` types (``None``: embedded MiniLM).
        show_progress_bar: Show tqdm bars while training; ``None`` follows the logger level.

    Returns:
        A :class:`TrainResult` with the student, the teacher, the subset indices and the metrics.

    Raises:
        DataprunerError: For bad options, missing columns, fewer than two classes, or subset rows not in ``data``.
    """
    import time

    from datapruner.io import load_data
    from datapruner.models.pipeline import MODEL_TYPES, ClassifierBundle
    from datapruner.training.loop import fit_classifier

    # ---- options first, before loading anything
    if model_type != "auto":
        check_option("model_type", model_type, MODEL_TYPES)
    if teacher_model_type is not None and teacher_model_type != "auto":
        check_option("teacher_model_type", teacher_model_type, MODEL_TYPES)
    if teacher_model_type is not None and teacher is not None:
        raise DataprunerError("teacher_model_type is for a teacher trained here: drop it when passing a teacher.")
    if not isinstance(distill, bool):
        raise DataprunerError(f"distill={distill!r} is not valid: use True or False.")
    if alpha is not None:
        alpha = check_fraction("alpha", alpha)
    temperature = _check_temperature(temperature)
    seed = check_seed(seed)
    if learning_rate is not None:
        learning_rate = check_learning_rate(learning_rate)
    if not isinstance(label_column, str):
        raise DataprunerError(f"label_column={label_column!r} is not valid: training needs a label column.")
    if views is not None and not isinstance(views, bool):
        raise DataprunerError(f"views={views!r} is not valid: use True, False or None.")
    if teacher is not None:
        distill = True
    if views and not distill:
        raise DataprunerError("views=True needs distillation: the teacher labels each view.")
    if substitution is not None and not isinstance(substitution, bool):
        raise DataprunerError(f"substitution={substitution!r} is not valid: use True, False or None.")
    if substitution and not distill:
        raise DataprunerError("substitution=True needs distillation: the teacher labels each copy.")
    for name, wanted in (("views", views), ("substitution", substitution)):
        if wanted and alpha == 0:
            raise DataprunerError(f"{name}=True needs alpha > 0: with alpha=0 the teacher's labels are not used.")
    if substitution and model_type not in ("auto", "fasttext"):
        _use_substitution(substitution, model_type, 0, 1, None)  # fails now, before any data is read
    timings: dict[str, float] = {}
    started = time.perf_counter()

    train_ds = load_data(data, split=split)
    check_columns(train_ds.column_names, text_column, label_column)
    check_scalar_labels(train_ds, label_column, "training")
    if len(train_ds) == 0:
        raise DataprunerError("the training data is empty: there are no rows to train on.")
    test_ds = None
    if test is not None:
        test_ds = load_data(test, split=split)
        check_columns(test_ds.column_names, text_column, label_column)
        if len(test_ds) == 0:
            raise DataprunerError("the test data is empty: there are no rows to evaluate on.")
    if subset is None:
        indices = np.arange(len(train_ds), dtype=np.int64)
    else:
        if not isinstance(subset, (np.ndarray, list, tuple, range)):
            subset = load_data(subset, split=split)
        indices = match_subset(train_ds, subset)
    keep = indices.size / len(train_ds)

    raw_labels = missing_as_none(train_ds, label_column, train_ds[label_column])  # ClassLabel's -1: no label
    check_labelled(raw_labels, label_column, " of the training data")
    try:
        classes = sorted(set(raw_labels))
    except TypeError as err:
        raise DataprunerError(f"column {label_column!r} mixes label types: use one type of label.") from err
    if len(classes) < 2:
        raise DataprunerError(f"column {label_column!r} has {len(classes)} distinct label: at least 2 are needed.")
    y_full = _class_ids(raw_labels, classes, what="training data", label_column=label_column)
    y_test = None
    if test_ds is not None:
        y_test = _class_ids(missing_as_none(test_ds, label_column, test_ds[label_column]), classes,
                            what="test data", label_column=label_column)
        unseen = int((y_test < 0).sum())
        if unseen == y_test.size:  # e.g. "1" in TEST against 1 in TRAIN: the accuracy would be a silent 0
            raise DataprunerError(f"no test label is a training label: the test data has "
                                  f"{sorted(set(map(repr, test_ds[label_column])))[:5]}, the training data "
                                  f"{[repr(c) for c in classes][:5]}; use the same labels (and label type).")
        if unseen:
            warnings.warn(f"{unseen} test rows have labels not seen in training; they count as errors.",
                          stacklevel=2)
    timings["load_s"] = time.perf_counter() - started

    if model_type == "auto":
        from datapruner.models.pipeline import infer_model_type

        model_type = infer_model_type(train_ds, text_column)
    metrics: dict[str, Any] = {"model_type": model_type, "n_train": int(indices.size), "n_full": len(train_ds),
                               "keep": keep, "distill": distill, "alpha": None, "temperature": None, "views": None,
                               "seed": int(seed), "classes": classes}

    # ---- teacher
    teacher_bundle = None
    teacher_logits = None
    if distill:
        t0 = time.perf_counter()
        if teacher is None:
            t_type = teacher_model_type or model_type
            teacher_bundle = ClassifierBundle.create(t_type, train=train_ds, text_column=text_column,
                                                     classes=classes, seed=seed, embedding_model=embedding_model)
            t_opts = _resolve_training_options(teacher_bundle.model_type, len(train_ds), epochs=epochs,
                                               batch_size=batch_size, learning_rate=learning_rate,
                                               weight_decay=weight_decay, min_steps=min_steps) \
                if t_type == model_type else _resolve_training_options(
                    teacher_bundle.model_type, len(train_ds), epochs=None, batch_size=None, learning_rate=None,
                    weight_decay=None, min_steps=None)
            logger.info("training the teacher (%s) on all %d rows", teacher_bundle.model_type, len(train_ds))
            fit_classifier(teacher_bundle.network, teacher_bundle.featurize(train_ds), y_full, seed=seed,
                           show_progress_bar=show_progress_bar, **t_opts)
            metrics["teacher_trained_here"] = True
            metrics["teacher_training"] = t_opts
        else:
            teacher_bundle = teacher if isinstance(teacher, ClassifierBundle) else ClassifierBundle.load(teacher)
            metrics["teacher_trained_here"] = False
            if list(teacher_bundle.classes) != list(classes):
                raise DataprunerError(f"the teacher predicts classes {teacher_bundle.classes} but the training data "
                                      f"has {classes}: use a teacher trained on the same labels.")
        metrics["teacher_model_type"] = teacher_bundle.model_type
        metrics["alpha"] = default_alpha(keep) if alpha is None else alpha
        metrics["alpha_source"] = "default_alpha(keep)" if alpha is None else "given"
        metrics["temperature"] = temperature
        if test_ds is not None:
            metrics["teacher_test_accuracy"] = _accuracy(teacher_bundle, test_ds, y_test)
        timings["teacher_s"] = time.perf_counter() - t0
    elif alpha is not None:
        warnings.warn("alpha is ignored without distill=True.", stacklevel=2)

    # ---- student
    t0 = time.perf_counter()
    student = ClassifierBundle.create(model_type, train=train_ds, text_column=text_column, classes=classes,
                                      seed=seed, embedding_model=embedding_model)
    opts = _resolve_training_options(model_type, indices.size, epochs=epochs, batch_size=batch_size,
                                     learning_rate=learning_rate, weight_decay=weight_decay, min_steps=min_steps)
    kept_ds = train_ds.select(indices)
    kept_features = student.featurize(kept_ds)
    kept_labels = y_full[indices]
    view_fn = None
    if distill:
        view_fn = _student_views(student, teacher_bundle, views) if metrics["alpha"] > 0 else None
        metrics["views"] = list(VIEW_DEFAULTS[model_type]) if view_fn else None
        if view_fn and epochs is None:  # a student learning from views keeps gaining from a patient schedule
            opts["epochs"] *= VIEW_EPOCH_FACTOR
        if _use_substitution(substitution, model_type, indices.size, len(train_ds), view_fn):
            kept_ds, kept_features, kept_labels = _with_copies(student, kept_ds, kept_features, kept_labels,
                                                               text_column=text_column, seed=seed)
            copies = SUBSTITUTION_DEFAULTS["copies"]
            opts["epochs"] = substitution_epochs(opts["epochs"], indices.size, copies, opts["batch_size"])
            metrics["substitution"] = {k: SUBSTITUTION_DEFAULTS[k] for k in ("copies", "rate", "top_k")}
        # the teacher runs on every batch only when it labels views; otherwise its logits are computed once
        teacher_logits = None if view_fn else teacher_bundle.predict_logits(kept_ds)
    metrics.setdefault("substitution", None)
    logger.info("training the student (%s) on %d of %d rows", model_type, indices.size, len(train_ds))
    fit_classifier(student.network, kept_features, kept_labels, seed=seed, teacher_logits=teacher_logits,
                   teacher=teacher_bundle.network if view_fn else None, views=view_fn,
                   alpha=metrics["alpha"] or 0.0, temperature=metrics["temperature"] or 1.0,
                   show_progress_bar=show_progress_bar, **opts)
    metrics["training"] = opts
    timings["student_s"] = time.perf_counter() - t0
    if test_ds is not None:
        metrics["test_accuracy"] = _accuracy(student, test_ds, y_test)
        metrics["n_test"] = len(test_ds)
    metrics["timings"] = {k: round(v, 3) for k, v in timings.items()}
    return TrainResult(student=student, teacher=teacher_bundle, subset_indices=indices, metrics=metrics)
