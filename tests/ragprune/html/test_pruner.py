"""HtmlPruner: exact budgets, text provenance, document order, query-less mode, rankers, validation."""
from __future__ import annotations

import re
from collections import Counter
from html.parser import HTMLParser

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ragprune.errors import RagpruneError
from ragprune.html import (
    BlockRanker,
    BM25Ranker,
    EmbeddingRanker,
    HtmlPruner,
    HybridRanker,
    LabelerRanker,
    get_ranker,
    tokenize,
)
from tests.ragprune.html._pages import pages

_WS = re.compile(r"\s+")


class _Texts(HTMLParser):
    def __init__(self, skip_invisible: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.nodes: list[str] = []
        self.skip_invisible = skip_invisible
        self._skip = 0

    def handle_starttag(self, tag, attrs):  # type: ignore[no-untyped-def]
        if self.skip_invisible and tag in ("script", "style"):
            self._skip += 1

    def handle_endtag(self, tag):  # type: ignore[no-untyped-def]
        if self.skip_invisible and tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data):  # type: ignore[no-untyped-def]
        if not self._skip:
            self.nodes.append(data)


def text_nodes(html: str, *, skip_invisible: bool = False) -> list[str]:
    parser = _Texts(skip_invisible)
    parser.feed(html)
    parser.close()
    return parser.nodes


def emitted_text_is_from_input(pruned_html: str, original: str) -> bool:
    """The provenance property: every text node of the output occurs in the input's text stream."""
    stream = _WS.sub(" ", "".join(text_nodes(original, skip_invisible=True)))
    squeezed = stream.replace(" ", "")
    for node in text_nodes(pruned_html):
        node = _WS.sub(" ", node).strip()
        if node and node not in stream and node.replace(" ", "") not in squeezed:
            return False
    return True


@pytest.fixture(scope="module")
def bm25() -> HtmlPruner:
    return HtmlPruner(ranker="bm25")


def test_docstring_examples() -> None:
    import doctest

    import ragprune.html.pruner
    import ragprune.html.rankers

    for module in (ragprune.html.pruner, ragprune.html.rankers):
        failed, attempted = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert attempted > 0 and failed == 0


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(budget=st.integers(min_value=1, max_value=1500), q=st.integers(min_value=0, max_value=72))
def test_output_within_budget_in_order_and_from_input(bm25: HtmlPruner, squad_page: str, squad_qas: list,
                                                      budget: int, q: int) -> None:
    result = bm25.prune(squad_page, squad_qas[q]["question"], max_tokens=budget)
    assert result.token_count == bm25.count_tokens(result.pruned_html) <= budget
    assert bm25.count_tokens(result.text) <= budget
    assert result.kept == sorted(set(result.kept))
    assert emitted_text_is_from_input(result.pruned_html, squad_page)
    # the kept blocks appear in document order in the text
    pos = -1
    for bid in result.kept:
        found = result.text.find(result.blocks[bid], pos + 1)
        assert found > pos
        pos = found


def test_provenance_check_rejects_a_known_bad_twin(bm25: HtmlPruner, squad_page: str) -> None:
    good = bm25.prune(squad_page, "Where is Southern California?", max_tokens=200).pruned_html
    assert emitted_text_is_from_input(good, squad_page)
    bad = good.replace("</p>", " and the Moon is made of cheese</p>", 1).replace("</pre>", " extra words</pre>", 1)
    assert not emitted_text_is_from_input(bad, squad_page)


def test_budget_larger_than_page_keeps_everything(bm25: HtmlPruner) -> None:
    page = "<html><body><h1>T</h1><p>a b c.</p><p>d e f.</p></body></html>"
    result = bm25.prune(page, "b", max_tokens=10_000)
    assert result.kept == list(range(len(result.blocks)))


def test_tiny_budget_gives_empty_output(bm25: HtmlPruner, squad_page: str) -> None:
    result = bm25.prune(squad_page, "Southern California", max_tokens=1)
    assert result.pruned_html == "" and result.text == "" and result.token_count == 0


