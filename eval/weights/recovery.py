"""Recover a pruned encoder by distilling the dense one on a small, ``datapruner``-selected text budget.

The student is the pruned model; its masks are kept fixed (pruned weights are re-zeroed after each optimiser
step). The loss pulls the student's normalised sentence embedding towards the dense teacher's:
``MSE(s, t) * dim + (1 - cos(s, t))``, averaged over the batch.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from eval.errors import EvalError

__all__ = ["LookupEmbedder", "weight_masks", "distill", "select_budget"]


class LookupEmbedder:
    """An embedder for ``datapruner`` scorers that returns precomputed embeddings (no second encoding pass).

    Args:
        texts: The corpus.
        embeddings: One L2-normalised row per text, shape ``(len(texts), dim)``.
        identity: Cache key for datapruner's embedding cache.
    """

    def __init__(self, texts: Sequence[str], embeddings: npt.ArrayLike, *, identity: str) -> None:
        self.embeddings = np.asarray(embeddings, dtype=np.float32)
        self.index = {text: i for i, text in enumerate(texts)}
        self.identity = identity

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        try:
            return self.embeddings[[self.index[t] for t in texts]]
        except KeyError as err:
            raise EvalError(f"text {str(err)[:60]} is not in the precomputed corpus.") from err


def select_budget(texts: Sequence[str], embeddings: npt.ArrayLike, *, method: str, keep: float,
                  seed: int = 0) -> tuple[list[int], dict[str, Any]]:
    """Return ``(indices, report params)`` of the rows ``datapruner.select_rows`` keeps from ``texts``."""
    import datasets

    import datapruner

    ds = datasets.Dataset.from_dict({"text": list(texts)})
    params: dict[str, Any] = {}
    if method in ("prototype", "semdedup"):
        params["model"] = LookupEmbedder(texts, embeddings, identity=f"eval-weights-dense-{len(texts)}")
        params["cache"] = False
    selection = datapruner.select_rows(ds, method=method, keep=keep, label_column=None, seed=seed, **params)
    return [int(i) for i in selection.indices], {"strategy": selection.report.get("parameters", {}).get("strategy")}


def weight_masks(bert: Any) -> dict[str, Any]:
    """Return ``{name: keep-mask}`` of every encoder Linear weight (``weight != 0``)."""
    from eval.weights.encoder import encoder_linears

    return {name: (module.weight.detach() != 0) for name, module in encoder_linears(bert).items()}


def distill(student: Any, texts: Sequence[str], teacher_embeddings: npt.ArrayLike, *, epochs: int = 1,
            learning_rate: float = 5e-5, batch_size: int = 16, max_length: int = 128, seed: int = 0) -> list[float]:
    """Distill in place: fit ``student`` (a SentenceTransformer) to ``teacher_embeddings``; return batch losses.

    Zeros of the encoder Linear weights stay zero (the student keeps its sparsity).
    """
    import torch

    from eval.weights.encoder import bert_of, encoder_linears

    if len(texts) != len(teacher_embeddings):
        raise EvalError(f"{len(texts)} texts but {len(teacher_embeddings)} teacher embeddings: pass one per text.")
    if epochs < 1 or batch_size < 1:
        raise EvalError(f"epochs={epochs!r}, batch_size={batch_size!r} are not valid: use positive ints.")
    bert = bert_of(student)
    masks = weight_masks(bert)
    linears = encoder_linears(bert)
    target = torch.as_tensor(np.asarray(teacher_embeddings), dtype=torch.float32)
    params = [p for p in student.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(params, lr=learning_rate, weight_decay=0.0)
    generator = torch.Generator().manual_seed(seed)
    old_len = student.max_seq_length
    student.max_seq_length = max_length
    losses = []
    student.train()
    try:
        for _ in range(epochs):
            order = torch.randperm(len(texts), generator=generator).tolist()
            for start in range(0, len(order), batch_size):
                idx = order[start:start + batch_size]
                features = student.tokenize([texts[i] for i in idx])
                out = student(features)["sentence_embedding"]
                out = torch.nn.functional.normalize(out, dim=-1)
                t = target[idx]
                loss = ((out - t) ** 2).sum(-1).mean() + (1 - (out * t).sum(-1)).mean()
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                with torch.no_grad():
                    for name, module in linears.items():
                        module.weight.mul_(masks[name])
                losses.append(loss.item())
    finally:
        student.eval()
        student.max_seq_length = old_len
    return losses
