"""Fast, dependency-free sentence splitting that returns character spans.

The same splitter labels the training data (:mod:`ragprune.train`) and cuts contexts at inference
time, so a sentence the model learned to keep is the same unit the pruner keeps.
"""
from __future__ import annotations

import bisect
import re
from typing import Sequence

from ragprune.errors import RagpruneError

__all__ = ["split_sentences", "sentence_texts", "span_index"]

# Words that end with a period without ending a sentence (compared lower-case, without the period).
_ABBREVIATIONS = frozenset(
    """
    mr mrs ms dr prof sr jr st mt ft rev gen col lt sgt capt cpt cmdr adm gov sen rep pres supt insp
    hon messrs mme mlle fr sr sra srta
    vs etc al cf ca approx appx est no nos vol vols pp pg ch chap sec fig figs eq eqs ed eds
    inc ltd co corp bros dept univ assn ave blvd rd hwy
    jan feb mar apr jun jul aug sep sept oct nov dec
    mon tue tues wed thu thur thurs fri sat sun
    e.g i.e a.m p.m u.s u.k u.n e.u d.c b.c a.d
    op ibid viz resp incl excl min max
    """.split()
)

#: The line breaks of ``str.splitlines`` (``\r\n`` counts as one).
_LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"

# A candidate sentence end: western terminal punctuation (plus closing quotes/brackets) followed by
# whitespace or the end of the text; terminal punctuation of scripts written without spaces
# (CJK, Arabic, Devanagari, ...); or a line break.
_CANDIDATE = re.compile(
    r"[.!?\u2026\u203c\u2047-\u2049]+[\"'\u201d\u2019\u00bb)\]\u300d\u300f]*(?=\s|$)"
    r"|[\u3002\uff01\uff1f\uff61\u061f\u06d4\u0964\u0965\u1362\u104b]+"
    r"[\"'\u201d\u2019\u00bb)\]\uff09\u300d\u300f\u3011]*"
    r"|\r\n|[" + _LINE_BREAKS + "]"
)
_DOTTED_ACRONYM = re.compile(r"(?:[^\W\d_]\.)+[^\W\d_]")
_OPENERS = "\"'([{\u201c\u2018\u00ab\u300c\u300e"


def _previous_word(text: str, end: int) -> tuple[str, int]:
    """Return the whitespace-delimited word that ends at ``end`` (at most 40 chars) and its start."""
    start = end
    limit = max(0, end - 40)
    while start > limit and not text[start - 1].isspace():
        start -= 1
    return text[start:end], start


def _next_visible(text: str, pos: int) -> tuple[str, bool]:
    """Return the next non-space character after ``pos`` ('' at the end) and whether a newline came first."""
    n = len(text)
    newline = False
    while pos < n and text[pos].isspace():
        if text[pos] in _LINE_BREAKS:
            newline = True
        pos += 1
    # Skip opening quotes/brackets: '"the' starts lower-case just like 'the'.
    while pos < n and text[pos] in _OPENERS:
        pos += 1
    return (text[pos] if pos < n else ""), newline


def _is_boundary(text: str, match: re.Match[str]) -> bool:
    token = match.group()
    if token[0] in _LINE_BREAKS:
        return True
    first = token[0]
    if first not in ".!?\u2026\u203c\u2047\u2048\u2049":
        return True  # CJK / Arabic / Indic terminal marks always end a sentence.
    nxt, newline = _next_visible(text, match.end())
    if nxt == "" or newline:
        return True
    if nxt.islower():
        return False  # "approx. five", "... and then": the sentence goes on.
    if first == "." and token.rstrip("\"'\u201d\u2019\u00bb)]\u300d\u300f") == ".":
        word, word_start = _previous_word(text, match.start())
        word = word.lstrip(_OPENERS)
        low = word.lower()
        if low in _ABBREVIATIONS:
            return False
        if len(word) == 1 and word.isalpha():
            return False  # an initial: "John F. Kennedy"
        if _DOTTED_ACRONYM.fullmatch(word):
            return False  # "U.S.", "e.g.", "Ph.D." (kept together unless a line break follows)
        if word.isdigit() and len(word) <= 2:
            line_start = word_start == 0 or text[word_start - 1] in _LINE_BREAKS
            if line_start:
                return False  # a list number: "1. First item"
    return True


