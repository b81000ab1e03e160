"""Block rankers: score each block of a page for a question (higher = more relevant), or, with no question,
for how likely it is main content rather than boilerplate.

- :class:`BM25Ranker`: Okapi BM25 over the page's blocks with real tokenisation (Unicode word regex,
  lower-case, optional English stop words, Snowball stemming so "underbid" matches "Underbids").
- :class:`EmbeddingRanker`: cosine similarity of sentence-transformers embeddings (default: the local
  all-MiniLM-L6-v2); the question is embedded once, blocks in batches, and block vectors are cached.
- :class:`LabelerRanker`: the sequence-labeling model of :class:`ragprune.sentence.pruner.ContextPruner`,
  reading the page's blocks in context and averaging token keep-probabilities per block.
- :class:`HybridRanker`: reciprocal rank fusion (or a min-max normalised score sum) of other rankers.
- :class:`BoilerplateScorer`: the query-less mode (tag path, class/id hints, link density, optionally
  trafilatura's main-content extraction).
"""
from __future__ import annotations

import functools
import logging
import math
import re
from collections import Counter, OrderedDict
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from ragprune._embedded import default_model
from ragprune.errors import RagpruneError
from ragprune.html.blocktree import Block
from ragprune.html.clean import CJK_CHARS

__all__ = ["BlockRanker", "BM25Ranker", "EmbeddingRanker", "LabelerRanker", "HybridRanker",
           "BoilerplateScorer", "RANKERS", "get_ranker", "tokenize", "default_model"]

logger = logging.getLogger(__name__)

_TOKEN = re.compile(r"\w+", re.UNICODE)
_CJK_WORD = re.compile(f"[{CJK_CHARS}]")
# a run of CJK letters (no spaces between their words), or a word of other letters
_CJK_TOKEN = re.compile(f"(?:(?=\\w)[{CJK_CHARS}])+|(?:(?![{CJK_CHARS}])\\w)+")
#: A small English stop-word list (function words only).
STOP_WORDS = frozenset("""
a an and are as at be been being but by can could did do does doing for from had has have having he her
hers him his how i if in into is it its itself me my of on or our ours she should so than that the their
them then there these they this those to too was we were what when where which who whom why will with would
you your yours
""".split())


@functools.lru_cache(maxsize=1)
def _stemmer() -> Any:
    import snowballstemmer

    return snowballstemmer.stemmer("english")


@functools.lru_cache(maxsize=200_000)
def _stem(word: str) -> str:
    return _stemmer().stemWord(word)


def tokenize(text: str, *, stop_words: bool = True, stem: bool = False) -> list[str]:
    """Return the lower-cased Unicode word tokens of ``text``, without stop words when ``stop_words``,
    reduced to their Snowball (Porter 2) English stems when ``stem``.

    Chinese, Japanese and Korean text, written without spaces between words, gives the overlapping character
    bigrams of each run of its letters (a lone letter gives itself), as CJK search engines index it.

    Example:
        >>> tokenize("Who founded ABC's news-division in 1945?")
        ['founded', 'abc', 's', 'news', 'division', '1945']
        >>> tokenize("Underbids happen", stem=True)
        ['underbid', 'happen']
        >>> tokenize("谁设计了铁塔？")
        ['谁设', '设计', '计了', '了铁', '铁塔']
    """
    lowered = text.lower()
    if lowered.isascii() or not _CJK_WORD.search(lowered):
        tokens = _TOKEN.findall(lowered)
    else:
        tokens = []
        for run in _CJK_TOKEN.findall(lowered):
            if _CJK_WORD.match(run):
                tokens.extend([run] if len(run) == 1 else [run[i:i + 2] for i in range(len(run) - 1)])
            else:
                tokens.append(run)
    if stop_words:
        tokens = [t for t in tokens if t not in STOP_WORDS]
    if stem:
        tokens = [_stem(t) for t in tokens]
    return tokens


class BlockRanker:
    """Base class: ``score(question, blocks)`` returns one float per block, higher is more relevant."""

    name = "base"

    def score(self, question: str, blocks: Sequence[Block]) -> np.ndarray:
        """Return relevance scores, shape ``(n_blocks,)``, float64; higher is more relevant."""
        raise NotImplementedError


