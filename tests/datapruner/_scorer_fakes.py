"""Tiny stand-ins for the embedding model, shared by the scorer tests (no download, milliseconds per call)."""
from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

from datapruner.errors import DataprunerError


class HashingEmbedder:
    """Bag-of-words embedder: each lower-cased word adds a fixed random unit vector; rows are L2-normalised.

    Implements the ``SupportsEncode`` protocol (``identity`` + ``encode``). Counts calls and encoded texts, and can
    be told to fail after a number of ``encode`` calls, to simulate an interrupted run.
    """

    def __init__(self, dim: int = 64, *, fail_after_calls: int | None = None) -> None:
        self.dim = dim
        self.identity = f"hashing-bow-{dim}"
        self.fail_after_calls = fail_after_calls
        self.calls = 0
        self.encoded = 0

    def _word_vector(self, word: str) -> np.ndarray:
        seed = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
        return np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if self.fail_after_calls is not None and self.calls >= self.fail_after_calls:
            raise KeyboardInterrupt("simulated interruption")
        self.calls += 1
        self.encoded += len(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise DataprunerError(f"texts[{i}] is not a string")
            for word in re.findall(r"\w+", text.lower()):
                out[i] += self._word_vector(word)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms > 0, norms, 1.0)


def clustered_embeddings(n_per_cluster: int, n_clusters: int, dim: int, *, spread: float = 0.15,
                         seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Return (unit-norm points around ``n_clusters`` random centres, their cluster ids)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_clusters, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    labels = np.repeat(np.arange(n_clusters), n_per_cluster)
    x = centres[labels] + spread * rng.standard_normal((labels.size, dim)).astype(np.float32) / np.sqrt(dim)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32), labels
