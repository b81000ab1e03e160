"""``HtmlPruner``: clean a page, split it into a block tree, rank the blocks, keep the best within a budget.

The output keeps the HTML structure around the kept blocks (their ancestors, without attributes), shows the
blocks in document order, and its token count (under the pruner's tokenizer) never exceeds ``max_tokens``.
"""
from __future__ import annotations

import hashlib
import logging
import re
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import Any, Literal

import numpy as np

from ragprune._io import check_text
from ragprune.errors import RagpruneError
from ragprune.html.blocktree import DOCUMENT, Block, _edge_space, block_html, build_block_tree
from ragprune.html.clean import (
    BLOCK_TAGS,
    VOID_TAGS,
    Node,
    Text,
    _escape,
    clean_tree,
    decode_html,
    parse_html,
    serialize,
)
from ragprune.html.rankers import (
    RANKERS,
    BlockRanker,
    BM25Ranker,
    BoilerplateScorer,
    EmbeddingRanker,
    HybridRanker,
    LabelerRanker,
    default_model,
)

__all__ = ["HtmlPruner", "HtmlPruneResult"]

logger = logging.getLogger(__name__)

#: Budget selection stops after this many consecutive ranked blocks that do not fit.
_MAX_MISSES = 256
_SPACES = re.compile(r"\s+")
#: Tags with no meaning of their own: in the pruned output, one that holds a single kept element is dropped.
_GENERIC_WRAPPERS = frozenset({"html", "body", "div", "span", "font", "center"})


@dataclass(frozen=True)
class HtmlPruneResult:
    """What pruning one page produced.

    Attributes:
        pruned_html: The kept blocks inside their ancestors' tags (no attributes), in document order.
        text: Plain text of the kept blocks, in document order (one block per line).
        kept: Ids of the kept blocks, ascending (ids are positions in :attr:`blocks`).
        token_count: Tokens of ``pruned_html`` under the pruner's tokenizer (no special tokens).
        blocks: Text of every block of the page, in document order.
        scores: The ranker's score of every block (query-less mode: content score in [0, 1]).
        paths: Tag path of every block, e.g. ``"body/div/p"``.
    """

    pruned_html: str
    text: str
    kept: list[int]
    token_count: int
    blocks: list[str] = field(repr=False)
    scores: list[float] = field(repr=False)
    paths: list[str] = field(repr=False)


@dataclass
class _Page:
    document: Node
    blocks: list[Block]
    html: str
    block_tokens: dict[int, int] = field(default_factory=dict)
    block_bytes: dict[int, int] = field(default_factory=dict)  # UTF-8 bytes of block_html
    content_scores: np.ndarray | None = None
    chains: dict[int, list[Node]] = field(default_factory=dict)
    max_space: int | None = None  # UTF-8 bytes of the longest whitespace run of a text node


