"""HTML block-tree pruning (HtmlRAG-style): clean a page, split it into blocks, keep the best within a budget.

HtmlRAG (Tan et al., 2024) prunes in two stages: block-tree pruning by embedding similarity, then generative fine
pruning, where a small LLM (its HTML-Pruner-Llama-1B or -Phi-3.8B) scores the blocks of a finer tree by the
probability of generating their tag paths. Only the first kind of stage is here: one ranking of the blocks (BM25
by default; an embedding, hybrid or ``ContextPruner``-labeler ranker on request), then a greedy fill of the best
blocks under the exact token budget. The generative stage is left out on purpose: no generative model ships with
the package or is available offline (the package runs on its bundled MiniLM models), and a generative pass of a
1-4B-parameter model per page would cost far more CPU time than the rest of the pipeline, which is meant to
run on a laptop CPU.
"""
from __future__ import annotations

from ragprune.html.blocktree import Block, build_block_tree
from ragprune.html.clean import clean_tree, decode_html, parse_html, serialize
from ragprune.html.pruner import HtmlPruner, HtmlPruneResult
from ragprune.html.rankers import (
    RANKERS,
    BlockRanker,
    BM25Ranker,
    BoilerplateScorer,
    EmbeddingRanker,
    HybridRanker,
    LabelerRanker,
    get_ranker,
    tokenize,
)

__all__ = [
    "HtmlPruner", "HtmlPruneResult", "Block", "build_block_tree", "clean_tree", "decode_html", "parse_html",
    "serialize", "RANKERS", "BlockRanker", "BM25Ranker", "EmbeddingRanker", "LabelerRanker", "HybridRanker",
    "BoilerplateScorer", "get_ranker", "tokenize",
]
