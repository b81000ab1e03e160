"""LangChain adapter against the real langchain-core / langchain-classic (issue 7)."""
from __future__ import annotations

import asyncio
import importlib.util
import sys

import numpy as np
import pytest

pytest.importorskip("langchain_core")

from langchain_core.callbacks import CallbackManagerForRetrieverRun  # noqa: E402
from langchain_core.documents import BaseDocumentCompressor, Document  # noqa: E402
from langchain_core.retrievers import BaseRetriever  # noqa: E402

from ragprune.errors import RagpruneError  # noqa: E402
from ragprune.integrations.langchain import RagpruneCompressor  # noqa: E402
from tests.ragprune._middleware_fakes import BERLIN, CATS, PARIS, QUESTION, FakeHtmlPruner, FakePruner  # noqa: E402

HTML = "<html><body><nav><p>Home</p></nav><p>Paris is the capital of France.</p><p>Buy shoes.</p></body></html>"


class ListRetriever(BaseRetriever):
    """A real LangChain retriever returning fixed documents."""

    docs: list[Document]

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        return [d.model_copy() for d in self.docs]


def docs() -> list[Document]:
    return [Document(page_content=CATS, metadata={"source": "cats.txt"}, id="c"),
            Document(page_content=PARIS, metadata={"source": "paris.txt"}, id="p"),
            Document(page_content=BERLIN, metadata={"source": "berlin.txt"}, id="b")]


def test_is_a_document_compressor_with_pruned_content_and_metadata():
    compressor = RagpruneCompressor(pruner=FakePruner())
    assert isinstance(compressor, BaseDocumentCompressor)
    out = compressor.compress_documents(docs(), QUESTION)
    assert [d.id for d in out] == ["p", "b"]
    paris = out[0]
    assert paris.page_content == "Paris is the capital of France."
    assert paris.metadata["source"] == "paris.txt"
    assert paris.metadata["rerank_score"] == 1.0 and paris.metadata["kept_sentences"] == [0]
    assert paris.metadata["original_length"] == len(PARIS) and paris.metadata["fallback"] is None
    assert 0 < paris.metadata["compression"] < 1


def test_options_reorder_top_k_budget():
    out = RagpruneCompressor(pruner=FakePruner(), reorder=True).compress_documents(docs(), QUESTION)
    assert [d.id for d in out] == ["p", "b"]
    out = RagpruneCompressor(pruner=FakePruner(), top_k=1).compress_documents(docs()[::-1], QUESTION)
    assert [d.id for d in out] == ["p"]
    out = RagpruneCompressor(pruner=FakePruner(), max_tokens=6).compress_documents(docs(), QUESTION)
    assert [d.page_content for d in out] == ["Paris is the capital of France."]


def test_acompress_documents():
    out = asyncio.run(RagpruneCompressor(pruner=FakePruner()).acompress_documents(docs(), QUESTION))
    assert [d.id for d in out] == ["p", "b"]


def test_inside_contextual_compression_retriever_sync_and_async():
    retrievers = pytest.importorskip("langchain_classic.retrievers")
    retriever = retrievers.ContextualCompressionRetriever(
        base_compressor=RagpruneCompressor(pruner=FakePruner()), base_retriever=ListRetriever(docs=docs()))
    out = retriever.invoke(QUESTION)
    assert [d.page_content for d in out][0] == "Paris is the capital of France."
    aout = asyncio.run(retriever.ainvoke(QUESTION))
    assert [d.page_content for d in aout] == [d.page_content for d in out]


def test_inside_document_compressor_pipeline():
    compressors = pytest.importorskip("langchain_classic.retrievers.document_compressors")
    from langchain_core.documents import BaseDocumentTransformer

    class Upper(BaseDocumentTransformer):
        def transform_documents(self, documents, **kwargs):
            return [Document(page_content=d.page_content.upper(), metadata=d.metadata) for d in documents]

    pipeline = compressors.DocumentCompressorPipeline(
        transformers=[RagpruneCompressor(pruner=FakePruner(), top_k=1), Upper()])
    out = pipeline.compress_documents(docs(), QUESTION)
    assert [d.page_content for d in out] == ["PARIS IS THE CAPITAL OF FRANCE."]
    assert out[0].metadata["rerank_score"] == 1.0


def test_html_documents_by_metadata_and_by_sniffing():
    html_pruner = FakeHtmlPruner()
    compressor = RagpruneCompressor(pruner=FakePruner(), html_pruner=html_pruner)
    labelled = Document(page_content="<p>Paris is the capital of France.</p><p>Shoes.</p>",
                        metadata={"content_type": "text/html"})
    out = compressor.compress_documents([Document(page_content=HTML), labelled], QUESTION)
    assert len(html_pruner.calls) == 2
    assert [d.page_content for d in out] == ["Paris is the capital of France."] * 2
    assert out[1].metadata["content_type"] == "text/html"


