"""Drop-in pruning for an existing RAG pipeline: one call, shared by every adapter and the service.

:func:`prune_documents` takes a question and the retrieved passages (strings or dicts) and returns the
same shape with each passage pruned. The LangChain and LlamaIndex adapters and the HTTP service all
go through :func:`prune_passages`, so options and the failure policy mean the same thing everywhere.

Options (the same names everywhere):

- ``threshold``: a sentence is kept when its keep-score ``>=`` threshold (``None``: the pruner's default);
- ``max_tokens``: budget for ALL returned passages together, counted by the pruner's tokenizer;
  sentences are admitted greedily by keep-score until the budget is spent;
- ``reorder``: return passages by rerank score, most relevant first (default: retrieval order);
- ``top_k``: keep at most this many passages, the highest rerank scores;
- ``min_kept``: never return fewer passages than this (default 1); ``0`` allows an empty answer.

Failure policy (``on_failure``): a model error, a timeout (``timeout`` seconds) or an oversize input
(``max_input_chars`` over all passages) either returns every passage unpruned, logs a warning and
marks each passage's ``fallback`` reason (``"open"``, the default), or raises :class:`RagpruneError`
(``"closed"``).
"""
from __future__ import annotations

import copy
import logging
import math
import numbers
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any, Literal, Protocol, TypeVar, overload, runtime_checkable

from ragprune._io import check_text
from ragprune.errors import RagpruneError
from ragprune.types import PruneResult

