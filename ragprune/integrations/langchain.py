"""LangChain adapter: :class:`RagpruneCompressor`, a ``BaseDocumentCompressor`` that prunes retrieved Documents.

Needs ``langchain-core`` (``pip install 'datapruner[langchain]'``); building the compressor without it
raises :class:`ragprune.RagpruneError`. Importing this module never fails.

Example:
    >>> from langchain_classic.retrievers import ContextualCompressionRetriever  # doctest: +SKIP
    >>> retriever = ContextualCompressionRetriever(                                # doctest: +SKIP
    ...     base_compressor=RagpruneCompressor(threshold=0.5, max_tokens=512), base_retriever=base)
"""
from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from ragprune.integrations._common import missing_extra
from ragprune.middleware import is_html, prune_passages

__all__ = ["RagpruneCompressor"]

try:
    from langchain_core.documents import BaseDocumentCompressor, Document

    from ragprune.integrations._fields import PruneFields

    _IMPORT_ERROR: ImportError | None = None
except ImportError as _err:  # the extra is not installed: fail when the adapter is built
    _IMPORT_ERROR = _err


if _IMPORT_ERROR is None:

    class RagpruneCompressor(PruneFields, BaseDocumentCompressor):
        """Prune each retrieved Document to the sentences that answer the query.

        Documents come back with a pruned ``page_content`` and their metadata extended with
        ``rerank_score``, ``kept_sentences``, ``original_length``, ``compression`` and ``fallback``
        (``None``, or why the document is returned unpruned). Documents pruned to nothing are dropped
        (never below ``min_kept``). HTML documents (a ``content_type``-like metadata key containing
        ``html``, or HTML content) go through the HTML pruner.

        Args:
            pruner: A ``ragprune.sentence.ContextPruner`` (or any object with ``prune``/``rerank``);
                ``None`` loads the default model on first use.
            html_pruner: A ``ragprune.html.HtmlPruner``; ``None`` builds the default when needed.
            threshold, max_tokens, reorder, top_k, min_kept, on_failure, timeout, max_input_chars, html,
                html_output: See :class:`ragprune.middleware.PruneOptions`; ``max_tokens`` is a budget
                over all returned documents together.

        Raises:
            RagpruneError: If an option is invalid or ``langchain-core`` is missing.
        """

        def compress_documents(self, documents: Sequence[Document], query: str,
                               callbacks: Any = None) -> Sequence[Document]:
            """Return the pruned Documents (retrieval order unless ``reorder``)."""
            documents = list(documents)
            if not documents:
                return []
            options = self._options
            texts = [d.page_content for d in documents]
            flags = [is_html(t, d.metadata) if options.html is None else options.html
                     for t, d in zip(texts, documents)]
            kept = prune_passages(query, texts, pruner=self.pruner, html_pruner=self.html_pruner,
                                  options=options, html_flags=flags)
            out = []
            for p in kept:
                doc = documents[p.index]
                out.append(Document(page_content=p.text, metadata={**doc.metadata, **p.metadata()},
                                    id=getattr(doc, "id", None)))
            return out

        async def acompress_documents(self, documents: Sequence[Document], query: str,
                                      callbacks: Any = None) -> Sequence[Document]:
            """Async :meth:`compress_documents`: the model runs in a worker thread."""
            return await asyncio.to_thread(self.compress_documents, documents, query, callbacks)

else:

    class RagpruneCompressor:  # type: ignore[no-redef]
        """Placeholder: ``langchain-core`` is not installed; building it raises RagpruneError."""

        def __init__(self, **kwargs: Any) -> None:
            raise missing_extra("RagpruneCompressor", "langchain", _IMPORT_ERROR)
