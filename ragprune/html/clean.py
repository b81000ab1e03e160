"""Decode and clean HTML into a small, attribute-free tree that every later step walks iteratively.

Cleaning drops scripts, styles, comments, hidden and non-content elements and every attribute, removes
elements without text, and unwraps wrappers that hold a single element. Whitespace is collapsed to single
spaces, except below ``<pre>`` and ``<code>`` (:data:`PRE_TAGS`), whose text (code) is kept verbatim. Nothing
here recurses, so a page nested 10,000 levels deep or 10 MB large is handled in linear time.

Parsing uses lxml (C, fast). libxml2 silently drops everything below its depth limit, so when the lxml tree
reaches that limit the page is parsed again with a linear, stack-based builder on the standard library's
``html.parser``.
"""
from __future__ import annotations

import codecs
import html as _html
import re
from html.parser import HTMLParser

from ragprune.errors import RagpruneError

__all__ = ["Node", "Text", "decode_html", "parse_html", "clean_tree", "serialize", "node_text", "count_words",
           "word_spans", "word_break"]

#: Elements dropped with everything inside them (their tail text is kept).
DROP_TAGS = frozenset({
    "script", "style", "noscript", "template", "iframe", "svg", "math", "canvas", "object", "embed",
    "head", "meta", "link", "base", "input", "select", "option", "textarea", "button", "audio", "video",
    "source", "track", "map", "area", "img", "picture", "param", "frame", "frameset", "applet", "dialog",
})
VOID_TAGS = frozenset({
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track",
    "wbr", "keygen", "command",
})
#: Elements after which plain text gets a line break rather than nothing.
BLOCK_TAGS = frozenset({
    "address", "article", "aside", "blockquote", "body", "br", "caption", "dd", "details", "div", "dl", "dt",
    "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr",
    "html", "li", "main", "nav", "ol", "p", "pre", "section", "summary", "table", "tbody", "td", "tfoot", "th",
    "thead", "title", "tr", "ul",
})
#: Elements whose text keeps its whitespace (line breaks, indentation) in the cleaned tree and the output.
PRE_TAGS = frozenset({"pre", "code", "textarea", "listing", "xmp", "plaintext"})
_HINT_ATTRS = ("id", "class", "role", "itemprop")
_LXML_DEPTH_LIMIT = 2000
_WS = re.compile(r"\s+")
#: Characters of scripts written without spaces between words (Han, Hiragana, Katakana, Hangul, Bopomofo, CJK
#: punctuation and fullwidth forms): each one counts as a word of its own, and a text may be cut between two.
CJK_CHARS = ("\u1100-\u11ff\u2e80-\u2fdf\u2ff0-\u2fff\u3001-\u303f\u3040-\u30ff\u3100-\u31ff\u3200-\u33ff"
             "\u3400-\u4dbf\u4e00-\u9fff\ua960-\ua97f\uac00-\ud7ff\uf900-\ufaff\ufe30-\ufe4f\uff01-\uffef"
             "\U00020000-\U0003134f")
