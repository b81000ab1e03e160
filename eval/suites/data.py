"""Data pruning with and without knowledge distillation (issue 4): SST-2, TREC, SUBJ and MNIST.

For each dataset and model family (frozen MiniLM embeddings + linear head, fastText-style bag of hashed word and
bigram embeddings trained from scratch, and a small CNN for MNIST), every pruning method keeps a fraction of the
training rows; a student of the same family is trained on them with plain cross-entropy and with knowledge
distillation from a teacher of the same family trained on all rows (the seed paper's self-distillation setting);
for the from-scratch families the teacher labels a random view of every batch (:mod:`datapruner.training.views`).
The teacher of seed s is also the "full data" reference of seed s. Scores (EL2N, forgetting, prototype, semdedup,
random) are recomputed for every seed. A small alpha sweep (random pruning) tests whether the best distillation
weight depends on the kept fraction.

Embeddings are computed once per source file with :func:`datapruner.models.embedder.column_features` and cached
under ``$DATAPRUNER_CACHE`` (a second run reuses them); the EL2N/forgetting proxies read them through a lookup
embedder, prototype/semdedup through ``score_embeddings``. MNIST prototype/semdedup use raw pixel vectors.
"""
from __future__ import annotations

import argparse
import functools
import gzip
import hashlib
import json
import logging
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from datapruner._atomic import write_json
from datapruner._validation import kept_at_most
from datapruner.training.substitution import SUBSTITUTION_DEFAULTS
from eval.data_root import data_file
from eval.errors import EvalError

logger = logging.getLogger("eval.data")

#: method name -> (scorer registry key, selection strategy)
METHODS: dict[str, tuple[str, str]] = {
    "random": ("random", "hard"),
    "balanced": ("random", "balanced"),
    "el2n_hard": ("el2n", "hard"),
    "el2n_easy": ("el2n", "easy"),
    "el2n_offset": ("el2n", "offset"),
    "forgetting": ("forgetting", "hard"),
    "prototype": ("prototype", "hard"),
    "semdedup": ("semdedup", "hard"),
    "ccs_el2n": ("el2n", "ccs"),
    "ngram_coverage": ("ngram_coverage", "hard"),
}
#: scorers that read text: skipped on the image task.
TEXT_SCORERS = frozenset({"ngram_coverage"})
KEEPS = (0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 1.0)
QUICK_KEEPS = (0.1, 0.3, 1.0)
ALPHA_GRID = (0.25, 0.5, 0.75, 0.9)
QUICK_ALPHA_GRID = (0.5, 0.9)
ALPHA_KEEPS = (0.1, 0.3, 0.7)
QUICK_ALPHA_KEEPS = (0.1, 0.3)
#: distillation temperature of every student, checked on validation splits (scripts/tune_kd_teacher.py,
#: eval/results/data/kd_temperature_tuning.json; keep 0.1/0.3, two seeds): mean validation accuracy at T = 1 / 2 / 4
#: was fastText 0.827 / 0.838 / 0.837, CNN 0.929 / 0.931 / 0.923, MiniLM head 0.827 / 0.834 / 0.836.
TEMPERATURE = 2.0

#: family -> network architecture and training options of every student/teacher in this suite.
FAMILIES: dict[str, dict[str, Any]] = {
    "minilm_linear": {"architecture": "linear", "proxy": "minilm-linear", "network": {},
                      "train": {"epochs": 15, "batch_size": 128, "learning_rate": 3e-3, "weight_decay": 0.01},
                      "min_steps": 100},
    # training options chosen on validation splits of the training sets: scripts/tune_fasttext.py; min_step_share
    # (scripts/tune_step_floor.py): 1.0 scored best for both from-scratch families (mean validation accuracy over
    # keep 0.1/0.3 and two seeds: fastText 0.774 at 0.5 -> 0.776 at 1.0, CNN 0.892 -> 0.917), at about 1.5x the
    # students' training time of 0.5.
    # views (distilled students only; the teacher labels a random view of every batch), chosen on validation
    # splits by scripts/tune_kd_views.py under this schedule: mean validation accuracy over keep 0.1/0.3 and two
    # seeds, fastText 0.791 without views, 0.830 / 0.838 / 0.836 / 0.834 with n-gram dropout up to 0.5 / 0.8 / 0.9 /
    # 0.95; CNN 0.922 without, 0.928 / 0.931 / 0.927 with shifts of up to 1 / 2 / 3 pixels. At larger keeps
    # (kd_views_by_keep.json) dropout 0.8 stays best or within 0.02 points of it at 0.5 and 0.7; at 0.9 the
    # candidates span 0.7 points with no trend (0.95 best, 0.8 worst of the views), so one view serves every keep.
    # kd_train and kd_step_share (scripts/tune_kd_steps.py, eval/results/data/kd_steps_tuning.json and
    # kd_schedule_tuning.json): distilled fastText students on views keep gaining from more steps where little data
    # is kept (mean validation accuracy at keep 0.1, batch 64: 0.797 at 1x the full-data steps, 0.814 at 2x, 0.821
    # at 4x), hardly at keep >= 0.5 (2x -> 4x: +0.3, +0.0, +0.1 points at 0.5/0.7/0.9); batches of 256 at lr 0.012
    # score as well as batches of 64 (+0.4 points at keep <= 0.3, -0.3 at 0.9) in about 20% less time. 4x beats 2x
    # at every keep <= 0.3 (+0.7, +0.7, +0.9 points at 0.1/0.2/0.3) and 8x does not beat 4x (0.823/0.842/0.852
    # against 0.825/0.840/0.852), so 4x at keep <= 0.3 and 2x above, which the EmbeddingBag step fits in budget.
    # substitution (distilled students at keep <= max_keep; datapruner.training.substitution): the kept rows plus
    # word-substitution copies the teacher labels, in the same number of steps; chosen by
    # scripts/tune_kd_substitution.py (eval/results/data/kd_substitution_tuning.json).
    "fasttext": {"architecture": "fasttext", "proxy": "fasttext",
                 "network": {"n_buckets": 2 ** 18, "dim": 64, "dropout": 0.5},
                 "train": {"epochs": 10, "batch_size": 64, "learning_rate": 3e-3, "weight_decay": 0.0},
                 "min_steps": 100, "min_step_share": 1.0, "views": ["ngram_dropout", 0.8],
                 "kd_train": {"batch_size": 256, "learning_rate": 0.012}, "kd_step_share": ((0.3, 4.0), (1.0, 2.0)),
                 "substitution": dict(SUBSTITUTION_DEFAULTS)},
    "cnn": {"architecture": "cnn", "proxy": "cnn", "network": {"channels": [8, 16]},
            "train": {"epochs": 4, "batch_size": 128, "learning_rate": 3e-3, "weight_decay": 0.0},
            "min_steps": 100, "min_step_share": 1.0, "views": ["random_shift", 2]},
}
DATASETS: dict[str, dict[str, Any]] = {
    "sst2": {"kind": "text", "files": ("stsa.binary.train.gz", "stsa.binary.test.gz"), "families": ("minilm_linear", "fasttext")},
    "trec": {"kind": "text", "files": ("TREC.train.all.gz", "TREC.test.all.gz"), "families": ("minilm_linear", "fasttext")},
    "subj": {"kind": "text", "files": ("subj.all.gz",), "test_fraction": 0.1, "families": ("minilm_linear", "fasttext")},
    "mnist": {"kind": "image", "n_test": 5000, "families": ("cnn",)},
}
QUICK_SIZES = {"n_train": 500, "n_test": 250}
SPLIT_SEED = 12345  # fixed: the train/test split never depends on --seed


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--datasets", default=",".join(DATASETS),
                        help=f"comma-separated subset of {','.join(DATASETS)}")
    parser.add_argument("--families", default=",".join(FAMILIES),
                        help=f"comma-separated subset of {','.join(FAMILIES)}")
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated subset of the methods")
    parser.add_argument("--seeds", type=int, default=None, help="number of seeds (default: 3, --quick 2)")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                        help="worker processes, one (task, seed) each, single-threaded (default: min(2, CPUs))")


