"""Split a cleaned HTML tree into blocks of at most ``max_words`` words, each with its tag path.

A block is a run of consecutive siblings under one parent element (whole subtrees), or a chunk of one long
text node. An element with more than ``max_words`` words is opened and its children are packed greedily
into runs; a text node longer than ``max_words`` is cut at sentence ends (and, for a single over-long
sentence, every ``max_words`` words). Blocks come out in document order and never overlap.

Runs are cut only where the page has whitespace (or a block-level tag) between siblings, so a word written
across inline elements (``Wiki<b>pedia</b>``, ``H<sub>2</sub>O``) stays in one block: a long text node glued
to such a sibling gives its first or last word fragment to the sibling's run (the run then starts or ends
inside the text node: :attr:`Block.head`, :attr:`Block.tail`). A chain of glued siblings longer than
``max_words`` is cut at whitespace inside its text nodes. Only two cases still cut inside a word: an inline
element longer than ``max_words`` glued to its neighbour (it is opened), and more than ``max_words`` words of
glued elements with no whitespace outside them.

Scripts written without spaces (Chinese, Japanese, Korean: :data:`ragprune.html.clean.CJK_CHARS`) count every
character as a word (:func:`ragprune.html.clean.count_words`), and a word ends at every such character just as at
whitespace: their sentences end at ``。！？；`` with or without whitespace after, and blocks may be cut between two
of their characters. Text without such characters is split exactly as before.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ragprune.html.clean import (
    BLOCK_TAGS,
    Node,
    Text,
    _escape,
    _norm_ws,
    count_words,
    node_text,
    word_break,
    word_spans,
)

__all__ = ["Block", "build_block_tree", "block_html"]

# A sentence ends at . ! ? ; followed by whitespace; in CJK text at 。！？； (and a closing bracket or quote after
# them) whether whitespace follows or not.
_CLOSERS = "」』）】〕〉》”’\uff09\uff63"
_SENTENCE_END = re.compile(r"(?<=[.!?。！？;；])\s+"
                           rf"|(?<=[。！？；])(?=[^\s。！？；{_CLOSERS}])"
                           rf"|(?<=[。！？；][{_CLOSERS}])\s*(?=\S)")


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
        head: For a run that starts inside a long text node (``parent.children[start]``), the character
            where it starts; else ``None``.
        tail: For a run that ends inside a long text node (``parent.children[end - 1]``), the character
            where it ends; else ``None``.
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
    head: int | None = None
    tail: int | None = None

    def pieces(self) -> list[tuple[Node | Text, tuple[int, int] | None]]:
        """The block's children of ``parent``, each with the character range the block holds of it when it is
        part of a text node (``None``: the whole child)."""
        return _pieces(self.parent, self.start, self.end, self.chunk, self.head, self.tail)


def _pieces(parent: Node, start: int, end: int, chunk: tuple[int, int] | None, head: int | None,
            tail: int | None) -> list[tuple[Node | Text, tuple[int, int] | None]]:
    items = parent.children[start:end]
    if chunk is not None:
        return [(items[0], chunk)]
    out: list[tuple[Node | Text, tuple[int, int] | None]] = [(item, None) for item in items]
    if head is not None:
        first = items[0]
        assert isinstance(first, Text)
        out[0] = (first, (head, len(first.text)))
    if tail is not None:
        last, span = out[-1]
        assert isinstance(last, Text)
        out[-1] = (last, (span[0] if span else 0, tail))
    return out


def _chunks(text: str, max_words: int, begin: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Cut ``text[begin:end]`` into character ranges of ``text`` of at most ``max_words`` words, preferring
    sentence ends."""
    if begin or end is not None:
        return [(b + begin, e + begin) for b, e in _chunks(text[begin:end], max_words)]
    sentences: list[tuple[int, int]] = []
    pos = 0
    for m in _SENTENCE_END.finditer(text):
        sentences.append((pos, m.start()))
        pos = m.end()
    sentences.append((pos, len(text)))
    pieces: list[tuple[int, int]] = []  # (begin, end) each <= max_words words
    for begin, end in sentences:
        words = word_spans(text, begin, end)
        for i in range(0, len(words), max_words):
            part = words[i:i + max_words]
            pieces.append((part[0][0], part[-1][1]))
    out: list[tuple[int, int]] = []
    cur: tuple[int, int] | None = None
    cur_words = 0
    for begin, end in pieces:
        n = count_words(text[begin:end])
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
                total += count_words(item.text)
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

    def add(parent: Node, start: int, end: int, chunk: tuple[int, int] | None, head: int | None = None,
            tail: int | None = None) -> None:
        key = id(parent)
        if key not in path_cache:
            path_cache[key] = _path(parent)
            hint_cache[key] = _hints(parent)
        path = path_cache[key]
        hint = hint_cache[key]
        if chunk is not None:
            text_node = parent.children[start]
            assert isinstance(text_node, Text)
            text = _norm_ws(text_node.text[chunk[0]:chunk[1]]).strip()  # verbatim below <pre>
            link = count_words(text) if "a" in path else 0
        else:
            # the pieces as they stand on the page: the text is built as node_text builds it (inline pieces
            # joined as written, a space only at whitespace or around block-level tags)
            items: list[Node | Text] = [item if span is None else Text(item.text[span[0]:span[1]])
                                        for item, span in _pieces(parent, start, end, None, head, tail)]
            run = Node("#run")
            run.children = items
            text = node_text(run)
            link = _link_words(items)
            elements = [item for item in items if isinstance(item, Node)]
            if len(elements) == 1 and all(isinstance(item, Node) or not item.text.strip() for item in items):
                path = path + (elements[0].tag,)
            extra = " ".join(e.hint for e in elements if e.hint)
            if extra:
                hint = (hint + " " + extra).strip()
            if "a" in path:
                link = count_words(text)
        if not text:
            return
        blocks.append(Block(len(blocks), parent, start, end, chunk, path, text, count_words(text), link, hint,
                            head, tail))

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
                start, end, head, tail = value
                add(node, start, end, None, head, tail)
            elif kind == "text":
                index, begin, end = value
                text_node = node.children[index]
                assert isinstance(text_node, Text)
                for chunk in _chunks(text_node.text, max_words, begin, end):
                    add(node, index, index + 1, chunk)
            else:  # open: expand this child before the remaining siblings
                rest = runs[idx + 1:]
                if rest:
                    stack.append((node, rest))
                stack.append((value, None))
                break
    return blocks