class _Tokens:
    """Counts tokens with a Hugging Face tokenizer (or any callable ``text -> int``)."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self._tags: dict[str, int] = {}

    def counts(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        if callable(self.tokenizer) and not hasattr(self.tokenizer, "convert_tokens_to_ids"):
            return [int(self.tokenizer(t)) if t else 0 for t in texts]
        ids = self.tokenizer(list(texts), add_special_tokens=False, verbose=False)["input_ids"]
        return [len(x) if t else 0 for x, t in zip(ids, texts)]

    def count(self, text: str) -> int:
        return self.counts([text])[0] if text else 0

    def br(self) -> int:
        if "<br>" not in self._tags:
            self._tags["<br>"] = self.count("<br>")
        return self._tags["<br>"]

    def tag(self, tag: str) -> int:
        if tag not in self._tags:
            self._tags[tag] = self.count(f"<{tag}></{tag}>")
        return self._tags[tag]


def _check_int(value: Any, name: str, *, minimum: int, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        none = " or None" if allow_none else ""
        raise RagpruneError(f"{name}={value!r} is not valid: use an integer >= {minimum}{none}.")
    return int(value)


class HtmlPruner:
    """Prune an HTML page to the blocks most relevant to a question, within an exact token budget.

    Steps: decode (declared or sniffed charset) and clean the page (no scripts, styles, comments,
    attributes or empty tags; single-element wrappers unwrapped; the text of ``<pre>``/``<code>`` kept verbatim),
    split it into blocks of at most ``max_words`` words (each with its tag path; in Chinese, Japanese and Korean
    text every character counts as a word), score the blocks, then keep the best blocks that fit
    ``max_tokens`` and return them in document order inside their ancestors' tags (a generic wrapper such as
    ``div`` that pruning leaves around a single element is unwrapped, so tags do not eat the budget). With ``question=None``
    the query-less mode keeps main content and drops boilerplate (navigation, footers, asides, forms,
    link lists), for indexing.

    Unlike HtmlRAG, which prunes in two stages (embedding-similarity block pruning, then generative fine pruning
    with a small LLM), this is one ranking stage (BM25 by default, or the embedding, hybrid or labeler ranker)
    followed by a greedy fill under the token budget. The generative stage is left out: no generative model is
    available offline (only the bundled MiniLM models are), and running a 1-4B-parameter LLM over every page
    would dominate the latency on a CPU.

    Args:
        ranker: ``"bm25"`` (default: the best and fastest on the SQuAD explorer pages), ``"hybrid"``
            (BM25, then MiniLM embeddings of the ``rerank_top_k`` best BM25 blocks, fused by reciprocal rank),
            ``"embedding"``, ``"labeler"`` (the ``ContextPruner`` sequence-labeling model), or a
            :class:`~ragprune.html.rankers.BlockRanker` instance.
        model: Embedding model name or path for the embedding/hybrid rankers; ``None`` uses the bundled
            all-MiniLM-L6-v2.
        tokenizer: Tokenizer name/path, a loaded Hugging Face tokenizer, or a callable ``text -> int``
            that counts ``max_tokens``; ``None`` uses the all-MiniLM-L6-v2 tokenizer.
        max_words: Most words per block, >= 1.
        rerank_top_k: For the hybrid ranker: embed only the ``rerank_top_k`` best BM25 blocks (``None``
            embeds every block). The defaults (stemmed BM25, 32 words, ``context_weight=0.3``) were chosen on the
            SQuAD v2.0 dev explorer pages; ``python -m eval html`` reports them on the v1.1 pages.
        use_trafilatura: Query-less mode: combine the boilerplate heuristic with trafilatura's extraction.
        batch_size: Blocks per embedding batch.
        device: Torch device for the models; ``None`` lets them choose.
        context_weight: In [0, 1]: a chunk of a long paragraph also gets this share of the best score among
            the paragraph's other chunks (they share context); ``0`` scores every block alone.
        cache_size: Parsed pages kept in memory (keyed by content), so several questions on the same page
            parse it once; ``0`` disables.

    Example:
        >>> pruner = HtmlPruner(ranker="bm25")
        >>> page = ("<html><body><nav><a href='/'>Home</a> <a href='/news'>News</a></nav>"
        ...         "<p>Paris is the capital and largest city of France.</p>"
        ...         "<p>Berlin is the capital and largest city of Germany.</p></body></html>")
        >>> result = pruner.prune(page, "What is the capital of Germany?", max_tokens=32)
        >>> result.pruned_html, result.token_count, result.kept
        ('<p>Berlin is the capital and largest city of Germany.</p>', 17, [2])
        >>> print(pruner.prune(page).text)  # query-less: boilerplate removed
        Paris is the capital and largest city of France.
        Berlin is the capital and largest city of Germany.
    """

    def __init__(self, ranker: Literal["bm25", "hybrid", "embedding", "labeler"] | BlockRanker = "bm25", *,
                 model: str | Any | None = None, tokenizer: str | Any | None = None, max_words: int = 32,
                 rerank_top_k: int | None = 32, use_trafilatura: bool = True, batch_size: int = 32,
                 device: str | None = None, cache_size: int = 8, context_weight: float = 0.3) -> None:
        if not isinstance(ranker, BlockRanker) and ranker not in RANKERS:
            raise RagpruneError(f"ranker={ranker!r} is not valid: use one of {sorted(RANKERS)} or a BlockRanker.")
        _check_int(max_words, "max_words", minimum=1)
        _check_int(rerank_top_k, "rerank_top_k", minimum=1, allow_none=True)
        _check_int(batch_size, "batch_size", minimum=1)
        _check_int(cache_size, "cache_size", minimum=0)
        if isinstance(context_weight, bool) or not isinstance(context_weight, Real) \
                or not 0 <= context_weight <= 1:
            raise RagpruneError(f"context_weight={context_weight!r} is not valid: use a number in [0, 1].")
        if not isinstance(use_trafilatura, bool):
            raise RagpruneError(f"use_trafilatura={use_trafilatura!r} is not valid: use True or False.")
        self.ranker = ranker
        self.model = model
        self.tokenizer = tokenizer
        self.max_words = int(max_words)
        self.rerank_top_k = rerank_top_k
        self.use_trafilatura = use_trafilatura
        self.batch_size = int(batch_size)
        self.device = device
        self.cache_size = int(cache_size)
        self.context_weight = float(context_weight)
        self._ranker: BlockRanker | None = None
        self._tokens: _Tokens | None = None
        self._pages: OrderedDict[str, _Page] = OrderedDict()
        self._boilerplate = BoilerplateScorer(use_trafilatura=use_trafilatura)

    # ------------------------------------------------------------------ components

    @property
    def ranker_(self) -> BlockRanker:
        """The block ranker, built on first use."""
        if self._ranker is None:
            if isinstance(self.ranker, BlockRanker):
                self._ranker = self.ranker
            elif self.ranker == "bm25":
                self._ranker = BM25Ranker()
            elif self.ranker == "embedding":
                self._ranker = EmbeddingRanker(self.model, batch_size=self.batch_size, device=self.device)
            elif self.ranker == "labeler":
                self._ranker = LabelerRanker(model=self.model if isinstance(self.model, str) else None)
            else:
                self._ranker = HybridRanker(
                    [BM25Ranker(), EmbeddingRanker(self.model, batch_size=self.batch_size, device=self.device)],
                    rerank_top_k=self.rerank_top_k)
        return self._ranker

    def _token_counter(self) -> _Tokens:
        if self._tokens is None:
            tok = self.tokenizer
            if tok is None or isinstance(tok, str):
                name = default_model(tok or None)
                try:
                    from transformers import AutoTokenizer

                    tok = AutoTokenizer.from_pretrained(name)
                except (OSError, ValueError) as err:
                    raise RagpruneError(f"tokenizer={name!r} could not be loaded: "
                                        f"{str(err).splitlines()[0] if str(err) else type(err).__name__}.") from err
                tok.model_max_length = 10**9  # counting only: no "sequence too long" warnings
            elif not callable(tok):
                raise RagpruneError(f"tokenizer={tok!r} is not valid: pass a name, a path, a tokenizer or a "
                                    "callable text -> int.")
            self._tokens = _Tokens(tok)
        return self._tokens

    def count_tokens(self, text: str) -> int:
        """Return the token count of ``text`` under the pruner's tokenizer (no special tokens)."""
        return self._token_counter().count(text)

    def _page(self, html: str | bytes) -> _Page:
        raw = html.encode("utf-8") if isinstance(html, str) else bytes(html)
        key = hashlib.blake2b(raw, digest_size=16).hexdigest()
        page = self._pages.get(key)
        if page is not None:
            self._pages.move_to_end(key)
            return page
        text = decode_html(html)
        root = clean_tree(parse_html(text))
        blocks = build_block_tree(root, max_words=self.max_words)
        document = root.parent
        assert document is not None and document.tag == DOCUMENT
        page = _Page(document=document, blocks=blocks, html=text)
        if self.cache_size:
            self._pages[key] = page
            while len(self._pages) > self.cache_size:
                self._pages.popitem(last=False)
        return page

    # ------------------------------------------------------------------ public API

    def blocks(self, html: str | bytes) -> list[Block]:
        """Return the block tree of ``html`` (cleaned), in document order."""
        _check_html(html)
        return list(self._page(html).blocks)

    def prune(self, html: str | bytes, question: str | None = None, *,
              max_tokens: int | None = None) -> HtmlPruneResult:
        """Return the page pruned to the blocks that best answer ``question`` within ``max_tokens``.

        Args:
            html: The page, as text or bytes (decoded with the declared or sniffed charset).
            question: The question; ``None`` (or blank) selects the query-less mode, which keeps main
                content and drops boilerplate.
            max_tokens: Budget for ``pruned_html``, counted with the pruner's tokenizer; the output never
                exceeds it. Best blocks first, then shown in document order. ``None``: no budget (the
                question mode then keeps every block of the cleaned page; the query-less mode every
                content block).

        Raises:
            RagpruneError: If ``html`` is not str/bytes, ``question`` is not a string or None, either holds a
                lone surrogate (not valid Unicode text), or ``max_tokens`` is not a positive integer.
        """
        _check_html(html)
        if question is not None:
            if not isinstance(question, str):
                raise RagpruneError(f"question={question!r:.60} is not valid: use a string or None.")
            check_text(question, "question")
        _check_int(max_tokens, "max_tokens", minimum=1, allow_none=True)
        page = self._page(html)
        blocks = page.blocks
        if question is None or not question.strip():
            if page.content_scores is None:
                page.content_scores = self._boilerplate.score(blocks, page.html)
            scores = page.content_scores
            content = [b.id for b in blocks if scores[b.id] >= self._boilerplate.threshold]
            order = sorted(content, key=lambda i: (-float(scores[i] >= self._boilerplate.threshold), i))
        else:
            scores = np.asarray(self.ranker_.score(question, blocks), dtype=np.float64) if blocks \
                else np.zeros(0)
            if len(scores) != len(blocks):
                raise RagpruneError(f"the ranker returned {len(scores)} scores for {len(blocks)} blocks.")
            scores = _smooth(blocks, scores, self.context_weight)
            order = [int(i) for i in np.argsort(-np.nan_to_num(scores, nan=-np.inf), kind="stable")]
        kept = self._select(page, order, max_tokens)
        pruned_html = _render(page, kept)
        token_count = self._token_counter().count(pruned_html)
        if max_tokens is not None and token_count > max_tokens:  # a tokenizer beyond _token_ceiling: count each step
            kept = self._select(page, order, max_tokens, bounded=False)
            pruned_html = _render(page, kept)
            token_count = self._token_counter().count(pruned_html)
        ids = sorted(kept)
        text = _text(page, ids)
        return HtmlPruneResult(pruned_html=pruned_html, text=text, kept=ids, token_count=token_count,
                               blocks=[b.text for b in blocks], scores=[float(s) for s in scores],
                               paths=["/".join(b.path) for b in blocks])

    def prune_batch(self, pages: Iterable[str | bytes], questions: Iterable[str | None] | None = None, *,
                    max_tokens: int | None = None) -> list[HtmlPruneResult]:
        """Return :meth:`prune` of each page (with its question, or query-less when ``questions`` is None).

        ``pages`` and ``questions`` may be any iterables (lists, tuples, generators), one question per page.

        Raises:
            RagpruneError: If ``pages`` or ``questions`` is a single str/bytes (its characters would be taken as
                items) or not iterable, the counts differ, or a page or question is bad (see :meth:`prune`).
        """
        pages = _items(pages, "pages", "use prune() for one page")
        questions = [None] * len(pages) if questions is None else \
            _items(questions, "questions", "give one question per page")
        if len(questions) != len(pages):
            raise RagpruneError(f"questions has {len(questions)} items for {len(pages)} pages: give one per page.")
        return [self.prune(p, q, max_tokens=max_tokens) for p, q in zip(pages, questions)]

    # ------------------------------------------------------------------ selection

    def _chain(self, page: _Page, block: Block) -> list[Node]:
        """Elements that must be open to show ``block``: its parent and every ancestor (not the document)."""
        key = id(block.parent)
        chain = page.chains.get(key)
        if chain is None:
            chain = []
            node: Node | None = block.parent
            while node is not None and node.tag != DOCUMENT:
                chain.append(node)
                node = node.parent
            page.chains[key] = chain
        return chain

    def _select(self, page: _Page, order: list[int], max_tokens: int | None, *, bounded: bool = True) -> list[int]:
        """Return kept block ids in priority order (best first).

        A block's cost is estimated from its own tokens plus the tags it opens (generic wrappers counted as
        free, since the output may unwrap them); a block whose estimate fits is then checked against the exact
        token count of the rendered output, so the budget is never exceeded and never wasted on wrappers.

        Far below the budget the exact counts are skipped without changing any decision (``bounded``): a token
        covers at least one UTF-8 byte of the text, so an output of ``n`` bytes has at most ``n + 1`` tokens
        (:func:`_token_ceiling`), and an upper bound on the output's bytes is kept up to date block by block
        (:func:`_growth`). While that bound proves that the estimate passes and the exact count fits, the block is
        kept as the exact check would keep it; the output is only rendered and counted once the bound comes near
        the budget. A budget larger than the page thus costs no rendering at all (it was one render and one
        tokenization of the growing output per block: quadratic). ``bounded=False`` counts every step.
        """
        if max_tokens is None:
            return list(order)
        counter = self._token_counter()
        blocks = page.blocks
        kept: list[int] = []
        opened: set[int] = set()
        chunked: set[int] = set()  # text nodes partly kept
        total: int | None = 0  # exact tokens of the output of ``kept``; None while only bounded
        size = 0  # upper bound on the UTF-8 bytes of the output of ``kept``
        space = _max_space(page) if bounded else 0
        misses = 0
        batch = 64
        for pos, bid in enumerate(order):
            if bid not in page.block_tokens:
                todo = [i for i in order[pos:pos + batch] if i not in page.block_tokens]
                htmls = [block_html(blocks[i]) for i in todo]
                for i, html, n in zip(todo, htmls, counter.counts(htmls)):
                    page.block_tokens[i] = n
                    page.block_bytes[i] = _utf8(html)
            chain = self._chain(page, blocks[bid])
            cost = page.block_tokens[bid]
            new = [node for node in chain if id(node) not in opened]
            cost += sum(counter.tag(node.tag) for node in new if node.tag not in _GENERIC_WRAPPERS)
            block = blocks[bid]
            # a possible gap marker between parts of one text node kept by different blocks
            text_keys = [id(item) for item, span in block.pieces() if span is not None]
            cost += counter.br() * sum(key in chunked for key in text_keys)
            if total is None and _token_ceiling(size) + cost > max_tokens:  # the estimate needs the exact total
                html = _render(page, kept)
                total, size = counter.count(html), _utf8(html)
            exact = None
            if (total if total is not None else _token_ceiling(size)) + cost <= max_tokens:
                grown = size + _growth(page, block, new, space) if bounded else max_tokens
                if _token_ceiling(grown) < max_tokens:  # the exact count fits for sure, and stays below the budget
                    kept.append(bid)
                    total, size = None, grown
                    opened.update(id(node) for node in new)
                    chunked.update(text_keys)
                    misses = 0
                    continue
                html = _render(page, [*kept, bid])
                exact = counter.count(html)
            if exact is not None and exact <= max_tokens:
                kept.append(bid)
                total, size = exact, _utf8(html)
                opened.update(id(node) for node in new)
                chunked.update(text_keys)
                misses = 0
                if total >= max_tokens:
                    break
            else:
                misses += 1
                if misses >= _MAX_MISSES:  # a long tail of low-ranked blocks that do not fit: stop scanning
                    break
        return kept


