"""Word-substitution copies of the kept rows, labelled by the teacher (the data augmentation of TinyBERT).

A student trained from scratch on a small kept subset only learns the words of that subset; the teacher saw every
row and knows many more. Copies of the kept rows in which about half of the words are swapped for one of their
nearest neighbours in a sentence encoder's space ("city" -> "town", "movie" -> "film") carry other words to the
student, and the teacher labels every copy, so its knowledge of those words reaches the student. The substitutes
come from the encoder's own vocabulary (its whole-word word pieces), not from the rows that were pruned away.
Jiao et al. (2020), "TinyBERT: Distilling BERT for Natural Language Understanding", section 3.2, is the recipe
this follows, with nearest neighbours in the embedded MiniLM's space instead of GloVe.

Measured on validation splits of SST-2, TREC and SUBJ (``scripts/tune_kd_substitution.py``,
``eval/results/data/kd_substitution_tuning.json``): see :data:`SUBSTITUTION_DEFAULTS`.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from datapruner._validation import check_fraction, check_positive_int
from datapruner.errors import DataprunerError

if TYPE_CHECKING:
    import numpy.typing as npt

    from datapruner.models.embedder import SupportsEncode

__all__ = ["WordNeighbors", "SUBSTITUTION_DEFAULTS", "substitution_epochs", "stack_ids"]

#: Copies per kept row, share of words swapped in a copy, neighbours a substitute is drawn from, and the largest
#: kept fraction the copies are used at by default. Chosen on validation splits of the training sets
#: (``scripts/tune_kd_substitution.py``; fastText students distilled on views, random subsets, two seeds): mean
#: validation accuracy over SST-2, TREC and SUBJ at keep 0.1 and 0.3 was 83.85 without copies, 84.39 with 8 copies
#: (rate 0.3, 5 neighbours), **84.93** with 16 (rate 0.5, 10), 84.79 with 32 (0.5, 10) and 84.75 with 32 (0.7, 10);
#: +2.1 points on TREC at keep 0.1. At keep 0.5 and 0.7 (``kd_substitution_by_keep.json``) the same copies gained
#: only 0.24 points on average (two of six cells lower), within the seeds' spread, so they stop at 0.3.
SUBSTITUTION_DEFAULTS: dict[str, float] = {"copies": 16, "rate": 0.5, "top_k": 10, "max_keep": 0.3}

_WORD = re.compile(r"[A-Za-z]+")


class WordNeighbors:
    """Nearest neighbours of whole words in a sentence encoder's space, and substituted copies of texts.

    The vocabulary is the encoder tokenizer's whole-word entries (alphabetic ASCII, two letters or more) unless
    given; each word is embedded on its own (cached on disk like any text column, see
    :func:`~datapruner.models.embedder.column_features`) and its ``top_k`` nearest neighbours by cosine are found
    with faiss, once per instance.

    Args:
        model: Sentence encoder (name, path or embedder); ``None`` is the embedded all-MiniLM-L6-v2.
        vocabulary: Words that may be substituted and substitute; ``None`` is the whole words of the encoder's
            tokenizer (about 21,700 for MiniLM; embedding them takes a minute or two on a CPU, once).
        top_k: Neighbours a substitute is drawn from, uniformly.
        cache: Cache the word embeddings on disk.

    Example:
        >>> nb = WordNeighbors(top_k=5)                                   # doctest: +SKIP
        >>> nb.neighbours("city")                                         # doctest: +SKIP
        ['cities', 'urban', 'town', 'towns', 'hometown']
    """

    def __init__(self, model: str | SupportsEncode | None = None, *, vocabulary: Sequence[str] | None = None,
                 top_k: int = 10, cache: bool = True) -> None:
        if isinstance(vocabulary, str):
            raise DataprunerError("vocabulary must be a list of words, not one string: wrap it in a list.")
        self.model = model
        self.vocabulary = vocabulary
        self.top_k = check_positive_int("top_k", top_k)
        self.cache = cache
        self._vocab: list[str] | None = None
        self._index: dict[str, int] = {}
        self._table: npt.NDArray[np.int32] | None = None

    def fit(self) -> WordNeighbors:
        """Find the neighbours (done on first use; call it to pay the cost up front). For the embedded model with
        its own vocabulary and ``top_k <= 10`` this reads the table shipped in ``datapruner/data``
        (``scripts/build_word_neighbours.py`` wrote it) instead of embedding 21,700 words."""
        if self.model is None and self.vocabulary is None and self.top_k <= SHIPPED_TABLE.top_k:
            vocab, table = SHIPPED_TABLE.load()
            self._set(vocab, table[:, : self.top_k])
            return self
        embedder = _word_embedder(self.model)
        words = embedder_vocabulary(embedder) if self.vocabulary is None else self.vocabulary
        vocab = sorted({str(w).lower() for w in words if _WORD.fullmatch(str(w)) and len(str(w)) >= 2})
        self._set(vocab, neighbour_table(vocab, embedder, top_k=self.top_k, cache=self.cache))
        return self

    def _set(self, vocab: list[str], table: npt.NDArray[np.int32]) -> None:
        self._vocab, self._table = vocab, table
        self._index = {w: i for i, w in enumerate(vocab)}

    def neighbours(self, word: str) -> list[str]:
        """Return the ``top_k`` nearest neighbours of ``word`` (lower-cased), nearest first; ``[]`` if unknown."""
        if self._table is None:
            self.fit()
        i = self._index.get(word.lower())
        return [] if i is None else [self._vocab[j] for j in self._table[i]]

    def substitute(self, texts: Sequence[str], *, copies: int, rate: float, seed: int = 0) -> list[str]:
        """Return ``copies`` substituted copies of every text, copy-major (copy ``c`` of text ``i`` is at
        ``c * len(texts) + i``).

        Each word of the vocabulary is swapped, with probability ``rate``, for one of its ``top_k`` neighbours
        (in lower case); other characters are left as they are.
        """
        copies = check_positive_int("copies", copies)
        rate = check_fraction("rate", rate)
        if isinstance(texts, str):
            raise DataprunerError("texts must be a list of strings, not one string: wrap it in a list.")
        if self._table is None:
            self.fit()
        rng = np.random.default_rng(seed)
        parsed = [self._parse(str(t)) for t in texts]
        out: list[str] = []
        for _ in range(copies):
            for pieces, word_ids in parsed:
                if not word_ids.size:
                    out.append("".join(pieces))
                    continue
                swap = (rng.random(word_ids.size) < rate) & (word_ids >= 0)
                picks = rng.integers(self.top_k, size=word_ids.size)
                words = list(pieces)
                for k in np.flatnonzero(swap):
                    words[2 * k + 1] = self._vocab[self._table[word_ids[k], picks[k]]]
                out.append("".join(words))
        return out

    def _parse(self, text: str) -> tuple[list[str], npt.NDArray[np.int64]]:
        """Split ``text`` into [gap, word, gap, word, ..., gap] and the vocabulary id of each word (-1: unknown)."""
        pieces = _WORD.split(text)
        words = _WORD.findall(text)
        merged: list[str] = [pieces[0]]
        for word, gap in zip(words, pieces[1:]):
            merged += [word, gap]
        ids = np.array([self._index.get(w.lower(), -1) for w in words], dtype=np.int64)
        return merged, ids


def _word_embedder(model: str | SupportsEncode | None) -> SupportsEncode:
    from datapruner.models.embedder import get_embedder

    return get_embedder(model, batch_size=256)  # words are a token or two: large batches are cheap


def embedder_vocabulary(embedder: SupportsEncode) -> list[str]:
    """The whole words (alphabetic ASCII, two letters or more, lower case) of a sentence-transformers model's
    tokenizer, sorted."""
    tokenizer = getattr(getattr(embedder, "sentence_transformer", None), "tokenizer", None)
    if tokenizer is None:
        raise DataprunerError("pass a vocabulary: the model has no tokenizer to take whole words from.")
    return sorted({w.lower() for w in tokenizer.get_vocab() if _WORD.fullmatch(w) and len(w) >= 2})


def neighbour_table(vocab: Sequence[str], embedder: SupportsEncode, *, top_k: int,
                    cache: bool = True) -> npt.NDArray[np.int32]:
    """Return ``(len(vocab), top_k)`` indices into ``vocab``: each word's nearest other words by cosine, nearest
    first (exact search with faiss over the words' L2-normalised embeddings)."""
    import datasets as hf
    import faiss

    from datapruner.models.embedder import column_features

    if len(vocab) <= top_k:
        raise DataprunerError(f"the vocabulary has {len(vocab)} words (alphabetic, two letters or more): "
                              f"at least top_k + 1 = {top_k + 1} are needed.")
    vectors = np.ascontiguousarray(
        column_features(hf.Dataset.from_dict({"word": list(vocab)}), "word", model=embedder, cache=cache),
        dtype=np.float32)
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    _, nearest = index.search(vectors, top_k + 1)
    table = np.empty((len(vocab), top_k), dtype=np.int32)
    for i, row in enumerate(nearest):  # a word is its own nearest neighbour; drop it wherever ties put it
        table[i] = row[row != i][:top_k]
    return table


@dataclass(frozen=True)
class _ShippedTable:
    """The neighbour table of the embedded all-MiniLM-L6-v2 over its own whole words, shipped with the package."""

    path: Path
    top_k: int

    def load(self) -> tuple[list[str], npt.NDArray[np.int32]]:
        with np.load(self.path) as data:
            return data["vocab"].tolist(), data["table"].astype(np.int32)

    def save(self, vocab: Sequence[str], table: npt.NDArray[np.integer]) -> None:
        from datapruner._atomic import atomic_file

        with atomic_file(self.path, suffix=".npz") as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(fh, vocab=np.asarray(vocab), table=np.asarray(table, dtype=np.int16))


SHIPPED_TABLE = _ShippedTable(Path(__file__).resolve().parents[1] / "data" / "word_neighbours_minilm.npz", top_k=10)


def substitution_epochs(epochs: int, n_rows: int, copies: int, batch_size: int) -> int:
    """Epochs over ``n_rows * (copies + 1)`` rows that take as many optimisation steps as ``epochs`` over
    ``n_rows``: the copies widen what the student sees, not how long it trains (at least one epoch)."""
    steps = epochs * -(-n_rows // batch_size)
    return max(1, round(steps / -(-(n_rows * (copies + 1)) // batch_size)))


def stack_ids(blocks: Sequence[npt.NDArray[np.integer]]) -> npt.NDArray[np.int64]:
    """Stack padded token-id matrices of different widths row-wise, padding with id 0 (ignored by fastText)."""
    width = max(b.shape[1] for b in blocks)
    return np.concatenate([np.pad(np.asarray(b, dtype=np.int64), ((0, 0), (0, width - b.shape[1])))
                           for b in blocks])