# ----------------------------------------------------------------------------------------------- data loading
def read_sentconv(path: Path) -> tuple[list[str], np.ndarray]:
    """Return (texts, labels) of a ``<label> <sentence>`` file; lines that are not UTF-8 are read as Latin-1."""
    texts, labels = [], []
    with gzip.open(path, "rb") as fh:
        for raw in fh.read().splitlines():
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                line = raw.decode("latin-1")
            label, _, text = line.strip().partition(" ")
            if not text.strip():
                continue
            try:
                labels.append(int(label))
            except ValueError as err:
                raise EvalError(f"{path}: line {len(labels) + 1} does not start with an integer label.") from err
            texts.append(text.strip())
    return texts, np.asarray(labels, dtype=np.int64)


def read_idx(path: Path) -> np.ndarray:
    """Return the array of an IDX file (MNIST format), gzipped."""
    with gzip.open(path, "rb") as fh:
        raw = fh.read()
    magic = int.from_bytes(raw[:4], "big")
    ndim = magic & 0xFF
    if magic >> 8 != 0x08 or ndim not in (1, 3):
        raise EvalError(f"{path} is not an IDX uint8 file (magic {magic:#x}).")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _split(n: int, n_test: int, seed: int = SPLIT_SEED) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[n_test:]), np.sort(order[:n_test])


def _subsample(idx: np.ndarray, n: int, seed: int) -> np.ndarray:
    if idx.size <= n:
        return idx
    return np.sort(np.random.default_rng(seed).choice(idx, size=n, replace=False))


@dataclass
class TextSplit:
    """Texts of one dataset with the row indices of train and test, per source file."""

    name: str
    train_texts: list[str]
    train_labels: np.ndarray
    test_texts: list[str]
    test_labels: np.ndarray
    train_source: tuple[str, np.ndarray]  # (file name, row indices in it)
    test_source: tuple[str, np.ndarray]


def load_text_dataset(name: str, data_root: Path, *, quick: bool) -> TextSplit:
    """Return the train/test texts of ``name`` (fixed split for SUBJ; subsampled with ``quick``)."""
    spec = DATASETS[name]
    folder = "text_classification_sentconv"
    if len(spec["files"]) == 2:
        tr_file, te_file = spec["files"]
        tr_t, tr_y = read_sentconv(data_file(data_root, f"{folder}/{tr_file}"))
        te_t, te_y = read_sentconv(data_file(data_root, f"{folder}/{te_file}"))
        tr_idx, te_idx = np.arange(len(tr_t)), np.arange(len(te_t))
        sources = {tr_file: (tr_t, tr_y), te_file: (te_t, te_y)}
    else:
        (file,) = spec["files"]
        texts, labels = read_sentconv(data_file(data_root, f"{folder}/{file}"))
        tr_idx, te_idx = _split(len(texts), int(round(spec["test_fraction"] * len(texts))))
        tr_file = te_file = file
        sources = {file: (texts, labels)}
    if quick:
        tr_idx = _subsample(tr_idx, QUICK_SIZES["n_train"], SPLIT_SEED)
        te_idx = _subsample(te_idx, QUICK_SIZES["n_test"], SPLIT_SEED + 1)
    tr_all, tr_lab = sources[tr_file]
    te_all, te_lab = sources[te_file]
    return TextSplit(name, [tr_all[i] for i in tr_idx], tr_lab[tr_idx], [te_all[i] for i in te_idx],
                     te_lab[te_idx], (tr_file, tr_idx), (te_file, te_idx))


def load_mnist(data_root: Path, *, quick: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return (train images, train labels, test images, test labels) from the MNIST *test* file, split in two."""
    images = read_idx(data_file(data_root, "mnist/t10k-images-idx3-ubyte.gz"))
    labels = read_idx(data_file(data_root, "mnist/t10k-labels-idx1-ubyte.gz")).astype(np.int64)
    if images.shape[0] != labels.shape[0]:
        raise EvalError(f"MNIST has {images.shape[0]} images but {labels.shape[0]} labels.")
    n_test = min(DATASETS["mnist"]["n_test"], labels.size // 2)
    tr_idx, te_idx = _split(labels.size, n_test)
    if quick:
        tr_idx = _subsample(tr_idx, QUICK_SIZES["n_train"], SPLIT_SEED)
        te_idx = _subsample(te_idx, QUICK_SIZES["n_test"], SPLIT_SEED + 1)
    return images[tr_idx], labels[tr_idx], images[te_idx], labels[te_idx]


class LookupEmbedder:
    """An embedder (``encode`` + ``identity``) that returns precomputed embeddings by text."""

    def __init__(self, table: dict[str, np.ndarray], identity: str) -> None:
        self.table = table
        self.identity = identity

    def encode(self, texts: Any) -> np.ndarray:
        try:
            return np.stack([self.table[t] for t in texts]).astype(np.float32)
        except KeyError as err:
            raise EvalError(f"no precomputed embedding for text {str(err)[:60]}") from err


def embed_file_rows(data_root: Path, file: str, rows: np.ndarray, *, quick: bool, embedder: Any = None) -> np.ndarray:
    """Return the MiniLM embeddings of ``rows`` of a sentconv file.

    The full run embeds each whole file once (cached by content under ``$DATAPRUNER_CACHE``); the quick run
    embeds only the sampled rows.
    """
    import datasets

    from datapruner.models.embedder import column_features

    texts, _ = read_sentconv(data_file(data_root, f"text_classification_sentconv/{file}"))
    if quick:
        ds = datasets.Dataset.from_dict({"text": [texts[i] for i in rows]})
        return np.asarray(column_features(ds, "text", model=embedder), dtype=np.float32)
    ds = datasets.Dataset.from_dict({"text": texts})
    return np.asarray(column_features(ds, "text", model=embedder), dtype=np.float32)[rows]


# ------------------------------------------------------------------------------------------------- one task
@dataclass
class Task:
    """Everything one dataset x family needs: student inputs, scorer inputs and the family's options."""

    dataset: str
    family: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    scorer_data: Any  # a datasets.Dataset with the column the proxies read
    scorer_column: str
    embeddings: np.ndarray  # for prototype / semdedup
    proxy_model: Any = None
    neighbours: Any = None  # a fitted WordNeighbors when the family distils on word-substitution copies
    timings: dict[str, float] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)  # the family's entry of FAMILIES, carried to workers

    def __post_init__(self) -> None:
        if not self.config:
            self.config = FAMILIES[self.family]


