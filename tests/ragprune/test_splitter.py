"""Tests of ``ragprune.sentence.splitter.split_sentences``: examples, properties (with known-bad twins), speed."""
from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ragprune.errors import RagpruneError
from ragprune.sentence.splitter import sentence_texts, split_sentences


def check_spans(text: str, spans: list[tuple[int, int]], max_chars: int | None = None) -> None:
    """Assert the splitter contract: ordered, disjoint, stripped spans covering all non-space characters."""
    prev_end = 0
    covered = [False] * len(text)
    for a, b in spans:
        assert isinstance(a, int) and isinstance(b, int)
        assert prev_end <= a < b <= len(text), (a, b, prev_end)
        piece = text[a:b]
        assert piece == piece.strip(), (piece,)
        if max_chars is not None:
            assert b - a <= max_chars
        for i in range(a, b):
            covered[i] = True
        prev_end = b
    for i, ch in enumerate(text):
        if not ch.isspace():
            assert covered[i], f"non-space char {ch!r} at {i} not covered"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Dr. Smith moved to the U.S. in 1999. He paid $3.50 for it!", ["Dr. Smith moved to the U.S. in 1999.", "He paid $3.50 for it!"]),
        ('He said "Stop." Then he left.', ['He said "Stop."', "Then he left."]),
        ("Pi is 3.14. It is e.g. a number.", ["Pi is 3.14.", "It is e.g. a number."]),
        ("John F. Kennedy was shot. Was it planned? Nobody knows!", ["John F. Kennedy was shot.", "Was it planned?", "Nobody knows!"]),
        ("The cost is approx. five dollars. Fine.", ["The cost is approx. five dollars.", "Fine."]),
        ("Title\n\nFirst line. Second line.\nThird", ["Title", "First line.", "Second line.", "Third"]),
        ("1. First item\n2. Second item", ["1. First item", "2. Second item"]),
        ("北京是中国的首都。上海很大！你去过吗？", ["北京是中国的首都。", "上海很大！", "你去过吗？"]),
        ("「こんにちは。」と言った。", ["「こんにちは。」", "と言った。"]),
        ("नमस्ते। आप कैसे हैं?", ["नमस्ते।", "आप कैसे हैं?"]),
        ("no final punctuation", ["no final punctuation"]),
        ("", []),
        ("   \n\t  ", []),
    ],
)
def test_examples(text: str, expected: list[str]) -> None:
    assert sentence_texts(text) == expected
    check_spans(text, split_sentences(text))


def test_spans_point_into_text() -> None:
    text = "  One sentence.   Another one?  "
    spans = split_sentences(text)
    assert spans == [(2, 15), (18, 30)]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab A.!?。\n\t\"')1 é")) | st.characters(), max_size=200))
def test_property_contract_on_punctuation_heavy_text(text: str) -> None:
    check_spans(text, split_sentences(text))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_property_contract_on_arbitrary_text(text: str) -> None:
    check_spans(text, split_sentences(text))


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("abc .\n")), max_size=200), st.integers(1, 30))
def test_property_max_chars(text: str, max_chars: int) -> None:
    spans = split_sentences(text, max_chars=max_chars)
    check_spans(text, spans, max_chars)
    # Cutting long sentences only refines the unbounded split.
    whole = split_sentences(text)
    for a, b in spans:
        assert any(s <= a and b <= e for s, e in whole)


def test_checker_rejects_known_bad_twins() -> None:
    text = "One. Two. Three."
    good = split_sentences(text)
    with pytest.raises(AssertionError):
        check_spans(text, good[:-1])  # drops the last sentence
    with pytest.raises(AssertionError):
        check_spans(text, [(0, 9), (5, 16)])  # overlapping
    with pytest.raises(AssertionError):
        check_spans(text, [(0, 5), (5, 16)])  # span with a leading space
    with pytest.raises(AssertionError):
        check_spans(text, list(reversed(good)))  # out of order


def test_long_text_is_fast() -> None:
    text = ("The U.S. economy grew 3.5 percent in 2019, e.g. in retail. " * 1700)[:100_000]
    start = time.perf_counter()
    spans = split_sentences(text)
    assert time.perf_counter() - start < 2.0
    assert len(spans) >= 1600
    no_punct = "word " * 20_000
    assert len(split_sentences(no_punct)) == 1
    assert all(b - a <= 500 for a, b in split_sentences(no_punct, max_chars=500))


@pytest.mark.parametrize("bad", [None, 3, b"bytes"])
def test_rejects_non_strings(bad: object) -> None:
    with pytest.raises(RagpruneError, match="text="):
        split_sentences(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_rejects_bad_max_chars(bad: object) -> None:
    with pytest.raises(RagpruneError, match="max_chars="):
        split_sentences("a. b.", max_chars=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("brk", ["\r", "\r\n", "\u2028", "\u2029", "\x85", "\x0c", "\x0b"])
def test_every_splitlines_line_break_ends_a_sentence(brk: str) -> None:
    text = f"Title without period{brk}Body text starts here{brk}1. A list item"
    assert sentence_texts(text) == ["Title without period", "Body text starts here", "1. A list item"]
