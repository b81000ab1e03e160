"""Budget selection: the same blocks and output as the exact step-by-step selection, in linear time for large
budgets."""
from __future__ import annotations

import random
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ragprune.html import HtmlPruner
from ragprune.html.blocktree import block_html
from ragprune.html.pruner import _GENERIC_WRAPPERS, _MAX_MISSES, _Page, _render
from tests.ragprune.html._pages import pages


def reference_select(pruner: HtmlPruner, page: _Page, order: list[int], max_tokens: int | None) -> list[int]:
    """The selection as it was (commit 68b684b): every block whose estimate fits is checked against the exact token
    count of the output rendered with it."""
    if max_tokens is None:
        return list(order)
    counter = pruner._token_counter()
    blocks = page.blocks
    kept: list[int] = []
    opened: set[int] = set()
    chunked: set[int] = set()  # text nodes partly kept
    total = 0
    misses = 0
    batch = 64
    for pos, bid in enumerate(order):
        if bid not in page.block_tokens:
            todo = [i for i in order[pos:pos + batch] if i not in page.block_tokens]
            for i, n in zip(todo, counter.counts([block_html(blocks[i]) for i in todo])):
                page.block_tokens[i] = n
        chain = pruner._chain(page, blocks[bid])
        cost = page.block_tokens[bid]
        new = [node for node in chain if id(node) not in opened]
        cost += sum(counter.tag(node.tag) for node in new if node.tag not in _GENERIC_WRAPPERS)
        block = blocks[bid]
        text_keys = [id(item) for item, span in block.pieces() if span is not None]
        cost += counter.br() * sum(key in chunked for key in text_keys)
        exact = counter.count(_render(page, [*kept, bid])) if total + cost <= max_tokens else None
        if exact is not None and exact <= max_tokens:
            kept.append(bid)
            total = exact
            opened.update(id(node) for node in new)
            chunked.update(text_keys)
            misses = 0
            if total >= max_tokens:
                break
        else:
            misses += 1
            if misses >= _MAX_MISSES:
                break
    return kept


class ReferencePruner(HtmlPruner):
    def _select(self, page, order, max_tokens, **kwargs):  # type: ignore[no-untyped-def]
        return reference_select(self, page, order, max_tokens)


def _result(result):  # type: ignore[no-untyped-def]
    return result.kept, result.pruned_html, result.token_count, result.text


def _words(text: str) -> int:
    return len(text.split())


def _utf8_bytes(text: str) -> int:  # as many tokens as the output may have under the byte bound: the tightest case
    return len(text.encode("utf-8"))


_code = st.lists(st.tuples(st.integers(0, 3), st.lists(st.sampled_from(["x", "=", "f(a);", "return", "1", "東京"]),
                                                       min_size=1, max_size=6)), min_size=1, max_size=30).map(
    lambda lines: "\n".join("    " * indent + " ".join(words) for indent, words in lines))


@st.composite
def _mixed_pages(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["pages", "pages", "table", "pre"]))
    if kind == "pages":
        return draw(pages)
    if kind == "table":
        rows = draw(st.integers(1, 60))
        return "<table>" + "".join(f"<tr><td>row {i} alpha</td><td>{'Beta ' * (i % 4)}{i}</td></tr>"
                                   for i in range(rows)) + "</table><p>café why?</p>"
    return f"<div><p>alpha intro</p><pre><code>{draw(_code)}</code></pre>{draw(pages)}</div>"


@pytest.fixture(scope="module")
def hf_pruners() -> tuple[HtmlPruner, HtmlPruner]:
    return HtmlPruner(ranker="bm25", max_words=16, cache_size=0), ReferencePruner(ranker="bm25", max_words=16,
                                                                                   cache_size=0)