def _standardize(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean, std = train.mean(axis=0), train.std(axis=0)
    std[std < 1e-6] = 1.0
    return ((train - mean) / std).astype(np.float32), ((test - mean) / std).astype(np.float32)


def build_tasks(args: argparse.Namespace, datasets_wanted: list[str], families_wanted: list[str],
                embedder: Any = None) -> list[Task]:
    """Load every dataset once and return one :class:`Task` per (dataset, family) asked for."""
    import datasets as hf

    from datapruner.models import HashingTokenizer

    tasks = []
    for name in datasets_wanted:
        spec = DATASETS[name]
        fams = [f for f in spec["families"] if f in families_wanted]
        if not fams:
            continue
        started = time.perf_counter()
        if spec["kind"] == "image":
            x_tr, y_tr, x_te, y_te = load_mnist(args.data_root, quick=args.quick)
            features = hf.Features({"image": hf.Array2D((28, 28), "uint8"), "label": hf.Value("int64")})
            scorer_data = hf.Dataset.from_dict({"image": x_tr, "label": y_tr}, features=features)
            pixels = x_tr.reshape(len(x_tr), -1).astype(np.float32) / 255.0
            for fam in fams:
                tasks.append(Task(name, fam, (x_tr[:, None] / 255.0).astype(np.float32), y_tr,
                                  (x_te[:, None] / 255.0).astype(np.float32), y_te, int(y_tr.max()) + 1,
                                  scorer_data, "image", pixels,
                                  timings={"load_s": time.perf_counter() - started}))
            continue
        split = load_text_dataset(name, args.data_root, quick=args.quick)
        classes = np.unique(split.train_labels)
        if not np.array_equal(classes, np.arange(classes.size)):
            raise EvalError(f"{name}: labels are not 0..k-1 ({classes.tolist()}).")
        scorer_data = hf.Dataset.from_dict({"text": split.train_texts, "label": split.train_labels})
        t0 = time.perf_counter()
        emb_tr = embed_file_rows(args.data_root, split.train_source[0], split.train_source[1], quick=args.quick,
                                 embedder=embedder)
        emb_te = embed_file_rows(args.data_root, split.test_source[0], split.test_source[1], quick=args.quick,
                                 embedder=embedder)
        embed_s = time.perf_counter() - t0
        table = dict(zip(split.train_texts, emb_tr))
        digest = hashlib.blake2b("\n".join(split.train_texts).encode(), digest_size=8).hexdigest()
        lookup = LookupEmbedder(table, identity=f"eval-data-lookup:{name}:{digest}:{getattr(embedder, 'identity', 'minilm')}")
        for fam in fams:
            if fam == "minilm_linear":
                x_tr, x_te = _standardize(emb_tr, emb_te)
            else:
                tok = HashingTokenizer(n_buckets=FAMILIES[fam]["network"]["n_buckets"])
                x_tr, x_te = tok.encode(split.train_texts), tok.encode(split.test_texts)
            substitution = FAMILIES[fam].get("substitution")
            tasks.append(Task(name, fam, x_tr, split.train_labels, x_te, split.test_labels, int(classes.size),
                              scorer_data, "text", emb_tr, proxy_model=lookup,
                              neighbours=_neighbours(substitution["top_k"]) if substitution else None,
                              timings={"load_s": time.perf_counter() - started - embed_s, "embed_s": embed_s}))
    return tasks


@functools.lru_cache(maxsize=None)
def _neighbours(top_k: int) -> Any:
    """One fitted :class:`~datapruner.training.substitution.WordNeighbors` per ``top_k``, shared by the tasks (and
    pickled to the workers with them, so no worker loads the encoder for it)."""
    from datapruner.training.substitution import WordNeighbors

    return WordNeighbors(top_k=top_k).fit()


def substituted_ids(task: Task, seed: int) -> np.ndarray | None:
    """The hashed n-gram ids of the family's word-substitution copies of every training row for ``seed``, shape
    ``(copies, n_train, width)``; ``None`` when the family distils without them. Made once per seed, so every
    method's students at that seed see the same copies of a row."""
    spec = task.config.get("substitution")
    if not spec or task.neighbours is None:
        return None
    from datapruner.models import HashingTokenizer

    texts = task.scorer_data.with_format(None)["text"]
    copies = task.neighbours.substitute(texts, copies=spec["copies"], rate=spec["rate"], seed=seed)
    ids = HashingTokenizer(n_buckets=task.config["network"]["n_buckets"]).encode(copies)
    return ids.reshape(spec["copies"], len(texts), ids.shape[1])


def tuning_args(description: str, add_options: Callable[[argparse.ArgumentParser], None] | None = None
                ) -> argparse.Namespace:
    """Parse the options every ``scripts/tune_*.py`` takes (``--data-root``, ``--out``, ``--datasets``, and a
    script's own from ``add_options``) and run torch on one thread, as the suite's workers do."""
    import torch

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--data-root", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--datasets", default=",".join(DATASETS))
    if add_options is not None:
        add_options(parser)
    args = parser.parse_args()
    unknown = sorted(set(args.datasets.split(",")) - set(DATASETS))
    if unknown:  # checked now: a KeyError or a missing file would otherwise end the run as a traceback
        parser.error(f"--datasets: unknown {unknown}; use a comma-separated subset of {','.join(DATASETS)}")
    if not args.data_root.is_dir():
        parser.error(f"--data-root {args.data_root} is not a folder: point it at the shared data")
    torch.set_num_threads(1)
    return args


