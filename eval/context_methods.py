"""Sentence selections and metrics for the ``context`` suite.

Every method works on the same sentence split (``ragprune.sentence.splitter.split_sentences``) of the same
passages and outputs, per example, the kept sentence indices of each passage. Metrics are computed from those
selections, so methods differ only in which sentences they keep:

- ``ours``: the ContextPruner's sentence scores thresholded (``score >= t``), exactly the rule of ``prune``;
- ``embedding``: cosine similarity of MiniLM bi-encoder embeddings of question and sentence (LangChain's
  ``EmbeddingsFilter`` idea applied per sentence);
- ``bm25``: Okapi BM25 (``rank_bm25``) over word tokens (lower-cased, English stop words removed,
  Porter-stemmed), with IDF from every sentence of the evaluation pool;
- ``random``: random scores.

The baselines have no natural threshold shared across questions, so they keep, per question, the
highest-scoring sentences (over all 5 passages) that fit a token budget: a fixed share of the question's tokens
(a curve), or exactly the tokens our pruner kept for that question at the default threshold ("matched").
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from eval.context_data import Example, normalize_answer

__all__ = ["Prepared", "prepare", "select_threshold", "select_budget", "evaluate", "embedding_scores",
           "bm25_scores", "random_scores", "auc"]

Span = tuple[int, int]


@dataclass
class Prepared:
    """An example with its sentence split and the token count of every sentence."""

    example: Example
    spans: list[list[Span]]  # per passage
    tokens: list[list[int]]  # per passage, per sentence
    total_tokens: int
    total_chars: int


def prepare(examples: Sequence[Example], tokenizer: Any) -> list[Prepared]:
    """Split every passage into sentences and count tokens with ``tokenizer``."""
    from ragprune.sentence.splitter import split_sentences

    out = []
    for ex in examples:
        spans = [split_sentences(p) for p in ex.passages]
        texts = [p[s:e] for p, sp in zip(ex.passages, spans) for s, e in sp]
        counts = [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]] if texts else []
        tokens, k = [], 0
        for sp in spans:
            tokens.append(counts[k:k + len(sp)])
            k += len(sp)
        out.append(Prepared(ex, spans, tokens, sum(counts), sum(len(p) for p in ex.passages)))
    return out


def _join(text: str, spans: Sequence[Span], kept: Sequence[int]) -> str:
    from ragprune.sentence.pruner import ContextPruner

    return ContextPruner._join(text, spans, kept)


Selection = list[list[int]]  # per passage: kept sentence indices (ascending)


def select_threshold(scores: list[list[float]], threshold: float) -> Selection:
    """Keep sentences with ``score >= threshold`` (the ContextPruner rule)."""
    return [[i for i, s in enumerate(ps) if s >= threshold] for ps in scores]


def select_budget(prep: Prepared, scores: list[list[float]], budget: float) -> Selection:
    """Keep the highest-scoring sentences (over all passages) whose tokens fit ``budget``, greedily."""
    flat = [(-s, p, i) for p, ps in enumerate(scores) for i, s in enumerate(ps)]
    flat.sort()
    kept: list[list[int]] = [[] for _ in scores]
    used = 0
    for _, p, i in flat:
        n = prep.tokens[p][i]
        if used + n <= budget:
            kept[p].append(i)
            used += n
    return [sorted(k) for k in kept]


def _covered(kept_spans: Sequence[Span], start: int, end: int, text: str) -> float:
    """Share of the non-space characters of ``text[start:end]`` inside ``kept_spans``."""
    total = inside = 0
    for pos in range(start, end):
        if text[pos].isspace():
            continue
        total += 1
        if any(s <= pos < e for s, e in kept_spans):
            inside += 1
    return inside / total if total else 0.0


def example_metrics(prep: Prepared, selection: Selection) -> dict[str, float | None]:
    """Per-example metrics of one selection (``None`` where a metric does not apply)."""
    ex = prep.example
    pruned = [_join(p, sp, k) for p, sp, k in zip(ex.passages, prep.spans, selection)]
    kept_tokens = sum(prep.tokens[p][i] for p, k in enumerate(selection) for i in k)
    kept_chars = sum(len(t) for t in pruned)
    out: dict[str, float | None] = {
        "chars_removed": 1 - kept_chars / prep.total_chars if prep.total_chars else 0.0,
        "tokens_removed": 1 - kept_tokens / prep.total_tokens if prep.total_tokens else 0.0,
        "kept_tokens": float(kept_tokens),
        "fully_pruned": float(kept_tokens == 0),
    }
    answers = [normalize_answer(a) for a in ex.answers]
    answers = [a for a in answers if a and a not in ("yes", "no")]
    if ex.answerable and answers:
        joined = normalize_answer(" ".join(pruned))
        out["has_answer"] = float(any(a in joined for a in answers))
    else:
        out["has_answer"] = None
    if ex.answerable and ex.answer_spans:
        hit = False
        for p, a, b in ex.answer_spans:
            kept_spans = [prep.spans[p][i] for i in selection[p]]
            if _covered(kept_spans, a, b, ex.passages[p]) == 1.0:
                hit = True
                break
        out["answer_sentence"] = float(hit)
    else:
        out["answer_sentence"] = None
    if ex.units:
        kept_units = []
        for p, a, b, is_support in ex.units:
            kept_spans = [prep.spans[p][i] for i in selection[p]]
            kept_units.append((_covered(kept_spans, a, b, ex.passages[p]) >= 0.5, is_support))
        n_support = sum(1 for _, s in kept_units if s)
        n_kept = sum(1 for k, _ in kept_units if k)
        hits = sum(1 for k, s in kept_units if k and s)
        out["sf_recall"] = hits / n_support if n_support else None
        out["sf_precision"] = hits / n_kept if n_kept else None
        out["sf_all"] = float(hits == n_support) if n_support else None
    if ex.gold:
        out["gold_passage_kept"] = float(any(selection[g] for g in ex.gold))
    return out


def evaluate(preps: Sequence[Prepared], selections: Sequence[Selection]) -> dict[str, Any]:
    """Mean of each metric over the examples where it applies, with its count."""
    rows = [example_metrics(p, s) for p, s in zip(preps, selections)]
    keys = sorted({k for r in rows for k in r})
    out: dict[str, Any] = {}
    for key in keys:
        values = [r[key] for r in rows if r.get(key) is not None]
        out[key] = float(np.mean(values)) if values else None
        out[f"n_{key}"] = len(values)
    return out


_WORD = re.compile(r"\w+", re.UNICODE)


def _bm25_tokenizer() -> Any:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    try:
        from nltk.stem import PorterStemmer

        stem = PorterStemmer().stem
    except ImportError:  # pragma: no cover - nltk is optional; fall back to no stemming
        def stem(word: str) -> str:
            return word

    cache: dict[str, str] = {}

    def tokenize(text: str) -> list[str]:
        out = []
        for word in _WORD.findall(text.lower()):
            if word in ENGLISH_STOP_WORDS:
                continue
            if word not in cache:
                cache[word] = stem(word)
            out.append(cache[word])
        return out

    return tokenize


def bm25_scores(preps: Sequence[Prepared]) -> tuple[list[list[list[float]]], list[list[float]]]:
    """BM25 score of every sentence and of every whole passage for each example's question."""
    from rank_bm25 import BM25Okapi

    tokenize = _bm25_tokenizer()
    index: dict[str, int] = {}
    corpus: list[list[str]] = []
    for prep in preps:
        for p, sp in zip(prep.example.passages, prep.spans):
            for s, e in sp:
                text = p[s:e]
                if text not in index:
                    index[text] = len(corpus)
                    corpus.append(tokenize(text) or ["<empty>"])
    bm25 = BM25Okapi(corpus)
    sentence_scores, passage_scores = [], []
    for prep in preps:
        query = tokenize(prep.example.question)
        ids = [[index[p[s:e]] for s, e in sp] for p, sp in zip(prep.example.passages, prep.spans)]
        flat = [i for row in ids for i in row]
        scores = bm25.get_batch_scores(query, flat) if flat and query else np.zeros(len(flat))
        per, k = [], 0
        for row in ids:
            per.append([float(x) for x in scores[k:k + len(row)]])
            k += len(row)
        sentence_scores.append(per)
        passage_scores.append([sum(x) for x in per])
    return sentence_scores, passage_scores


