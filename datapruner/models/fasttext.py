"""A fastText-style classifier trained from scratch: mean of hashed word and bigram embeddings, then a linear layer.

Text is turned into integer ids by :class:`HashingTokenizer` (the hashing trick: no vocabulary to build or store,
so any text, including unseen words, maps to ids in ``1..n_buckets-1``; id 0 is padding). Joulin et al. (2017),
"Bag of Tricks for Efficient Text Classification", is the model this follows.
"""
from __future__ import annotations

import re
import zlib
from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

__all__ = ["HashingTokenizer", "FastTextClassifier"]

_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[^\sa-z0-9]", re.IGNORECASE)


class HashingTokenizer:
    """Lower-case word tokens plus word bigrams, each hashed (CRC32, stable across runs) into ``n_buckets`` ids.

    Args:
        n_buckets: Size of the hashed id space including the padding id 0, >= 2.
        ngrams: 1 for words only, 2 for words and bigrams.
        max_length: Keep at most this many ids per text (words first, then bigrams).

    Example:
        >>> tok = HashingTokenizer(n_buckets=1000)
        >>> tok.tokenize("Not good!")
        ['not', 'good', '!', 'not good', 'good !']
        >>> tok.encode(["Not good!", "ok"]).shape
        (2, 5)
    """

    def __init__(self, *, n_buckets: int = 2 ** 18, ngrams: int = 2, max_length: int = 256) -> None:
        self.n_buckets, self.ngrams, self.max_length = int(n_buckets), int(ngrams), int(max_length)

    def get_config(self) -> dict[str, int]:
        """Return the constructor arguments (saved with a model)."""
        return {"n_buckets": self.n_buckets, "ngrams": self.ngrams, "max_length": self.max_length}

    def tokenize(self, text: str) -> list[str]:
        """Return the word tokens followed by the word n-grams (up to ``ngrams``) of ``text``."""
        words = _TOKEN.findall(str(text).lower())
        grams = list(words)
        for n in range(2, self.ngrams + 1):
            grams += [" ".join(words[i:i + n]) for i in range(len(words) - n + 1)]
        return grams

    def ids(self, text: str) -> list[int]:
        """Return the hashed ids (in ``1..n_buckets-1``) of the first ``max_length`` tokens of ``text``."""
        ids = [zlib.crc32(g.encode("utf-8")) % (self.n_buckets - 1) + 1 for g in self.tokenize(text)]
        return ids[: self.max_length]

    def encode(self, texts: Iterable[str]) -> npt.NDArray[np.int64]:
        """Return padded ids ``(n_texts, longest)`` (at least 1 column; an empty text is all padding)."""
        rows = [self.ids(t) for t in texts]
        width = max([1] + [len(r) for r in rows])
        out = np.zeros((len(rows), width), dtype=np.int64)
        for i, r in enumerate(rows):
            out[i, : len(r)] = r
        return out


class FastTextClassifier(nn.Module):
    """Mean of hashed n-gram embeddings (padding id 0 ignored) followed by a linear layer.

    Input: int64 ids ``(batch, length)`` from :class:`HashingTokenizer`; padding (0) may sit anywhere in a row
    and is ignored. The ids that are not padding go into one ``EmbeddingBag`` call (mean mode): about 40% less
    time per distilled training step than an ``Embedding`` lookup of the padded batch followed by a masked mean
    (10% of SST-2, batches of 256: 5.1 s against 8.6 s per student on this CPU). The table is sparse
    (``sparse=True``) so that :func:`datapruner.training.loop.fit_classifier` updates only the rows a batch touches.

    Args:
        n_classes: Number of classes, >= 2.
        n_buckets: Rows of the embedding table; must match the tokenizer.
        dim: Embedding width.
        dropout: Dropout on the pooled text vector, in [0, 1).
    """

    def __init__(self, n_classes: int, *, n_buckets: int = 2 ** 18, dim: int = 64, dropout: float = 0.0) -> None:
        super().__init__()
        self.n_classes, self.n_buckets, self.dim, self.dropout_p = int(n_classes), int(n_buckets), int(dim), float(dropout)
        # no padding_idx: forward() drops padding before the call, and with padding_idx the CPU kernel is ~6x slower
        self.embedding = nn.EmbeddingBag(self.n_buckets, self.dim, mode="mean", sparse=True)
        nn.init.uniform_(self.embedding.weight, -1.0 / self.dim, 1.0 / self.dim)  # row 0 (padding) is never read
        self.dropout = nn.Dropout(self.dropout_p)
        self.linear = nn.Linear(self.dim, self.n_classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Return logits ``(batch, n_classes)``."""
        mask = ids != 0
        offsets = torch.zeros(ids.shape[0], dtype=torch.int64, device=ids.device)
        offsets[1:] = mask.sum(dim=1).cumsum(0)[:-1]  # bag i starts after the ids of rows 0..i-1
        pooled = self.embedding(ids[mask], offsets)  # an empty bag (all padding) pools to zeros
        return self.linear(self.dropout(pooled))

    @staticmethod
    def encode(texts: Sequence[str], tokenizer: HashingTokenizer) -> npt.NDArray[np.int64]:
        """Shortcut for ``tokenizer.encode(texts)``."""
        return tokenizer.encode(texts)