_CJK = re.compile(f"[{CJK_CHARS}]")
#: A word: one CJK character, or a run of other characters without whitespace.
_WORD = re.compile(f"[{CJK_CHARS}]|[^\\s{CJK_CHARS}]+")
_META_CHARSET = re.compile(rb"""<meta[^>]{0,512}?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]{1,40})""", re.I)
_XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]{0,200}?encoding\s*=\s*["']([A-Za-z0-9_.:-]{1,40})["']""", re.I)
# WHATWG: these labels mean windows-1252 in browsers.
_CHARSET_ALIASES = {"iso-8859-1": "cp1252", "latin-1": "cp1252", "latin1": "cp1252", "us-ascii": "cp1252",
                    "ascii": "cp1252", "iso8859-1": "cp1252", "l1": "cp1252", "x-user-defined": "cp1252"}


class Text:
    """A text node: entity-decoded text and its parent element; whitespace is collapsed to single spaces except
    below ``<pre>``, ``<code>`` (:data:`PRE_TAGS`), where the text is kept verbatim."""

    __slots__ = ("text", "parent")

    def __init__(self, text: str, parent: Node | None = None) -> None:
        self.text = text
        self.parent = parent


class Node:
    """An element of the cleaned tree: tag name, children (``Node`` or ``Text``) and parent.

    ``hint`` keeps the lower-cased id/class/role of the element (and of wrappers unwrapped into it); it is
    never emitted and only helps the query-less boilerplate scorer.
    """

    __slots__ = ("tag", "children", "parent", "hint", "words", "blocky", "pre", "gap")

    def __init__(self, tag: str, parent: Node | None = None, hint: str = "") -> None:
        self.tag = tag
        self.children: list[Node | Text] = []
        self.parent = parent
        self.hint = hint
        self.words = 0
        self.blocky = False  # has a block-level element (p, li, div, ...) below it
        # text below a <pre>, <code>, ... keeps its whitespace verbatim (elsewhere it is collapsed)
        self.pre = tag in PRE_TAGS or (parent is not None and parent.pre)
        # set by clean_tree on a word-less element: the whitespace it stood for (``Natural<small>&nbsp;</small>
        # sciences``, an empty block between two words), which stays behind when the element is dropped
        self.gap = ""


def decode_html(html: str | bytes) -> str:
    """Return ``html`` as text, decoding bytes with the declared or sniffed charset.

    Order: byte-order mark, strict UTF-8 (valid UTF-8 beats a wrong declaration), the ``<meta charset>`` /
    ``http-equiv`` / XML declaration, then windows-1252 (never fails) unless that reading is mostly non-ASCII letters,
    where ``charset_normalizer`` (when installed) guesses the charset. Labels browsers treat as windows-1252 (``iso-8859-1``, ``ascii``) decode as such.

    Args:
        html: A page as ``str`` (returned unchanged) or ``bytes``.

    Raises:
        RagpruneError: If ``html`` is neither ``str`` nor ``bytes``.
    """
    if isinstance(html, str):
        return html
    if not isinstance(html, (bytes, bytearray, memoryview)):
        raise RagpruneError(f"html={type(html).__name__} is not valid: pass a str or bytes.")
    data = bytes(html)
    for bom, codec in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
                       (codecs.BOM_UTF16_BE, "utf-16-be")):
        if data.startswith(bom):
            return data[len(bom):].decode(codec, errors="replace")
    head = data[:8192]
    declared = [m.group(1) for m in (_XML_ENCODING.search(head), _META_CHARSET.search(head)) if m]
    # Valid UTF-8 with non-ASCII bytes is practically never a single-byte charset: it wins over a
    # (frequently wrong) declaration. Pure ASCII decodes the same everywhere.
    candidates = ["utf-8"]
    for label in declared:
        name = label.decode("ascii", "ignore").strip().lower()
        name = _CHARSET_ALIASES.get(name, name)
        try:
            codecs.lookup(name)
        except LookupError:
            continue
        candidates.append(name)
    for codec in candidates:
        try:
            return data.decode(codec)
        except (UnicodeDecodeError, LookupError):
            continue
    # Undeclared and not UTF-8. Western pages are mostly windows-1252; if that reading is mostly
    # accented letters, the page is probably in another script: ask charset_normalizer (if installed).
    fallback = data.decode("cp1252", errors="replace")
    letters = [c for c in fallback[:65536] if c.isalpha()]
    if letters and sum(not c.isascii() for c in letters) / len(letters) > 0.3:
        try:
            import charset_normalizer

            best = charset_normalizer.from_bytes(data[:65536]).best()
            if best is not None and best.encoding:
                return data.decode(best.encoding, errors="replace")
        except (ImportError, LookupError):  # pragma: no cover - depends on the environment
            pass
    return fallback


def _norm_ws(text: str) -> str:
    return _WS.sub(" ", text)


def count_words(text: str) -> int:
    """Return the number of words of ``text``: whitespace-separated words, except that every CJK character
    (Han, Hiragana, Katakana, Hangul, CJK punctuation) is a word of its own, since those scripts put no spaces
    between words. Text without CJK characters counts as ``len(text.split())``.
    """
    if text.isascii() or not _CJK.search(text):
        return len(text.split())
    return sum(1 for _ in _WORD.finditer(text))


