"""ragprune: prune retrieved context before an LLM reads it."""
from __future__ import annotations

from ragprune.errors import RagpruneError

__all__ = ["RagpruneError"]
