"""Tests of the pruner cross-encoder: shapes, encoding, sentence scores, checkpoint save/load."""
from __future__ import annotations

import json
import os

import pytest
import torch

from ragprune.errors import RagpruneError
from ragprune.sentence import model as model_mod
from ragprune.sentence.model import (
    DEFAULT_CHECKPOINT,
    PrunerModel,
    build_pruner_model,
    build_tiny_pruner_model,
    encode_pairs,
    load_pruner_model,
    save_pruner_model,
    sentence_scores,
)
from ragprune.sentence.splitter import split_sentences

QUESTIONS = ["Where is Paris?", "Who wrote Hamlet and when was it first performed?"]
CONTEXTS = ["Paris is in France. It is big.", "Hamlet was written by Shakespeare. It was performed around 1600. " * 3]


@pytest.fixture(scope="module")
def tiny():
    return build_tiny_pruner_model(seed=0)


def test_forward_shapes(tiny) -> None:
    model, tokenizer = tiny
    enc = encode_pairs(tokenizer, QUESTIONS, CONTEXTS, max_length=64)
    model.eval()
    token_logits, rerank_logits = model(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"])
    assert token_logits.shape == enc["input_ids"].shape
    assert rerank_logits.shape == (2,)
    assert torch.isfinite(token_logits).all() and torch.isfinite(rerank_logits).all()
    # token_type_ids is optional
    t2, r2 = model(enc["input_ids"], enc["attention_mask"])
    assert t2.shape == token_logits.shape and r2.shape == (2,)


def test_encode_pairs_marks_only_context_tokens(tiny) -> None:
    _, tokenizer = tiny
    enc = encode_pairs(tokenizer, QUESTIONS, CONTEXTS, max_length=32)
    assert enc["input_ids"].shape[1] <= 32
    for i, ctx in enumerate(CONTEXTS):
        mask = enc["context_mask"][i]
        ids = enc["input_ids"][i][mask]
        assert tokenizer.cls_token_id not in ids.tolist() and tokenizer.sep_token_id not in ids.tolist()
        # every context token's offsets point at non-space characters of the context
        for a, b in enc["offset_mapping"][i][mask].tolist():
            assert 0 <= a < b <= len(ctx) and not ctx[a:b].isspace()
        # question tokens are not context tokens
        assert not mask[1]


def test_sentence_scores_average_tokens(tiny) -> None:
    _, tokenizer = tiny
    ctx = CONTEXTS[0]
    spans = split_sentences(ctx)
    enc = encode_pairs(tokenizer, [QUESTIONS[0]], [ctx])
    offsets = enc["offset_mapping"][0]
    mask = enc["context_mask"][0]
    probs = torch.where(offsets[:, 0] < spans[1][0], 0.9, 0.2)
    scores = sentence_scores(probs, offsets, mask, spans)
    assert scores == pytest.approx([0.9, 0.2])
    # a sentence with no surviving token (truncated away) gets None
    assert sentence_scores([0.5], [(0, 3)], [True], [(0, 3), (5, 9)]) == [0.5, None]


def test_tiny_round_trip(tiny, tmp_path) -> None:
    model, tokenizer = tiny
    model.eval()
    path = save_pruner_model(model, tokenizer, tmp_path / "ck", config={"max_length": 64, "threshold": 0.3},
                             base_model=None, dtype="float32")
    loaded, tok2, config = load_pruner_model(path)
    assert isinstance(loaded, PrunerModel) and not loaded.training
    assert config["threshold"] == 0.3 and config["max_length"] == 64 and config["base_model"] is None
    enc = encode_pairs(tok2, QUESTIONS, CONTEXTS, max_length=64)
    with torch.no_grad():
        a = model(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"])
        b = loaded(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"])
    torch.testing.assert_close(a[0], b[0])
    torch.testing.assert_close(a[1], b[1])


def test_saved_files_get_the_umask_mode(tiny, tmp_path) -> None:
    # like any other output (0666 less the umask), not the 0600 that safetensors' save_file gives the weights
    model, tokenizer = tiny
    previous = os.umask(0o022)
    try:
        path = save_pruner_model(model, tokenizer, tmp_path / "ck", config={"max_length": 64, "threshold": 0.3},
                                 base_model=None)
    finally:
        os.umask(previous)
    modes = {f.name: oct(f.stat().st_mode & 0o777) for f in path.iterdir()}
    assert "model.safetensors" in modes and set(modes.values()) == {"0o644"}, modes


def test_base_round_trip_reattaches_word_embeddings(tmp_path) -> None:
    model, tokenizer = build_pruner_model(seed=1)
    model.eval()
    path = save_pruner_model(model, tokenizer, tmp_path / "ck", config={"max_length": 128, "threshold": 0.5})
    config = json.loads((path / "config.json").read_text())
    assert config["word_embeddings"] == "base" and config["dtype"] == "float16"
    size_mb = (path / "model.safetensors").stat().st_size / 2**20
    assert size_mb < 25, size_mb  # word embeddings left out, fp16
    loaded, tok2, _ = load_pruner_model(path)
    enc = encode_pairs(tok2, QUESTIONS, CONTEXTS, max_length=128)
    with torch.no_grad():
        a = model(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"])
        b = loaded(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"])
    torch.testing.assert_close(torch.sigmoid(a[0]), torch.sigmoid(b[0]), atol=2e-3, rtol=0)
    torch.testing.assert_close(torch.sigmoid(a[1]), torch.sigmoid(b[1]), atol=2e-3, rtol=0)


def test_save_refuses_to_drop_changed_word_embeddings(tmp_path) -> None:
    model, tokenizer = build_pruner_model(seed=1)
    with torch.no_grad():
        model.encoder.embeddings.word_embeddings.weight[5] += 1.0
    with pytest.raises(RagpruneError, match="exclude_word_embeddings"):
        save_pruner_model(model, tokenizer, tmp_path / "ck", config={"max_length": 128, "threshold": 0.5})


def test_save_validates_config_and_dtype(tiny, tmp_path) -> None:
    model, tokenizer = tiny
    with pytest.raises(RagpruneError, match="threshold"):
        save_pruner_model(model, tokenizer, tmp_path / "a", config={"max_length": 8}, base_model=None)
    with pytest.raises(RagpruneError, match="dtype="):
        save_pruner_model(model, tokenizer, tmp_path / "b", config={"max_length": 8, "threshold": 0.1},
                          base_model=None, dtype="int4")


def test_load_errors(tmp_path, monkeypatch) -> None:
    with pytest.raises(RagpruneError, match="is not a pruner checkpoint"):
        load_pruner_model(tmp_path)
    monkeypatch.setattr(model_mod, "DEFAULT_CHECKPOINT", tmp_path / "nothing")
    with pytest.raises(RagpruneError, match="default checkpoint is absent"):
        load_pruner_model()


def test_default_checkpoint_loads() -> None:
    model, tokenizer, config = load_pruner_model()
    for key in ("threshold", "max_length", "base_model", "validation_articles"):
        assert key in config
    assert 0.0 <= config["threshold"] <= 1.0
    total = sum(p.stat().st_size for p in DEFAULT_CHECKPOINT.iterdir() if p.is_file())
    assert total <= 30 * 10**6
    q = "When did the 1973 oil crisis begin?"
    relevant = ("Penguins are flightless birds living in the Southern Hemisphere. "
                "The 1973 oil crisis began in October 1973 when OAPEC proclaimed an oil embargo. "
                "Emperor penguins are the tallest species.")
    irrelevant = "Penguins are flightless birds. They eat fish and krill. Emperor penguins are the tallest."
    enc = encode_pairs(tokenizer, [q, q], [relevant, irrelevant], max_length=config["max_length"])
    with torch.no_grad():
        logits, rerank = model(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"])
    probs = torch.sigmoid(logits)
    s_rel = sentence_scores(probs[0], enc["offset_mapping"][0], enc["context_mask"][0], split_sentences(relevant))
    s_irr = sentence_scores(probs[1], enc["offset_mapping"][1], enc["context_mask"][1], split_sentences(irrelevant))
    assert s_rel[1] >= config["threshold"] and s_rel[1] == max(s_rel)  # the answer sentence is kept, and ranks first
    assert all(s < config["threshold"] for s in s_irr)  # an unrelated passage is pruned entirely
    assert torch.sigmoid(rerank[0]) > 0.5 > torch.sigmoid(rerank[1])


def test_gate_token_logits_is_product_of_probabilities() -> None:
    from ragprune.sentence.model import gate_token_logits

    tokens = torch.tensor([[-40.0, -3.0, 0.0, 2.0, 40.0], [1.0, 1.0, 1.0, 1.0, 1.0]])
    rerank = torch.tensor([0.5, -6.0])
    gated = gate_token_logits(tokens, rerank)
    assert torch.isfinite(gated).all()
    expected = torch.sigmoid(tokens) * torch.sigmoid(rerank).unsqueeze(-1)
    torch.testing.assert_close(torch.sigmoid(gated), expected, rtol=1e-4, atol=1e-7)
    # known-bad twin: an additive combination is not the product
    assert not torch.allclose(torch.sigmoid(tokens + rerank.unsqueeze(-1)), expected, atol=1e-3)


def test_token_gate_survives_round_trip(tiny, tmp_path) -> None:
    model, tokenizer = tiny
    model.eval()
    model.token_gate = True
    try:
        path = save_pruner_model(model, tokenizer, tmp_path / "ck", config={"max_length": 64, "threshold": 0.3},
                                 base_model=None, dtype="float32")
        loaded, tok2, config = load_pruner_model(path)
        assert config["token_gate"] is True and loaded.token_gate is True
        enc = encode_pairs(tok2, QUESTIONS, CONTEXTS, max_length=64)
        with torch.no_grad():
            gated, rerank = loaded(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"])
            loaded.token_gate = False
            plain, _ = loaded(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"])
        # gating can only lower a token's keep-probability
        assert (torch.sigmoid(gated) <= torch.sigmoid(plain) + 1e-6).all()
    finally:
        model.token_gate = False


def test_hub_names_of_the_embedded_base_resolve_to_its_local_folder():
    from pathlib import Path

    from ragprune._embedded import default_model

    local = default_model()
    assert (model_mod.resolve_base_model("sentence-transformers/all-MiniLM-L6-v2") == local
            == model_mod.resolve_base_model("all-MiniLM-L6-v2") == model_mod.resolve_base_model(None))
    assert model_mod.resolve_base_model("someone/other-model") == "someone/other-model"
    assert (Path(local) / "config.json").is_file()


def test_hub_id_loads_from_the_hub_cache_offline(tiny, tmp_path, monkeypatch) -> None:
    # a repository id that is not a local folder is fetched with huggingface_hub; offline it comes from the cache,
    # laid out here exactly as huggingface_hub writes it (refs/main -> snapshots/<commit>/files)
    import shutil

    from huggingface_hub import constants

    model, tokenizer = tiny
    saved = save_pruner_model(model, tokenizer, tmp_path / "ck", config={"max_length": 64, "threshold": 0.3},
                              base_model=None, dtype="float32")
    repo = tmp_path / "hub" / "models--someone--tiny-pruner"
    commit = "0123456789abcdef0123456789abcdef01234567"
    shutil.copytree(saved, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.chdir(tmp_path)  # no local folder named someone/tiny-pruner
    loaded, _, config = load_pruner_model("someone/tiny-pruner")
    assert config["threshold"] == 0.3
    reference, _, _ = load_pruner_model(saved)
    for a, b in zip(loaded.state_dict().values(), reference.state_dict().values()):
        torch.testing.assert_close(a, b)
    with pytest.raises(RagpruneError, match="^path='someone/absent' is not a local folder, and fetching it from "
                                            "the Hub failed: "):
        load_pruner_model("someone/absent")
    (tmp_path / "runs").mkdir()  # a local folder's missing child is reported as such, with no Hub round trip
    with pytest.raises(RagpruneError, match="^path='runs/ckpt' is not a pruner checkpoint"):
        load_pruner_model("runs/ckpt")
