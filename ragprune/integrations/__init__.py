"""Adapters that slot ragprune into existing RAG frameworks (optional extras).

Importing this package imports no framework. Each adapter lives in its own module and needs its extra:

- :class:`ragprune.integrations.langchain.RagpruneCompressor` (``pip install 'datapruner[langchain]'``):
  a LangChain ``BaseDocumentCompressor`` for ``ContextualCompressionRetriever`` and
  ``DocumentCompressorPipeline``;
- :class:`ragprune.integrations.llamaindex.RagprunePostprocessor` (``pip install 'datapruner[llamaindex]'``):
  a LlamaIndex ``BaseNodePostprocessor``.

Building an adapter without its extra raises :class:`ragprune.RagpruneError` naming the install command.
Both are also reachable here lazily (``from ragprune.integrations import RagpruneCompressor``).
"""
from __future__ import annotations

from typing import Any

__all__ = ["RagpruneCompressor", "RagprunePostprocessor"]

_LAZY = {
    "RagpruneCompressor": "ragprune.integrations.langchain",
    "RagprunePostprocessor": "ragprune.integrations.llamaindex",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
