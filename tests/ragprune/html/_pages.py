"""Random HTML pages for the property tests: paragraphs and containers with long text nodes, inline elements
glued to their neighbours (no whitespace between) or not, and glued chains longer than a block.

Inline elements hold at most 3 words and a parent at most 5 parts, so between two places where a text node has
whitespace (where a block may end) there are fewer than 16 words: with ``max_words >= 16`` no block boundary ever
needs to fall inside a word.
"""
from __future__ import annotations

from hypothesis import strategies as st

__all__ = ["pages"]

_WORDS = ["alpha", "Beta", "42", "end.", "why?", "café", "東京", "e.g.", "«", "»", "—", "x", "&amp;", "3.14"]
_short = st.lists(st.sampled_from(_WORDS), min_size=1, max_size=3).map(" ".join)
_long = st.integers(min_value=10, max_value=90).flatmap(
    lambda n: st.lists(st.sampled_from(_WORDS), min_size=n, max_size=n)).map(" ".join)
_text = st.one_of(_short, _long)
_medium = st.lists(st.sampled_from(_WORDS), min_size=8, max_size=16).map(" ".join)  # never over max_words
_sep = st.sampled_from(["", "", " ", "\n  "])


@st.composite
def _inline(draw: st.DrawFn, depth: int = 0) -> str:
    if depth < 2 and draw(st.booleans()):
        tag = draw(st.sampled_from(["b", "i", "em", "sub", "a", "span"]))
        return f"<{tag}>{draw(_sep)}{draw(_inline(depth + 1))}{draw(_sep)}</{tag}>"
    return draw(_short)


@st.composite
def _content(draw: st.DrawFn, depth: int = 0) -> str:
    parts = []
    for _ in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["text", "glued", "glued", "chain", "inline", "p", "div", "br"]))
        if kind == "text":
            parts.append(draw(_text))
        elif kind == "glued":  # text, inline element, text with no whitespace between
            parts.append(draw(_text) + draw(_inline()) + draw(_text))
        elif kind == "chain":  # a glued chain that may be longer than max_words
            parts.append(draw(_medium) + draw(_inline()) + draw(_medium) + draw(_inline()) + draw(_medium))
        elif kind == "inline":
            parts.append(draw(_inline()))
        elif kind == "br":
            parts.append("<br>")
        elif kind == "p":
            inner = "".join(draw(st.lists(st.one_of(_text, _inline()), min_size=1, max_size=4)))
            parts.append(f"<p>{inner}</p>")
        elif depth < 3:
            tag = draw(st.sampled_from(["div", "section", "article", "blockquote"]))
            parts.append(f"<{tag}>{draw(_content(depth + 1))}</{tag}>")
        parts.append(draw(_sep))
    return "".join(parts)


pages = _content().map(lambda body: f"<html><body>{body}</body></html>")
