"""Block tree: word limit, document order, tag paths, no overlap."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ragprune.html import HtmlPruner, build_block_tree, clean_tree, parse_html
from ragprune.html.clean import node_text
from tests.ragprune.html._pages import pages


def _blocks(html: str, max_words: int):  # type: ignore[no-untyped-def]
    root = clean_tree(parse_html(html))
    return root, build_block_tree(root, max_words=max_words)


@pytest.mark.parametrize("max_words", [1, 5, 16, 64, 1000])
def test_blocks_respect_max_words_and_cover_the_text_in_order(squad_page: str, max_words: int) -> None:
    root, blocks = _blocks(squad_page, max_words)
    assert [b.id for b in blocks] == list(range(len(blocks)))
    assert all(b.words <= max_words for b in blocks)
    # blocks cover the page's text exactly once, in document order (a block may end inside a word
    # when an inline element splits it, e.g. SQuAD<b>2.0</b>, so compare without whitespace)
    assert "".join("".join(b.text for b in blocks).split()) == "".join(node_text(root).split())


def test_small_page_is_one_block_with_root_path() -> None:
    _, blocks = _blocks("<html><body><p>Just a few words.</p><p>More.</p></body></html>", 64)
    assert len(blocks) == 1 and blocks[0].path == ("body",)


def test_paths_and_sentence_chunks() -> None:
    para = " ".join(f"Sentence number {i} is here." for i in range(12))  # 60 words
    html = f"<html><body><article><h1>Title words</h1><p>{para}</p></article><footer>foot</footer></body></html>"
    _, blocks = _blocks(html, 16)
    chunks = [b for b in blocks if b.chunk is not None]
    assert chunks and all(b.path[-1] == "p" for b in chunks)
    assert all(b.text.endswith(".") for b in chunks)  # cut at sentence ends
    assert blocks[0].path == ("body", "article", "h1") and blocks[-1].path == ("body", "footer")


def test_long_sentence_is_cut_by_words() -> None:
    html = "<p>" + " ".join(f"w{i}" for i in range(100)) + "</p><p>x</p>"
    _, blocks = _blocks(html, 10)
    assert max(b.words for b in blocks) == 10
    assert " ".join(b.text for b in blocks).split() == [f"w{i}" for i in range(100)] + ["x"]


# ------------------------------------------------------------------------- words written across inline elements

_FILLER = " ".join(f"w{i}" for i in range(40))


def _block_words(blocks) -> list[str]:  # type: ignore[no-untyped-def]
    return " ".join(b.text for b in blocks).split()


@pytest.mark.parametrize("inline, word", [("Wiki<b>pedia</b>", "Wikipedia"), ("H<sub>2</sub>O", "H2O"),
                                          ("<i>Wiki</i>pedia", "Wikipedia"), ("e<sup>x</sup>", "ex")])
@pytest.mark.parametrize("layout", ["long text before", "long text after", "long text both sides"])
def test_a_word_written_across_inline_elements_stays_in_one_block(inline: str, word: str, layout: str) -> None:
    # the paragraph has more than max_words words, so it is opened and its children packed into blocks
    html = {"long text before": f"<p>{_FILLER} The word {inline} is here.</p>",
            "long text after": f"<p>The word {inline} {_FILLER}.</p>",
            "long text both sides": f"<p>{_FILLER} {inline}{_FILLER}.</p>"}[layout]
    root, blocks = _blocks(html, 32)
    words = _block_words(blocks)
    assert words == node_text(root).split()
    assert any(word in b.text for b in blocks)
    assert all(b.words <= 32 for b in blocks)


def test_a_chain_of_glued_siblings_longer_than_max_words_is_cut_at_whitespace() -> None:
    head = " ".join(f"v{i}" for i in range(30))
    root, blocks = _blocks(f"<p>{head} CO<sub>2</sub>-Fußabdruck der Batterie ist klein.</p><p>x</p>", 32)
    assert _block_words(blocks) == node_text(root).split()
    assert "CO2-Fußabdruck" in _block_words(blocks) and all(b.words <= 32 for b in blocks)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(page=pages, max_words=st.integers(min_value=16, max_value=40))
def test_blocks_hold_the_page_text_word_for_word(page: str, max_words: int) -> None:
    # the pages never need a block boundary inside a word (see _pages), so the blocks, the no-budget text and the
    # no-budget output all hold the page's words exactly
    root, blocks = _blocks(page, max_words)
    assert _block_words(blocks) == node_text(root).split()
    assert all(0 < b.words <= max_words for b in blocks)
    pruner = HtmlPruner(ranker="bm25", max_words=max_words, tokenizer=lambda text: len(text.split()), cache_size=0)
    result = pruner.prune(page, "alpha café", max_tokens=None)
    assert result.kept == list(range(len(blocks))) and result.text.split() == node_text(root).split()
    assert node_text(clean_tree(parse_html(result.pruned_html))).split() == node_text(root).split()