def add_keeps_option(parser: argparse.ArgumentParser, default: tuple[float, ...]) -> None:
    """``--keeps 0.1,0.3``: the kept fractions a ``scripts/tune_*.py`` probes."""
    parser.add_argument("--keeps", type=comma_separated(float), default=default, help="comma-separated kept fractions")


def keeps_flag(keeps: tuple[float, ...], default: tuple[float, ...]) -> str:
    """The ``--keeps`` part of a recorded tuning command: empty when ``keeps`` is the script's default."""
    return "" if keeps == default else f" --keeps {','.join(f'{k:g}' for k in keeps)}"


def comma_separated(kind: Callable[[str], Any]) -> Callable[[str], tuple]:
    """An argparse ``type`` for a comma-separated list: ``"0.1,0.3"`` -> ``(0.1, 0.3)`` with ``kind=float``."""
    return lambda text: tuple(kind(v) for v in text.split(","))


def tuning_command(script: str, args: argparse.Namespace, options: str = "") -> str:
    """The command line a ``scripts/tune_*.py`` run records in its JSON: data root, output, ``--datasets`` when not
    all of them, then the script's own non-default ``options`` (already rendered)."""
    datasets = "" if args.datasets == ",".join(DATASETS) else f" --datasets {args.datasets}"
    return f"PYTHONPATH=. python scripts/{script} --data-root {args.data_root} --out {args.out}{datasets}{options}"


def mean_accuracy(runs: list[dict[str, Any]], cell: Callable[[dict[str, Any]], str],
                  candidate: Callable[[dict[str, Any]], str]) -> dict[str, dict[str, float]]:
    """Mean ``val_accuracy`` of the tuning runs per cell and per candidate within it (``{cell: {candidate: mean}}``,
    in order of first appearance): the summary every ``scripts/tune_*.py`` writes."""
    groups: dict[str, dict[str, list[float]]] = {}
    for r in runs:
        groups.setdefault(cell(r), {}).setdefault(candidate(r), []).append(r["val_accuracy"])
    return {k: {c: float(np.mean(v)) for c, v in d.items()} for k, d in groups.items()}


