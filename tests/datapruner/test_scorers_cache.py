"""Embedding cache: keyed by model and data, resumes an interrupted run without recomputing finished chunks."""
from __future__ import annotations

import datasets
import numpy as np
import pytest

from datapruner._cache import PartsCache, RowChunkCache, cache_root
from datapruner.errors import DataprunerError
from datapruner.models.embedder import Embedder, column_features, get_embedder
from tests.datapruner._scorer_fakes import HashingEmbedder


@pytest.fixture()
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("DATAPRUNER_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _texts(n: int) -> datasets.Dataset:
    return datasets.Dataset.from_dict({"text": [f"sentence number {i} about topic {i % 7}" for i in range(n)]})


def test_interrupted_run_resumes_and_recomputes_nothing_finished(cache_dir):
    ds = _texts(100)
    reference = column_features(ds, "text", model=HashingEmbedder(), cache=False)
    broken = HashingEmbedder(fail_after_calls=3)  # dies while encoding the 4th chunk
    with pytest.raises(KeyboardInterrupt):
        column_features(ds, "text", model=broken, chunk_size=16)
    assert broken.encoded == 48
    resumed = HashingEmbedder()
    out = column_features(ds, "text", model=resumed, chunk_size=16)
    assert resumed.encoded == 100 - 48, "only the unfinished chunks are encoded again"
    assert np.allclose(out, reference, atol=1e-6)
    again = HashingEmbedder()
    out2 = column_features(ds, "text", model=again, chunk_size=16)
    assert again.calls == 0 and np.array_equal(out, out2)
    assert cache_root() == cache_dir and any(cache_dir.rglob("array.npy"))


def test_key_changes_with_data_model_and_column(cache_dir):
    ds = _texts(20)
    first = HashingEmbedder()
    column_features(ds, "text", model=first)
    changed = ds.map(lambda row, i: {"text": row["text"] + ("!" if i == 5 else "")}, with_indices=True)
    emb = HashingEmbedder()
    column_features(changed, "text", model=emb)
    assert emb.encoded == 20, "changing one row invalidates the cached embeddings"
    other_model = HashingEmbedder(dim=32)
    assert column_features(ds, "text", model=other_model).shape == (20, 32)
    assert other_model.encoded == 20
    same = HashingEmbedder()
    column_features(ds.rename_column("text", "body"), "body", model=same)
    assert same.encoded == 20, "the column is part of the key"
    column_features(ds, "text", model=same)
    assert same.encoded == 20, "the original entry is still a hit"


def test_numeric_and_array_columns_are_used_directly(cache_dir):
    ds = datasets.Dataset.from_dict({"vec": [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], "num": [1, 2],
                                     "bad": [[1.0, np.nan, 0.0], [0.0, 0.0, 0.0]]})
    assert np.array_equal(column_features(ds, "vec"), np.array([[1, 2, 3], [4, 5, 6]], np.float32))
    assert column_features(ds, "num").shape == (2, 1)
    with pytest.raises(DataprunerError, match="NaN"):
        column_features(ds, "bad")
    assert not cache_dir.exists()


def test_missing_texts_are_rejected_before_encoding(cache_dir):
    ds = datasets.Dataset.from_dict({"text": ["a", None, "c"]})
    emb = HashingEmbedder()
    with pytest.raises(DataprunerError, match="missing"):
        column_features(ds, "text", model=emb)
    assert emb.calls == 0


def test_parts_cache_resumes(cache_dir):
    calls = []
    store = PartsCache({"method": "test", "data": "abc"})
    for i in range(3):
        store.get_or_compute(f"member_{i}", lambda i=i: calls.append(i) or np.full(4, float(i)))
    again = PartsCache({"method": "test", "data": "abc"})
    assert again.has("member_2")
    assert np.array_equal(again.get_or_compute("member_2", lambda: np.zeros(4)), np.full(4, 2.0))
    assert calls == [0, 1, 2]
    off = PartsCache({"method": "test", "data": "abc"}, enabled=False)
    assert np.array_equal(off.get_or_compute("member_2", lambda: np.zeros(4)), np.zeros(4))


def test_row_chunk_cache_bounds_and_memory_map(tmp_path):
    store = RowChunkCache({"k": 1}, n_rows=10, chunk_size=4, root=tmp_path)
    assert store.chunk_bounds() == [(0, 4), (4, 8), (8, 10)]
    out = store.get_or_compute(lambda s, e: np.arange(s, e, dtype=np.float32)[:, None] * np.ones((1, 3), np.float32))
    assert out.shape == (10, 3) and out[9, 0] == 9.0
    assert store.done_chunks() == store.chunk_bounds()


def test_row_chunk_cache_two_processes_on_one_entry(tmp_path):
    """Two runs computing the same entry at once: the one that merges second finds the chunks gone (the first
    removed them) and returns the merged array instead of failing."""
    def rows(s: int, e: int) -> np.ndarray:
        return np.arange(s, e, dtype=np.float32)[:, None] * np.ones((1, 2), np.float32)

    first = RowChunkCache({"k": 1}, n_rows=10, chunk_size=4, root=tmp_path)
    second = RowChunkCache({"k": 1}, n_rows=10, chunk_size=4, root=tmp_path)

    def slow_rows(s: int, e: int) -> np.ndarray:
        if e == 10:  # while the second run computes its last chunk, the first finishes and merges
            first.get_or_compute(rows)
            assert first.final_path.exists() and not (first.directory / "chunks").exists()
        return rows(s, e)

    out = second.get_or_compute(slow_rows)
    np.testing.assert_array_equal(out, rows(0, 10))
    assert not (second.directory / "chunks").exists(), "the late chunk is cleaned up"


def test_embedder_validation_and_default_identity():
    with pytest.raises(DataprunerError, match="batch_size"):
        Embedder(batch_size=0)
    with pytest.raises(DataprunerError, match="model"):
        get_embedder(42)
    emb = Embedder()
    assert "all_minilm" in emb.identity.lower() or "minilm" in emb.identity.lower()
    with pytest.raises(DataprunerError, match="list of strings"):
        emb.encode("one string")
    fake = HashingEmbedder()
    assert get_embedder(fake) is fake


@pytest.mark.slow
def test_real_minilm_encode_is_normalised_and_matches_sentence_transformers(cache_dir):
    from sentence_transformers import SentenceTransformer

    from datapruner.models.embedder import default_model_path

    texts = ["a moving and important film .", "the plot is thin and the jokes fall flat .", "a cat"]
    emb = Embedder()
    ours = emb.encode(texts)
    raw = SentenceTransformer(default_model_path()).encode(texts, normalize_embeddings=True)
    assert ours.dtype == np.float32 and ours.shape == (3, 384)
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    assert np.allclose(ours, raw, atol=1e-5)


def test_hub_names_of_the_embedded_model_load_the_embedded_copy_offline():
    # same files, hence the same cache identity as the default; nothing is loaded until encode()
    assert Embedder("sentence-transformers/all-MiniLM-L6-v2").identity == Embedder().identity
    assert Embedder("all-MiniLM-L6-v2").identity == Embedder().identity
    assert Embedder("someone/other-model").identity == "name:someone/other-model:normalized"