#: A block-level child with at least this many words is a block of its own rather than packed with siblings.
STANDALONE_WORDS = 8


def _edge_space(item: Node | Text, last: bool, cjk: bool = False) -> bool:
    """Whether plain text of ``item`` (as :func:`node_text` builds it) has whitespace at its start or end (with
    ``cjk``: whitespace or a CJK character, where a word ends too)."""
    while True:
        if isinstance(item, Text):
            text = item.text
            if not text:
                return True
            char = text[-1] if last else text[0]
            return word_break(char) if cjk else char.isspace()
        if item.tag in BLOCK_TAGS:
            return True
        if not item.children:
            return False
        item = item.children[-1 if last else 0]


@dataclass
class _Group:
    """Consecutive children with no word break between them (one word may run across them)."""

    start: int
    end: int
    head: int | None
    tail: int | None
    words: int
    standalone: bool = False


def _runs(node: Node, max_words: int) -> list[tuple[str, object]]:
    """Group ``node``'s children: ("run", (start, end, head, tail)) | ("open", child) |
    ("text", (index, begin, end)).

    A child is opened when it has more than ``max_words`` words or holds block-level elements (so blocks
    follow the page's paragraphs, list items and cells); a long text node is cut into chunks; other children
    are packed into runs of consecutive siblings of at most ``max_words`` words, except that a block-level
    child of at least :data:`STANDALONE_WORDS` words is a block of its own. Runs are cut only where there is
    whitespace between siblings; a long text node with no whitespace between it and a packed sibling gives the
    word fragment touching that sibling to the sibling's run (``head``/``tail``: where the run starts in the
    text node before it or ends in the one after it).
    """
    children = node.children
    count = len(children)
    words: list[int] = []
    kinds: list[str] = []  # "open" | "long" | "item"
    for child in children:
        if isinstance(child, Text):
            n = count_words(child.text)
            kinds.append("long" if n > max_words else "item")
        else:
            n = child.words
            kinds.append("open" if child.children and (n > max_words or child.blocky) else "item")
        words.append(n)
    # glued[i]: no word break (whitespace, a CJK character) between children[i - 1] and children[i]
    glued = [False] * (count + 1)
    for i in range(1, count):
        glued[i] = not (_edge_space(children[i - 1], True, True) or _edge_space(children[i], False, True))

    units: list[tuple[str, object]] = []
    group: _Group | None = None

    def close() -> None:
        nonlocal group
        if group is not None:
            units.append(("group", group))
        group = None

    for i, child in enumerate(children):
        kind = kinds[i]
        if kind == "open":
            close()
            units.append(("open", child))
        elif kind == "long":
            assert isinstance(child, Text)
            text = child.text
            begin, end = 0, len(text)
            if group is not None and glued[i]:  # the first word fragment completes the group's last word
                while begin < end and not word_break(text[begin]):
                    begin += 1
                group.end, group.tail = i + 1, begin
            close()
            units.append(("text", (i, begin, end)))
            if i + 1 < count and glued[i + 1] and kinds[i + 1] != "open":  # the last fragment starts a group
                head = end
                while head > begin and not word_break(text[head - 1]):
                    head -= 1
                units[-1] = ("text", (i, begin, head))
                group = _Group(i, i + 1, head, None, 1)
        elif group is not None and glued[i]:
            group.end = i + 1
            group.words += words[i] - (1 if words[i] and group.words else 0)
        else:
            close()
            group = _Group(i, i + 1, None, None, words[i],
                           isinstance(child, Node) and child.tag in BLOCK_TAGS and words[i] >= STANDALONE_WORDS)
    close()

    runs: list[tuple[str, object]] = []
    run: list = []  # [start, end, head, tail] of the run being packed
    run_words = 0

    def flush() -> None:
        nonlocal run, run_words
        if run:
            runs.append(("run", tuple(run)))
        run, run_words = [], 0

    for kind, value in units:
        if kind != "group":
            flush()
            runs.append((kind, value))
            continue
        assert isinstance(value, _Group)
        if value.standalone:
            flush()
            runs.append(("run", (value.start, value.end, value.head, value.tail)))
            continue
        if value.words > max_words:  # a glued chain too long for one block: cut at whitespace inside it
            flush()
            runs.extend(_split_group(value, children, words, max_words))
            continue
        if run and run_words + value.words > max_words:
            flush()
        if not run:
            run = [value.start, value.end, value.head, value.tail]
        else:
            run[1], run[3] = value.end, value.tail
        run_words += value.words
    flush()
    return runs