def validation_tasks(data_root: Path, datasets_wanted: list[str], families_wanted: list[str]
                     ) -> Iterator[Task]:
    """Yield one task per (dataset, family) whose test set is 10% of its *training* rows (fixed seed) and whose
    training set is the other 90%: for choosing options without reading the test sets (``scripts/tune_*.py``)."""
    import dataclasses

    for name in datasets_wanted:
        families = [f for f in DATASETS[name]["families"] if f in families_wanted]
        for task in build_tasks(argparse.Namespace(data_root=data_root, quick=False), [name], families):
            perm = np.random.default_rng(777).permutation(task.y_train.size)
            val, train = perm[: perm.size // 10], perm[perm.size // 10:]
            yield dataclasses.replace(task, x_train=task.x_train[train], y_train=task.y_train[train],
                                      x_test=task.x_train[val], y_test=task.y_train[val],
                                      scorer_data=task.scorer_data.select(train), embeddings=task.embeddings[train])


def train_options(family: dict[str, Any], *, distill: bool = False) -> dict[str, Any]:
    """The family's training options; distilled students take ``kd_train``'s over them, when the family has one."""
    return {**family["train"], **(family.get("kd_train", {}) if distill else {})}


def _step_share(family: dict[str, Any], n_rows: int, n_full: int, *, distill: bool) -> float:
    """``min_step_share``, or for distilled students ``kd_step_share``: one number, or ``(max_keep, share)`` bands
    in increasing order, the first whose ``max_keep`` covers ``n_rows / n_full`` applies."""
    share = family.get("min_step_share", 0.0)
    if distill:
        share = family.get("kd_step_share", share)
    if isinstance(share, (int, float)):
        return float(share)
    return next(s for max_keep, s in share if kept_at_most(n_rows, n_full, max_keep))


def subset_epochs(family: dict[str, Any], n_rows: int, n_full: int, *, distill: bool = False) -> int:
    """Epochs for a student on ``n_rows`` of ``n_full`` rows: the family's epochs, raised until the subset gets
    at least ``min_step_share`` (distilled students: ``kd_step_share``, when the family has one) of the
    optimisation steps of full-data training at the same batch size (and ``min_steps``).

    A fixed epoch count gives a 10% subset a tenth of the updates; from-scratch models are then under-trained
    rather than data-starved. The shares were chosen on validation splits: ``scripts/tune_step_floor.py`` and
    ``scripts/tune_kd_steps.py`` (a student distilled on views keeps learning from the teacher for longer, the
    longer the less data it has; one without a teacher does not).
    """
    opts = train_options(family, distill=distill)
    batch, epochs = opts["batch_size"], opts["epochs"]
    full_steps = epochs * math.ceil(n_full / batch)
    floor = max(family["min_steps"], math.ceil(_step_share(family, n_rows, n_full, distill=distill) * full_steps))
    return max(epochs, math.ceil(floor / math.ceil(n_rows / batch)))


def _train_eval(task: Task, idx: np.ndarray, *, seed: int, teacher: Any = None, alpha: float = 0.0,
                views: list | None = None, teacher_logits: np.ndarray | None = None,
                temperature: float = TEMPERATURE, substitutes: np.ndarray | None = None) -> tuple[float, Any]:
    """Train a fresh student of the task's family on rows ``idx``; return (test accuracy, model).

    With a ``teacher`` (a trained network of the same family) the student is distilled; the teacher labels a random
    view of every batch when the family has ``views`` (``[name, strength]``, see
    :mod:`datapruner.training.views`; ``views`` overrides the family's). ``teacher_logits`` (all training rows)
    distil from a teacher of another family instead, without views. ``temperature`` is the distillation
    temperature (the suite's ``TEMPERATURE`` unless a tuning script probes another). ``substitutes``
    (:func:`substituted_ids`) add the kept rows' word-substitution copies for a distilled student at
    ``keep <= max_keep`` of the family's ``substitution``, in the same number of optimisation steps.
    """
    from datapruner.models import build_model
    from datapruner.training.loop import fit_classifier, predict_logits
    from datapruner.training.substitution import stack_ids, substitution_epochs
    from datapruner.training.views import make_views

    fam = task.config
    in_dim = task.x_train.shape[1] if fam["architecture"] in ("linear", "mlp") else None
    model = build_model(fam["architecture"], n_classes=task.n_classes, in_dim=in_dim, seed=seed, **fam["network"])
    views = fam.get("views") if views is None else views
    distill = (teacher is not None or teacher_logits is not None) and alpha > 0
    opts = train_options(fam, distill=distill)
    opts["epochs"] = subset_epochs(fam, idx.size, task.y_train.size, distill=distill)
    x, y = task.x_train[idx], task.y_train[idx]
    spec = fam.get("substitution")
    if (distill and teacher is not None and substitutes is not None and spec
            and kept_at_most(idx.size, task.y_train.size, spec["max_keep"])):
        x = stack_ids([x, *substitutes[:, idx]])
        y = np.tile(y, spec["copies"] + 1)
        opts["epochs"] = substitution_epochs(opts["epochs"], idx.size, spec["copies"], opts["batch_size"])
    fit_classifier(model, x, y, seed=seed, teacher=teacher if distill else None,
                   teacher_logits=teacher_logits[idx] if distill and teacher_logits is not None else None,
                   views=make_views(*views) if distill and views and teacher is not None else None,
                   alpha=alpha if distill else 0.0, temperature=temperature, show_progress_bar=False, **opts)
    acc = float((predict_logits(model, task.x_test).argmax(axis=1) == task.y_test).mean())
    return acc, model


def _scores(task: Task, scorer_name: str, seed: int) -> tuple[np.ndarray, bool]:
    """Return (scores, higher_is_harder) of one scorer for one seed."""
    from datapruner.scorers import get_scorer

    if scorer_name == "random":
        s = get_scorer("random", seed=seed)
        return s.score(task.scorer_data), s.higher_is_harder
    if scorer_name in ("prototype", "semdedup"):
        s = get_scorer(scorer_name, seed=seed)
        return s.score_embeddings(task.embeddings), s.higher_is_harder
    if scorer_name in TEXT_SCORERS:  # read the text itself, no proxy model
        s = get_scorer(scorer_name, seed=seed)
    else:
        s = get_scorer(scorer_name, proxy=task.config["proxy"], model=task.proxy_model, seed=seed,
                       show_progress_bar=False)
    return s.score(task.scorer_data, text_column=task.scorer_column, label_column="label"), s.higher_is_harder


def run_seed(task: Task, seed: int, *, keeps: tuple[float, ...], methods: list[str],
             alpha_grid: tuple[float, ...], alpha_keeps: tuple[float, ...]) -> dict[str, Any]:
    """Run every (method, keep, distill) of one task for one seed, plus the alpha sweep; return its raw runs.

    One seed is the unit of work: it trains its own teacher and scores, so seeds run in parallel workers.
    """
    from datapruner.scorers import SCORERS
    from datapruner.selection import select_indices
    from datapruner.training.distill import default_alpha

    runs: list[dict[str, Any]] = []
    sweep: list[dict[str, Any]] = []
    skipped = sorted({METHODS[m][0] for m in methods} - set(SCORERS))
    timings: dict[str, float] = {}
    n = task.y_train.size
    t0 = time.perf_counter()
    full_acc, teacher = _train_eval(task, np.arange(n), seed=seed)
    timings["teacher_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    substitutes = substituted_ids(task, seed)
    if substitutes is not None:
        timings["substitution_s"] = time.perf_counter() - t0
    base = {"dataset": task.dataset, "family": task.family, "seed": seed}
    runs.append({**base, "method": "full", "keep": 1.0, "distill": False, "alpha": None, "n_train": n,
                 "accuracy": full_acc})
    kd_full, _ = _train_eval(task, np.arange(n), seed=seed, teacher=teacher, alpha=default_alpha(1.0))
    runs.append({**base, "method": "full", "keep": 1.0, "distill": True, "alpha": default_alpha(1.0),
                 "n_train": n, "accuracy": kd_full})
    score_cache: dict[str, tuple[np.ndarray, bool]] = {}
    for method in methods:
        scorer_name, strategy = METHODS[method]
        if scorer_name in skipped or (scorer_name in TEXT_SCORERS and task.scorer_column != "text"):
            continue
        if scorer_name not in score_cache:
            t0 = time.perf_counter()
            score_cache[scorer_name] = _scores(task, scorer_name, seed)
            timings[f"score_{scorer_name}_s"] = time.perf_counter() - t0
        scores, higher_is_harder = score_cache[scorer_name]
        t0 = time.perf_counter()
        for keep in keeps:
            if keep >= 1.0:
                continue
            idx = select_indices(scores, keep=keep, strategy=strategy, labels=task.y_train,
                                 higher_is_harder=higher_is_harder, seed=seed)
            for distill in (False, True):
                alpha = default_alpha(idx.size / n) if distill else None
                acc, _ = _train_eval(task, idx, seed=seed, teacher=teacher if distill else None,
                                     alpha=alpha or 0.0, substitutes=substitutes)
                runs.append({**base, "method": method, "keep": keep, "distill": distill, "alpha": alpha,
                             "n_train": int(idx.size), "accuracy": acc})
        timings["students_s"] = timings.get("students_s", 0.0) + time.perf_counter() - t0
    t0 = time.perf_counter()
    rand = score_cache.get("random") or _scores(task, "random", seed)
    for keep in alpha_keeps:
        idx = select_indices(rand[0], keep=keep, strategy="hard", seed=seed)
        for alpha in alpha_grid:
            acc, _ = _train_eval(task, idx, seed=seed, teacher=teacher, alpha=alpha, substitutes=substitutes)
            sweep.append({**base, "keep": keep, "alpha": alpha, "accuracy": acc})
    timings["alpha_sweep_s"] = time.perf_counter() - t0
    logger.info("%s/%s seed %d done (full-data accuracy %.4f)", task.dataset, task.family, seed, full_acc)
    return {"runs": runs, "alpha_sweep": sweep, "skipped_scorers": skipped,
            "timings": {k: round(v, 2) for k, v in timings.items()}, "n_train": int(n),
            "n_test": int(task.y_test.size), "n_classes": task.n_classes}


def merge_seeds(task: Task, parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Join the per-seed results of one task (runs in seed order, timings summed over seeds)."""
    parts = sorted(parts, key=lambda p: p["runs"][0]["seed"])
    timings = dict(task.timings)
    for part in parts:
        for name, value in part["timings"].items():
            timings[name] = round(timings.get(name, 0.0) + value, 2)
    timings["task_s"] = round(sum(sum(p["timings"].values()) for p in parts), 2)
    return {"runs": [r for p in parts for r in p["runs"]], "alpha_sweep": [r for p in parts for r in p["alpha_sweep"]],
            "skipped_scorers": parts[0]["skipped_scorers"], "timings": timings, "n_train": parts[0]["n_train"],
            "n_test": parts[0]["n_test"], "n_classes": parts[0]["n_classes"]}


def _worker_init(parent: int) -> None:
    import threading

    import torch

    torch.set_num_threads(1)
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()


def _exit_with_parent(parent: int) -> None:
    """A killed suite must not leave its workers training on for an hour: exit once the parent is gone."""
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(1)


def _expected_steps(task: Task) -> int:
    """Optimisation steps of one method's students over the suite's keep fractions, with and without KD, counted at
    the family's batch size: the unit-of-work size used to schedule the longest first. Counting the students (not
    one full-data run) puts the from-scratch families, whose small subsets get full-data step budgets, before the
    cheap MiniLM heads."""
    fam, n = task.config, task.y_train.size
    batch = fam["train"]["batch_size"]
    return sum(subset_epochs(fam, rows, n, distill=distill) * math.ceil(rows / batch)
               for rows in (max(1, round(keep * n)) for keep in KEEPS) for distill in (False, True))


def _pool(jobs: int) -> Any:
    """A process pool of ``jobs`` single-threaded workers (spawned: no forked torch thread state)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_worker_init, initargs=(os.getpid(),))


# ------------------------------------------------------------------------------------------------ statistics
_T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228}


