"""Write the neighbour table of the embedded all-MiniLM-L6-v2 that ships in ``datapruner/data``.

    PYTHONPATH=. python scripts/build_word_neighbours.py

Every whole word of the model's tokenizer (alphabetic ASCII, two letters or more) is embedded on its own, and its
ten nearest other words by cosine are stored (``WordNeighbors`` reads this table instead of embedding 21,700 words
on first use). Deterministic: exact faiss search over the model's embeddings.
"""
from __future__ import annotations

import time

from datapruner.training.substitution import (
    SHIPPED_TABLE,
    _word_embedder,
    embedder_vocabulary,
    neighbour_table,
)


def main() -> None:
    started = time.perf_counter()
    embedder = _word_embedder(None)
    vocab = embedder_vocabulary(embedder)
    table = neighbour_table(vocab, embedder, top_k=SHIPPED_TABLE.top_k)
    SHIPPED_TABLE.save(vocab, table)
    print(f"{len(vocab)} words x {SHIPPED_TABLE.top_k} neighbours -> {SHIPPED_TABLE.path} "
          f"({SHIPPED_TABLE.path.stat().st_size / 1e3:.0f} kB, {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
