"""Result types shared by every ragprune pruner and adapter."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class PruneResult:
    """What pruning one context produced.

    Attributes:
        pruned: The kept sentences (or blocks), joined in their original order.
        kept: Indices of the kept sentences, ascending.
        sentences: The context split into sentences; ``"".join`` style reconstruction is not promised.
        sentence_scores: Keep-probability of each sentence, in [0, 1].
        rerank: Relevance of the whole context to the question, in [0, 1] (higher is more relevant).
        original_chars: Length of the input context in characters.
        fallback: ``None`` normally; a short reason when the context was returned unpruned by the
            failure policy (fail-open) instead of being pruned.
    """

    pruned: str
    kept: list[int]
    sentences: list[str]
    sentence_scores: list[float]
    rerank: float
    original_chars: int
    fallback: str | None = field(default=None)

    @property
    def compression(self) -> float:
        """Share of characters removed, in [0, 1]."""
        if self.original_chars == 0:
            return 0.0
        return max(0.0, 1.0 - len(self.pruned) / self.original_chars)