def mean_ci(values: list[float]) -> tuple[float, float, float]:
    """Return (mean, low, high) of a Student-t 95% interval over ``values`` (NaN bounds for one value)."""
    v = np.asarray(values, dtype=np.float64)
    mean = float(v.mean())
    if v.size < 2:
        return mean, float("nan"), float("nan")
    t = _T95.get(v.size - 1, 1.96)
    half = t * float(v.std(ddof=1)) / math.sqrt(v.size)
    return mean, mean - half, mean + half


def _fmt_pm(values: list[float]) -> str:
    v = 100 * np.asarray(values)
    return f"{v.mean():.2f} ± {v.std(ddof=1) if v.size > 1 else 0.0:.2f}"


def summarize(task_results: dict[str, dict[str, Any]], *, keeps: tuple[float, ...], methods: list[str]) -> dict:
    """Turn raw runs into tables, plots, goal checks and verdicts (all figures in accuracy points)."""
    tables, plots, verdicts, goals, gains_all = [], [], [], [], []
    claim1 = {"cells": 0, "positive": 0, "significant_positive": 0, "significant_negative": 0}
    claim2 = {"cells": 0, "random_comparable": 0, "details": []}
    claim3 = []
    pruned_keeps = [k for k in keeps if k < 1.0]
    for key, res in task_results.items():
        runs = res["runs"]
        acc: dict[tuple[str, float, bool], dict[int, float]] = {}
        for r in runs:
            acc.setdefault((r["method"], r["keep"], r["distill"]), {})[r["seed"]] = r["accuracy"]
        present = [m for m in methods if any((m, k, False) in acc for k in pruned_keeps)]
        full = list(acc[("full", 1.0, False)].values())
        full_kd = list(acc[("full", 1.0, True)].values())
        rows = [["full data", "no KD", *([""] * (len(pruned_keeps))), _fmt_pm(full)],
                ["full data", "KD (self)", *([""] * (len(pruned_keeps))), _fmt_pm(full_kd)]]
        gain_rows = []
        for m in present:
            for distill in (False, True):
                rows.append([m, "KD" if distill else "no KD",
                             *[_fmt_pm(list(acc[(m, k, distill)].values())) if (m, k, distill) in acc else "-"
                               for k in pruned_keeps], ""])
            cells = []
            for k in pruned_keeps:
                if (m, k, True) not in acc:
                    cells.append("-")
                    continue
                kd, no = acc[(m, k, True)], acc[(m, k, False)]
                diffs = [100 * (kd[s] - no[s]) for s in sorted(kd) if s in no]
                mean, lo, hi = mean_ci(diffs)
                gains_all.append({"task": key, "method": m, "keep": k, "gain": mean, "ci95": [lo, hi],
                                  "n_seeds": len(diffs)})
                claim1["cells"] += 1
                claim1["positive"] += mean > 0
                claim1["significant_positive"] += bool(lo > 0)
                claim1["significant_negative"] += bool(hi < 0)
                cells.append(f"{mean:+.2f} [{lo:+.2f}, {hi:+.2f}]")
            gain_rows.append([m, *cells])
        tables.append({"title": f"{key}: test accuracy (%) mean ± std over seeds",
                       "columns": ["method", "training", *[f"keep {k}" for k in pruned_keeps], "keep 1.0"],
                       "rows": rows})
        tables.append({"title": f"{key}: distillation gain (points) with 95% interval over seeds",
                       "columns": ["method", *[f"keep {k}" for k in pruned_keeps]], "rows": gain_rows})
        # goals: best method with KD vs full data without KD
        full_mean = 100 * float(np.mean(full))
        for k, budget in ((0.3, 1.0), (0.1, 3.0)):
            if k not in pruned_keeps:
                continue
            cands = {m: 100 * float(np.mean(list(acc[(m, k, True)].values()))) for m in present
                     if (m, k, True) in acc}
            if not cands:
                continue
            best = max(cands, key=cands.get)
            gap = full_mean - cands[best]
            goals.append({"task": key, "keep": k, "best_method": best, "best_kd_accuracy": cands[best],
                          "full_accuracy": full_mean, "gap": gap, "budget": budget, "met": gap <= budget})
        # claim 2: random + KD vs the best other method + KD
        for k in pruned_keeps:
            if ("random", k, True) not in acc:
                continue
            rnd = 100 * float(np.mean(list(acc[("random", k, True)].values())))
            others = {m: 100 * float(np.mean(list(acc[(m, k, True)].values()))) for m in present
                      if m not in ("random", "balanced") and (m, k, True) in acc}
            if not others:
                continue
            best = max(others, key=others.get)
            claim2["cells"] += 1
            claim2["random_comparable"] += rnd >= others[best] - 0.5
            claim2["details"].append({"task": key, "keep": k, "random_kd": rnd, "best_other": best,
                                      "best_other_kd": others[best]})
        # claim 3: best alpha per kept fraction
        sweep: dict[tuple[float, float], list[float]] = {}
        for r in res["alpha_sweep"]:
            sweep.setdefault((r["keep"], r["alpha"]), []).append(r["accuracy"])
        sweep_keeps = sorted({k for k, _ in sweep})
        alphas = sorted({a for _, a in sweep})
        if sweep_keeps:
            best_alpha = {}
            sweep_rows = []
            for k in sweep_keeps:
                means = {a: 100 * float(np.mean(sweep[(k, a)])) for a in alphas}
                best_alpha[k] = max(means, key=means.get)
                sweep_rows.append([k, *[_fmt_pm(sweep[(k, a)]) for a in alphas], best_alpha[k]])
            tables.append({"title": f"{key}: alpha sweep, random pruning + KD (T={TEMPERATURE:g}), accuracy (%)",
                           "columns": ["keep", *[f"alpha {a}" for a in alphas], "best alpha"], "rows": sweep_rows})
            claim3.append({"task": key, "best_alpha": {str(k): a for k, a in best_alpha.items()}})
        # plot
        shown = [m for m in ("random", "el2n_hard", "ccs_el2n", "forgetting", "prototype", "semdedup", "ngram_coverage")
                 if m in present]
        series = []
        for m in shown:
            for distill, style in ((True, "-o"), (False, "--x")):
                xs = [k for k in pruned_keeps if (m, k, distill) in acc] + [1.0]
                ys = [100 * float(np.mean(list(acc[(m, k, distill)].values()))) for k in xs[:-1]]
                ys.append(100 * float(np.mean(full_kd if distill else full)))
                series.append({"label": f"{m} {'KD' if distill else 'no KD'}", "x": xs, "y": ys, "style": style})
        plots.append({"file": f"{key.replace('/', '_')}.png", "title": f"{key}: accuracy vs kept fraction (solid: KD, dashed: no KD)",
                      "xlabel": "kept fraction", "ylabel": "test accuracy (%)", "series": series})
    # verdicts
    if claim1["cells"]:
        verdicts.append(
            f"Claim 1 (KD lifts every pruning method at every fraction): distillation raised mean accuracy in "
            f"{claim1['positive']}/{claim1['cells']} method x fraction x task cells; the 95% interval was above 0 in "
            f"{claim1['significant_positive']} and below 0 in {claim1['significant_negative']}. "
            + ("Holds here." if claim1["positive"] == claim1["cells"] and claim1["significant_negative"] == 0
               else "Holds only partly here." if claim1["positive"] > claim1["cells"] / 2 else "Does not hold here."))
    if claim2["cells"]:
        verdicts.append(
            f"Claim 2 (with KD, random pruning is comparable to or better than sophisticated scores): random+KD was "
            f"within 0.5 points of, or above, the best non-random method+KD in {claim2['random_comparable']}/"
            f"{claim2['cells']} task x fraction cells (best chosen on the test set, which favours the other methods). "
            + ("Holds here." if claim2["random_comparable"] == claim2["cells"]
               else "Mostly holds here." if claim2["random_comparable"] >= 0.75 * claim2["cells"]
               else "Does not hold here."))
    if claim3:
        trend = []
        for c in claim3:
            ks = sorted(c["best_alpha"], key=float)
            trend.append(c["best_alpha"][ks[0]] >= c["best_alpha"][ks[-1]])
        detail = "; ".join(f"{c['task']}: " + ", ".join(f"keep {k} -> {a}" for k, a in c["best_alpha"].items())
                           for c in claim3)
        verdicts.append(
            f"Claim 3 (the best KD weight depends on the kept fraction, higher when less is kept): the best alpha at "
            f"the smallest fraction was >= the best alpha at the largest in {sum(trend)}/{len(trend)} tasks ({detail}). "
            + ("Consistent with the claim here." if all(trend) else "Only partly consistent here."
               if any(trend) else "Not seen here."))
    if goals:
        met = sum(g["met"] for g in goals)
        verdicts.append(f"Goals (best method + KD within 1 point of full data at keep 0.3, within 3 at 0.1): met in "
                        f"{met}/{len(goals)} task x fraction cells; see the goals table.")
    tables.insert(0, {"title": "Goals: best method with KD vs full-data training (points)",
                      "columns": ["task", "keep", "best method (KD)", "accuracy", "full data", "gap", "budget", "met"],
                      "rows": [[g["task"], g["keep"], g["best_method"], round(g["best_kd_accuracy"], 2),
                                round(g["full_accuracy"], 2), round(g["gap"], 2), g["budget"],
                                "yes" if g["met"] else "no"] for g in goals]})
    return {"tables": tables, "plots": plots, "verdicts": verdicts, "goals": goals, "kd_gains": gains_all,
            "claims": {"kd_lifts_every_method": claim1, "random_with_kd": claim2, "best_alpha": claim3}}


