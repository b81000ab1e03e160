"""HTML block-tree pruning (HtmlRAG-style): clean a page, split it into blocks, keep the best within a budget."""
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
