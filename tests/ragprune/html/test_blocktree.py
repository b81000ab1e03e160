"""Block tree: word limit, document order, tag paths, no overlap."""
from __future__ import annotations

import pytest

from ragprune.html import build_block_tree, clean_tree, parse_html
from ragprune.html.clean import node_text


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