def _utf8(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def _token_ceiling(nbytes: int) -> int:
    """Most tokens a text of ``nbytes`` UTF-8 bytes can have: every token covers at least one byte (WordPiece,
    byte-level BPE, SentencePiece with byte fallback; counting words), plus one for a SentencePiece word-start
    marker at the start of the text."""
    return nbytes + 1


def _max_space(page: _Page) -> int:
    """UTF-8 bytes of the longest whitespace run in a text node of the page (1 where whitespace is collapsed;
    more below ``<pre>``, whose text is verbatim)."""
    if page.max_space is None:
        longest = 4  # ideographic and other wide spaces
        stack: list[Node | Text] = [page.document]
        while stack:
            item = stack.pop()
            if isinstance(item, Text):
                longest = max([longest, *(_utf8(m) for m in _SPACES.findall(item.text))])
            else:
                stack.extend(item.children)
        page.max_space = longest
    return page.max_space


def _growth(page: _Page, block: Block, new: list[Node], space: int) -> int:
    """Upper bound on the UTF-8 bytes that keeping ``block`` adds to the output of any kept set whose opened
    elements are those of ``block``'s chain but ``new``.

    Its own HTML (:func:`block_html`), and around it what :func:`_render` may add: for each part of a text node,
    the whitespace kept around it and the separators it brings (``<br>`` or whitespace); in its parent and in
    the parent of each element it opens, two gap markers (``<br>``, a space) where dropped siblings lie
    between, the whitespace that a neighbouring part of a text node now shows at its edge, and the parent's own
    tags (it may no longer be unwrapped as a generic wrapper around one element) or the two spaces of an
    unwrapped block; for each element it opens, its tags.
    """
    parts = sum(span is not None for _, span in block.pieces())
    if block.id not in page.block_bytes:
        page.block_bytes[block.id] = _utf8(block_html(block))
    out = page.block_bytes[block.id] + parts * 4 * max(space, 4)
    level = 8 + 2 * space + 2

    def tags(node: Node | None) -> int:
        return 2 * _utf8(node.tag) + 5 if node is not None else 0

    out += level + tags(block.parent)
    for node in new:
        out += tags(node) + 2 + level + tags(node.parent)
    return out


def _smooth(blocks: Sequence[Block], scores: np.ndarray, weight: float) -> np.ndarray:
    """Add ``weight`` x the best score of the other chunks of the same long text node (one paragraph cut
    into chunks shares its context: the question's words are often spread over its sentences)."""
    if weight == 0 or not len(scores):
        return scores
    groups: dict[tuple[int, int], list[int]] = {}
    for block in blocks:
        if block.chunk is not None:
            groups.setdefault((id(block.parent), block.start), []).append(block.id)
    out = scores.copy()
    for ids in groups.values():
        if len(ids) < 2:
            continue
        values = scores[ids]
        for j, bid in enumerate(ids):
            others = np.delete(values, j)
            out[bid] = scores[bid] + weight * float(np.max(others))
    return out


def _items(value: Any, name: str, hint: str) -> list[Any]:
    """Return ``value`` as a list; a str or bytes would silently become one item per character."""
    if isinstance(value, (str, bytes, bytearray)) or not isinstance(value, Iterable):
        raise RagpruneError(f"{name}={value!r:.60} is not valid: pass a list ({hint}).")
    return list(value)


def _check_html(html: Any) -> None:
    if not isinstance(html, (str, bytes, bytearray)):
        raise RagpruneError(f"html={type(html).__name__} is not valid: pass the page as a str or bytes.")
    if isinstance(html, str):
        check_text(html, "html")


def _render(page: _Page, kept: Sequence[int]) -> str:
    """Serialize the kept blocks with their ancestors, in document order, without recursion."""
    if not kept:
        return ""
    full: set[int] = set()
    chunks: dict[int, list[tuple[int, int]]] = {}
    needed: set[int] = set()
    for bid in kept:
        block = page.blocks[bid]
        for item, span in block.pieces():
            if span is not None:
                chunks.setdefault(id(item), []).append(span)
            else:
                full.add(id(item))
        node: Node | None = block.parent
        while node is not None and id(node) not in needed:
            needed.add(id(node))
            node = node.parent
    out: list[str] = []
    stack: list[object] = [page.document]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            out.append(item)
            continue
        assert isinstance(item, Node)
        indices = [i for i, child in enumerate(item.children) if id(child) in full or id(child) in chunks
                   or (isinstance(child, Node) and id(child) in needed and child.tag not in VOID_TAGS)]
        shown = [item.children[i] for i in indices]
        pending: list[object] = []
        # whitespace at the edges of a block-level element separates nothing, except below <pre>, where it is text
        inline = item.tag not in BLOCK_TAGS or item.pre
        for pos, child in enumerate(shown):
            piece: object
            if id(child) in full:
                piece = _escape(child.text) if isinstance(child, Text) else serialize(child)
            elif isinstance(child, Text):
                piece = _join_chunks(child.text, sorted(chunks[id(child)]), lead=inline or pos > 0,
                                     trail=inline or pos < len(shown) - 1)
            else:
                piece = child
            if pos and indices[pos] > indices[pos - 1] + 1:  # siblings between them were dropped
                pending.append(_gap(shown[pos - 1], pending[-1], child, piece))
            pending.append(piece)
        # a generic wrapper that pruning left around a single element (kept whole or opened) is unwrapped, as
        # the cleaner does; _select counts such wrappers as free
        collapse = item.tag in _GENERIC_WRAPPERS and len(shown) == 1 and isinstance(shown[0], Node)
        if item.tag != DOCUMENT and not collapse:
            out.append(f"<{item.tag}>")
            stack.append(f"</{item.tag}>")
        elif collapse and item.tag in BLOCK_TAGS and item.tag not in ("html", "body") \
                and shown[0].tag not in BLOCK_TAGS:
            # a block unwrapped around an inline element: keep it apart from the text around it
            out.append(" ")
            stack.append(" ")
        stack.extend(reversed(pending))
    return "".join(out)


def _gap(left: Node | Text, left_piece: object, right: Node | Text, right_piece: object) -> str:
    """What separates two shown siblings whose siblings between them were dropped.

    Between two text nodes a ``<br>`` (a gap is never bridged by plain text, as in :func:`_join_chunks`); else a
    space when neither side has whitespace at the junction, so the words on both sides of the gap (which the
    dropped siblings kept apart, e.g. ``<b>Eiffel</b><h2>...</h2>café``) do not run together.
    """
    if isinstance(left, Text) and isinstance(right, Text):
        return "<br>"
    left_space = left_piece[-1:].isspace() if isinstance(left, Text) and isinstance(left_piece, str) \
        else _edge_space(left, True)
    right_space = right_piece[:1].isspace() if isinstance(right, Text) and isinstance(right_piece, str) \
        else _edge_space(right, False)
    return "" if left_space or right_space else " "


def _join_chunks(text: str, spans: list[tuple[int, int]], *, lead: bool = True, trail: bool = True) -> str:
    """Escaped kept parts of one text node: neighbours joined by the whitespace between them in the node (none
    between two CJK characters), gaps marked by ``<br>``.

    A gap is never bridged by plain text, so every text node of the output is a piece of an input node. The
    whitespace that separates the node from what the output shows next to it is kept: with ``lead``, the
    whitespace before the first part in the node, and with ``trail``, the whitespace after the last part (so
    ``w39 <b>Eiffel</b>`` keeps its space; a part glued to an inline sibling, as in ``Wiki<b>pedia</b>``, stays
    glued). Whitespace is copied as the node has it: one space in collapsed text, line breaks and indentation
    below ``<pre>``.
    """
    out: list[str] = []
    prev_end: int | None = None  # end of the previous part without its trailing whitespace
    for start, end in spans:
        part = text[start:end]
        core = part.strip()
        begin = start + len(part) - len(part.lstrip())  # the part without its edge whitespace
        if prev_end is None:
            if lead:
                ws = begin
                while ws > 0 and text[ws - 1].isspace():
                    ws -= 1
                out.append(text[ws:begin])
        else:
            between = text[prev_end:begin]
            out.append(between if not between.strip() else "<br>")
        out.append(_escape(core))
        prev_end = begin + len(core)
    if trail and prev_end is not None:
        ws = prev_end
        while ws < len(text) and text[ws].isspace():
            ws += 1
        out.append(text[prev_end:ws])
    return "".join(out)


def _text(page: _Page, ids: Sequence[int]) -> str:
    """Plain text of the kept blocks in document order: neighbouring parts of one text node joined by a space."""
    parts: list[str] = []
    prev: Block | None = None
    for bid in ids:
        block = page.blocks[bid]
        if prev is not None and prev.id + 1 == block.id and prev.parent is block.parent \
                and prev.end - 1 == block.start and prev.pieces()[-1][1] is not None \
                and block.pieces()[0][1] is not None:
            # no space where the node has none (a cut between two CJK characters)
            parts.append("" if prev.pieces()[-1][1][1] == block.pieces()[0][1][0] else " ")
        elif parts:
            parts.append("\n")
        parts.append(block.text)
        prev = block
    return "".join(parts)