def test_keeps_ancestors_of_kept_blocks(bm25: HtmlPruner) -> None:
    page = ("<html><body><article><h2>Weather</h2><div><p>Rain is expected on Monday in the north.</p>"
            "<p>The stock market rose by two percent today.</p></div></article></body></html>")
    result = HtmlPruner(ranker="bm25", max_words=8).prune(page, "When is rain expected?", max_tokens=32)
    # the semantic article stays; the div left around the one kept paragraph is unwrapped
    assert result.pruned_html == "<article><p>Rain is expected on Monday in the north.</p></article>"


def test_generic_wrappers_left_around_one_element_are_unwrapped() -> None:
    # once the other paragraphs are pruned, every div and the body hold a single element: their tags would
    # only spend budget, whether that element is opened (the inner div) or kept whole (the paragraph)
    page = ("<html><body><div><div><p>Rain is expected on Monday in the north.</p>"
            "<p>Wind follows on Tuesday.</p></div><p>The stock market rose by two percent today.</p></div>"
            "</body></html>")
    result = HtmlPruner(ranker="bm25", max_words=8).prune(page, "When is rain expected?", max_tokens=30)
    assert result.pruned_html == "<p>Rain is expected on Monday in the north.</p>"


DOCSTRING_PAGE = ("<html><body><nav><a href='/'>Home</a> <a href='/news'>News</a></nav>"
                  "<p>Paris is the capital and largest city of France.</p>"
                  "<p>Berlin is the capital and largest city of Germany.</p></body></html>")
BERLIN = "<p>Berlin is the capital and largest city of Germany.</p>"


@pytest.mark.parametrize("budget", range(17, 25))
def test_a_kept_element_alone_in_the_body_fits_a_budget_of_its_own_size(bm25: HtmlPruner, budget: int) -> None:
    # the body around the single kept paragraph is unwrapped, so it costs nothing and the answer fits
    assert bm25.count_tokens(BERLIN) == 17
    result = bm25.prune(DOCSTRING_PAGE, "What is the capital of Germany?", max_tokens=budget)
    assert (result.pruned_html, result.token_count, result.kept) == (BERLIN, 17, [2])


def test_best_block_is_kept_when_only_its_unwrapped_form_fits(bm25: HtmlPruner) -> None:
    # with the div around it the best block needs more than 21 tokens; unwrapped it fits, ahead of the rivers block
    page = "<div><div>" + BERLIN + "</div><p>Other text about rivers.</p></div>"
    result = bm25.prune(page, "What is the capital of Germany?", max_tokens=21)
    assert (result.pruned_html, result.kept) == (BERLIN, [0])
    assert result.token_count <= 21


def test_signal_bm25_finds_answers(bm25: HtmlPruner, squad_page: str, squad_qas: list) -> None:
    hits = sum(any(a.lower() in bm25.prune(squad_page, qa["question"], max_tokens=256).text.lower()
                   for a in qa["answers"]) for qa in squad_qas)
    assert hits / len(squad_qas) >= 0.8
    # a question-blind baseline (page start) does much worse
    start = bm25.prune(squad_page, "zzzz", max_tokens=256).text.lower()
    blind = sum(any(a.lower() in start for a in qa["answers"]) for qa in squad_qas)
    assert blind / len(squad_qas) < 0.5


def test_query_less_drops_boilerplate_heuristic_only(boilerplate_page: str) -> None:
    text = HtmlPruner(ranker="bm25", use_trafilatura=False).prune(boilerplate_page).text
    _check_boilerplate(text)


def test_query_less_drops_boilerplate_with_trafilatura(boilerplate_page: str) -> None:
    pytest.importorskip("trafilatura")
    _check_boilerplate(HtmlPruner(ranker="bm25").prune(boilerplate_page, None).text)


def _check_boilerplate(text: str) -> None:
    for kept in ("twenty-two nautical miles", "rotating LED array", "4.2 million euros"):
        assert kept in text
    for dropped in ("Sport", "Weather", "cookies", "Ferry timetable", "newsletter", "Copyright", "Privacy policy",
                    "tracking", "check the figures"):
        assert dropped not in text