class BM25Ranker(BlockRanker):
    """Okapi BM25 with the blocks of one page as the collection.

    Args:
        k1: Term-frequency saturation, > 0.
        b: Length normalisation, in [0, 1].
        stop_words: Drop English stop words from question and blocks.
        stem: Match words by their Snowball English stem (on the SQuAD v2.0 dev explorer pages it raised
            has-answer recall at 128 tokens from 0.82 to 0.85 with 32-word blocks).
    """

    name = "bm25"

    def __init__(self, *, k1: float = 1.2, b: float = 0.75, stop_words: bool = True, stem: bool = True) -> None:
        if isinstance(k1, bool) or not isinstance(k1, (int, float)) or not k1 > 0:
            raise RagpruneError(f"k1={k1!r} is not valid: use a number > 0.")
        if isinstance(b, bool) or not isinstance(b, (int, float)) or not 0 <= b <= 1:
            raise RagpruneError(f"b={b!r} is not valid: use a number in [0, 1].")
        self.k1 = float(k1)
        self.b = float(b)
        self.stop_words = bool(stop_words)
        self.stem = bool(stem)

    def score(self, question: str, blocks: Sequence[Block]) -> np.ndarray:
        docs = [Counter(tokenize(block.text, stop_words=self.stop_words, stem=self.stem)) for block in blocks]
        query = (tokenize(question, stop_words=self.stop_words, stem=self.stem)
                 or tokenize(question, stop_words=False, stem=self.stem))
        n = len(docs)
        scores = np.zeros(n, dtype=np.float64)
        if n == 0 or not query:
            return scores
        lengths = np.array([sum(d.values()) for d in docs], dtype=np.float64)
        avg = float(lengths.mean()) or 1.0
        norm = self.k1 * (1.0 - self.b + self.b * lengths / avg)
        for term, q_count in Counter(query).items():
            tf = np.array([d.get(term, 0) for d in docs], dtype=np.float64)
            df = int((tf > 0).sum())
            if df == 0:
                continue
            idf = math.log(1.0 + (n - df + 0.5) / (df + 0.5))
            scores += q_count * idf * tf * (self.k1 + 1.0) / (tf + norm)
        return scores


_MODELS: dict[tuple[str, str | None], Any] = {}


def _load_sentence_transformer(model: str, device: str | None) -> Any:
    key = (model, device)
    if key not in _MODELS:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as err:  # pragma: no cover - a core dependency
            raise RagpruneError("sentence-transformers is required for the embedding ranker: "
                                "pip install sentence-transformers.") from err
        if device is not None:
            from ragprune.sentence.model import check_device

            check_device(device)
        try:
            _MODELS[key] = SentenceTransformer(model, device=device)
        except (OSError, ValueError) as err:
            raise RagpruneError(f"model={model!r} could not be loaded as a sentence-transformers model: "
                                f"{str(err).splitlines()[0] if str(err) else type(err).__name__}.") from err
    return _MODELS[key]


