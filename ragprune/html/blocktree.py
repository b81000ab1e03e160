"""Split a cleaned HTML tree into blocks of at most ``max_words`` words, each with its tag path.

A block is a run of consecutive siblings under one parent element (whole subtrees), or a chunk of one long
text node. An element with more than ``max_words`` words is opened and its children are packed greedily
into runs; a text node longer than ``max_words`` is cut at sentence ends (and, for a single over-long
sentence, every ``max_words`` words). Blocks come out in document order and never overlap.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ragprune.html.clean import BLOCK_TAGS, Node, Text, _escape, node_text

__all__ = ["Block", "build_block_tree", "block_html"]

_SENTENCE_END = re.compile(r"(?<=[.!?。！？;])\s+")
_WORD = re.compile(r"\S+")


@dataclass
class Block:
    """One block of the tree.

    Attributes:
        id: Position in document order, from 0.
        parent: The element holding the block.
        start: Index of the first child of ``parent`` in the block.
        end: One past the last child (``end - start == 1`` for a text chunk).
        chunk: ``(begin, end)`` character range inside the text node ``parent.children[start]`` when the
            block is part of a long text node, else ``None`` (whole children).
        path: Tag names from the root to ``parent``, plus the block's own tag when it is one element.
        text: Plain text of the block.
        words: Number of whitespace-separated words in ``text``.
        link_words: Words inside ``<a>`` elements (for link density).
        hint: Lower-cased id/class/role hints of the block's elements and ancestors (never emitted).
    """

    id: int
    parent: Node
    start: int
    end: int
    chunk: tuple[int, int] | None
    path: tuple[str, ...]
    text: str
    words: int
    link_words: int = 0
    hint: str = ""


def _chunks(text: str, max_words: int) -> list[tuple[int, int]]:
    """Cut ``text`` into character ranges of at most ``max_words`` words, preferring sentence ends."""
    sentences: list[tuple[int, int]] = []
    pos = 0
    for m in _SENTENCE_END.finditer(text):
        sentences.append((pos, m.start()))
        pos = m.end()
    sentences.append((pos, len(text)))
    pieces: list[tuple[int, int]] = []  # (begin, end) each <= max_words words
    for begin, end in sentences:
        words = [m.span() for m in _WORD.finditer(text, begin, end)]
        for i in range(0, len(words), max_words):
            part = words[i:i + max_words]
            pieces.append((part[0][0], part[-1][1]))
    out: list[tuple[int, int]] = []
    cur: tuple[int, int] | None = None
    cur_words = 0
    for begin, end in pieces:
        n = len(text[begin:end].split())
        if cur is not None and cur_words + n <= max_words:
            cur = (cur[0], end)
            cur_words += n
        else:
            if cur is not None:
                out.append(cur)
            cur, cur_words = (begin, end), n
    if cur is not None:
        out.append(cur)
    return out


DOCUMENT = "#document"


def _path(node: Node) -> tuple[str, ...]:
    tags = []
    cur: Node | None = node
    while cur is not None and cur.tag != DOCUMENT:
        tags.append(cur.tag)
        cur = cur.parent
    return tuple(reversed(tags))


def _hints(node: Node) -> str:
    hints = []
    cur: Node | None = node
    while cur is not None:
        if cur.hint:
            hints.append(cur.hint)
        cur = cur.parent
    return " ".join(hints)


def _link_words(items: list[Node | Text]) -> int:
    total = 0
    stack: list[tuple[Node | Text, bool]] = [(item, False) for item in items]
    while stack:
        item, in_link = stack.pop()
        if isinstance(item, Text):
            if in_link:
                total += len(item.text.split())
        else:
            inner = in_link or item.tag == "a"
            stack.extend((c, inner) for c in item.children)
    return total


def build_block_tree(root: Node, *, max_words: int = 64) -> list[Block]:
    """Return the blocks of a cleaned tree in document order.

    ``root`` is placed under a virtual ``#document`` node (``root.parent``), which never appears in paths
    or output.

    Args:
        root: A tree from :func:`ragprune.html.clean.clean_tree` (word counts filled in).
        max_words: Most words in one block, at least 1.
    """
    blocks: list[Block] = []
    path_cache: dict[int, tuple[str, ...]] = {}
    hint_cache: dict[int, str] = {}

    def add(parent: Node, start: int, end: int, chunk: tuple[int, int] | None) -> None:
        key = id(parent)
        if key not in path_cache:
            path_cache[key] = _path(parent)
            hint_cache[key] = _hints(parent)
        path = path_cache[key]
        hint = hint_cache[key]
        items = parent.children[start:end]
        if chunk is not None:
            text_node = items[0]
            assert isinstance(text_node, Text)
            text = text_node.text[chunk[0]:chunk[1]].strip()
            link = len(text.split()) if "a" in path else 0
        else:
            parts = []
            for item in items:
                t = node_text(item)
                if t:
                    parts.append(t)
            text = " ".join(parts)
            link = _link_words(items)
            elements = [item for item in items if isinstance(item, Node)]
            if len(elements) == 1 and all(isinstance(item, Node) or not item.text.strip() for item in items):
                path = path + (elements[0].tag,)
            extra = " ".join(e.hint for e in elements if e.hint)
            if extra:
                hint = (hint + " " + extra).strip()
            if "a" in path:
                link = len(text.split())
        if not text:
            return
        blocks.append(Block(len(blocks), parent, start, end, chunk, path, text, len(text.split()), link, hint))

    # Blocks are cut below a virtual document node holding the root, so a small page is one block.
    document = Node(DOCUMENT)
    document.children = [root]
    document.words = root.words
    root.parent = document
    stack: list[tuple[Node, list | None]] = [(document, None)]
    while stack:
        node, runs = stack.pop()
        if runs is None:
            runs = _runs(node, max_words)
        for idx, (kind, value) in enumerate(runs):
            if kind == "run":
                add(node, value[0], value[1], None)
            elif kind == "text":
                text_node = node.children[value]
                assert isinstance(text_node, Text)
                for chunk in _chunks(text_node.text, max_words):
                    add(node, value, value + 1, chunk)
            else:  # open: expand this child before the remaining siblings
                rest = runs[idx + 1:]
                if rest:
                    stack.append((node, rest))
                stack.append((value, None))
                break
    return blocks


#: A block-level child with at least this many words is a block of its own rather than packed with siblings.
STANDALONE_WORDS = 8


def _runs(node: Node, max_words: int) -> list[tuple[str, object]]:
    """Group ``node``'s children: ("run", (start, end)) | ("open", child) | ("text", index).

    A child is opened when it has more than ``max_words`` words or holds block-level elements (so blocks
    follow the page's paragraphs, list items and cells); a long text node is cut into chunks; other children
    are packed into runs of consecutive siblings of at most ``max_words`` words, except that a block-level
    child of at least :data:`STANDALONE_WORDS` words is a block of its own.
    """
    runs: list[tuple[str, object]] = []
    run_start: int | None = None
    run_words = 0

    def flush(end: int) -> None:
        nonlocal run_start, run_words
        if run_start is not None:
            runs.append(("run", (run_start, end)))
        run_start, run_words = None, 0

    for i, child in enumerate(node.children):
        if isinstance(child, Text):
            n = len(child.text.split())
            if n > max_words:
                flush(i)
                runs.append(("text", i))
                continue
            standalone = False
        else:
            n = child.words
            if child.children and (n > max_words or child.blocky):
                flush(i)
                runs.append(("open", child))
                continue
            standalone = child.tag in BLOCK_TAGS and n >= STANDALONE_WORDS
        if standalone:
            flush(i)
            runs.append(("run", (i, i + 1)))
            continue
        if run_start is not None and run_words + n > max_words:
            flush(i)
        if run_start is None:
            run_start = i
        run_words += n
    flush(len(node.children))
    return runs


def block_html(block: Block) -> str:
    """Return the HTML of one block's content (no ancestors)."""
    from ragprune.html.clean import serialize

    items = block.parent.children[block.start:block.end]
    if block.chunk is not None:
        text_node = items[0]
        assert isinstance(text_node, Text)
        return _escape(text_node.text[block.chunk[0]:block.chunk[1]].strip())
    out = []
    for item in items:
        out.append(_escape(item.text) if isinstance(item, Text) else serialize(item))
    return "".join(out)