@settings(max_examples=120, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(page=_mixed_pages(), budget=st.one_of(st.integers(1, 300), st.integers(300, 30_000)),
       max_words=st.integers(4, 40), question=st.sampled_from(["alpha café", "Beta 42", "x return", None]),
       tokenizer=st.sampled_from([_words, _utf8_bytes]))
def test_selection_equals_the_exact_reference(page: str, budget: int, max_words: int, question: str | None,
                                              tokenizer) -> None:  # type: ignore[no-untyped-def]
    options = {"ranker": "bm25", "max_words": max_words, "tokenizer": tokenizer, "use_trafilatura": False,
               "cache_size": 0}
    assert _result(HtmlPruner(**options).prune(page, question, max_tokens=budget)) == \
        _result(ReferencePruner(**options).prune(page, question, max_tokens=budget))


@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(page=_mixed_pages(), budget=st.one_of(st.integers(1, 300), st.integers(300, 10_000)),
       question=st.sampled_from(["alpha café", "Beta 42", "x return"]))
def test_selection_equals_the_exact_reference_under_the_default_tokenizer(
        hf_pruners: tuple[HtmlPruner, HtmlPruner], page: str, budget: int, question: str) -> None:
    fast, reference = hf_pruners
    assert _result(fast.prune(page, question, max_tokens=budget)) == \
        _result(reference.prune(page, question, max_tokens=budget))


@settings(max_examples=80, deadline=None, derandomize=True)
@given(page=_mixed_pages(), max_words=st.integers(4, 40), seed=st.integers(0, 2**16))
def test_the_output_grows_by_at_most_the_bound(page: str, max_words: int, seed: int) -> None:
    # the invariant the fast selection rests on: keeping one more block adds at most _growth bytes to any output
    from ragprune.html.pruner import _growth, _max_space, _utf8

    pruner = HtmlPruner(ranker="bm25", max_words=max_words, tokenizer=_words, cache_size=0)
    page_ = pruner._page(page)
    order = list(range(len(page_.blocks)))
    random.Random(seed).shuffle(order)
    kept: list[int] = []
    opened: set[int] = set()
    size = 0
    for bid in order:
        block = page_.blocks[bid]
        new = [node for node in pruner._chain(page_, block) if id(node) not in opened]
        grown = _utf8(_render(page_, [*kept, bid]))
        assert grown <= size + _growth(page_, block, new, _max_space(page_))
        kept.append(bid)
        opened.update(id(node) for node in new)
        size = grown


def test_a_tokenizer_beyond_the_byte_bound_still_gets_the_exact_selection() -> None:
    def heavy(text: str) -> int:  # more tokens than bytes: the fast path's bound does not hold
        return 3 * len(text.encode("utf-8"))

    page = "<table>" + "".join(f"<tr><td>row {i} alpha</td><td>{i}</td></tr>" for i in range(40)) + "</table>"
    for budget in (50, 500, 2000, 5000):
        options = {"ranker": "bm25", "tokenizer": heavy, "cache_size": 0}
        fast = HtmlPruner(**options).prune(page, "row 7 alpha", max_tokens=budget)
        assert _result(fast) == _result(ReferencePruner(**options).prune(page, "row 7 alpha", max_tokens=budget))
        assert fast.token_count <= budget


def _table(rows: int) -> str:
    return "<html><body><h1>Big table</h1><table>" + "".join(
        f"<tr><td>Row {i} name{i}</td><td>value {i * 7} units</td><td>note about item {i}</td></tr>"
        for i in range(rows)) + "</table></body></html>"


def test_a_large_budget_does_not_render_and_count_the_output_per_block() -> None:
    page = _table(1_000)
    counted: list[int] = []

    def tokens(text: str) -> int:
        counted.append(len(text))
        return len(text.split())

    result = HtmlPruner(ranker="bm25", tokenizer=tokens).prune(page, "What is the value of row 42?",
                                                                 max_tokens=10**6)
    assert result.kept == list(range(len(result.blocks)))
    # blocks, tags and the final output are counted once each: linear, not one count of the growing output per block
    assert sum(counted) < 3 * len(page)


def test_a_large_budget_is_fast_and_keeps_the_same_blocks_as_no_budget() -> None:
    page = _table(1_000)
    pruner = HtmlPruner(ranker="bm25")
    question = "What is the value of row 42?"
    unlimited = pruner.prune(page, question)
    start = time.perf_counter()
    result = pruner.prune(page, question, max_tokens=10**6)
    assert time.perf_counter() - start < 10  # it took 45 s (129 s for 2,000 rows): one output count per block
    assert result.kept == sorted(unlimited.kept) and result.pruned_html == unlimited.pruned_html


def test_budgets_around_the_page_size_match_the_reference_on_a_table() -> None:
    page = _table(60)
    options = {"ranker": "bm25", "cache_size": 0}
    fast, reference = HtmlPruner(**options), ReferencePruner(**options)
    total = fast.prune(page, "value of row 42").token_count
    for budget in (total // 4, total - 1, total, total + 1, 2 * total, 10**6):
        assert _result(fast.prune(page, "value of row 42", max_tokens=budget)) == \
            _result(reference.prune(page, "value of row 42", max_tokens=budget))