class EmbeddingRanker(BlockRanker):
    """Cosine similarity between the question and each block, with sentence-transformers embeddings.

    Args:
        model: Model name or path, or an object with ``encode(texts, ...) -> ndarray`` (a fake in tests);
            ``None`` uses the bundled all-MiniLM-L6-v2.
        batch_size: Blocks per forward pass.
        device: Torch device; ``None`` lets sentence-transformers choose.
        cache_size: Block vectors kept in memory (keyed by block text), so pages seen again, or the same
            page with another question, are not re-embedded. ``0`` disables the cache.
    """

    name = "embedding"

    def __init__(self, model: str | Any | None = None, *, batch_size: int = 32, device: str | None = None,
                 cache_size: int = 50_000) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise RagpruneError(f"batch_size={batch_size!r} is not valid: use an integer >= 1.")
        if isinstance(cache_size, bool) or not isinstance(cache_size, int) or cache_size < 0:
            raise RagpruneError(f"cache_size={cache_size!r} is not valid: use an integer >= 0.")
        self.model = model
        self.batch_size = batch_size
        self.device = device
        self.cache_size = cache_size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()

    def _encoder(self) -> Any:
        if self.model is None or isinstance(self.model, str):
            return _load_sentence_transformer(default_model(self.model or None), self.device)
        if not hasattr(self.model, "encode"):
            raise RagpruneError(f"model={self.model!r} is not valid: pass a name, a path or an object with encode().")
        return self.model

    def _encode(self, texts: list[str]) -> np.ndarray:
        encoder = self._encoder()
        vectors = encoder.encode(texts, batch_size=self.batch_size, convert_to_numpy=True,
                                 normalize_embeddings=True, show_progress_bar=False)
        vectors = np.asarray(vectors, dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)

    def embed_blocks(self, texts: Sequence[str]) -> np.ndarray:
        """Return unit vectors for ``texts``, shape ``(n, dim)``, using and filling the cache."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        fresh: dict[str, np.ndarray] = {}
        if missing:
            for text, vector in zip(missing, self._encode(missing)):
                fresh[text] = vector
        out = []
        for text in texts:
            vector = fresh.get(text)
            if vector is None:
                vector = self._cache[text]
                self._cache.move_to_end(text)
            out.append(vector)
        if self.cache_size:
            for text, vector in fresh.items():
                self._cache[text] = vector
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return np.stack(out) if out else np.zeros((0, 1), dtype=np.float32)

    def score(self, question: str, blocks: Sequence[Block]) -> np.ndarray:
        if not blocks:
            return np.zeros(0, dtype=np.float64)
        query = self._encode([question])[0]
        vectors = self.embed_blocks([block.text for block in blocks])
        return (vectors @ query).astype(np.float64)


class LabelerRanker(BlockRanker):
    """Scores blocks with the sequence-labeling model of ``ContextPruner`` (issue 5).

    The blocks are joined with newlines and read in context (windowed); each block scores the mean
    keep-probability of its tokens (``ContextPruner.score_spans``). With ``mode="rerank"`` each block is
    instead scored alone by the model's relevance head (``ContextPruner.rerank``).

    Args:
        pruner: A ``ContextPruner`` (or any object with ``score_spans`` / ``rerank``); ``None`` builds
            ``ContextPruner(model)`` on first use.
        model: Checkpoint path for the ``ContextPruner`` built when ``pruner`` is None.
        mode: ``"spans"`` (in context, default) or ``"rerank"`` (each block alone).
    """

    name = "labeler"

    def __init__(self, pruner: Any | None = None, *, model: str | None = None,
                 mode: Literal["spans", "rerank"] = "spans") -> None:
        if mode not in ("spans", "rerank"):
            raise RagpruneError(f"mode={mode!r} is not valid: use 'spans' or 'rerank'.")
        self.pruner = pruner
        self.model = model
        self.mode = mode

    def _pruner(self) -> Any:
        if self.pruner is None:
            try:
                from ragprune.sentence.pruner import ContextPruner
            except ImportError as err:
                raise RagpruneError("the labeler ranker needs ragprune.sentence.pruner.ContextPruner, "
                                    "which is not available in this install.") from err
            self.pruner = ContextPruner(self.model)
        return self.pruner

    def score(self, question: str, blocks: Sequence[Block]) -> np.ndarray:
        if not blocks:
            return np.zeros(0, dtype=np.float64)
        pruner = self._pruner()
        texts = [block.text for block in blocks]
        if self.mode == "rerank":
            return np.asarray(pruner.rerank(question, texts), dtype=np.float64)
        spans, pos = [], 0
        for text in texts:
            spans.append((pos, pos + len(text)))
            pos += len(text) + 1
        return np.asarray(pruner.score_spans(question, "\n".join(texts), spans), dtype=np.float64)


class HybridRanker(BlockRanker):
    """Fuses several rankers: reciprocal rank fusion (``"rrf"``) or a sum of min-max normalised scores.

    Args:
        rankers: The rankers to fuse; ``None`` uses BM25 and the MiniLM embedding ranker.
        fusion: ``"rrf"``: ``sum(w / (k + rank))``; ``"sum"``: ``sum(w * minmax(score))``.
        weights: One weight per ranker (default all 1).
        k: The RRF constant, > 0.
        rerank_top_k: If set, only the ``rerank_top_k`` best blocks of the first ranker are scored by the
            other rankers (a cascade: a cheap first stage saves embedding every block of a long page);
            other blocks keep their first-stage contribution only.
    """

    name = "hybrid"

    def __init__(self, rankers: Sequence[BlockRanker] | None = None, *, fusion: Literal["rrf", "sum"] = "rrf",
                 weights: Sequence[float] | None = None, k: float = 60.0,
                 rerank_top_k: int | None = None) -> None:
        if fusion not in ("rrf", "sum"):
            raise RagpruneError(f"fusion={fusion!r} is not valid: use 'rrf' or 'sum'.")
        if rankers is not None and (not rankers or not all(isinstance(r, BlockRanker) for r in rankers)):
            raise RagpruneError("rankers must be a non-empty list of BlockRanker objects.")
        if isinstance(k, bool) or not isinstance(k, (int, float)) or not k > 0:
            raise RagpruneError(f"k={k!r} is not valid: use a number > 0.")
        if rerank_top_k is not None and (isinstance(rerank_top_k, bool) or not isinstance(rerank_top_k, int)
                                         or rerank_top_k < 1):
            raise RagpruneError(f"rerank_top_k={rerank_top_k!r} is not valid: use an integer >= 1 or None.")
        self.rankers = list(rankers) if rankers is not None else [BM25Ranker(), EmbeddingRanker()]
        if weights is not None and len(weights) != len(self.rankers):
            raise RagpruneError(f"weights has {len(weights)} values for {len(self.rankers)} rankers: "
                                "give one weight per ranker.")
        self.fusion = fusion
        self.weights = [float(w) for w in weights] if weights is not None else [1.0] * len(self.rankers)
        self.k = float(k)
        self.rerank_top_k = rerank_top_k

    def score(self, question: str, blocks: Sequence[Block]) -> np.ndarray:
        n = len(blocks)
        total = np.zeros(n, dtype=np.float64)
        if n == 0:
            return total
        subset = np.arange(n)
        for i, (ranker, weight) in enumerate(zip(self.rankers, self.weights)):
            part = np.full(n, np.nan)
            part[subset] = ranker.score(question, [blocks[j] for j in subset])
            total += weight * self._contribution(part)
            if i == 0 and self.rerank_top_k is not None and n > self.rerank_top_k:
                order = np.argsort(-part, kind="stable")
                subset = np.sort(order[:self.rerank_top_k])
        return total

    def _contribution(self, scores: np.ndarray) -> np.ndarray:
        out = np.zeros(len(scores), dtype=np.float64)
        valid = ~np.isnan(scores)
        values = scores[valid]
        if not len(values):
            return out
        if self.fusion == "rrf":
            order = np.argsort(-values, kind="stable")
            ranks = np.empty(len(values))
            ranks[order] = np.arange(1, len(values) + 1)
            out[valid] = 1.0 / (self.k + ranks)
        else:
            lo, hi = float(values.min()), float(values.max())
            out[valid] = (values - lo) / (hi - lo) if hi > lo else 0.5
        return out


RANKERS: dict[str, type[BlockRanker]] = {
    "bm25": BM25Ranker,
    "embedding": EmbeddingRanker,
    "labeler": LabelerRanker,
    "hybrid": HybridRanker,
}


def get_ranker(name: str, **params: Any) -> BlockRanker:
    """Return a new ranker by registry name (``bm25``, ``embedding``, ``labeler``, ``hybrid``)."""
    if name not in RANKERS:
        raise RagpruneError(f"ranker={name!r} is not valid: use one of {sorted(RANKERS)}.")
    return RANKERS[name](**params)


# ---------------------------------------------------------------------------------------------- query-less

_BOILER_TAGS = frozenset({"nav", "footer", "aside", "form", "menu", "dialog"})
_BOILER_HINT = re.compile(
    r"(?<![a-z])(nav|navbar|navigation|menu|menubar|footer|sidebar|side-bar|breadcrumbs?|cookies?|consent|"
    r"banner|share|sharing|social|related|recommended|advert\w*|ads?|adslot|promo\w*|newsletter|subscribe|"
    r"subscription|login|signin|signup|register|widget|skip|pagination|pager|tags?|tagcloud|copyright|"
    r"comments?|disqus|popup|modal|masthead|header|toolbar|teaser|more-stories|outbrain|taboola)(?![a-z])")
_CONTENT_HINT = re.compile(
    r"(?<![a-z])(article|main|content|post|entry|story|text|body|blogpost|post-body|article-body|"
    r"entry-content|story-body|articlebody)(?![a-z])")
_SENTENCE = re.compile(r"[.!?](\s|$)|[。！？]")  # CJK sentences end with no space after
# a CJK letter alone (those scripts put no spaces between words), or a word of other letters
_NORM_TOKEN = re.compile(f"(?=\\w)[{CJK_CHARS}]|(?:(?![{CJK_CHARS}])\\w)+")


def _norm_words(text: str) -> list[str]:
    lowered = text.lower()
    if lowered.isascii() or not _CJK_WORD.search(lowered):
        return _TOKEN.findall(lowered)
    return _NORM_TOKEN.findall(lowered)


class BoilerplateScorer:
    """Query-less mode: score each block for being main content (1) rather than boilerplate (0).

    The heuristic looks at the block's tag path (``nav``, ``footer``, ``aside``, ``form``, a ``header``
    outside ``article``/``main``), its class/id hints, its link density and whether it reads like prose.
    With ``use_trafilatura`` (default) the page is also run through ``trafilatura.extract``; a block counts as
    content when most of its words (in order: word trigrams, or the words of short blocks) appear in the
    extracted text. When trafilatura is missing or extracts nothing, the heuristic alone decides.

    Args:
        use_trafilatura: Combine with trafilatura's main-content extraction (``pip install trafilatura``).
        threshold: Blocks scoring ``>=`` threshold are content.
    """

    def __init__(self, *, use_trafilatura: bool = True, threshold: float = 0.5) -> None:
        self.use_trafilatura = bool(use_trafilatura)
        self.threshold = float(threshold)

    def heuristic(self, blocks: Sequence[Block]) -> np.ndarray:
        """Return heuristic content scores in [0, 1], shape ``(n_blocks,)``."""
        out = np.zeros(len(blocks), dtype=np.float64)
        for i, block in enumerate(blocks):
            path = set(block.path)
            hint = block.hint
            score = 0.6
            if path & _BOILER_TAGS:
                score -= 0.5
            if "header" in path and not ({"article", "main"} & path):
                score -= 0.3
            boiler = _BOILER_HINT.search(hint) is not None
            content = _CONTENT_HINT.search(hint) is not None
            if boiler:
                score -= 0.35
            if content:
                score += 0.2
            density = block.link_words / block.words if block.words else 1.0
            if density > 0.5:
                score -= 0.4
            elif density > 0.25:
                score -= 0.15
            if block.words >= 12 and _SENTENCE.search(block.text):
                score += 0.2
            elif block.words < 4:  # words as count_words counts them: every CJK character is one
                score -= 0.15
            if "li" in path and block.words < 8:
                score -= 0.1
            if {"h1", "h2", "h3", "p", "pre", "blockquote", "table", "td"} & path:
                score += 0.05
            out[i] = min(1.0, max(0.0, score))
        return out

    def score(self, blocks: Sequence[Block], html: str) -> np.ndarray:
        """Return content scores in [0, 1], shape ``(n_blocks,)``; ``html`` is the decoded page."""
        heuristic = self.heuristic(blocks)
        if not self.use_trafilatura or not blocks:
            return heuristic
        extracted = _trafilatura_text(html)
        if not extracted:
            return heuristic
        words = _norm_words(extracted)
        if len(words) < 10:
            return heuristic
        unigrams = set(words)
        trigrams = {tuple(words[i:i + 3]) for i in range(len(words) - 2)}
        out = np.zeros(len(blocks), dtype=np.float64)
        for i, block in enumerate(blocks):
            bw = _norm_words(block.text)
            if not bw:
                continue
            if len(bw) >= 3:
                grams = [tuple(bw[j:j + 3]) for j in range(len(bw) - 2)]
                share = sum(g in trigrams for g in grams) / len(grams)
            else:
                share = sum(w in unigrams for w in bw) / len(bw) if heuristic[i] >= self.threshold else 0.0
            out[i] = share
        return out


_EXTRACTED: OrderedDict[str, str | None] = OrderedDict()


def _trafilatura_text(html: str) -> str | None:
    """Return trafilatura's main text of ``html`` (the last few pages are remembered by content hash)."""
    import hashlib

    key = hashlib.blake2b(html.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()
    if key in _EXTRACTED:
        return _EXTRACTED[key]
    text = _run_trafilatura(html)
    _EXTRACTED[key] = text
    while len(_EXTRACTED) > 4:
        _EXTRACTED.popitem(last=False)
    return text


def _run_trafilatura(html: str) -> str | None:
    try:
        import trafilatura
    except ImportError as err:  # not installed, or installed but a dependency of it is missing
        logger.warning("trafilatura cannot be imported (%s); the query-less mode uses its heuristic alone "
                       "(pip install 'datapruner[html]').", err)
        return None
    try:
        return trafilatura.extract(html, include_comments=False, include_tables=True, favor_precision=False,
                                   deduplicate=False)
    except Exception as err:  # trafilatura can fail on odd pages; fall back to the heuristic
        logger.info("trafilatura failed on a page (%s); using the heuristic", type(err).__name__)
        return None
