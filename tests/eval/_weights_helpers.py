"""Tiny random-init models and batches for the weight-pruning tests (no downloads)."""
from __future__ import annotations

import torch


def tiny_bert(seed: int = 0, *, heads: int = 4, hidden: int = 32, intermediate: int = 64, layers: int = 2,
              vocab_size: int = 100):
    from transformers import BertConfig, BertModel

    torch.manual_seed(seed)
    config = BertConfig(vocab_size=vocab_size, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                        intermediate_size=intermediate, max_position_embeddings=64,
                        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    model = BertModel(config, add_pooling_layer=False)
    model.eval()
    return model


def tiny_batches(n_batches: int = 2, batch: int = 4, length: int = 12, seed: int = 0) -> list[dict]:
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n_batches):
        ids = torch.randint(1, 100, (batch, length), generator=g)
        mask = torch.ones(batch, length, dtype=torch.long)
        mask[0, length // 2:] = 0  # one padded row: padding must be ignored by the statistics
        out.append({"input_ids": ids, "attention_mask": mask})
    return out


def hidden(model, batches) -> torch.Tensor:
    with torch.inference_mode():
        return torch.cat([model(**b).last_hidden_state for b in batches])