# ------------------------------------------------------------------------------------------------------- run
def _data_identity(data_root: Path) -> dict[str, tuple[int, int]]:
    """Size and modification time of every data file the suite reads: part of the key of the finished results a
    rerun reuses, so other data (another --data-root, a changed file) is never answered with old results."""
    root = Path(data_root)
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for folder in ("text_classification_sentconv", "mnist") for p in sorted((root / folder).glob("*"))
            if p.is_file()}


def _pick(value: str, allowed: dict, what: str) -> list[str]:
    items = [v.strip() for v in value.split(",") if v.strip()]
    bad = [v for v in items if v not in allowed]
    if bad or not items:
        raise EvalError(f"--{what} {value!r} is not valid: use a comma-separated subset of {list(allowed)}.")
    return items


def run(args: argparse.Namespace, *, embedder: Any = None) -> dict[str, Any]:
    """Run the suite; ``embedder`` replaces MiniLM (tests pass a tiny fake)."""
    datasets_wanted = _pick(args.datasets, DATASETS, "datasets")
    families_wanted = _pick(args.families, FAMILIES, "families")
    methods = _pick(args.methods, METHODS, "methods")
    n_seeds = args.seeds if args.seeds is not None else (2 if args.quick else 3)
    if n_seeds < 1:
        raise EvalError(f"--seeds {n_seeds} is not valid: use at least 1.")
    if getattr(args, "jobs", 1) < 1:
        raise EvalError(f"--jobs {args.jobs} is not valid: use at least 1.")
    seeds = [args.seed + i for i in range(n_seeds)]
    from datapruner._threads import torch_threads

    with torch_threads(1):  # small models on a shared 2-core machine: one thread avoids sync stalls
        return _run(args, embedder, datasets_wanted, families_wanted, methods, seeds)