__all__ = [
    "ContextPrunerLike",
    "DEFAULT_MAX_INPUT_CHARS",
    "HtmlPrunerLike",
    "PruneOptions",
    "PrunedPassage",
    "finish_results",
    "is_html",
    "prune_documents",
    "prune_passages",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Default cap on the characters of all passages of one call; larger inputs trigger the failure policy.
DEFAULT_MAX_INPUT_CHARS = 1_000_000

#: Characters of a passage that the content sniff of :func:`is_html` reads.
_SNIFF_CHARS = 20_000
_SPACE = re.compile(r"\s*")
_XML_DECLARATION = re.compile(r"<\?xml[^>]*>", re.IGNORECASE)
_HTML_ROOT = re.compile(r"<(?:!doctype\s+html|html|head|body)\b", re.IGNORECASE)
_HTML_BLOCK_TAG = re.compile(r"<(p|div|table|ul|ol|li|h[1-6]|section|article|main|nav|span|a|td|tr)\b[^>]*>",
                             re.IGNORECASE)
_HTML_METADATA_KEYS = ("content_type", "mime_type", "mimetype", "format", "file_type", "source_type")


@runtime_checkable
class ContextPrunerLike(Protocol):
    """What the middleware needs from a sentence pruner (``ragprune.sentence.ContextPruner``)."""

    def prune(self, question: str, contexts: Sequence[str], *, threshold: float | None = None,
              max_tokens: int | None = None) -> list[PruneResult]: ...

    def rerank(self, question: str, contexts: Sequence[str]) -> list[float]: ...


@runtime_checkable
class HtmlPrunerLike(Protocol):
    """What the middleware needs from an HTML pruner (``ragprune.html.HtmlPruner``)."""

    def prune(self, html: str, question: str | None = None, *, max_tokens: int | None = None) -> Any: ...


@dataclass(frozen=True)
class PruneOptions:
    """Validated options shared by :func:`prune_documents`, the adapters and the service.

    Args:
        threshold: Keep a sentence when its keep-score ``>=`` threshold, in [0, 1]; ``None`` uses the
            pruner's default.
        max_tokens: Token budget over all returned passages together (``None``: no budget).
        reorder: Return passages by rerank score, highest first, instead of retrieval order.
        top_k: Keep at most this many passages (highest rerank); ``None`` keeps every non-empty one.
        min_kept: Return at least this many passages (or all of them if fewer were given); ``0``
            allows an empty result. Passages restored to reach it keep their best sentence (their
            ``fallback`` is ``"min_kept"``); this wins over ``max_tokens``.
        on_failure: ``"open"`` returns the passages unpruned on a model error, timeout or oversize
            input (logged and marked in ``fallback``); ``"closed"`` raises :class:`RagpruneError`.
        timeout: Seconds allowed for the model calls of one request; ``None`` waits forever. It covers the
            pruning only: the default model is loaded before the clock starts. A late call finishes in the
            background (and the interpreter waits for it at exit).
        max_input_chars: Characters allowed over all passages of one call; more is an oversize input.
        html: ``True`` treats every passage as HTML, ``False`` none, ``None`` sniffs each one
            (metadata ``content_type``-like keys, then the content).
        html_output: For HTML passages, return the pruned ``"text"`` (default) or ``"html"``.

    Raises:
        RagpruneError: If an option is out of range or of the wrong type.
    """

    threshold: float | None = None
    max_tokens: int | None = None
    reorder: bool = False
    top_k: int | None = None
    min_kept: int = 1
    on_failure: Literal["open", "closed"] = "open"
    timeout: float | None = None
    max_input_chars: int | None = DEFAULT_MAX_INPUT_CHARS
    html: bool | None = None
    html_output: Literal["text", "html"] = "text"

    def __post_init__(self) -> None:
        # numpy and other numbers.Integral / numbers.Real values are accepted and stored as int / float,
        # so the pruners downstream see plain Python numbers
        store = object.__setattr__  # frozen dataclass
        store(self, "threshold", _check_optional_number("threshold", self.threshold, low=0.0, high=1.0))
        store(self, "max_tokens", _check_optional_int("max_tokens", self.max_tokens, low=1))
        _check_bool("reorder", self.reorder)
        store(self, "top_k", _check_optional_int("top_k", self.top_k, low=1))
        store(self, "min_kept", _check_optional_int("min_kept", self.min_kept, low=0, allow_none=False))
        if self.on_failure not in ("open", "closed"):
            raise RagpruneError(f"on_failure={self.on_failure!r} is not valid: use 'open' or 'closed'.")
        store(self, "timeout", _check_optional_number("timeout", self.timeout, low=0.0, high=None, open_low=True))
        store(self, "max_input_chars", _check_optional_int("max_input_chars", self.max_input_chars, low=1))
        if self.html is not None:
            _check_bool("html", self.html)
        if self.html_output not in ("text", "html"):
            raise RagpruneError(f"html_output={self.html_output!r} is not valid: use 'text' or 'html'.")
        if self.top_k is not None and self.min_kept > self.top_k:
            raise RagpruneError(f"min_kept={self.min_kept!r} is not valid with top_k={self.top_k!r}: "
                                "use min_kept <= top_k.")


@dataclass
class PrunedPassage:
    """One passage after the middleware ran.

    Attributes:
        index: Position of the passage in the input.
        text: The text to hand to the LLM (pruned, or the original on fallback).
        original: The input passage text.
        is_html: Whether it went through the HTML pruner.
        rerank: Relevance of the passage to the question in [0, 1]; ``None`` on fallback.
        kept: Indices of the kept sentences (text passages); ``[]`` for HTML or on fallback.
        fallback: ``None`` normally, else why the passage is returned unpruned (or restored).
        result: The pruner's own :class:`PruneResult`, when there is one.
    """

    index: int
    text: str
    original: str
    is_html: bool = False
    rerank: float | None = None
    kept: list[int] = field(default_factory=list)
    fallback: str | None = None
    result: PruneResult | None = None

    @property
    def compression(self) -> float:
        """Share of characters removed, in [0, 1]."""
        if not self.original:
            return 0.0
        return max(0.0, 1.0 - len(self.text) / len(self.original))

    def metadata(self) -> dict[str, Any]:
        """Return the metadata every adapter attaches: scores, kept sentences, lengths, fallback."""
        return {
            "rerank_score": self.rerank,
            "kept_sentences": list(self.kept),
            "original_length": len(self.original),
            "compression": round(self.compression, 6),
            "fallback": self.fallback,
        }


# --------------------------------------------------------------------------------------------------
# validation helpers


def _check_bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise RagpruneError(f"{name}={value!r} is not valid: use True or False.")


def _check_optional_int(name: str, value: Any, *, low: int, allow_none: bool = True) -> int | None:
    """Return ``value`` as an int (any ``numbers.Integral`` but bool, e.g. ``numpy.int64``), or None."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        hint = f"an integer >= {low}" + (" or None" if allow_none else "")
        raise RagpruneError(f"{name}={value!r} is not valid: use {hint}.")
    return int(value)


def _check_optional_number(name: str, value: Any, *, low: float, high: float | None,
                           open_low: bool = False) -> float | None:
    """Return ``value`` as a float (any ``numbers.Real`` but bool, e.g. ``numpy.float32``), or None."""
    if value is None:
        return None
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and value == value
    if ok:
        ok = (value > low if open_low else value >= low) and (high is None or value <= high)
    if not ok:
        if high is None:
            rng = f"a number > {low:g}" if open_low else f"a number >= {low:g}"
        else:
            rng = f"a number in [{low:g}, {high:g}]"
        raise RagpruneError(f"{name}={value!r} is not valid: use {rng} or None.")
    return float(value)


# --------------------------------------------------------------------------------------------------
# helpers shared with the adapters


def is_html(text: str, metadata: Mapping[str, Any] | None = None) -> bool:
    """Return whether a passage should go through the HTML pruner.

    Metadata wins when it names a type (``content_type``, ``mime_type``, ``format``, ...): a value
    containing ``"html"`` means HTML, any other value means not. Without it the content is sniffed: a
    document that starts with ``<!doctype html>``, ``<html>``, ``<head>`` or ``<body>`` (after an XML
    declaration and comments), or that holds at least three block tags and their closing tags, within its
    first 20 000 characters.

    Example:
        >>> is_html("<html><body><p>Hi</p></body></html>"), is_html("a < b and c > d")
        (True, False)
    """
    if metadata:
        for key in _HTML_METADATA_KEYS:
            value = metadata.get(key)
            if isinstance(value, str) and value:
                return "html" in value.lower()
    head = text[:_SNIFF_CHARS]
    if _starts_as_html(head):
        return True
    opened = _HTML_BLOCK_TAG.findall(head)
    return len(opened) >= 3 and text.count("</") >= 2


def _starts_as_html(text: str) -> bool:
    """Whether ``text`` opens with an HTML root tag, after an XML declaration and comments.

    The comments are skipped in one linear pass: a regex ``(?:<!--.*?-->\\s*)*`` backtracked exponentially over a
    run of comments that no root tag follows (22 comments took 0.6 s, each one more doubled it).
    """
    at = _SPACE.match(text).end()
    declaration = _XML_DECLARATION.match(text, at)
    if declaration:
        at = _SPACE.match(text, declaration.end()).end()
    while text.startswith("<!--", at):
        end = text.find("-->", at + 4)
        if end < 0:
            return False
        at = _SPACE.match(text, end + 3).end()
    return _HTML_ROOT.match(text, at) is not None


def _call_with_timeout(fn: Callable[[], T], timeout: float | None) -> T:
    """Run ``fn``; with a timeout, run it in a worker thread and raise TimeoutError when it is late.

    A late worker is left to finish in the background. It is not a daemon thread, so Python joins it at exit
    (exit waits for the late call): a daemon thread still inside torch when the interpreter shut down aborted
    the process ("terminate called without an active exception", exit code 134).
    """
    if timeout is None:
        return fn()
    box: dict[str, Any] = {}
    done = threading.Event()

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as err:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = err
        finally:
            done.set()

    threading.Thread(target=target, name="ragprune-prune", daemon=False).start()
    if not done.wait(timeout):
        raise TimeoutError(f"pruning took longer than timeout={timeout!r} s")
    if "error" in box:
        raise box["error"]
    return box["value"]


def _token_counter(pruner: Any) -> Callable[[str], int]:
    """Return a function counting tokens with the pruner's tokenizer (whitespace words otherwise)."""
    count = getattr(pruner, "count_tokens", None)
    if callable(count):
        return lambda text: int(count(text))
    tokenizer = getattr(pruner, "tokenizer", None)
    if tokenizer is not None and callable(getattr(tokenizer, "encode", None)):
        return lambda text: len(tokenizer.encode(text, add_special_tokens=False))
    return lambda text: len(text.split())


def _rejoin(original: str, sentences: Sequence[str], kept: Sequence[int]) -> str:
    """Join the kept sentences: runs of consecutive sentences are copied from ``original``, runs joined by a space.

    Sentences are located in ``original`` in order; one that cannot be found is used as it is.
    """
    spans: list[tuple[int, int] | None] = []
    cursor = 0
    for sentence in sentences:
        at = original.find(sentence, cursor) if sentence else -1
        if at < 0:
            spans.append(None)
        else:
            spans.append((at, at + len(sentence)))
            cursor = at + len(sentence)
    pieces: list[str] = []
    run: list[int] = []

    def flush() -> None:
        if not run:
            return
        first, last = spans[run[0]], spans[run[-1]]
        if all(spans[i] is not None for i in run) and first is not None and last is not None:
            pieces.append(original[first[0]:last[1]])
        else:
            pieces.append(" ".join(sentences[i].strip() for i in run))
        run.clear()

    for i in kept:
        if run and i != run[-1] + 1:
            flush()
        run.append(i)
    flush()
    return " ".join(p.strip() for p in pieces if p.strip())


def _html_text(result: Any, output: str) -> str:
    if isinstance(result, str):
        return result
    if output == "html":
        return str(getattr(result, "pruned_html"))
    return str(getattr(result, "text"))


def _best_block(result: Any) -> str:
    """Text of the HTML pruner's top-scored block (``""`` when it reports no blocks or scores).

    When no block fits the budget the pruned text is empty; without this the sentence stage had nothing to score
    and the ``min_kept`` restore fell back to the raw page (style, navigation, footer and all).
    """
    blocks, scores = list(getattr(result, "blocks", ())), list(getattr(result, "scores", ()))
    if not blocks or len(blocks) != len(scores):
        return ""
    return str(blocks[max(range(len(blocks)), key=lambda i: scores[i] if scores[i] == scores[i] else -math.inf)])


def _check_list(value: Any, name: str, kinds: str) -> list[Any]:
    """Return ``value`` as a list, else raise: a single string would be taken as a list of characters."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise RagpruneError(f"{name}={value!r:.60} is not valid: use a list of {kinds}.")
    return list(value)


def _check_passage(text: Any, name: str) -> str:
    """Return ``text`` if it is valid Unicode text, else raise: a bad passage is the caller's error, which the
    model would otherwise report as a model error (and fail-open hide)."""
    if isinstance(text, (bytes, bytearray)):
        raise RagpruneError(f"{name} is {type(text).__name__}: the text must be a str (decode it first).")
    if not isinstance(text, str):
        raise RagpruneError(f"{name}={text!r:.60} is not valid: use a string.")
    check_text(text, name)
    return text


def _failure(reason: str, detail: str, options: PruneOptions, passages: Sequence[str],
             indices: Sequence[int] | None = None, flags: Sequence[bool] | None = None) -> list[PrunedPassage]:
    """Apply the failure policy: raise (closed) or return the passages unpruned and marked (open)."""
    message = f"{reason}: {detail}".replace("\n", " ")
    if options.on_failure == "closed":
        raise RagpruneError(f"pruning failed ({message}); on_failure='closed' so nothing is returned.")
    logger.warning("pruning failed (%s); returning %d passage(s) unpruned (fail-open)", message, len(passages))
    indices = list(range(len(passages))) if indices is None else list(indices)
    flags = [False] * len(passages) if flags is None else list(flags)
    return [PrunedPassage(index=i, text=p, original=p, is_html=h, fallback=reason)
            for i, p, h in zip(indices, passages, flags)]


# --------------------------------------------------------------------------------------------------
# the core


def prune_passages(question: str, passages: Sequence[str], *, pruner: Any = None, html_pruner: Any = None,
                   options: PruneOptions | None = None, html_flags: Sequence[bool] | None = None,
                   ) -> list[PrunedPassage]:
    """Return the passages to keep, pruned, in output order (the core every adapter calls).

    Args:
        question: The user's question.
        passages: Retrieved passage texts (plain text or HTML).
        pruner: A sentence pruner with ``prune`` and ``rerank`` (``ContextPruner``); ``None`` builds the
            default ``ragprune.sentence.ContextPruner()``.
        html_pruner: An HTML pruner with ``prune(html, question, *, max_tokens)``; ``None`` builds the
            default ``ragprune.html.HtmlPruner()`` when an HTML passage is met.
        options: The options; ``None`` uses the defaults of :class:`PruneOptions`.
        html_flags: One flag per passage saying whether it is HTML; ``None`` follows ``options.html``.

    Returns:
        The kept passages as :class:`PrunedPassage`, in retrieval order (or by rerank score when
        ``options.reorder``); each records its input ``index``.

    Raises:
        RagpruneError: On bad input, or on a model error, timeout or oversize input when
            ``options.on_failure == "closed"``.
    """
    options = PruneOptions() if options is None else options
    if not isinstance(options, PruneOptions):
        raise RagpruneError(f"options={options!r} is not valid: use a ragprune.middleware.PruneOptions.")
    if not isinstance(question, str) or not question.strip():
        raise RagpruneError(f"question={question!r:.60} is not valid: use a non-empty string.")
    check_text(question, "question")
    passages = [_check_passage(passage, f"passages[{i}]")
                for i, passage in enumerate(_check_list(passages, "passages", "strings"))]
    if html_flags is None:
        html_flags = [is_html(p) if options.html is None else options.html for p in passages]
    html_flags = list(html_flags)
    if len(html_flags) != len(passages):
        raise RagpruneError(f"html_flags has {len(html_flags)} entries for {len(passages)} passages: "
                            "give one flag per passage.")
    if not passages:
        return []
    total_chars = sum(len(p) for p in passages)
    if options.max_input_chars is not None and total_chars > options.max_input_chars:
        return _failure("oversize", f"{total_chars} characters > max_input_chars={options.max_input_chars}",
                        options, passages, flags=html_flags)

    try:
        # the default pruners are built (and the model loaded) before the clock starts: a first call would
        # otherwise spend its whole timeout loading the model and always fall back
        pruner = _default_pruner() if pruner is None else pruner
        if html_pruner is None and any(html_flags):
            html_pruner = _default_html_pruner()
        outcomes = _call_with_timeout(
            lambda: _run_models(question, passages, html_flags, pruner, html_pruner, options), options.timeout)
    except TimeoutError as err:
        return _failure("timeout", str(err), options, passages, flags=html_flags)
    except Exception as err:  # noqa: BLE001 - any model failure goes through the policy
        return _failure("model_error", f"{type(err).__name__}: {err}", options, passages, flags=html_flags)
    return _select(outcomes, options)


@dataclass
class _Scored:
    passage: PrunedPassage
    sentences: list[str]           # kept sentences, original order (text passages)
    sentence_ids: list[int]
    sentence_scores: list[float]
    best_sentence: tuple[int, str] | None  # restore candidate for min_kept
    source: str = ""        # the text the pruner saw (the HTML pruner's text for HTML passages)
    whole: bool = False     # one indivisible unit (HTML returned as HTML)


def _scored_text(index: int, original: str, res: PruneResult, *, source: str | None = None,
                 is_html: bool = False) -> _Scored:
    kept = sorted(int(k) for k in res.kept)
    scores = [float(x) for x in res.sentence_scores]
    best = None
    if res.sentences:
        j = max(range(len(res.sentences)), key=lambda k: scores[k] if k < len(scores) else 0.0)
        best = (j, res.sentences[j])
    return _Scored(
        PrunedPassage(index=index, text=res.pruned, original=original, is_html=is_html, rerank=float(res.rerank),
                      kept=kept, result=res),
        sentences=[res.sentences[k] for k in kept], sentence_ids=kept,
        sentence_scores=[scores[k] if k < len(scores) else 0.0 for k in kept], best_sentence=best,
        source=original if source is None else source)


def finish_results(passages: Sequence[str], results: Sequence[PruneResult], *, options: PruneOptions,
                   pruner: Any = None) -> list[PrunedPassage]:
    """Apply ``top_k``, the ``max_tokens`` budget, ``min_kept`` and ordering to results already computed.

    The service uses it after a batched ``prune_batch`` call; :func:`prune_passages` does the same.

    Args:
        passages: The input passages.
        results: One :class:`PruneResult` per passage, computed with ``options.threshold``.
        options: The options.
        pruner: Used only to count tokens for ``max_tokens`` (``count_tokens`` or ``tokenizer``).

    Returns:
        The kept passages, as :func:`prune_passages` returns them.
    """
    if len(results) != len(passages):
        raise RagpruneError(f"results has {len(results)} entries for {len(passages)} passages: give one per passage.")
    scored = [_scored_text(i, p, r) for i, (p, r) in enumerate(zip(passages, results))]
    counter = _token_counter(pruner) if options.max_tokens is not None else (lambda text: 0)
    return _select((scored, counter, pruner), options)


def _run_models(question: str, passages: list[str], html_flags: list[bool], pruner: Any, html_pruner: Any,
                options: PruneOptions) -> tuple[list[_Scored], Callable[[str], int], Any]:
    html_ids = [i for i, h in enumerate(html_flags) if h]
    scored: dict[int, _Scored] = {}
    # Stage 1 for HTML passages: the HTML pruner cleans the page and keeps the best blocks (within the
    # budget). Returned as text, its output then goes through the sentence pruner like any passage.
    sources = {i: passages[i] for i, h in enumerate(html_flags) if not h}
    whole: list[tuple[int, str, str, str]] = []
    if html_ids:
        for i in html_ids:
            res = html_pruner.prune(passages[i], question, max_tokens=options.max_tokens)
            if options.html_output == "text":  # the sentence stage then trims a best block over budget
                sources[i] = _html_text(res, "text") or _best_block(res)
            else:  # when nothing fits, the min_kept restore is the best block's text as a paragraph, not the page
                best = _best_block(res)
                whole.append((i, _html_text(res, "html"), _html_text(res, "text"), f"<p>{escape(best)}</p>" if best
                              else ""))
    text_ids = sorted(sources)
    if text_ids:
        results = list(pruner.prune(question, [sources[i] for i in text_ids], threshold=options.threshold))
        if len(results) != len(text_ids):
            raise RuntimeError(f"the pruner returned {len(results)} results for {len(text_ids)} contexts")
        for i, res in zip(text_ids, results):
            scored[i] = _scored_text(i, passages[i], res, source=sources[i], is_html=html_flags[i])
    if whole:
        reranks = list(pruner.rerank(question, [plain for _, _, plain, _ in whole]))
        if len(reranks) != len(whole):
            raise RuntimeError(f"the pruner returned {len(reranks)} rerank scores for {len(whole)} contexts")
        for (i, out, _, best), score in zip(whole, reranks):
            restore = out if out.strip() else best
            scored[i] = _Scored(
                PrunedPassage(index=i, text=out, original=passages[i], is_html=True, rerank=float(score)),
                sentences=[], sentence_ids=[], sentence_scores=[],
                best_sentence=(0, restore) if restore.strip() else None, source=out, whole=True)
    counter = _token_counter(pruner) if options.max_tokens is not None else (lambda text: 0)
    return [scored[i] for i in range(len(passages))], counter, pruner


def _select(outcome: tuple[list[_Scored], Callable[[str], int], Any], options: PruneOptions) -> list[PrunedPassage]:
    scored, count_tokens, _ = outcome
    by_rank = sorted(scored, key=lambda s: (-(s.passage.rerank or 0.0), s.passage.index))
    alive = [s for s in by_rank if s.passage.text.strip()]
    if options.top_k is not None:
        alive = alive[: options.top_k]

    if options.max_tokens is not None:
        alive = _apply_budget(alive, options.max_tokens, count_tokens)

    if len(alive) < options.min_kept:
        chosen = {s.passage.index for s in alive}
        for s in by_rank:
            if len(alive) >= options.min_kept:
                break
            if s.passage.index in chosen:
                continue
            p = s.passage
            if s.best_sentence is not None:
                j, sentence = s.best_sentence
                p.text = sentence if s.whole else sentence.strip()
                p.kept = [] if s.whole else [j]
            else:  # nothing to choose from (an empty context): return it as it came
                p.text, p.kept = p.original, []
            p.fallback = "min_kept"
            alive.append(s)
        logger.info("restored passages to reach min_kept=%d", options.min_kept)

    kept = [s.passage for s in alive]
    if options.reorder:
        kept.sort(key=lambda p: (-(p.rerank or 0.0), p.index))
    else:
        kept.sort(key=lambda p: p.index)
    return kept


def _apply_budget(alive: list[_Scored], budget: int, count_tokens: Callable[[str], int]) -> list[_Scored]:
    """Admit units greedily by score until ``budget`` tokens are spent; rebuild each passage's text.

    Units are the kept sentences of each passage (scored by keep-score) and HTML passages returned as
    HTML (one unit each, scored by rerank; the HTML pruner already received the budget). The final texts are counted
    again and the weakest admitted unit dropped while the total is over budget (joining can change
    token counts slightly).
    """
    units: list[tuple[float, int, int]] = []  # (score, passage position, sentence position or -1)
    for pos, s in enumerate(alive):
        if s.whole:
            units.append((s.passage.rerank or 0.0, pos, -1))
        else:
            units.extend((score, pos, k) for k, score in enumerate(s.sentence_scores))
    units.sort(key=lambda u: (-u[0], u[1], u[2]))
    spent = 0
    admitted: list[tuple[float, int, int]] = []
    for unit in units:
        _, pos, k = unit
        cost = count_tokens(alive[pos].passage.text if k < 0 else alive[pos].sentences[k])
        if spent + cost <= budget:
            spent += cost
            admitted.append(unit)

    def texts(chosen: list[tuple[float, int, int]]) -> dict[int, str]:
        out: dict[int, str] = {}
        for pos, s in enumerate(alive):
            ks = sorted(k for _, p, k in chosen if p == pos)
            if not ks:
                continue
            if s.whole or len(ks) == len(s.sentences):
                out[pos] = s.passage.text
            else:
                result = s.passage.result
                all_sentences = result.sentences if result is not None else s.sentences
                ids = [s.sentence_ids[k] for k in ks] if result is not None else ks
                out[pos] = _rejoin(s.source, all_sentences, ids)
        return out

    final = texts(admitted)
    while admitted and sum(count_tokens(t) for t in final.values()) > budget:
        admitted.pop()  # the weakest (units were admitted by decreasing score)
        final = texts(admitted)
    out = []
    for pos, s in enumerate(alive):
        if pos not in final:
            continue
        if not s.whole:
            ks = sorted(k for _, p, k in admitted if p == pos)
            s.passage.kept = [s.sentence_ids[k] for k in ks]
        s.passage.text = final[pos]
        out.append(s)
    return out


_DEFAULTS: dict[str, Any] = {}
_DEFAULTS_LOCK = threading.Lock()


def _default_pruner() -> Any:
    """The shared default ``ContextPruner``, its model loaded here (once, under the lock), not in a timed call."""
    with _DEFAULTS_LOCK:
        if "pruner" not in _DEFAULTS:
            from ragprune.sentence.pruner import ContextPruner

            pruner = ContextPruner()
            _ = pruner.tokenizer  # loads the model
            _DEFAULTS["pruner"] = pruner
        return _DEFAULTS["pruner"]


def _default_html_pruner() -> Any:
    with _DEFAULTS_LOCK:
        if "html" not in _DEFAULTS:
            from ragprune.html import HtmlPruner

            _DEFAULTS["html"] = HtmlPruner()
        return _DEFAULTS["html"]


# --------------------------------------------------------------------------------------------------
# the one plain-Python call


@overload
def prune_documents(question: str, documents: Sequence[str], **kwargs: Any) -> list[str]: ...
@overload
def prune_documents(question: str, documents: Sequence[Mapping[str, Any]], **kwargs: Any) -> list[dict[str, Any]]: ...


def prune_documents(question: str, documents: Sequence[str] | Sequence[Mapping[str, Any]], *,
                    pruner: Any = None, html_pruner: Any = None, threshold: float | None = None,
                    max_tokens: int | None = None, reorder: bool = False, top_k: int | None = None,
                    min_kept: int = 1, on_failure: Literal["open", "closed"] = "open",
                    timeout: float | None = None, max_input_chars: int | None = DEFAULT_MAX_INPUT_CHARS,
                    html: bool | None = None, html_output: Literal["text", "html"] = "text",
                    text_key: str = "text", metadata_key: str | None = "ragprune",
                    ) -> list[str] | list[dict[str, Any]]:
    """Return the retrieved documents pruned to what answers ``question``, in the shape they came in.

    Strings give strings. Dicts give shallow copies with ``text_key`` replaced by the pruned text and,
    unless ``metadata_key`` is ``None``, a ``metadata_key`` entry holding ``rerank_score``,
    ``kept_sentences``, ``original_length``, ``compression`` and ``fallback``. A dict with a
    ``metadata`` mapping is sniffed for HTML through its ``content_type``-like keys. Passages pruned to
    nothing are dropped, so the result may be shorter than the input (never below ``min_kept``).

    Args:
        question: The user's question.
        documents: Retrieved passages: all strings, or all dicts holding ``text_key`` (text as ``str``: decode
            bytes first).
        pruner: Sentence pruner (``ContextPruner``); ``None`` loads the default model once.
        html_pruner: HTML pruner (``HtmlPruner``); ``None`` builds the default when needed.
        threshold, max_tokens, reorder, top_k, min_kept, on_failure, timeout, max_input_chars, html,
            html_output: See :class:`PruneOptions`.
        text_key: Key of the passage text in dict documents.
        metadata_key: Key under which dict outputs get the pruning metadata (not ``text_key``); ``None`` adds
            nothing.

    Returns:
        The kept documents, same element type as the input.

    Raises:
        RagpruneError: On a bad option or document, or a failure with ``on_failure="closed"``.

    Example:
        >>> from ragprune.middleware import prune_documents
        >>> class Tiny:  # any object with prune/rerank works; ContextPruner is the real one
        ...     def prune(self, question, contexts, *, threshold=None, max_tokens=None):
        ...         from ragprune.types import PruneResult
        ...         out = []
        ...         for c in contexts:
        ...             sents = c.split(". ")
        ...             scores = [float("Paris" in s) for s in sents]
        ...             kept = [i for i, s in enumerate(scores) if s >= 0.5]
        ...             out.append(PruneResult(". ".join(sents[i] for i in kept), kept, sents, scores,
        ...                                    max(scores), len(c)))
        ...         return out
        ...     def rerank(self, question, contexts):
        ...         return [float("Paris" in c) for c in contexts]
        >>> prune_documents("Capital of France?", ["Paris is the capital. It rains.", "Cats purr."],
        ...                 pruner=Tiny())
        ['Paris is the capital']
    """
    options = PruneOptions(threshold=threshold, max_tokens=max_tokens, reorder=reorder, top_k=top_k,
                           min_kept=min_kept, on_failure=on_failure, timeout=timeout,
                           max_input_chars=max_input_chars, html=html, html_output=html_output)
    documents = _check_list(documents, "documents", "strings or of dicts")
    if not isinstance(text_key, str):
        raise RagpruneError(f"text_key={text_key!r} is not valid: use a string.")
    if metadata_key is not None and (not isinstance(metadata_key, str) or metadata_key == text_key):
        raise RagpruneError(f"metadata_key={metadata_key!r} is not valid: use a string other than "
                            f"text_key={text_key!r} (it would replace the text), or None.")
    dicts = [isinstance(d, Mapping) for d in documents]
    if not any(dicts):
        texts = [_check_passage(d, f"documents[{i}]") for i, d in enumerate(documents)]
        kept = prune_passages(question, texts, pruner=pruner, html_pruner=html_pruner, options=options)
        return [p.text for p in kept]
    if not all(dicts):
        raise RagpruneError("documents is not valid: use a list of strings or a list of dicts, not a mix.")
    texts, flags = [], []
    for i, doc in enumerate(documents):
        if text_key not in doc:
            raise RagpruneError(f"documents[{i}] has no {text_key!r} key (keys: {sorted(doc, key=str)}): "
                                "pass text_key=... naming the text field.")
        text = _check_passage(doc[text_key], f"documents[{i}][{text_key!r}]")
        texts.append(text)
        meta = doc.get("metadata") if isinstance(doc.get("metadata"), Mapping) else doc
        flags.append(is_html(text, meta) if options.html is None else options.html)
    kept = prune_passages(question, texts, pruner=pruner, html_pruner=html_pruner, options=options,
                          html_flags=flags)
    out = []
    for p in kept:
        doc = copy.copy(dict(documents[p.index]))
        doc[text_key] = p.text
        if metadata_key is not None:
            doc[metadata_key] = p.metadata()
        out.append(doc)
    return out
