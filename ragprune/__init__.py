"""ragprune: prune retrieved context before an LLM reads it."""
from __future__ import annotations

from ragprune.errors import RagpruneError
from ragprune.sentence.pruner import ContextPruner
from ragprune.types import PruneResult

__all__ = ["ContextPruner", "PruneResult", "RagpruneError"]
