"""Fidelity of a pruned encoder to the dense one, and SQuAD question -> paragraph retrieval recall."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from eval.errors import EvalError

__all__ = ["encode", "mean_cosine", "pairwise_spearman", "recall_at_k", "latency"]


def encode(st: Any, texts: Sequence[str], *, batch_size: int = 64) -> npt.NDArray[np.float32]:
    """Return L2-normalised sentence embeddings, shape ``(len(texts), dim)``."""
    emb = st.encode(list(texts), batch_size=batch_size, convert_to_numpy=True, show_progress_bar=False,
                    normalize_embeddings=True)
    return np.asarray(emb, dtype=np.float32)


def _normalise(x: npt.ArrayLike) -> npt.NDArray[np.float64]:
    x = np.asarray(x, dtype=np.float64)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def mean_cosine(emb: npt.ArrayLike, ref: npt.ArrayLike) -> float:
    """Mean row-wise cosine similarity between two embedding matrices of the same shape."""
    a, b = _normalise(emb), _normalise(ref)
    if a.shape != b.shape:
        raise EvalError(f"emb.shape={a.shape} is not valid: it must equal ref.shape={b.shape}.")
    return float(np.mean(np.sum(a * b, axis=1)))


def pairwise_spearman(emb: npt.ArrayLike, ref: npt.ArrayLike) -> float:
    """Spearman correlation between the pairwise cosine similarities of ``emb`` and of ``ref`` (upper triangle)."""
    from scipy.stats import spearmanr

    a, b = _normalise(emb), _normalise(ref)
    if a.shape != b.shape or a.shape[0] < 3:
        raise EvalError(f"emb.shape={a.shape} is not valid: it must equal ref.shape and have >= 3 rows.")
    iu = np.triu_indices(a.shape[0], k=1)
    return float(spearmanr((a @ a.T)[iu], (b @ b.T)[iu]).statistic)


def recall_at_k(query_emb: npt.ArrayLike, doc_emb: npt.ArrayLike, gold: Sequence[int],
                ks: Sequence[int] = (1, 5)) -> dict[str, float]:
    """Return ``{"recall@k": fraction of queries whose gold document ranks in the top k}`` (cosine ranking)."""
    q, d = _normalise(query_emb), _normalise(doc_emb)
    gold_arr = np.asarray(gold)
    sims = q @ d.T
    gold_sim = sims[np.arange(len(gold_arr)), gold_arr]
    rank = (sims > gold_sim[:, None]).sum(axis=1)  # 0 = gold is the best
    return {f"recall@{k}": float(np.mean(rank < k)) for k in ks}


def latency(module: Any, batch: dict[str, Any], *, repeats: int = 7, warmup: int = 1) -> list[float]:
    """Return ``repeats`` wall-clock times (s) of ``module(**batch)`` under ``torch.inference_mode``."""
    import time

    import torch

    times = []
    with torch.inference_mode():
        for i in range(warmup + repeats):
            start = time.perf_counter()
            module(**batch)
            if i >= warmup:
                times.append(time.perf_counter() - start)
    return times