def test_query_less_on_real_pages(traf_pages: list) -> None:
    pytest.importorskip("trafilatura")
    pruner = HtmlPruner(ranker="bm25")
    with_kept = without_removed = n_with = n_without = 0
    for raw, gold in traf_pages:
        text = _WS.sub(" ", pruner.prune(raw).text)
        with_kept += sum(_WS.sub(" ", s).strip() in text for s in gold["with"])
        without_removed += sum(_WS.sub(" ", s).strip() not in text for s in gold["without"])
        n_with += len(gold["with"])
        n_without += len(gold["without"])
    assert with_kept / n_with >= 0.75 and without_removed / n_without >= 0.75


def test_query_less_with_budget_keeps_content_in_document_order(boilerplate_page: str) -> None:
    pruner = HtmlPruner(ranker="bm25", use_trafilatura=False)
    result = pruner.prune(boilerplate_page, max_tokens=40)
    assert 0 < result.token_count <= 40
    assert result.text.startswith("New lighthouse opens")


def test_bytes_input_and_deep_page(bm25: HtmlPruner) -> None:
    deep = "<html><body>" + "<div>" * 10_000 + "the deep answer is 42" + "</div>" * 10_000 + "</body></html>"
    result = bm25.prune(deep.encode("utf-8"), "What is the deep answer?", max_tokens=32)
    assert "42" in result.text and result.token_count <= 32


def test_large_page_prunes(bm25: HtmlPruner) -> None:
    page = "<html><body>" + "".join(
        f"<div><p>Item {i} describes product number {i} in plain words.</p><a href='/{i}'>more</a></div>"
        for i in range(5_000)) + "</body></html>"
    result = bm25.prune(page, "product number 4321", max_tokens=64)
    assert "4321" in result.text and result.token_count <= 64


# ---------------------------------------------------------------------------------------------- rankers

def test_tokenize_is_unicode_and_drops_stop_words() -> None:
    assert tokenize("Où est la Tour-Eiffel? The TOWER!") == ["où", "est", "la", "tour", "eiffel", "tower"]
    assert tokenize("The tower", stop_words=False) == ["the", "tower"]
    assert tokenize("Underbids happened", stem=True) == ["underbid", "happen"]


def test_bm25_matches_word_forms_by_stem() -> None:
    # the question says "underbid", the answer block "Underbids": only stemming connects them
    page = ("<html><body><p>Projects can suffer from preventable financial problems.</p>"
            "<p>Underbids happen when builders ask for too little money.</p>"
            "<p>Builders and projects need money.</p></body></html>")
    blocks = HtmlPruner(ranker="bm25", max_words=12).blocks(page)
    assert int(np.argmax(BM25Ranker().score("What is an underbid?", blocks))) == 1
    assert not BM25Ranker(stem=False).score("What is an underbid?", blocks).any()


def test_bm25_beats_whitespace_splitting(bm25: HtmlPruner) -> None:
    # htmlrag's BM25 splits on whitespace: "Germany?" never matches "Germany."
    page = "<html><body><p>Paris is in France.</p><p>Berlin lies in Germany.</p><p>Rome is in Italy.</p></body></html>"
    blocks = HtmlPruner(ranker="bm25", max_words=5).blocks(page)
    scores = BM25Ranker().score("Which city is in GERMANY?", blocks)
    assert int(np.argmax(scores)) == 1


def test_embedding_ranker_embeds_question_once_and_caches_blocks(fake_embedder, squad_page: str) -> None:
    ranker = EmbeddingRanker(fake_embedder)
    pruner = HtmlPruner(ranker=ranker)
    first = pruner.prune(squad_page, "Which desert is in southern California?", max_tokens=128)
    n_blocks = len(first.blocks)
    assert sorted(fake_embedder.calls) == [1, n_blocks]
    pruner.prune(squad_page, "How many people live in Los Angeles?", max_tokens=128)
    assert sorted(fake_embedder.calls) == [1, 1, n_blocks]  # blocks came from the cache
    assert first.token_count <= 128