def embedding_scores(preps: Sequence[Prepared], model: Any, *, batch_size: int = 64
                     ) -> tuple[list[list[list[float]]], list[list[float]]]:
    """Cosine similarity (MiniLM bi-encoder) of the question with every sentence and every passage."""
    texts: dict[str, int] = {}
    for prep in preps:
        for item in [prep.example.question, *prep.example.passages] + [
                p[s:e] for p, sp in zip(prep.example.passages, prep.spans) for s, e in sp]:
            texts.setdefault(item, len(texts))
    vectors = model.encode(list(texts), batch_size=batch_size, normalize_embeddings=True,
                           convert_to_numpy=True, show_progress_bar=False)
    sentence_scores, passage_scores = [], []
    for prep in preps:
        q = vectors[texts[prep.example.question]]
        sentence_scores.append([[float(vectors[texts[p[s:e]]] @ q) for s, e in sp]
                                for p, sp in zip(prep.example.passages, prep.spans)])
        passage_scores.append([float(vectors[texts[p]] @ q) for p in prep.example.passages])
    return sentence_scores, passage_scores


def random_scores(preps: Sequence[Prepared], rng: np.random.Generator) -> list[list[list[float]]]:
    """Independent uniform scores per sentence."""
    return [[rng.random(len(sp)).tolist() for sp in prep.spans] for prep in preps]


def auc(positive: Sequence[float], negative: Sequence[float]) -> float | None:
    """ROC AUC of scores separating positives from negatives (``None`` if a class is empty)."""
    if not positive or not negative:
        return None
    from sklearn.metrics import roc_auc_score

    y = [1] * len(positive) + [0] * len(negative)
    return float(roc_auc_score(y, list(positive) + list(negative)))
