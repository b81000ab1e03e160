"""Block tree: word limit, document order, tag paths, no overlap."""
from __future__ import annotations

import re

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


_CJK = "\u3001-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uff01-\uffef"
_WORD = re.compile(f"[{_CJK}]|[^\\s{_CJK}]+")


def _words(text: str) -> list[str]:
    """Words as the block tree counts them: whitespace-separated, and every CJK character alone (the pages hold
    "東京", which a block may cut between its two characters)."""
    return _WORD.findall(text)


def _block_words(blocks) -> list[str]:  # type: ignore[no-untyped-def]
    return _words(" ".join(b.text for b in blocks))


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
    assert words == _words(node_text(root))
    assert any(word in b.text for b in blocks)
    assert all(b.words <= 32 for b in blocks)


def test_a_chain_of_glued_siblings_longer_than_max_words_is_cut_at_whitespace() -> None:
    head = " ".join(f"v{i}" for i in range(30))
    root, blocks = _blocks(f"<p>{head} CO<sub>2</sub>-Fußabdruck der Batterie ist klein.</p><p>x</p>", 32)
    assert _block_words(blocks) == _words(node_text(root))
    assert "CO2-Fußabdruck" in _block_words(blocks) and all(b.words <= 32 for b in blocks)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(page=pages, max_words=st.integers(min_value=16, max_value=40))
def test_blocks_hold_the_page_text_word_for_word(page: str, max_words: int) -> None:
    # the pages never need a block boundary inside a word (see _pages), so the blocks, the no-budget text and the
    # no-budget output all hold the page's words exactly
    root, blocks = _blocks(page, max_words)
    assert _block_words(blocks) == _words(node_text(root))
    assert all(0 < b.words <= max_words for b in blocks)
    pruner = HtmlPruner(ranker="bm25", max_words=max_words, tokenizer=lambda text: len(text.split()), cache_size=0)
    result = pruner.prune(page, "alpha café", max_tokens=None)
    assert result.kept == list(range(len(blocks))) and _words(result.text) == _words(node_text(root))
    assert _words(node_text(clean_tree(parse_html(result.pruned_html)))) == _words(node_text(root))


# ------------------------------------------------------------------------- scripts written without spaces (CJK)

EIFFEL_ZH = ("<h1>埃菲尔铁塔</h1><p>" + "埃菲尔铁塔是由古斯塔夫·埃菲尔的公司设计的。它于1889年开放。" * 60
             + "</p><p>香蕉是黄色的。</p>")


def test_count_words_counts_every_cjk_character_and_latin_words_as_split() -> None:
    from ragprune.html.clean import count_words, word_spans

    assert count_words("埃菲尔铁塔 is tall.") == 7
    assert count_words("東京2020年に開催。") == 8  # 東 京 2020 年 に 開 催 。
    assert count_words("한국어 텍스트") == 6
    latin = "Wiki pedia — café, naïve  e.g.\n3.14"
    assert count_words(latin) == len(latin.split()) == 7
    assert [text[a:b] for text in ["iPhone手机 ok"] for a, b in word_spans(text)] == ["iPhone", "手", "机", "ok"]


def test_a_cjk_paragraph_is_cut_at_its_sentence_ends() -> None:
    root, blocks = _blocks(EIFFEL_ZH, 32)
    assert len(blocks) > 30 and all(0 < b.words <= 32 for b in blocks)
    chunks = [b for b in blocks if b.chunk is not None]
    assert len(chunks) > 30 and all(b.text.endswith("。") for b in chunks)  # cut at 。 with no space after
    assert "".join(b.text for b in blocks) == node_text(root).replace(" ", "")
    assert blocks[-1].text == "香蕉是黄色的。" and blocks[0].text == "埃菲尔铁塔"


def test_a_long_cjk_sentence_is_cut_every_max_words_characters() -> None:
    sentence = "あいうえおかきくけこ" * 10  # 100 characters, no punctuation
    _, blocks = _blocks(f"<p>{sentence}</p><p>次の段落です。</p>", 32)
    assert [b.words for b in blocks if b.chunk is not None] == [32, 32, 32, 4]
    assert "".join(b.text for b in blocks if b.chunk is not None) == sentence


def test_cjk_sentences_keep_their_closing_quote_and_fullwidth_semicolon() -> None:
    text = "他说：「你好。」然后走了！真的吗？是的；好的。" * 8
    _, blocks = _blocks(f"<p>{text}</p><p>x</p>", 12)
    texts = [b.text for b in blocks if b.chunk is not None]
    assert "".join(texts) == text and all(0 < b.words <= 12 for b in blocks)
    assert not any(t.startswith(("」", "！", "？")) for t in texts)
    assert any(t.endswith("」") for t in texts) and any(t.endswith("；") for t in texts)


@pytest.mark.parametrize("max_words", [8, 16, 32])
def test_cjk_text_glued_to_inline_elements_is_cut_between_characters(max_words: int) -> None:
    html = ("<p>" + "埃菲尔铁塔是由古斯塔夫设计的" * 5 + "<b>埃菲尔</b>" + "铁塔很高" * 20 + "<a>链接</a>abc<i>def</i>"
            + "，结束" * 12 + "</p><p>x</p>")
    root, blocks = _blocks(html, max_words)
    assert all(0 < b.words <= max_words for b in blocks)
    assert "".join(b.text for b in blocks) == node_text(root).replace(" ", "")
    assert any("abcdef" in b.text for b in blocks)  # a Latin word glued across elements stays whole


def test_latin_text_is_split_as_before() -> None:
    # no CJK character: words are whitespace-separated and runs are cut only at whitespace, as before
    html = f"<p>{_FILLER} The word Wiki<b>pedia</b> here.</p>"
    _, blocks = _blocks(html, 32)
    assert [b.text for b in blocks] == [" ".join(f"w{i}" for i in range(32)),
                                        " ".join(f"w{i}" for i in range(32, 40)) + " The word", "Wikipedia here."]
    assert [b.words for b in blocks] == [32, 10, 2]
