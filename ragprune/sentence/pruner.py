"""``ContextPruner``: Provence-style sentence pruning with one cross-encoder pass per (question, window).

The model reads ``[CLS] question [SEP] context [SEP]`` and returns a keep-logit for every token and one
relevance (reranking) logit. The pruner turns token keep-probabilities into sentence decisions:

1. the context is tokenised once (with character offsets);
2. if question + context does not fit the model window, the context is cut into overlapping windows, each
   paired with the (possibly truncated) question; every context token is covered by at least one window and
   its keep-probability is the mean over the windows that cover it, so no part is silently dropped;
3. a sentence's score is the mean keep-probability of its tokens; it is kept when ``score >= threshold``;
4. the reranking score of a context is the sigmoid of the reranking logit, maximised over its windows;
5. an optional ``max_tokens`` budget then keeps the highest-scoring kept sentences that fit, in their
   original order.

All windows of a call (all contexts, all questions of a batch) are sorted by length and run in batches of
``batch_size`` under :func:`torch.inference_mode`.
"""
from __future__ import annotations

import logging
import math
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

import numpy as np

from ragprune._io import check_text
from ragprune.errors import RagpruneError
from ragprune.types import PruneResult

__all__ = ["ContextPruner", "DEFAULT_THRESHOLD", "PRECISIONS", "has_native_bfloat16"]

logger = logging.getLogger(__name__)

#: Threshold used when neither the call, the pruner nor the checkpoint config sets one.
DEFAULT_THRESHOLD = 0.5
#: Inference precisions: ``"auto"`` is ``"bfloat16"`` where the device computes it natively, else ``"float32"``;
#: ``python -m eval context`` measures each against float32 (bfloat16 kept every goal metric; int8 lost up to 0.07).
PRECISIONS = ("auto", "float32", "bfloat16", "int8")
#: Share of the model window a question may take at most (longer questions are truncated).
QUESTION_SHARE = 0.25

Span = tuple[int, int]


@dataclass
class _Scored:
    """Token-level output for one (question, text) pair."""

    offsets: np.ndarray  # (n_tokens, 2) character offsets into the text
    probs: np.ndarray  # (n_tokens,) keep-probability, mean over covering windows
    rerank: float  # max over windows of sigmoid(rerank logit); 0.0 for a text without tokens
    n_windows: int


def _check_threshold(threshold: Any, name: str = "threshold") -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, Real) or not 0.0 <= float(threshold) <= 1.0 \
            or math.isnan(float(threshold)):
        raise RagpruneError(f"{name}={threshold!r} is not valid: use a number in [0, 1].")
    return float(threshold)


def _check_positive_int(value: Any, name: str, *, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        extra = " or None" if allow_none else ""
        raise RagpruneError(f"{name}={value!r} is not valid: use a positive integer{extra}.")
    return int(value)


def _check_question(question: Any, name: str = "question") -> str:
    if not isinstance(question, str):
        raise RagpruneError(f"{name} must be a string, got {type(question).__name__}.")
    if not question.strip():
        raise RagpruneError(f"{name}={question!r} is empty: pass the question the contexts should answer.")
    check_text(question, name)
    return question


def _check_contexts(contexts: Any, name: str = "contexts") -> list[str]:
    if isinstance(contexts, str):
        check_text(contexts, name)
        return [contexts]
    if not isinstance(contexts, Sequence):
        raise RagpruneError(f"{name} must be a string or a list of strings, got {type(contexts).__name__}.")
    out = list(contexts)
    for i, context in enumerate(out):
        if not isinstance(context, str):
            raise RagpruneError(f"{name}[{i}] must be a string, got {type(context).__name__}.")
        check_text(context, f"{name}[{i}]")
    return out


def _config_get(config: Any, key: str, default: Any = None) -> Any:
    if config is None:
        return default
    if isinstance(config, dict):
        return config.get(key, default)
    return getattr(config, key, default)


def has_native_bfloat16(device: Any) -> bool:
    """Whether ``device`` multiplies bfloat16 matrices in hardware (AVX512-BF16 or AMX CPUs, Ampere+ GPUs).

    Without it bfloat16 is emulated and slower than float32, so ``precision="auto"`` stays in float32.
    """
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if device.type != "cpu":
        return False
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in probes)