def test_failure_open_and_closed():
    out = RagpruneCompressor(pruner=FakePruner(fail=RuntimeError("oom"))).compress_documents(docs(), QUESTION)
    assert [d.page_content for d in out] == [CATS, PARIS, BERLIN]
    assert {d.metadata["fallback"] for d in out} == {"model_error"}
    with pytest.raises(RagpruneError):
        RagpruneCompressor(pruner=FakePruner(fail=RuntimeError("oom")), on_failure="closed").compress_documents(
            docs(), QUESTION)
    out = RagpruneCompressor(pruner=FakePruner(delay=0.5), timeout=0.05).compress_documents(docs(), QUESTION)
    assert {d.metadata["fallback"] for d in out} == {"timeout"}
    out = RagpruneCompressor(pruner=FakePruner(), max_input_chars=10).compress_documents(docs(), QUESTION)
    assert {d.metadata["fallback"] for d in out} == {"oversize"} and len(out) == 3


def test_min_kept_never_returns_zero_documents():
    only_cats = [Document(page_content=CATS)]
    assert len(RagpruneCompressor(pruner=FakePruner()).compress_documents(only_cats, QUESTION)) == 1
    assert RagpruneCompressor(pruner=FakePruner(), min_kept=0).compress_documents(only_cats, QUESTION) == []


def test_bad_option_raises_at_build_time():
    with pytest.raises(RagpruneError, match="^threshold="):
        RagpruneCompressor(threshold=2)
    with pytest.raises(RagpruneError, match="thresold"):
        RagpruneCompressor(thresold=0.5)  # a typo is not silently accepted


def test_options_changed_after_construction_take_effect_and_are_validated():
    """Assignment and model_copy(update=...) were ignored (the options were saved at construction) and unchecked."""
    compressor = RagpruneCompressor(pruner=FakePruner())
    compressor.top_k = 1
    assert [d.id for d in compressor.compress_documents(docs(), QUESTION)] == ["p"]
    copied = RagpruneCompressor(pruner=FakePruner()).model_copy(update={"top_k": 1})
    assert [d.id for d in copied.compress_documents(docs(), QUESTION)] == ["p"]
    compressor.max_tokens = np.int64(6)
    assert [d.page_content for d in compressor.compress_documents(docs(), QUESTION)] == [
        "Paris is the capital of France."]
    with pytest.raises(RagpruneError, match=r"^threshold=7 is not valid: use a number in \[0, 1\] or None\.$"):
        compressor.threshold = 7
    with pytest.raises(RagpruneError, match="^min_kept=2 is not valid with top_k=1"):
        compressor.min_kept = 2
    assert compressor.threshold is None and compressor.min_kept == 1  # a refused value is not stored
    with pytest.raises(RagpruneError, match="^top_k=0 is not valid"):
        compressor.model_copy(update={"top_k": 0})
    with pytest.raises(RagpruneError, match="unknown option.*'topk'"):
        compressor.model_copy(update={"topk": 1})


def test_every_middleware_option_is_a_field_with_its_default():
    from ragprune.integrations._common import OPTION_DEFAULTS

    compressor = RagpruneCompressor()
    assert set(RagpruneCompressor.model_fields) >= {"pruner", "html_pruner", *OPTION_DEFAULTS}
    assert {name: getattr(compressor, name) for name in OPTION_DEFAULTS} == OPTION_DEFAULTS
    for name, value in (("max_tokens", 64), ("reorder", True), ("on_failure", "closed")):
        built = RagpruneCompressor(**{name: value})
        assert getattr(built, name) == value and getattr(built._options, name) == value


def test_missing_extra_raises_when_built_not_when_imported(monkeypatch):
    monkeypatch.setitem(sys.modules, "langchain_core", None)
    monkeypatch.setitem(sys.modules, "langchain_core.documents", None)
    spec = importlib.util.spec_from_file_location(
        "_ragprune_lc_without_extra", sys.modules["ragprune.integrations.langchain"].__file__)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # importing works
    with pytest.raises(RagpruneError, match=r"pip install 'datapruner\[langchain\]'"):
        module.RagpruneCompressor()


def test_with_the_real_context_pruner():
    from tests.ragprune._middleware_fakes import tiny_context_pruner

    pruner = tiny_context_pruner()
    out = RagpruneCompressor(pruner=pruner, threshold=0.0, reorder=True).compress_documents(docs(), QUESTION)
    assert sorted(d.page_content for d in out) == sorted(d.page_content.strip() for d in docs())
    assert [d.metadata["rerank_score"] for d in out] == sorted(pruner.rerank(QUESTION, [CATS, PARIS, BERLIN]),
                                                               reverse=True)
