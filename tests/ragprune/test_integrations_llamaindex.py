"""LlamaIndex adapter against the real llama-index-core (issue 7)."""
from __future__ import annotations

import asyncio
import importlib.util
import sys

import numpy as np
import pytest

pytest.importorskip("llama_index.core")

from llama_index.core.postprocessor.types import BaseNodePostprocessor  # noqa: E402
from llama_index.core.schema import ImageNode, MetadataMode, NodeWithScore, QueryBundle, TextNode  # noqa: E402

from ragprune.errors import RagpruneError  # noqa: E402
from ragprune.integrations.llamaindex import RagprunePostprocessor  # noqa: E402
from tests.ragprune._middleware_fakes import BERLIN, CATS, PARIS, QUESTION, FakeHtmlPruner, FakePruner  # noqa: E402


def nodes() -> list[NodeWithScore]:
    return [NodeWithScore(node=TextNode(text=CATS, id_="c", metadata={"file": "cats.txt"}), score=0.9),
            NodeWithScore(node=TextNode(text=PARIS, id_="p", metadata={"file": "paris.txt"}), score=0.8),
            NodeWithScore(node=TextNode(text=BERLIN, id_="b", metadata={"file": "berlin.txt"}), score=0.7)]


def test_postprocessor_keeps_ids_metadata_and_writes_rerank_score():
    post = RagprunePostprocessor(pruner=FakePruner())
    assert isinstance(post, BaseNodePostprocessor)
    given = nodes()
    out = post.postprocess_nodes(given, query_str=QUESTION)
    assert [n.node.id_ for n in out] == ["p", "b"]
    assert out[0].node.get_content() == "Paris is the capital of France."
    assert out[0].score == 1.0 and out[1].score == 0.5
    meta = out[0].node.metadata
    assert meta["file"] == "paris.txt" and meta["kept_sentences"] == [0] and meta["original_length"] == len(PARIS)
    # the added keys never reach the LLM prompt or the embedding
    llm_view = out[0].node.get_content(metadata_mode=MetadataMode.LLM)
    assert "paris.txt" in llm_view and "rerank_score" not in llm_view and "kept_sentences" not in llm_view
    assert "compression" not in out[0].node.get_content(metadata_mode=MetadataMode.EMBED)
    assert given[1].node.get_content() == PARIS and "rerank_score" not in given[1].node.metadata  # not mutated


def test_private_entry_point_and_async():
    post = RagprunePostprocessor(pruner=FakePruner(), reorder=True, top_k=1)
    out = post._postprocess_nodes(nodes(), QueryBundle(QUESTION))
    assert [n.node.id_ for n in out] == ["p"]
    out = asyncio.run(post.apostprocess_nodes(nodes(), query_str=QUESTION))
    assert [n.node.id_ for n in out] == ["p"]


def test_budget_and_reorder():
    out = RagprunePostprocessor(pruner=FakePruner(), max_tokens=6).postprocess_nodes(nodes(), query_str=QUESTION)
    assert [n.node.get_content() for n in out] == ["Paris is the capital of France."]
    out = RagprunePostprocessor(pruner=FakePruner(), reorder=True).postprocess_nodes(nodes()[::-1], query_str=QUESTION)
    assert [n.node.id_ for n in out] == ["p", "b"]


def test_non_text_nodes_pass_through_and_html_nodes_use_html_pruner():
    html_pruner = FakeHtmlPruner()
    image = NodeWithScore(node=ImageNode(image_url="http://x/y.png", id_="img"), score=0.1)
    html = NodeWithScore(node=TextNode(text="<p>Paris is the capital of France.</p><p>Shoes.</p>", id_="h",
                                       mimetype="text/html"), score=0.2)
    out = RagprunePostprocessor(pruner=FakePruner(), html_pruner=html_pruner).postprocess_nodes(
        [image, html], query_str=QUESTION)
    assert [n.node.id_ for n in out] == ["img", "h"]
    assert out[0] is image
    assert out[1].node.get_content() == "Paris is the capital of France." and len(html_pruner.calls) == 1


def test_inside_a_real_retriever_and_query_engine():
    from llama_index.core import Document, VectorStoreIndex
    from llama_index.core.embeddings import MockEmbedding
    from llama_index.core.llms import MockLLM
    from llama_index.core.query_engine import RetrieverQueryEngine

    index = VectorStoreIndex.from_documents([Document(text=t) for t in (CATS, PARIS, BERLIN)],
                                            embed_model=MockEmbedding(embed_dim=8))
    retriever = index.as_retriever(similarity_top_k=3)
    engine = RetrieverQueryEngine.from_args(retriever, llm=MockLLM(),
                                            node_postprocessors=[RagprunePostprocessor(pruner=FakePruner())])
    response = engine.query(QUESTION)
    texts = sorted(n.node.get_content() for n in response.source_nodes)
    assert texts == ["Berlin is the capital of Germany. Germany borders France.", "Paris is the capital of France."]