@dataclass
class _Token:
    """A word (or word fragment) of a text node, or a whole element, inside a glued chain."""

    index: int  # child of the opened node
    begin: int | None  # character range of a word in a text node (None: an element)
    end: int | None
    words: int  # words it adds to a run that already holds the token before it
    glued: bool  # no whitespace between it and the token before it
    first: bool  # first token of its child
    last: bool = False  # last token of its child


def _split_group(group: _Group, children: list[Node | Text], words: list[int],
                 max_words: int) -> list[tuple[str, object]]:
    """Cut a glued chain of more than ``max_words`` words into runs of at most ``max_words`` words.

    Cuts fall on whitespace inside its text nodes (a run may then start or end inside a text node); only where
    no such whitespace is within reach (a chain of elements) is the chain cut between siblings, inside a word.
    """
    tokens: list[_Token] = []
    for i in range(group.start, group.end):
        child = children[i]
        if isinstance(child, Text):
            begin = group.head if i == group.start and group.head is not None else 0
            end = group.tail if i == group.end - 1 and group.tail is not None else len(child.text)
            first = True
            for m_start, m_end in word_spans(child.text, begin, end):
                glued = first and m_start == begin and i > group.start
                tokens.append(_Token(i, m_start, m_end, 0 if glued else 1, glued, first))
                first = False
        else:
            glued = i > group.start
            tokens.append(_Token(i, None, None, words[i] - (1 if glued and words[i] else 0), glued, True))
        if tokens and tokens[-1].index == i:
            tokens[-1].last = True
    cum = [0]
    for token in tokens:
        cum.append(cum[-1] + token.words)

    def count(first: int, stop: int) -> int:  # words of tokens[first:stop] as one run
        return cum[stop] - cum[first] + tokens[first].glued  # a run's first token starts a word

    out: list[tuple[str, object]] = []

    def emit(first: int, stop: int) -> None:
        a, b = tokens[first], tokens[stop - 1]
        head = (group.head if a.index == group.start else None) if a.first else a.begin
        tail = (group.tail if b.index == group.end - 1 else None) if b.last else b.end
        out.append(("run", (a.index, b.index + 1, head, tail)))

    run = 0
    last_space: int | None = None  # latest token after whitespace in the run being packed
    last_sibling: int | None = None  # latest token that starts a child
    t = 1
    while t < len(tokens):
        token = tokens[t]
        if count(run, t + 1) > max_words:
            cut = t if not token.glued else last_space if last_space is not None \
                else t if token.first else last_sibling
            if cut is not None:
                emit(run, cut)
                run, last_space, last_sibling = cut, None, None
                for u in range(run + 1, t + 1):
                    last_space = u if not tokens[u].glued else last_space
                    last_sibling = u if tokens[u].first else last_sibling
                t += 1
                continue
        if not token.glued:
            last_space = t
        if token.first:
            last_sibling = t
        t += 1
    if tokens:
        emit(run, len(tokens))
    return out


def block_html(block: Block) -> str:
    """Return the HTML of one block's content (no ancestors)."""
    from ragprune.html.clean import serialize

    if block.chunk is not None:
        text_node = block.parent.children[block.start]
        assert isinstance(text_node, Text)
        return _escape(text_node.text[block.chunk[0]:block.chunk[1]].strip())
    out = []
    for item, span in block.pieces():
        if isinstance(item, Text):
            out.append(_escape(item.text if span is None else item.text[span[0]:span[1]]))
        else:
            out.append(serialize(item))
    return "".join(out)
