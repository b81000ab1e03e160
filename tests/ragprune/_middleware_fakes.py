"""Fakes implementing the ContextPruner / HtmlPruner interfaces, for the middleware, adapter and service tests.

Keep-score of a sentence: the share of the question's content words it contains (deterministic, fast).
"""
from __future__ import annotations

import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from ragprune.types import PruneResult

_WORD = re.compile(r"[a-z0-9]+")
_STOP = {"the", "a", "an", "of", "is", "what", "who", "which", "in", "to", "and", "does", "did", "how", "was"}


def words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP}


def split_sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s]


class FakePruner:
    """Implements prune / prune_batch / rerank / count_tokens like ragprune.sentence.ContextPruner."""

    default_threshold = 0.5

    def __init__(self, *, fail: BaseException | None = None, delay: float = 0.0) -> None:
        self.fail = fail
        self.delay = delay
        self.calls: list[tuple[str, int]] = []  # (method, number of contexts)
        self.batch_sizes: list[int] = []
        self._lock = threading.Lock()

    def _score(self, question: str, sentence: str) -> float:
        q = words(question)
        return len(q & words(sentence)) / len(q) if q else 0.0

    def _one(self, question: str, context: str, threshold: float | None, max_tokens: int | None) -> PruneResult:
        threshold = self.default_threshold if threshold is None else threshold
        sents = split_sentences(context)
        scores = [self._score(question, s) for s in sents]
        kept = [i for i, s in enumerate(scores) if s >= threshold]
        if max_tokens is not None:
            budget, chosen = max_tokens, []
            for i in sorted(kept, key=lambda i: -scores[i]):
                cost = self.count_tokens(sents[i])
                if cost <= budget:
                    budget -= cost
                    chosen.append(i)
            kept = sorted(chosen)
        rerank = max(scores, default=0.0)
        return PruneResult(pruned=" ".join(sents[i] for i in kept), kept=kept, sentences=sents,
                           sentence_scores=scores, rerank=rerank, original_chars=len(context))

    def _enter(self, method: str, n: int) -> None:
        with self._lock:
            self.calls.append((method, n))
        if self.delay:
            time.sleep(self.delay)
        if self.fail is not None:
            raise self.fail

    def prune(self, question: str, contexts: Sequence[str], *, threshold: float | None = None,
              max_tokens: int | None = None) -> list[PruneResult]:
        self._enter("prune", len(contexts))
        return [self._one(question, c, threshold, max_tokens) for c in contexts]

    def prune_batch(self, questions: Sequence[str], contexts_per_question: Sequence[Sequence[str]], *,
                    threshold: float | None = None, max_tokens: int | None = None) -> list[list[PruneResult]]:
        self._enter("prune_batch", sum(len(c) for c in contexts_per_question))
        with self._lock:
            self.batch_sizes.append(len(questions))
        return [[self._one(q, c, threshold, max_tokens) for c in cs] for q, cs in zip(questions, contexts_per_question)]

    def rerank(self, question: str, contexts: Sequence[str]) -> list[float]:
        self._enter("rerank", len(contexts))
        return [max((self._score(question, s) for s in split_sentences(c)), default=0.0) for c in contexts]

    @staticmethod
    def count_tokens(text: str) -> int:
        return len(text.split())


@dataclass
class FakeHtmlResult:
    pruned_html: str
    text: str


class FakeHtmlPruner:
    """Keeps the <p> blocks sharing a word with the question; records its calls."""

    def __init__(self, *, fail: BaseException | None = None) -> None:
        self.fail = fail
        self.calls: list[str] = []

    def prune(self, html: str, question: str | None = None, *, max_tokens: int | None = None) -> FakeHtmlResult:
        self.calls.append(html)
        if self.fail is not None:
            raise self.fail
        blocks = re.findall(r"<p>(.*?)</p>", html, flags=re.S)
        q = words(question or "")
        kept = [b for b in blocks if words(b) & q] if q else blocks
        return FakeHtmlResult(pruned_html="".join(f"<p>{b}</p>" for b in kept), text="\n".join(kept))


PARIS = ("Paris is the capital of France. The city has many museums. "
         "It rains often in autumn.")
BERLIN = "Berlin is the capital of Germany. Germany borders France."
CATS = "Cats sleep a lot. They purr when happy."
QUESTION = "What is the capital of France?"


_TINY: list = []


def tiny_context_pruner():  # noqa: ANN201 - the real ContextPruner on a tiny random model (built once)
    """The real ``ContextPruner`` over a randomly initialised tiny BERT (fast; scores are arbitrary)."""
    if not _TINY:
        from ragprune.sentence.model import build_tiny_pruner_model
        from ragprune.sentence.pruner import ContextPruner

        model, tokenizer = build_tiny_pruner_model(seed=0)
        _TINY.append(ContextPruner((model, tokenizer, {"max_length": 64, "threshold": 0.5})))
    return _TINY[0]


def real_html_pruner():  # noqa: ANN201
    """The real ``HtmlPruner`` with the BM25 ranker, or skip when it is not available."""
    import pytest

    html = pytest.importorskip("ragprune.html")
    if not hasattr(html, "HtmlPruner"):
        pytest.skip("ragprune.html.HtmlPruner is not available")
    return html.HtmlPruner(ranker="bm25")