def word_spans(text: str, begin: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Return the ``(start, end)`` character ranges of the words of ``text[begin:end]`` (as :func:`count_words`
    counts them), in order."""
    return [m.span() for m in _WORD.finditer(text, begin, len(text) if end is None else end)]


def word_break(char: str) -> bool:
    """Whether a word ends at ``char``: whitespace or a CJK character."""
    return char.isspace() or (not char.isascii() and _CJK.match(char) is not None)


def _hint(attrib) -> str:  # type: ignore[no-untyped-def]
    parts = [attrib.get(name, "") for name in _HINT_ATTRS]
    return " ".join(p for p in parts if p).lower()


def _hidden(attrib) -> bool:  # type: ignore[no-untyped-def]
    if "hidden" in attrib:
        return True
    style = attrib.get("style")
    return bool(style) and "display:none" in style.replace(" ", "").lower()


def _add_text(parent: Node, text: str | None) -> None:
    if not text:
        return
    if parent.pre:  # whitespace is part of the content (code, preformatted text)
        last = parent.children[-1] if parent.children else None
        if isinstance(last, Text):
            last.text += text
        else:
            parent.children.append(Text(text, parent))
        return
    text = _norm_ws(text)
    if not text:
        return
    last = parent.children[-1] if parent.children else None
    if isinstance(last, Text):
        last.text = _norm_ws(last.text + text)
    else:
        parent.children.append(Text(text, parent))


def _parse_lxml(text: str) -> Node | None:
    """Build the tree with lxml; return None when libxml2's depth limit was reached (content lost)."""
    import lxml.etree as etree

    parser = etree.HTMLParser(encoding="utf-8", remove_comments=True, remove_pis=True, huge_tree=True,
                              recover=True, no_network=True)
    data = text.encode("utf-8", errors="surrogatepass").replace(b"\x00", b"")
    try:
        root_el = etree.fromstring(data, parser)
    except (etree.ParserError, ValueError):
        return Node("html")
    if root_el is None:
        return Node("html")
    root = Node("html")
    stack: list[Node | None] = []
    depth = 0
    walker = etree.iterwalk(root_el, events=("start", "end"))
    for event, el in walker:
        if event == "start":
            depth += 1
            if depth >= _LXML_DEPTH_LIMIT:
                return None
            tag = el.tag if isinstance(el.tag, str) else ""
            tag = tag.lower()
            parent = stack[-1] if stack else root
            if not stack:  # the <html> element itself
                root.hint = _hint(el.attrib)
                stack.append(root)
                _add_text(root, el.text)
                continue
            if parent is None or not tag or tag in DROP_TAGS or _hidden(el.attrib):
                walker.skip_subtree()
                stack.append(None)
                continue
            node = Node(tag, parent, _hint(el.attrib))
            parent.children.append(node)
            stack.append(node)
            _add_text(node, el.text)
        else:
            depth -= 1
            stack.pop()
            if stack and stack[-1] is not None:
                _add_text(stack[-1], el.tail)
    return root


class _StdlibBuilder(HTMLParser):
    """Linear tree builder on ``html.parser`` for pages deeper than libxml2 accepts."""

    _SEARCH = 64  # how far up the stack an end tag may close; keeps malformed pages linear

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("html")
        self.stack: list[Node] = [self.root]
        self.skip_tag: str | None = None  # the dropped element we are inside
        self.skip = 0  # nesting of skip_tag inside itself

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.skip_tag is not None:
            if tag == self.skip_tag:
                self.skip += 1
            elif tag == "body" and self.skip_tag == "head":  # unclosed <head>
                self.skip_tag, self.skip = None, 0
            return
        if tag in VOID_TAGS:
            if tag not in DROP_TAGS:
                self.stack[-1].children.append(Node(tag, self.stack[-1]))
            return
        attrib = {k: (v or "") for k, v in attrs}
        if tag in DROP_TAGS or _hidden(attrib):
            self.skip_tag, self.skip = tag, 1
            return
        top = self.stack[-1]
        if tag in ("p", "li", "tr", "td", "th", "dt", "dd") and top.tag == tag:
            self.stack.pop()
        if tag == "html":
            self.root.hint = _hint(attrib)
            return
        node = Node(tag, self.stack[-1], _hint(attrib))
        self.stack[-1].children.append(node)
        self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in VOID_TAGS:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if self.skip_tag is not None:
            if tag == self.skip_tag:
                self.skip -= 1
                if self.skip == 0:
                    self.skip_tag = None
            return
        for i in range(len(self.stack) - 1, max(0, len(self.stack) - self._SEARCH), -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        if self.skip_tag is None:
            _add_text(self.stack[-1], data)


def _parse_stdlib(text: str) -> Node:
    builder = _StdlibBuilder()
    # html.parser treats <script>/<style> content as CDATA itself; feed in one go.
    builder.feed(text)
    builder.close()
    return builder.root


def parse_html(html: str | bytes) -> Node:
    """Return the raw element tree of ``html`` (decoded first), with dropped elements already skipped."""
    text = decode_html(html)
    root = _parse_lxml(text)
    if root is None:
        root = _parse_stdlib(text)
    return root


def _postorder(root: Node) -> list[Node]:
    """Return every element below and including ``root``, children before parents."""
    order: list[Node] = []
    stack = [root]
    while stack:
        node = stack.pop()
        order.append(node)
        stack.extend(c for c in node.children if isinstance(c, Node))
    order.reverse()
    return order


def clean_tree(root: Node) -> Node:
    """Remove text-less elements and unwrap single-element wrappers, in place; return the new root.

    Word counts (``Node.words``, as :func:`count_words` counts) and ``Node.blocky`` (a block-level element below)
    are filled in on the way. Whitespace-only text nodes survive as ``" "`` between inline siblings so words do
    not run together; below ``<pre>``/``<code>`` every text node is kept verbatim.
    """
    for node in _postorder(root):
        kept: list[Node | Text] = []
        words = 0
        # below <pre>, whitespace at the edges is text (the indentation before a first <span>), unless it only
        # lays out block-level elements
        verbatim = node.pre and not any(isinstance(c, Node) and c.tag in BLOCK_TAGS for c in node.children)
        spaces: list[str] = []
        for child in node.children:
            if isinstance(child, Node) and child.words == 0 and child.tag != "br":
                if not child.gap:
                    continue
                child = Text(child.gap, node)  # a dropped element still separates the words around it
            if isinstance(child, Text):
                n = count_words(child.text)
                if n == 0:
                    spaces.append(child.text)
                if not verbatim:
                    if n == 0 and not kept:
                        continue
                    # two text neighbours once an element between them is gone: one space between them at most
                    if (kept and isinstance(kept[-1], Text) and kept[-1].text.endswith(" ")
                            and child.text.startswith(" ")):
                        if n == 0:
                            continue
                        child.text = child.text[1:]
                words += n
                kept.append(child)
            else:
                words += child.words
                kept.append(child)
        while kept and isinstance(kept[-1], Text) and not kept[-1].text.strip() and not verbatim:
            kept.pop()
        node.children = kept
        node.words = words
        if words == 0 and (spaces or node.tag in BLOCK_TAGS):
            node.gap = "".join(spaces) if node.pre and spaces else " "
        node.blocky = any(isinstance(c, Node) and (c.tag in BLOCK_TAGS or c.blocky) for c in kept)
    for node in _postorder(root):  # drop <br> left without neighbours
        if len(node.children) == 1 and isinstance(node.children[0], Node) and node.children[0].tag == "br":
            node.children = []
    # Unwrap: an element whose only child is an element (no own text) is replaced by that child, unless
    # that would turn a block (``<li><a>x</a></li>``) into an inline element.
    def _unwrap(node: Node) -> Node:
        while (len(node.children) == 1 and isinstance(node.children[0], Node) and node.children[0].children
               and (node.children[0].tag in BLOCK_TAGS or node.tag not in BLOCK_TAGS)):
            child = node.children[0]
            child.hint = (node.hint + " " + child.hint).strip()
            node = child
        return node

    new_root = _unwrap(root)
    new_root.parent = None
    stack = [new_root]
    while stack:
        node = stack.pop()
        for i, child in enumerate(node.children):
            if isinstance(child, Node):
                inner = _unwrap(child)
                if inner is not child:
                    inner.parent = node
                    node.children[i] = inner
                stack.append(inner)
    return new_root


def _escape(text: str) -> str:
    return _html.escape(text, quote=False)


def serialize(root: Node) -> str:
    """Return the HTML of a cleaned tree (no attributes), built without recursion."""
    out: list[str] = []
    stack: list[object] = [root]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, Text):
            out.append(_escape(item.text))
        else:
            assert isinstance(item, Node)
            if item.tag in VOID_TAGS:
                out.append(f"<{item.tag}>")
                continue
            out.append(f"<{item.tag}>")
            stack.append(f"</{item.tag}>")
            stack.extend(reversed(item.children))
    return "".join(out)


def node_text(node: Node | Text) -> str:
    """Return the plain text under ``node``: block elements separated by spaces, whitespace collapsed."""
    if isinstance(node, Text):
        return node.text.strip()
    out: list[str] = []
    stack: list[object] = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, Text):
            out.append(item.text)
        else:
            assert isinstance(item, Node)
            block = item.tag in BLOCK_TAGS
            if block:
                out.append(" ")
                stack.append(" ")
            stack.extend(reversed(item.children))
    return _norm_ws("".join(out)).strip()
