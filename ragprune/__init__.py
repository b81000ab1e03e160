"""ragprune: prune retrieved context before an LLM reads it.

Entry points: ``ContextPruner`` (sentence-level pruning + reranking with one cross-encoder pass),
``HtmlPruner`` (HTML block-tree pruning to a token budget) and ``prune_documents`` (one call over strings or dicts,
with the fail-open policy the framework adapters use).
"""
from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from ragprune.errors import RagpruneError
from ragprune.html import HtmlPruner, HtmlPruneResult
from ragprune.middleware import prune_documents
from ragprune.sentence.pruner import ContextPruner
from ragprune.types import PruneResult

try:  # ragprune ships in the datapruner distribution: the version in pyproject.toml, as installed
    __version__ = version("datapruner")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["ContextPruner", "HtmlPruneResult", "HtmlPruner", "PruneResult", "RagpruneError", "prune_documents"]