class FakeLabeler:
    """ContextPruner stand-in: a span scores the share of question words it contains."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def score_spans(self, question, text, spans):  # type: ignore[no-untyped-def]
        self.texts.append(text)
        words = set(tokenize(question))
        return [len(words & set(tokenize(text[s:e]))) / max(len(words), 1) for s, e in spans]

    def rerank(self, question, contexts):  # type: ignore[no-untyped-def]
        return [self.score_spans(question, c, [(0, len(c))])[0] for c in contexts]  # each context alone


def test_labeler_ranker_scores_blocks_in_context() -> None:
    page = "<html><body><p>Cats sleep a lot.</p><p>Dogs bark at night.</p><p>Fish swim.</p></body></html>"
    fake = FakeLabeler()
    pruner = HtmlPruner(ranker=LabelerRanker(fake), max_words=4)
    result = pruner.prune(page, "When do dogs bark?", max_tokens=22)
    assert result.text == "Dogs bark at night."
    assert fake.texts == ["Cats sleep a lot.\nDogs bark at night.\nFish swim."]
    rerank = HtmlPruner(ranker=LabelerRanker(fake, mode="rerank"), max_words=4)
    assert rerank.prune(page, "Where do fish swim?", max_tokens=18).text == "Fish swim."


class _Fixed(BlockRanker):
    def __init__(self, values: list[float]) -> None:
        self.values = values
        self.seen: list[int] = []

    def score(self, question, blocks):  # type: ignore[no-untyped-def]
        self.seen.append(len(blocks))
        return np.array([self.values[b.id] for b in blocks], dtype=np.float64)


def test_hybrid_rrf_and_cascade() -> None:
    page = "<html><body>" + "".join(f"<p>block {i}.</p>" for i in range(6)) + "</body></html>"
    blocks = HtmlPruner(ranker="bm25", max_words=2).blocks(page)
    a = _Fixed([6, 5, 4, 3, 2, 1])
    b = _Fixed([1, 6, 5, 4, 3, 2])
    fused = HybridRanker([a, b]).score("q", blocks)
    assert int(np.argmax(fused)) == 1  # ranks 2 + 1 beat ranks 1 + 6
    c = _Fixed([1, 6, 5, 4, 3, 2])
    HybridRanker([_Fixed([6, 5, 4, 3, 2, 1]), c], rerank_top_k=3).score("q", blocks)
    assert c.seen == [3]
    summed = HybridRanker([a, b], fusion="sum").score("q", blocks)
    assert summed.shape == (6,)


# ---------------------------------------------------------------------------------------------- validation

@pytest.mark.parametrize("kwargs, name", [
    ({"ranker": "nope"}, "ranker"), ({"max_words": 0}, "max_words"), ({"max_words": True}, "max_words"),
    ({"rerank_top_k": 0}, "rerank_top_k"), ({"batch_size": 0}, "batch_size"), ({"cache_size": -1}, "cache_size"),
    ({"use_trafilatura": "yes"}, "use_trafilatura"),
])
def test_init_rejects_bad_options(kwargs: dict, name: str) -> None:
    with pytest.raises(RagpruneError) as err:
        HtmlPruner(**kwargs)
    assert name in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("args, kwargs, name", [
    (("<p>x</p>", "q"), {"max_tokens": 0}, "max_tokens"), (("<p>x</p>", "q"), {"max_tokens": True}, "max_tokens"),
    (("<p>x</p>", "q"), {"max_tokens": 1.5}, "max_tokens"), ((None, "q"), {}, "html"), (("<p>x</p>", 5), {}, "question"),
    (("<p>abc \ud800</p>", "q"), {}, "html is not valid Unicode text (a lone surrogate at character 7)"),
    (("<p>x</p>", "q\udc00"), {"max_tokens": 8}, "question is not valid Unicode text (a lone surrogate at character 1)"),
])
def test_prune_rejects_bad_arguments(bm25: HtmlPruner, args: tuple, kwargs: dict, name: str) -> None:
    with pytest.raises(RagpruneError) as err:
        bm25.prune(*args, **kwargs)
    assert name in str(err.value) and "\n" not in str(err.value)


def test_prune_batch_takes_any_iterable_but_not_a_single_string(bm25: HtmlPruner) -> None:
    """A str for ``questions`` was split into one-letter questions; None or a generator gave a raw TypeError."""
    page = "<html><body><p>Paris is the capital of France.</p><p>Cats purr all day.</p></body></html>"
    want = [bm25.prune(page, "Where is Paris?", max_tokens=16)] * 2
    assert bm25.prune_batch([page, page], ["Where is Paris?"] * 2, max_tokens=16) == want
    assert bm25.prune_batch((p for p in [page, page]), iter(["Where is Paris?"] * 2), max_tokens=16) == want
    assert bm25.prune_batch(p for p in [page]) == [bm25.prune(page)]
    for args, message in [
        (([page, page], "Wh"), "questions='Wh' is not valid: pass a list (give one question per page)."),
        (([page], b"Wh"), "questions=b'Wh' is not valid: pass a list (give one question per page)."),
        ((None,), "pages=None is not valid: pass a list (use prune() for one page)."),
        ((page,), "pages='<html><body><p>Paris is the capital of France.</p><p>Cats p is not valid: "),
        (([page], 5), "questions=5 is not valid: pass a list (give one question per page)."),
        (([page], ["a", "b"]), "questions has 2 items for 1 pages: give one per page."),
    ]:
        with pytest.raises(RagpruneError) as err:
            bm25.prune_batch(*args)
        assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_context_weight_takes_any_real_number() -> None:
    assert HtmlPruner(context_weight=np.float32(0.5)).context_weight == 0.5
    with pytest.raises(RagpruneError, match="^context_weight="):
        HtmlPruner(context_weight=np.float64(1.5))


def test_bad_device_is_one_line_error() -> None:
    with pytest.raises(RagpruneError, match=r"^device='tpu' is not valid: ") as err:
        HtmlPruner("embedding", device="tpu").prune("<p>Paris is in France.</p>", "Where is Paris?")
    assert "\n" not in str(err.value)


def test_get_ranker_lists_valid_names() -> None:
    assert isinstance(get_ranker("bm25"), BM25Ranker)
    with pytest.raises(RagpruneError, match="bm25"):
        get_ranker("tfidf")


# ---------------------------------------------------------------------------------------------- fuzz

_TAGS = ["div", "p", "span", "b", "a", "li", "ul", "table", "td", "tr", "script", "style", "nav", "pre", "br", "img"]
_pieces = st.one_of(
    st.sampled_from([f"<{t}>" for t in _TAGS] + [f"</{t}>" for t in _TAGS] + ["<!--", "-->", "<", ">", "&amp;", "&",
                                                                               "<p class='x'>", "<?xml ?>", "\x00"]),
    st.text(min_size=0, max_size=12),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=st.lists(_pieces, max_size=40), budget=st.integers(min_value=1, max_value=60),
       question=st.one_of(st.none(), st.text(max_size=20)), as_bytes=st.booleans())
def test_fuzz_arbitrary_html_never_crashes(bm25: HtmlPruner, parts: list[str], budget: int, question: str | None,
                                           as_bytes: bool) -> None:
    page = "".join(parts)
    data: str | bytes = page.encode("utf-8", "surrogatepass") if as_bytes else page
    result = bm25.prune(data, question, max_tokens=budget)
    assert result.token_count <= budget
    assert result.kept == sorted(result.kept)


# ------------------------------------------------------------------- words across inline elements, whitespace

_FILLER = " ".join(f"w{i}" for i in range(40))


_CJK = "\u3001-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uff01-\uffef"
_WORD = re.compile(f"[{_CJK}]|[^\\s{_CJK}]+")


def _words(text: str) -> list[str]:
    """Words as the block tree counts them: whitespace-separated, and every CJK character alone (the random pages
    hold "東京", which a block may cut between its two characters)."""
    return _WORD.findall(text)


def _page_words(html: str) -> list[str]:
    from ragprune.html.clean import clean_tree, node_text, parse_html

    return _words(node_text(clean_tree(parse_html(html))))


def test_a_word_written_across_inline_elements_is_whole_in_blocks_and_text(bm25: HtmlPruner) -> None:
    page = (f"<html><body><p>{_FILLER} The encyclopedia Wiki<b>pedia</b> was launched in 2001.</p>"
            "<p>Other text here.</p></body></html>")
    result = bm25.prune(page, "When was Wikipedia launched?")
    assert "Wikipedia was launched in 2001." in result.blocks
    assert result.text.split() == _page_words(page)
    result = bm25.prune(page, "When was Wikipedia launched?", max_tokens=24)
    assert result.text == "Wikipedia was launched in 2001."
    assert result.pruned_html == "<p>Wiki<b>pedia</b> was launched in 2001.</p>"
    page = f"<html><body><p>{_FILLER} Water is H<sub>2</sub>O and the site is Wiki<b>pedia</b> today.</p></body></html>"
    result = bm25.prune(page, "What is water?")
    assert {"H2O", "Wikipedia"} <= set(result.text.split()) and result.text.split() == _page_words(page)


@pytest.mark.parametrize("body, kept_html", [
    (f"<p>{_FILLER} <b>Eiffel</b> designed it.</p>", "w39 <b>Eiffel</b> designed it.</p>"),
    (f"<p>The tower by <b>Gustave Eiffel</b> was designed in 1889 and {_FILLER}.</p>",
     "<b>Gustave Eiffel</b> was designed in 1889"),
])
def test_whitespace_around_inline_elements_next_to_a_long_text_node_is_kept(bm25: HtmlPruner, body: str,
                                                                             kept_html: str) -> None:
    # the long text node is cut into chunks; the space between it and the <b> must survive in the output
    page = f"<html><body>{body}</body></html>"
    result = bm25.prune(page, "Who designed it?")
    assert kept_html in result.pruned_html
    assert _page_words(result.pruned_html) == _page_words(page)


@pytest.mark.parametrize("body, drop, joint", [
    (f"<div>{_FILLER}<h2>one two three four five six seven eight</h2>café delta end.</div>", "one", "w39<br>café"),
    (f"<div><b>Eiffel</b><h2>one two three four five six seven eight</h2>café delta end. {_FILLER}</div>", "one",
     "<b>Eiffel</b> café"),
])
def test_dropped_siblings_do_not_join_the_words_around_them(body: str, drop: str, joint: str) -> None:
    from ragprune.html.pruner import _render

    pruner = HtmlPruner(ranker="bm25", tokenizer=lambda text: len(text.split()))
    page = pruner._page(body)
    html = _render(page, [b.id for b in page.blocks if not b.text.startswith(drop)])
    assert joint in html
    assert _page_words(html) == [w for w in _page_words(body) if w not in "one two three four five six seven eight"]
    assert emitted_text_is_from_input(html, body)


def test_a_block_unwrapped_around_an_inline_element_stays_apart_from_its_neighbours() -> None:
    from ragprune.html.pruner import _render

    body = f"<section>left<div>{_FILLER} <b>Eiffel</b></div>right</section>"
    pruner = HtmlPruner(ranker="bm25", tokenizer=lambda text: len(text.split()))
    page = pruner._page(body)
    # the div loses its long text: the single <b> left in it is unwrapped, but must not join "left" or "right"
    html = _render(page, [b.id for b in page.blocks if not b.text.startswith("w")])
    assert "<div>" not in html and _page_words(html) == ["left", "Eiffel", "right"]


@settings(max_examples=100, deadline=None, derandomize=True)
@given(data=st.data())
def test_pruned_html_never_joins_or_duplicates_words(data: st.DataObject) -> None:
    page = data.draw(pages)
    max_words = data.draw(st.integers(min_value=16, max_value=40))
    budget = data.draw(st.integers(min_value=1, max_value=400))
    pruner = HtmlPruner(ranker="bm25", max_words=max_words, tokenizer=lambda text: len(text.split()), cache_size=0)
    result = pruner.prune(page, data.draw(st.sampled_from(["alpha café", "Beta 42", "why end"])), max_tokens=budget)
    assert result.token_count <= budget and result.kept == sorted(set(result.kept))
    assert _words(result.text) == _words(" ".join(result.blocks[i] for i in result.kept))
    # every word of the output is a word of the page (no words joined across a cut or a dropped sibling)
    assert not Counter(_page_words(result.pruned_html)) - Counter(_page_words(page))


# ------------------------------------------------------------------------- scripts written without spaces (CJK)

EIFFEL_ZH = ("<h1>埃菲尔铁塔</h1><p>" + "埃菲尔铁塔是由古斯塔夫·埃菲尔的公司设计的。它于1889年开放。" * 60
             + "</p><p>香蕉是黄色的。</p>")


def test_a_cjk_page_is_cut_into_blocks_and_pruned_to_the_budget(bm25: HtmlPruner) -> None:
    result = bm25.prune(EIFFEL_ZH, "谁设计了埃菲尔铁塔？", max_tokens=256)
    assert len(result.blocks) > 30 and result.kept
    assert "古斯塔夫" in result.text and 0 < result.token_count <= 256
    assert "香蕉" not in result.text
    # neighbouring chunks of the paragraph are joined as the page writes them: no space between CJK characters
    full = bm25.prune(EIFFEL_ZH, "谁设计了埃菲尔铁塔？")
    paragraph = "埃菲尔铁塔是由古斯塔夫·埃菲尔的公司设计的。它于1889年开放。" * 60
    assert paragraph in full.text and paragraph in full.pruned_html


def test_bm25_matches_cjk_words_by_character_bigrams() -> None:
    page = "<p>埃菲尔铁塔由古斯塔夫设计。</p><p>香蕉是黄色的水果。</p><p>东京是日本的首都。</p>"
    blocks = HtmlPruner(ranker="bm25", max_words=16).blocks(page)
    assert len(blocks) == 3
    assert int(np.argmax(BM25Ranker().score("香蕉是什么颜色？", blocks))) == 1
    assert int(np.argmax(BM25Ranker().score("日本的首都是哪里？", blocks))) == 2
    assert tokenize("谁设计了铁塔？") == ["谁设", "设计", "计了", "了铁", "铁塔"]


@pytest.mark.parametrize("text", ["東京は日本の首都です。", "埃菲尔铁塔很高。", "서울은 한국의 수도입니다."])
def test_query_less_keeps_a_short_cjk_paragraph(text: str) -> None:
    # a CJK sentence has no spaces: it counted as one word, so the heuristic took it for a fragment (score 0.49999)
    result = HtmlPruner(ranker="bm25", use_trafilatura=False).prune(f"<html><body><p>{text}</p></body></html>")
    assert result.kept == [0] and result.text == text


# ------------------------------------------------------------------------- whitespace of <pre> and <code>

CODE = "def f(x):\n    if x:\n        return 1\n    return 0\n"


def test_code_keeps_its_line_breaks_and_indentation(bm25: HtmlPruner) -> None:
    result = bm25.prune(f"<pre><code>{CODE}</code></pre><p>Other text.</p>", "How do I return one?")
    assert f"<pre><code>{CODE}</code></pre>" in result.pruned_html
    assert "def f(x): if x: return 1 return 0" in result.blocks[0]  # block text (ranking, counting) is collapsed


def test_kept_chunks_of_long_code_keep_their_whitespace() -> None:
    code = "\n".join(f"{'    ' * (i % 3)}value_{i} = compute({i}, step)" for i in range(40)) + "\n"
    page = f"<html><body><pre><code>{code}</code></pre><p>Other words here.</p></body></html>"
    pruner = HtmlPruner(ranker="bm25", max_words=8, tokenizer=lambda text: len(text.split()))
    full = pruner.prune(page, "compute value_20")
    assert f"<code>{code}</code>" in full.pruned_html  # every chunk kept: the code exactly as written
    result = pruner.prune(page, "compute value_20", max_tokens=40)
    inner = re.search(r"<code>(.*)</code>", result.pruned_html, re.DOTALL)
    assert inner is not None and "value_20" in inner.group(1)
    parts = inner.group(1).split("<br>")
    assert all(part in code for part in parts) and any("\n    " in part for part in parts)