def split_sentences(text: str, *, max_chars: int | None = None) -> list[tuple[int, int]]:
    """Return the character spans ``(start, end)`` of the sentences of ``text``, in order.

    Every non-space character of ``text`` lies in exactly one span; spans are ascending, do not
    overlap, and neither start nor end with whitespace (``text[start:end] == text[start:end].strip()``).
    Sentences end at ``.``/``!``/``?``/``…`` followed by a space and a character that is not lower-case,
    at ``。！？`` and other terminal marks of scripts written without spaces, and at every line break
    (those of ``str.splitlines``: ``\n``, ``\r``, ``\r\n``, ``\u2028``, ...).
    Abbreviations (``Dr.``, ``etc.``, ``U.S.``), initials (``F.``), decimals (``3.14``) and list numbers
    (``1.``) do not end a sentence.

    Args:
        text: Any string; empty or whitespace-only text gives ``[]``.
        max_chars: If given (>= 1), sentences longer than this many characters are cut further at the
            last whitespace before the limit (or hard at the limit when there is none), so that no
            span is longer than ``max_chars``. ``None`` leaves sentences whole.

    Returns:
        The sentence spans, ascending.

    Raises:
        RagpruneError: If ``text`` is not a string or ``max_chars`` is not a positive int.

    Example:
        >>> text = "Dr. Smith moved to the U.S. in 1999. He paid $3.50!  Then: 北京很大。上海也是。"
        >>> [text[a:b] for a, b in split_sentences(text)]
        ['Dr. Smith moved to the U.S. in 1999.', 'He paid $3.50!', 'Then: 北京很大。', '上海也是。']
    """
    if not isinstance(text, str):
        raise RagpruneError(f"text={text!r:.60} is not valid: pass a str.")
    if max_chars is not None and (isinstance(max_chars, bool) or not isinstance(max_chars, int) or max_chars < 1):
        raise RagpruneError(f"max_chars={max_chars!r} is not valid: use a positive int or None.")
    spans: list[tuple[int, int]] = []
    prev = 0
    for match in _CANDIDATE.finditer(text):
        if _is_boundary(text, match):
            _add_span(text, prev, match.end(), spans, max_chars)
            prev = match.end()
    _add_span(text, prev, len(text), spans, max_chars)
    return spans


def _add_span(text: str, start: int, end: int, spans: list[tuple[int, int]], max_chars: int | None) -> None:
    """Strip whitespace from ``text[start:end]`` and append its span (cut to ``max_chars`` if set)."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if start >= end:
        return
    if max_chars is None or end - start <= max_chars:
        spans.append((start, end))
        return
    while end - start > max_chars:
        cut = start + max_chars
        space = cut
        while space > start and not text[space].isspace():
            space -= 1  # text[cut] may itself be a space: then we cut right there.
        if space > start:
            cut = space
        piece_end = cut
        while piece_end > start and text[piece_end - 1].isspace():
            piece_end -= 1
        spans.append((start, piece_end))
        start = cut
        while start < end and text[start].isspace():
            start += 1
    if start < end:
        spans.append((start, end))


def sentence_texts(text: str, *, max_chars: int | None = None) -> list[str]:
    """Return the sentences of ``text`` as strings (see :func:`split_sentences`).

    Example:
        >>> sentence_texts("One. Two?\\nThree")
        ['One.', 'Two?', 'Three']
    """
    return [text[a:b] for a, b in split_sentences(text, max_chars=max_chars)]


def span_index(spans: Sequence[tuple[int, int]], starts: Sequence[int], offset: int) -> int:
    """Index of the span (sorted, disjoint; ``starts`` are their starts) that holds character ``offset``, or -1.

    The one rule that assigns a token to a sentence, by its first character: scoring, training labels and window
    sizes all use it, so they agree on every token.
    """
    k = bisect.bisect_right(starts, offset) - 1
    return k if k >= 0 and offset < spans[k][1] else -1