def _run(args: argparse.Namespace, embedder: Any, datasets_wanted: list[str], families_wanted: list[str],
         methods: list[str], seeds: list[int]) -> dict[str, Any]:
    keeps = QUICK_KEEPS if args.quick else KEEPS
    alpha_grid = QUICK_ALPHA_GRID if args.quick else ALPHA_GRID
    alpha_keeps = QUICK_ALPHA_KEEPS if args.quick else ALPHA_KEEPS
    if not any(f in families_wanted for d in datasets_wanted for f in DATASETS[d]["families"]):
        raise EvalError("no dataset/family pair was selected: check --datasets and --families.")
    results: dict[str, dict[str, Any]] = {}
    timings: dict[str, float] = {}  # per task under "<dataset>/<family>/...", below
    partial_dir = Path(args.output_dir) / ".partial" if getattr(args, "output_dir", None) else None
    started = time.perf_counter()
    run_config = {"quick": args.quick, "methods": methods, "seeds": seeds, "keeps": list(keeps),
                  "alpha_grid": list(alpha_grid), "alpha_keeps": list(alpha_keeps), "families": FAMILIES,
                  "embedder": getattr(embedder, "identity", None), "data": _data_identity(args.data_root)}
    config_hash = hashlib.blake2b(json.dumps(run_config, sort_keys=True, default=str).encode(),
                                  digest_size=8).hexdigest()
    options = {"keeps": keeps, "methods": methods, "alpha_grid": alpha_grid, "alpha_keeps": alpha_keeps}
    parts: dict[str, list[dict[str, Any]]] = {}
    tasks: dict[str, Task] = {}

    def finish(key: str, part_file: Path | None, result: dict[str, Any]) -> None:
        parts[key].append(result)
        if part_file is not None:
            write_json(part_file, result, default=float)
        if len(parts[key]) == len(seeds):
            logger.info("%s: all %d seeds done", key, len(seeds))

    jobs = getattr(args, "jobs", 1)  # validated in run()
    pool = _pool(jobs) if jobs > 1 else None
    pending: dict[Any, tuple[str, Path | None]] = {}
    try:
        # image datasets first: they need no embedding, so workers start while the parent embeds the texts
        groups = ([n for n in datasets_wanted if DATASETS[n]["kind"] == "image"],
                  [n for n in datasets_wanted if DATASETS[n]["kind"] != "image"])
        for group in groups:
            todo: list[tuple[str, Task, int, Path | None]] = []
            for task in build_tasks(args, group, families_wanted, embedder=embedder):
                key = f"{task.dataset}/{task.family}"
                tasks[key], parts[key] = task, []
                for seed in seeds:
                    part_file = (partial_dir / f"{key.replace('/', '_')}-s{seed}-{config_hash}.json"
                                 if partial_dir else None)
                    if part_file is not None and part_file.is_file():  # an interrupted run resumes where it stopped
                        logger.info("%s seed %d: reusing finished results from %s", key, seed, part_file)
                        finish(key, None, json.loads(part_file.read_text(encoding="utf-8")))
                    else:
                        todo.append((key, task, seed, part_file))
            todo.sort(key=lambda unit: -_expected_steps(unit[1]))  # longest first: the pool never ends on one
            for key, task, seed, part_file in todo:
                if pool is None:
                    finish(key, part_file, run_seed(task, seed, **options))
                else:
                    pending[pool.submit(run_seed, task, seed, **options)] = (key, part_file)
        if pool is not None:
            from concurrent.futures import as_completed

            for future in as_completed(pending):
                finish(*pending[future], future.result())
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    results = {key: merge_seeds(tasks[key], parts[key]) for key in tasks}
    timings["wall_s"] = round(time.perf_counter() - started, 2)
    summary = summarize(results, keeps=keeps, methods=methods)
    skipped = sorted({s for r in results.values() for s in r["skipped_scorers"]})
    notes = [
        "Teacher = same family trained on all training rows with the same seed (self-distillation); it is also the "
        "'full data, no KD' reference. KD runs use alpha = datapruner.training.default_alpha(kept fraction) "
        f"(0.9 - 0.4 * keep) and T = {TEMPERATURE:g}. For the from-scratch families the teacher labels a random "
        "view of every batch (fastText: n-gram dropout, rate up to 0.8; CNN: shifts of up to 2 pixels; chosen on "
        "validation splits: eval/results/data/kd_views_tuning.json); runs without KD train on the rows as they are.",
        "Distilled fastText students at keep <= 0.3 also learn from 16 word-substitution copies of each kept row "
        "(half the words swapped for one of their 10 nearest words in MiniLM's space, a general vocabulary, not the "
        "pruned rows), labelled by the teacher, in the same number of steps (TinyBERT's augmentation; "
        "datapruner.training.substitution; chosen on validation splits: "
        "eval/results/data/kd_substitution_tuning.json and kd_substitution_by_keep.json).",
        "Students train for the family's epochs, raised on small subsets to at least min_steps optimisation steps "
        "and, for the from-scratch families, min_step_share of the steps of full-data training (chosen on "
        "validation splits: eval/results/data/step_floor_tuning.json); distilled fastText students train in "
        "batches of 256 for 4x the full-data steps at keep <= 0.3 and 2x above (kd_train, kd_step_share; "
        "eval/results/data/kd_schedule_tuning.json); options per family are in config.families.",
        "MNIST: the 10,000 images of the official test file, split once into train and test (the train images are "
        "not in the shared data); prototype/semdedup on MNIST use raw pixels; ngram_coverage (greedy coverage of "
        "word and bigram types, per class) runs on the text tasks only.",
        "Scores are recomputed per seed; EL2N and forgetting use a proxy of the student's family.",
        f"Each (task, seed) ran in one of {jobs} single-threaded worker process(es); a task's task_s is its "
        "workers' time summed over seeds, wall_s the whole run's wall-clock time.",
    ]
    if skipped:
        notes.append(f"Scorers not available when this ran (methods skipped): {skipped}.")
    if embedder is not None:
        notes.append(f"Text embeddings from a stand-in embedder ({getattr(embedder, 'identity', embedder)!r}), "
                     "not MiniLM.")
    return {
        "config": {"quick": args.quick, "datasets": datasets_wanted, "families": families_wanted,
                   "methods": methods, "keeps": list(keeps), "seeds": seeds, "alpha_grid": list(alpha_grid),
                   "alpha_keeps": list(alpha_keeps), "temperature": TEMPERATURE, "torch_threads": 1,
                   "jobs": jobs,
                   "families_config": {f: FAMILIES[f] for f in families_wanted},
                   "sizes": {k: {"n_train": r["n_train"], "n_test": r["n_test"], "n_classes": r["n_classes"]}
                             for k, r in results.items()}},
        "seed": args.seed,
        "verdicts": summary["verdicts"],
        "notes": notes,
        "tables": summary["tables"],
        "plots": summary["plots"],
        "goals": summary["goals"],
        "kd_gains": summary["kd_gains"],
        "claims": summary["claims"],
        "runs": [r for res in results.values() for r in res["runs"]],
        "alpha_sweep": [r for res in results.values() for r in res["alpha_sweep"]],
        "timings": {**timings, **{f"{k}/{name}": v for k, r in results.items() for name, v in r["timings"].items()}},
    }