def _windows(n_tokens: int, size: int, overlap: int) -> list[tuple[int, int]]:
    """``(start, end)`` token windows covering ``range(n_tokens)``: as few as fit ``size`` with ``overlap``, all of
    one length and evenly spread, so a context just over the window costs two short windows, not two full ones."""
    if n_tokens <= size:
        return [(0, n_tokens)]
    count = -(-(n_tokens - overlap) // (size - overlap))  # fewest windows with count*size - (count-1)*overlap >= n
    length = -(-(n_tokens + (count - 1) * overlap) // count)  # <= size by the choice of count
    starts = sorted({(n_tokens - length) * i // (count - 1) for i in range(count)})
    return [(start, start + length) for start in starts]


#: Cost of one forward pass in padded-token equivalents, per device type: a length group is split off only when
#: its padding costs more than a pass. Fitted as ``time = pass + tokens * per_token`` over batch sizes and lengths
#: by ``scripts/measure_forward_overhead.py`` (``eval/results/forward_overhead/``): CPU, 2 threads, bfloat16:
#: 4.5 ms a pass, 87 us a token (51 tokens); H100, bfloat16: 2.2 ms a pass, 14 ns a token, so padding is all but
#: free there and windows go in as few passes as ``batch_size`` allows.
FORWARD_OVERHEAD_TOKENS = {"cpu": 48, "cuda": 150_000}


def _length_batches(lengths: Sequence[int], batch_size: int, overhead_tokens: float = FORWARD_OVERHEAD_TOKENS["cpu"]
                    ) -> list[list[int]]:
    """Group items (indices into ``lengths``) into batches of at most ``batch_size`` that minimise padded tokens
    plus ``overhead_tokens`` per batch: items sorted by length, cut where padding outweighs a pass."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    best = [0.0] + [math.inf] * len(order)  # best[j]: cost of batching the j shortest items
    cut = [0] * (len(order) + 1)
    for j in range(1, len(order) + 1):
        for i in range(max(0, j - batch_size), j):  # a batch of order[i:j], padded to its longest, order[j-1]
            cost = best[i] + overhead_tokens + (j - i) * lengths[order[j - 1]]
            if cost < best[j]:
                best[j], cut[j] = cost, i
    batches, j = [], len(order)
    while j:
        batches.append(order[cut[j]:j])
        j = cut[j]
    return batches[::-1]


class ContextPruner:
    """Prune retrieved contexts to the sentences a cross-encoder labels as needed for the question.

    Args:
        model: Path of a checkpoint folder, or the Hub id of a repository holding one (see
            :func:`ragprune.sentence.model.load_pruner_model`); ``None`` loads the default checkpoint shipped in
            ``ragprune/checkpoints/default``; or an already loaded ``(model, tokenizer, config)`` triple as
            returned by ``load_pruner_model``.
        threshold: A sentence is kept when its score (mean token keep-probability) is ``>=`` threshold, in
            [0, 1]. ``0`` keeps everything. ``None`` uses the checkpoint's validated ``threshold``
            (or :data:`DEFAULT_THRESHOLD` when the config has none).
        always_keep_first: Keep the first sentence of every non-empty context (a title or lead sentence)
            whatever its score; it still counts against ``max_tokens``.
        batch_size: At most this many windows per forward pass; windows are grouped by length so that short
            ones are not padded to long ones when a separate pass is cheaper.
        device: Torch device string; ``None`` picks CUDA when available, else CPU.
        precision: One of :data:`PRECISIONS`. ``"auto"`` (default) runs in bfloat16 where the device has
            native bfloat16 arithmetic (about 1.5x less CPU time than float32 on such a CPU, same goal metrics in
            ``python -m eval context``), else in float32; ``"int8"`` applies dynamic int8 quantisation to the
            ``Linear`` layers (CPU only; faster still, but it changes decisions: HotpotQA supporting-fact recall
            -0.07 there). A loaded model passed as ``model`` is copied, never converted in place. In bfloat16 a
            sentence's score can move by a few thousandths with what else is in its batch (padding changes the
            rounding), so a score that close to the threshold can flip; ``"float32"`` gives batch-independent
            scores (to 1e-6).
        max_question_tokens: Questions longer than this many tokens are truncated (their first tokens are
            kept) with a warning. ``None`` allows a quarter of the model window (:data:`QUESTION_SHARE`).
        window_overlap: Tokens shared by consecutive windows of a long context; ``None`` uses a quarter of
            the context part of the window.
        splitter: ``text -> [(start, end), ...]`` sentence spans; ``None`` uses
            :func:`ragprune.sentence.splitter.split_sentences`.

    Example:
        >>> pruner = ContextPruner()  # doctest: +SKIP
        >>> [r.pruned for r in pruner.prune("Who wrote Hamlet?", ["Hamlet is a tragedy. Shakespeare wrote it "
        ...     "around 1600. Paris is in France."])]  # doctest: +SKIP
        ['Hamlet is a tragedy. Shakespeare wrote it around 1600.']
    """

    def __init__(
        self,
        model: str | os.PathLike[str] | tuple[Any, Any, Any] | None = None,
        *,
        threshold: float | None = None,
        always_keep_first: bool = False,
        batch_size: int = 32,
        device: str | None = None,
        precision: str = "auto",
        max_question_tokens: int | None = None,
        window_overlap: int | None = None,
        splitter: Callable[[str], list[Span]] | None = None,
    ) -> None:
        if threshold is not None:
            threshold = _check_threshold(threshold)
        _check_positive_int(batch_size, "batch_size")
        _check_positive_int(max_question_tokens, "max_question_tokens", allow_none=True)
        if window_overlap is not None and (isinstance(window_overlap, bool) or not isinstance(window_overlap, Integral)
                                           or window_overlap < 0):
            raise RagpruneError(f"window_overlap={window_overlap!r} is not valid: use an integer >= 0 or None.")
        if precision not in PRECISIONS:
            raise RagpruneError(f"precision={precision!r} is not valid: use one of {', '.join(PRECISIONS)}.")
        if not isinstance(always_keep_first, bool):
            raise RagpruneError(f"always_keep_first={always_keep_first!r} is not valid: use True or False.")
        if splitter is not None and not callable(splitter):
            raise RagpruneError(f"splitter={splitter!r} is not valid: pass a callable text -> [(start, end)].")
        if isinstance(model, tuple):
            if len(model) != 3:
                raise RagpruneError(f"model has {len(model)} items: pass a path or a (model, tokenizer, config) triple.")
        elif model is not None and not isinstance(model, (str, os.PathLike)):
            raise RagpruneError(f"model must be a path, None or a (model, tokenizer, config) triple, got "
                                f"{type(model).__name__}.")
        self.model = model
        self.threshold = threshold
        self.always_keep_first = always_keep_first
        self.batch_size = int(batch_size)
        self.device = device
        self.precision = precision
        self.max_question_tokens = max_question_tokens
        self.window_overlap = window_overlap
        self.splitter = splitter
        self._loaded: tuple[Any, Any, Any] | None = None
        self.active_precision: str | None = None  # the precision in use, set on first load
        self._warned_long_question = False

    # ------------------------------------------------------------------ loading

    def _load(self) -> tuple[Any, Any, Any]:
        if self._loaded is not None:
            return self._loaded
        if isinstance(self.model, tuple):
            module, tokenizer, config = self.model
        else:
            import torch

            from ragprune.sentence.model import load_pruner_model

            device = self.device or ("cuda" if torch.cuda.is_available() else None)  # None: the documented default
            module, tokenizer, config = load_pruner_model(self.model, device=device)
        module.eval()
        module = self._convert(module, copy_first=isinstance(self.model, tuple))
        if self.splitter is None:
            from ragprune.sentence.splitter import split_sentences

            self.splitter = split_sentences
        self._loaded = (module, tokenizer, config)
        return self._loaded

    def _convert(self, module: Any, *, copy_first: bool) -> Any:
        """Return ``module`` in the inference precision (a copy when ``copy_first``); sets ``active_precision``."""
        import copy

        import torch

        param = next(module.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
        precision = self.precision
        if precision == "auto":
            precision = "bfloat16" if has_native_bfloat16(device) else "float32"
        if precision == "int8" and device.type != "cpu":
            warnings.warn("precision='int8' is CPU only: running in float32 on this device.", stacklevel=4)
            precision = "float32"
        if precision == "int8":
            module = torch.ao.quantization.quantize_dynamic(module, {torch.nn.Linear}, dtype=torch.qint8)
        elif param is not None and param.dtype != getattr(torch, precision):  # float32 or bfloat16
            module = (copy.deepcopy(module) if copy_first else module).to(getattr(torch, precision))
        self.active_precision = precision
        return module

    @property
    def tokenizer(self) -> Any:
        """The model's tokenizer (loads the model on first use); ``max_tokens`` is counted with it."""
        return self._load()[1]

    @property
    def max_length(self) -> int:
        """Tokens per window, special tokens included (from the checkpoint config, else the tokenizer)."""
        _, tokenizer, config = self._load()
        value = _config_get(config, "max_length")
        if value is None:
            value = min(int(getattr(tokenizer, "model_max_length", 512) or 512), 512)
        return int(value)

    @property
    def default_threshold(self) -> float:
        """The threshold used when a call passes none: the pruner's, else the checkpoint's, else 0.5."""
        if self.threshold is not None:
            return self.threshold
        value = _config_get(self._load()[2], "threshold")
        return DEFAULT_THRESHOLD if value is None else float(value)

    # ------------------------------------------------------------------ core scoring

    def _question_ids(self, question: str) -> list[int]:
        tokenizer = self.tokenizer
        ids = tokenizer(question, add_special_tokens=False, verbose=False)["input_ids"]
        limit = self.max_question_tokens or max(1, int(self.max_length * QUESTION_SHARE))
        limit = min(limit, self.max_length - 4)  # leave room for 3 special tokens and a context token
        if len(ids) > limit:
            if not self._warned_long_question:
                warnings.warn(f"a question of {len(ids)} tokens was truncated to its first {limit} tokens "
                              f"(max_question_tokens={limit}).", stacklevel=4)
                self._warned_long_question = True
            ids = ids[:limit]
        return ids

    def _score_tokens(self, pairs: Sequence[tuple[str, str]]) -> list[_Scored]:
        """Run the model over every (question, text) pair; return token keep-probabilities per pair."""
        import torch

        module, tokenizer, _ = self._load()
        max_length = self.max_length
        cls_id, sep_id = tokenizer.cls_token_id, tokenizer.sep_token_id
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        question_cache: dict[str, list[int]] = {}
        encoded: list[tuple[np.ndarray, list[int]]] = []
        windows: list[tuple[int, int, int]] = []  # (pair index, start token, end token)
        non_empty = [i for i, (_, text) in enumerate(pairs) if text.strip()]
        batch_enc = tokenizer([pairs[i][1] for i in non_empty], add_special_tokens=False,
                              return_offsets_mapping=True, verbose=False) if non_empty else None
        by_pair = {i: k for k, i in enumerate(non_empty)}
        for index, (question, text) in enumerate(pairs):
            if question not in question_cache:
                question_cache[question] = self._question_ids(question)
            q_ids = question_cache[question]
            if index in by_pair:
                k = by_pair[index]
                ids = batch_enc["input_ids"][k]
                offsets = np.asarray(batch_enc["offset_mapping"][k], dtype=np.int64).reshape(-1, 2)
            else:
                ids, offsets = [], np.zeros((0, 2), dtype=np.int64)
            encoded.append((offsets, ids))
            size = max_length - len(q_ids) - 3
            overlap = self.window_overlap if self.window_overlap is not None else size // 4
            overlap = min(overlap, size - 1)
            if ids:
                windows.extend((index, start, end) for start, end in _windows(len(ids), size, overlap))

        sums = [np.zeros(len(ids), dtype=np.float64) for _, ids in encoded]
        counts = [np.zeros(len(ids), dtype=np.int64) for _, ids in encoded]
        reranks = [-math.inf] * len(pairs)
        n_windows = [0] * len(pairs)

        def build(window: tuple[int, int, int]) -> tuple[list[int], int]:
            index, start, end = window
            q_ids = question_cache[pairs[index][0]]
            ids = [cls_id, *q_ids, sep_id, *encoded[index][1][start:end], sep_id]
            return ids, len(q_ids) + 2  # position of the first context token

        lengths = [len(question_cache[pairs[index][0]]) + end - start + 3 for index, start, end in windows]
        with torch.inference_mode():
            param = next(module.parameters(), None)
            device = param.device if param is not None else torch.device("cpu")
            overhead = FORWARD_OVERHEAD_TOKENS.get(device.type, FORWARD_OVERHEAD_TOKENS["cpu"])
            for members in _length_batches(lengths, self.batch_size, overhead):
                batch = [windows[w] for w in members]
                built = [build(w) for w in batch]
                width = max(len(ids) for ids, _ in built)
                input_ids = torch.full((len(built), width), pad_id, dtype=torch.long)
                attention = torch.zeros((len(built), width), dtype=torch.long)
                token_types = torch.zeros((len(built), width), dtype=torch.long)
                for row, (ids, first) in enumerate(built):
                    input_ids[row, :len(ids)] = torch.tensor(ids, dtype=torch.long)
                    attention[row, :len(ids)] = 1
                    token_types[row, first:len(ids)] = 1
                output = module(input_ids=input_ids.to(device), attention_mask=attention.to(device),
                                token_type_ids=token_types.to(device))
                token_logits, rerank_logits = (output[0], output[1]) if isinstance(output, (tuple, list)) \
                    else (output.token_logits, output.rerank_logits)
                token_logits = token_logits.float()
                if token_logits.dim() == 3:  # (B, T, 2) two-class head: probability of "keep"
                    token_probs = token_logits.softmax(-1)[..., -1]
                else:
                    token_probs = token_logits.sigmoid()
                token_probs = token_probs.cpu().numpy()
                rerank_probs = rerank_logits.float().reshape(len(built), -1)[:, -1].sigmoid().cpu().numpy()
                for row, ((index, start, end), (_, first)) in enumerate(zip(batch, built)):
                    sums[index][start:end] += token_probs[row, first:first + end - start]
                    counts[index][start:end] += 1
                    reranks[index] = max(reranks[index], float(rerank_probs[row]))
                    n_windows[index] += 1
        out = []
        for index, (offsets, ids) in enumerate(encoded):
            if ids and counts[index].min() < 1:  # a bug, never a user error: every token must be scored
                raise RuntimeError("internal error: a context token was not covered by any window")
            probs = sums[index] / np.maximum(counts[index], 1)
            out.append(_Scored(offsets=offsets, probs=probs, rerank=reranks[index] if ids else 0.0,
                               n_windows=n_windows[index]))
        return out

    @staticmethod
    def _span_scores(scored: _Scored, spans: Sequence[Span]) -> tuple[list[float], list[int]]:
        """Mean keep-probability and token count of the tokens whose first character lies in each span."""
        starts = scored.offsets[:, 0] if len(scored.offsets) else np.zeros(0, dtype=np.int64)
        scores, counts = [], []
        for start, end in spans:
            mask = (starts >= start) & (starts < end)
            n = int(mask.sum())
            counts.append(n)
            scores.append(float(scored.probs[mask].mean()) if n else 0.0)
        return scores, counts

    def _sentence_spans(self, text: str) -> list[Span]:
        self._load()
        if not text.strip():
            return []
        spans = [(int(s), int(e)) for s, e in self.splitter(text)]  # type: ignore[misc]
        previous_end = 0
        for s, e in spans:  # tokens are assigned by searching the starts: unsorted spans would score silently wrong
            if not (previous_end <= s <= e <= len(text)):
                raise RagpruneError(f"splitter returned span ({s}, {e}) after one ending at {previous_end} for a "
                                    f"text of {len(text)} characters: spans must lie in the text, ascending, "
                                    "not overlapping.")
            previous_end = e
        spans = [(s, e) for s, e in spans if e > s and text[s:e].strip()]
        if not spans:
            spans = [(0, len(text))]
        # Tokens that start before the first sentence or between sentences belong to the preceding sentence.
        return spans

    @staticmethod
    def _assign_tokens(scored: _Scored, spans: Sequence[Span]) -> tuple[list[float], list[int]]:
        """Score each sentence by the tokens it owns: a token belongs to the last sentence starting at or before it."""
        if not spans:
            return [], []
        n_tokens = len(scored.probs)
        if n_tokens == 0:
            return [0.0] * len(spans), [0] * len(spans)
        sentence_starts = np.asarray([s for s, _ in spans], dtype=np.int64)
        owner = np.searchsorted(sentence_starts, scored.offsets[:, 0], side="right") - 1
        owner = np.clip(owner, 0, len(spans) - 1)
        counts = np.bincount(owner, minlength=len(spans))
        sums = np.bincount(owner, weights=scored.probs, minlength=len(spans))
        scores = [float(sums[i] / counts[i]) if counts[i] else 0.0 for i in range(len(spans))]
        return scores, [int(c) for c in counts]

    @staticmethod
    def _join(text: str, spans: Sequence[Span], kept: Sequence[int]) -> str:
        """Join kept sentences: runs of consecutive sentences are copied from the text, runs joined by a space."""
        pieces, run_start, previous = [], None, None
        for i in kept:
            if run_start is None:
                run_start = previous = i
            elif i == previous + 1:  # type: ignore[operator]
                previous = i
            else:
                pieces.append(text[spans[run_start][0]:spans[previous][1]])  # type: ignore[index]
                run_start = previous = i
        if run_start is not None:
            pieces.append(text[spans[run_start][0]:spans[previous][1]])  # type: ignore[index]
        return " ".join(pieces)

    def count_tokens(self, text: str) -> int:
        """Return the number of tokens of ``text`` under the model tokenizer (no special tokens); ``max_tokens`` uses it."""
        if not text:
            return 0
        return len(self.tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])

    # ------------------------------------------------------------------ public API

    def prune(
        self,
        question: str,
        contexts: str | Sequence[str],
        *,
        threshold: float | None = None,
        max_tokens: int | None = None,
    ) -> list[PruneResult]:
        """Return one :class:`~ragprune.types.PruneResult` per context, in the same order.

        Args:
            question: The question the contexts should answer; must not be empty. Questions longer than
                ``max_question_tokens`` are truncated (see the class docstring).
            contexts: The retrieved passages; a single string is treated as a list of one. An empty list
                returns ``[]``. An empty or whitespace-only context gives ``pruned == ""``, no sentences and
                ``rerank == 0.0``. Contexts longer than the model window are scored in overlapping windows.
            threshold: Overrides the pruner's threshold for this call, in [0, 1]; ``0`` keeps every sentence.
            max_tokens: Budget, counted with the model tokenizer, for the pruned text of *all* contexts of
                this question together: after thresholding, the highest-scoring kept sentences that fit are
                kept (greedily by score, shown in their original order). ``None`` means no budget.

        Returns:
            ``len(contexts)`` results; ``kept`` is ascending and ``pruned`` joins the kept sentences in their
            original order (consecutive sentences are copied verbatim, gaps become one space).

        Raises:
            RagpruneError: If the question is empty or not a string, a context is not a string, either holds a
                lone surrogate (not valid Unicode text), or ``threshold``/``max_tokens`` is out of range.
        """
        return self.prune_batch([question], [contexts], threshold=threshold, max_tokens=max_tokens)[0]

    def prune_batch(
        self,
        questions: Sequence[str],
        contexts_per_question: Sequence[str | Sequence[str]],
        *,
        threshold: float | None = None,
        max_tokens: int | None = None,
    ) -> list[list[PruneResult]]:
        """Prune many questions at once (windows of all questions share batches); same rules as :meth:`prune`.

        Args:
            questions: One question per item.
            contexts_per_question: The contexts of each question (same length as ``questions``).
            threshold: As in :meth:`prune`.
            max_tokens: As in :meth:`prune`, applied to each question separately.

        Returns:
            For each question, its list of results.

        Raises:
            RagpruneError: On invalid input (the message names the offending item), or if the two
                sequences differ in length.
        """
        if threshold is not None:
            threshold = _check_threshold(threshold)
        max_tokens = _check_positive_int(max_tokens, "max_tokens", allow_none=True)
        questions, contexts_lists = self._check_batch(questions, contexts_per_question)
        if threshold is None:
            threshold = self.default_threshold
        pairs = [(q, c) for q, cs in zip(questions, contexts_lists) for c in cs]
        scored = iter(self._score_tokens(pairs))
        results: list[list[PruneResult]] = []
        for question, contexts in zip(questions, contexts_lists):
            per_context = []
            for context in contexts:
                item = next(scored)
                spans = self._sentence_spans(context)
                scores, counts = self._assign_tokens(item, spans)
                kept = [i for i, s in enumerate(scores) if s >= threshold]
                if self.always_keep_first and spans and 0 not in kept:
                    kept.insert(0, 0)
                per_context.append((context, spans, scores, counts, kept, item.rerank))
            if max_tokens is not None:
                self._apply_budget(per_context, max_tokens)
            results.append([
                PruneResult(pruned=self._join(context, spans, kept), kept=list(kept),
                            sentences=[context[s:e] for s, e in spans], sentence_scores=scores,
                            rerank=rerank, original_chars=len(context))
                for context, spans, scores, counts, kept, rerank in per_context
            ])
        return results

    def _apply_budget(self, per_context: list[tuple], max_tokens: int) -> None:
        """Shrink each context's ``kept`` (in place) so the pruned texts total at most ``max_tokens`` tokens."""
        candidates = []  # (priority, -score, context index, sentence index)
        for c, (_, _, scores, _, kept, _) in enumerate(per_context):
            for i in kept:
                first = self.always_keep_first and i == 0
                candidates.append((0 if first else 1, -scores[i], c, i))
        candidates.sort()
        chosen: list[set[int]] = [set() for _ in per_context]
        used = 0
        for _, _, c, i in candidates:
            n = per_context[c][3][i]
            if used + n <= max_tokens:
                chosen[c].add(i)
                used += n
        # Verify with the tokenizer on the joined text; drop the weakest sentence while over budget.
        while True:
            texts = [self._join(ctx, spans, sorted(chosen[c])) for c, (ctx, spans, *_rest) in enumerate(per_context)]
            total = sum(self.count_tokens(t) for t in texts)
            if total <= max_tokens:
                break
            weakest = max((cand for cand in candidates if cand[3] in chosen[cand[2]]), default=None)
            if weakest is None:
                break
            chosen[weakest[2]].discard(weakest[3])
        for c, entry in enumerate(per_context):
            entry[4][:] = sorted(chosen[c])

    def rerank(self, question: str, contexts: str | Sequence[str]) -> list[float]:
        """Return the relevance of each context to the question, in [0, 1] (higher is more relevant).

        The score is the sigmoid of the model's reranking logit, maximised over the windows of long contexts;
        an empty or whitespace-only context scores ``0.0``. Use it to rank whole passages or blocks scored
        independently of each other.

        Raises:
            RagpruneError: If the question is empty or a context is not a string.
        """
        question = _check_question(question)
        contexts = _check_contexts(contexts)
        return [item.rerank for item in self._score_tokens([(question, c) for c in contexts])]

    def score_spans(self, question: str, text: str, spans: Sequence[Span]) -> list[float]:
        """Return the mean token keep-probability of each character span of ``text``, in [0, 1].

        This scores arbitrary pieces of one document *in context*: the text is read once (windowed like a
        context) and each span gets the mean keep-probability of the tokens that start inside it (``0.0`` for a
        span holding no token). The HTML pruner uses it to score the blocks of a page: join the block texts
        with newlines, pass each block's ``(start, end)`` and keep the blocks scoring ``>=`` a threshold.
        Sentence scores in :meth:`prune` are the same quantity over sentence spans.

        Args:
            question: The question.
            text: The document.
            spans: ``(start, end)`` character offsets with ``0 <= start <= end <= len(text)``; they may overlap
                and need not cover the text.

        Raises:
            RagpruneError: If the question is empty, ``text`` is not a string or a span is out of range.
        """
        question = _check_question(question)
        if not isinstance(text, str):
            raise RagpruneError(f"text must be a string, got {type(text).__name__}.")
        check_text(text, "text")
        checked = []
        for i, span in enumerate(spans):
            try:
                start, end = (int(span[0]), int(span[1]))
                valid = len(span) == 2 and 0 <= start <= end <= len(text)
            except (TypeError, ValueError, IndexError):
                valid = False
            if not valid:
                raise RagpruneError(f"spans[{i}]={span!r} is not valid: use (start, end) with "
                                    f"0 <= start <= end <= len(text)={len(text)}.")
            checked.append((start, end))
        scored = self._score_tokens([(question, text)])[0]
        return self._span_scores(scored, checked)[0]

    def score_texts(self, question: str, texts: str | Sequence[str]) -> list[float]:
        """Return, for each text scored on its own, the mean keep-probability of all its tokens, in [0, 1].

        A piece-level alternative to :meth:`rerank` (which scores relevance of the whole piece): it answers
        "would the pruner keep this piece's tokens?". Empty texts score ``0.0``.

        Raises:
            RagpruneError: If the question is empty or a text is not a string.
        """
        question = _check_question(question)
        texts = _check_contexts(texts, "texts")
        scored = self._score_tokens([(question, t) for t in texts])
        return [float(item.probs.mean()) if len(item.probs) else 0.0 for item in scored]

    def _check_batch(self, questions: Any, contexts_per_question: Any) -> tuple[list[str], list[list[str]]]:
        if isinstance(questions, str) or not isinstance(questions, Sequence):
            raise RagpruneError("questions must be a list of strings; use prune() for a single question.")
        if isinstance(contexts_per_question, str) or not isinstance(contexts_per_question, Sequence):
            raise RagpruneError("contexts_per_question must be a list with one list of contexts per question.")
        if len(questions) != len(contexts_per_question):
            raise RagpruneError(f"questions has {len(questions)} items but contexts_per_question has "
                                f"{len(contexts_per_question)}: pass one list of contexts per question.")
        qs = [_check_question(q, f"questions[{i}]" if len(questions) > 1 else "question")
              for i, q in enumerate(questions)]
        cs = [_check_contexts(c, f"contexts_per_question[{i}]" if len(questions) > 1 else "contexts")
              for i, c in enumerate(contexts_per_question)]
        return qs, cs

    def __repr__(self) -> str:
        return (f"ContextPruner(model={self.model if not isinstance(self.model, tuple) else '<loaded>'!r}, "
                f"threshold={self.threshold!r}, always_keep_first={self.always_keep_first!r}, "
                f"batch_size={self.batch_size!r}, precision={self.precision!r})")