def test_failure_open_keeps_scores_and_closed_raises():
    out = RagprunePostprocessor(pruner=FakePruner(fail=RuntimeError("oom"))).postprocess_nodes(
        nodes(), query_str=QUESTION)
    assert [n.node.get_content() for n in out] == [CATS, PARIS, BERLIN]
    assert [n.score for n in out] == [0.9, 0.8, 0.7]
    assert {n.node.metadata["fallback"] for n in out} == {"model_error"}
    with pytest.raises(RagpruneError):
        RagprunePostprocessor(pruner=FakePruner(delay=0.5), timeout=0.05, on_failure="closed").postprocess_nodes(
            nodes(), query_str=QUESTION)
    out = RagprunePostprocessor(pruner=FakePruner(), max_input_chars=10).postprocess_nodes(nodes(), query_str=QUESTION)
    assert {n.node.metadata["fallback"] for n in out} == {"oversize"}


def test_min_kept_and_missing_query():
    only_cats = nodes()[:1]
    assert len(RagprunePostprocessor(pruner=FakePruner()).postprocess_nodes(only_cats, query_str=QUESTION)) == 1
    assert RagprunePostprocessor(pruner=FakePruner(), min_kept=0).postprocess_nodes(only_cats, query_str=QUESTION) == []
    with pytest.raises(RagpruneError, match="query_bundle"):
        RagprunePostprocessor(pruner=FakePruner()).postprocess_nodes(only_cats)


def test_bad_options_raise_at_build_time():
    with pytest.raises(RagpruneError, match="^top_k="):
        RagprunePostprocessor(top_k=0)
    with pytest.raises(RagpruneError, match="topk"):
        RagprunePostprocessor(topk=3)


def test_options_changed_after_construction_take_effect_and_are_validated():
    """Assignment and model_copy(update=...) were ignored (the options were saved at construction) and unchecked."""
    post = RagprunePostprocessor(pruner=FakePruner())
    post.top_k, post.reorder = 1, True
    assert [n.node.id_ for n in post.postprocess_nodes(nodes(), query_str=QUESTION)] == ["p"]
    copied = RagprunePostprocessor(pruner=FakePruner()).model_copy(update={"top_k": np.int64(1)})
    assert [n.node.id_ for n in copied.postprocess_nodes(nodes(), query_str=QUESTION)] == ["p"]
    with pytest.raises(RagpruneError, match=r"^threshold=7 is not valid: use a number in \[0, 1\] or None\.$"):
        post.threshold = 7
    assert post.threshold is None  # a refused value is not stored
    with pytest.raises(RagpruneError, match="^max_tokens=0 is not valid"):
        post.model_copy(update={"max_tokens": 0})


def test_missing_extra_raises_when_built_not_when_imported(monkeypatch):
    for name in [m for m in sys.modules if m.startswith("llama_index")] + ["llama_index"]:
        monkeypatch.setitem(sys.modules, name, None)
    spec = importlib.util.spec_from_file_location(
        "_ragprune_li_without_extra", sys.modules["ragprune.integrations.llamaindex"].__file__)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with pytest.raises(RagpruneError, match=r"pip install 'datapruner\[llamaindex\]'"):
        module.RagprunePostprocessor()


def test_package_import_is_light_and_lazy():
    import subprocess

    code = ("import sys, ragprune.integrations, ragprune.middleware; "
            "heavy = [m for m in ('langchain_core', 'llama_index', 'torch', 'fastapi') if m in sys.modules]; "
            "assert not heavy, heavy; from ragprune.integrations import RagprunePostprocessor; print('ok')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_with_the_real_context_pruner():
    from tests.ragprune._middleware_fakes import tiny_context_pruner

    pruner = tiny_context_pruner()
    out = RagprunePostprocessor(pruner=pruner, threshold=0.0).postprocess_nodes(nodes(), query_str=QUESTION)
    assert [n.node.id_ for n in out] == ["c", "p", "b"]
    assert [n.score for n in out] == pytest.approx(pruner.rerank(QUESTION, [CATS, PARIS, BERLIN]), abs=1e-6)
