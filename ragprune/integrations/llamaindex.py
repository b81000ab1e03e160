"""LlamaIndex adapter: :class:`RagprunePostprocessor`, a ``BaseNodePostprocessor`` that prunes retrieved nodes.

Needs ``llama-index-core`` (``pip install 'datapruner[llamaindex]'``); building the postprocessor
without it raises :class:`ragprune.RagpruneError`. Importing this module never fails.

Example:
    >>> engine = index.as_query_engine(node_postprocessors=[RagprunePostprocessor(max_tokens=512)])  # doctest: +SKIP
"""
from __future__ import annotations

from typing import Any

from ragprune.errors import RagpruneError
from ragprune.integrations._common import missing_extra
from ragprune.middleware import is_html, prune_passages

__all__ = ["RagprunePostprocessor"]

try:
    from llama_index.core.postprocessor.types import BaseNodePostprocessor
    from llama_index.core.schema import ImageNode, MetadataMode, NodeWithScore, QueryBundle, TextNode

    from ragprune.integrations._fields import PruneFields

    _IMPORT_ERROR: ImportError | None = None
except ImportError as _err:  # the extra is not installed: fail when the adapter is built
    _IMPORT_ERROR = _err

_META_KEYS = ("rerank_score", "kept_sentences", "original_length", "compression", "fallback")


if _IMPORT_ERROR is None:

    class RagprunePostprocessor(PruneFields, BaseNodePostprocessor):
        """Prune each retrieved node to the sentences that answer the query.

        Nodes keep their ids and metadata; their text is pruned, their ``score`` becomes the rerank
        score (unchanged on fallback), and their metadata gains ``rerank_score``, ``kept_sentences``,
        ``original_length``, ``compression`` and ``fallback``, excluded from the LLM and embedding
        views so they never reach the prompt. The retrieved node objects are not modified: copies are
        returned. Nodes pruned to nothing are dropped (never below ``min_kept``); non-text nodes pass
        through untouched.

        Args:
            pruner: A ``ragprune.sentence.ContextPruner`` (or any object with ``prune``/``rerank``);
                ``None`` loads the default model on first use.
            html_pruner: A ``ragprune.html.HtmlPruner``; ``None`` builds the default when needed.
            threshold, max_tokens, reorder, top_k, min_kept, on_failure, timeout, max_input_chars, html,
                html_output: See :class:`ragprune.middleware.PruneOptions`.

        Raises:
            RagpruneError: If an option is invalid or ``llama-index-core`` is missing.
        """

        @classmethod
        def class_name(cls) -> str:
            return "RagprunePostprocessor"

        def _postprocess_nodes(self, nodes: list[NodeWithScore],
                               query_bundle: QueryBundle | None = None) -> list[NodeWithScore]:
            if query_bundle is None:
                raise RagpruneError("query_bundle=None is not valid: RagprunePostprocessor needs the query.")
            text_pos = [i for i, n in enumerate(nodes)
                        if isinstance(n.node, TextNode) and not isinstance(n.node, ImageNode)]
            if not text_pos:
                return list(nodes)
            options = self._options
            texts, flags = [], []
            for i in text_pos:
                node = nodes[i].node
                text = node.get_content(metadata_mode=MetadataMode.NONE)
                texts.append(text)
                if options.html is not None:
                    flags.append(options.html)
                elif "html" in (getattr(node, "mimetype", None) or "").lower():
                    flags.append(True)
                else:
                    flags.append(is_html(text, node.metadata))
            kept = prune_passages(query_bundle.query_str, texts, pruner=self.pruner,
                                  html_pruner=self.html_pruner, options=options, html_flags=flags)
            out: list[tuple[float, int, NodeWithScore]] = []
            for rank, p in enumerate(kept):
                original = nodes[text_pos[p.index]]
                node = original.node.model_copy(deep=True)
                node.set_content(p.text)
                node.metadata.update(p.metadata())
                for keys in (node.excluded_llm_metadata_keys, node.excluded_embed_metadata_keys):
                    keys.extend(k for k in _META_KEYS if k not in keys)
                score = original.score if p.rerank is None else p.rerank
                out.append((rank, text_pos[p.index], NodeWithScore(node=node, score=score)))
            text_set = set(text_pos)
            others = [(-1, i, nodes[i]) for i in range(len(nodes)) if i not in text_set]
            if options.reorder:
                ordered = [n for _, _, n in out] + [n for _, _, n in others]
            else:
                ordered = [n for _, _, n in sorted(out + others, key=lambda t: t[1])]
            return ordered

else:

    class RagprunePostprocessor:  # type: ignore[no-redef]
        """Placeholder: ``llama-index-core`` is not installed; building it raises RagpruneError."""

        def __init__(self, **kwargs: Any) -> None:
            raise missing_extra("RagprunePostprocessor", "llamaindex", _IMPORT_ERROR)
