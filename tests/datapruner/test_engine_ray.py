"""The Ray engine (issue 9): same scores and selection as the local engine, on a local Ray with 2 CPUs.

One Ray is started for the whole module (``include_dashboard=False``) and shut down at the end. Every Ray Data
execution costs seconds of scheduling on 2 CPUs, so only the core determinism checks run by default; the wider
ones (every strategy, embedding actors, parquet shards, the CLI) are marked slow.
"""
from __future__ import annotations

import json
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray")
datasets = pytest.importorskip("datasets")

import datapruner  # noqa: E402
from datapruner import DataprunerError  # noqa: E402
from datapruner.engines import ENGINES, get_engine  # noqa: E402
from datapruner.engines import ray as ray_engine  # noqa: E402
from datapruner.scorers import get_scorer  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers need not import the tests package
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    yield
    ray.shutdown()


class CountingEmbedder:
    """Deterministic fake embedder (hash of the text -> unit vector); logs every encode call to a file."""

    def __init__(self, log: str, dim: int = 8) -> None:
        self.log = log
        self.dim = dim
        self.identity = f"counting-fake-{dim}"

    def encode(self, texts):
        with open(self.log, "a") as fh:
            fh.write(json.dumps(len(texts)) + "\n")
        out = np.stack([np.random.default_rng(zlib.crc32(t.encode())).normal(size=self.dim) for t in texts])
        return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)

    def __repr__(self) -> str:
        return f"CountingEmbedder(dim={self.dim})"


def _calls(log: Path) -> list[int]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


@pytest.fixture(scope="module")
def planted() -> datasets.Dataset:
    """1,500 rows of 16-d features in 3 classes, with a planted group of 6 near-duplicates and 3 exact copies."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1500, 16)).astype(np.float32)
    x[100:106] = x[5] + 1e-3 * rng.normal(size=(6, 16)).astype(np.float32)
    x[900:903] = x[7]
    return datasets.Dataset.from_dict({"emb": x.tolist(), "label": (np.arange(1500) % 3).tolist()})


def test_registry_and_unknown_engine():
    assert sorted(ENGINES) == ["local", "ray"]
    with pytest.raises(DataprunerError, match=r"engine='spark' is not valid: use one of \['local', 'ray'\]"):
        get_engine("spark")
    with pytest.raises(DataprunerError, match="engine="):
        datapruner.score(datasets.Dataset.from_dict({"text": ["a"]}), method="random", engine="dask")


def test_random_scores_are_the_local_stream():
    ds = datasets.Dataset.from_dict({"text": [str(i) for i in range(5000)]})
    local = datapruner.score(ds, method="random", seed=11)
    distributed = ray_engine._gather(ray_engine.random_scores(5000, 11, block_rows=1234), ["row_id", "score"])
    np.testing.assert_array_equal(distributed.column("score").to_numpy(), local)


@pytest.mark.parametrize("method,params", [
    ("prototype", {"n_clusters": 12}),
    pytest.param("semdedup", {"n_clusters": 6, "max_similarity": 0.99}, marks=pytest.mark.slow)])
def test_same_seed_same_selection_local_and_ray(planted, method, params):
    local = datapruner.select_rows(planted, method=method, keep=0.4, text_column="emb", seed=3, **params)
    on_ray = datapruner.select_rows(planted, method=method, keep=0.4, text_column="emb", seed=3, engine="ray",
                                    **params)
    np.testing.assert_array_equal(on_ray.scores, local.scores)
    np.testing.assert_array_equal(on_ray.indices, local.indices)
    assert on_ray.report["parameters"]["engine"] == "ray"


def test_bad_input_gets_the_local_engine_s_error_on_ray():
    numbers = datasets.Dataset.from_dict({"x": [0.1, 0.5, 0.9, 0.3], "label": [0, 1, None, 1]})
    for engine in ("local", "ray"):
        with pytest.raises(DataprunerError, match="needs a label on every row: 1 rows have none"):
            datapruner.select_rows(numbers, method="random", keep=0.5, strategy="balanced", text_column="x",
                                   engine=engine)
        with pytest.raises(DataprunerError, match="column 'x' holds one number per row"):
            datapruner.score(numbers, method="prototype", text_column="x", engine=engine, n_clusters=2)


def test_driver_side_scorer_on_ray_reads_optional_labels_like_local():
    # ngram_coverage is one sequential greedy pass: the ray engine runs it on the driver, with the labels
    rng = np.random.default_rng(4)
    texts = [" ".join(f"w{int(i)}" for i in rng.integers(0, 80, size=5)) for _ in range(90)]
    ds = datasets.Dataset.from_dict({"text": texts, "label": [0] * 60 + [1] * 30})
    local = datapruner.select_rows(ds, method="ngram_coverage", keep=0.3)
    on_ray = datapruner.select_rows(ds, method="ngram_coverage", keep=0.3, engine="ray")
    np.testing.assert_array_equal(on_ray.indices, local.indices)
    assert on_ray.dataset["label"].count(1) == 9  # ranked within each class: the classes keep their shares


@pytest.mark.slow
def test_semdedup_groups_on_ray_match_local_and_find_the_planted_ones(planted):
    params = {"n_clusters": 6, "max_similarity": 0.99, "seed": 1}
    local, on_ray = get_scorer("semdedup", **params), get_scorer("semdedup", **params)
    local.score(planted, text_column="emb")
    get_engine("ray").score(on_ray, planted, text_column="emb")
    assert [g.tolist() for g in on_ray.duplicate_groups_] == [g.tolist() for g in local.duplicate_groups_]
    np.testing.assert_array_equal(on_ray.is_duplicate_, local.is_duplicate_)
    found = {frozenset(g.tolist()) for g in on_ray.duplicate_groups_}
    assert frozenset([5, *range(100, 106)]) in found and frozenset([7, 900, 901, 902]) in found


@pytest.mark.parametrize("strategy,params", [
    pytest.param("hard", {}, marks=pytest.mark.slow), pytest.param("easy", {}, marks=pytest.mark.slow),
    pytest.param("offset", {"offset": 0.2}, marks=pytest.mark.slow), ("balanced", {}),
    pytest.param("ccs", {"beta": 0.1, "n_bins": 7}, marks=pytest.mark.slow)])
def test_every_strategy_selects_the_same_rows(strategy, params):
    rng = np.random.default_rng(5)
    scores = np.round(rng.random(700), 2)  # many ties: tie-breaking by row order must match too
    labels = rng.choice(["a", "b", "c"], size=700, p=[0.6, 0.3, 0.1])
    for higher_is_harder in (True, False):
        kwargs = {"keep": 0.3, "strategy": strategy, "labels": labels, "higher_is_harder": higher_is_harder,
                  "seed": 4, **params}
        expected = get_engine("local").select_indices(scores, **kwargs)
        np.testing.assert_array_equal(get_engine("ray").select_indices(scores, **kwargs), expected)


@pytest.mark.slow
def test_embeddings_run_on_ray_actors_into_the_shared_resumable_cache(tmp_path, monkeypatch):
    from datapruner.models.embedder import column_features

    monkeypatch.setenv("DATAPRUNER_CACHE", str(tmp_path / "cache"))
    log = tmp_path / "calls.log"
    model = CountingEmbedder(str(log))
    ds = datasets.Dataset.from_dict({"text": [f"sentence number {i}" for i in range(9000)]})
    emb = ray_engine.embed_column(ds, "text", model=model, concurrency=2)
    assert sorted(_calls(log)) == [808, 4096, 4096]  # one encode call per 4,096-row cache chunk
    # The local engine finds the same cache entry: nothing is encoded again and the arrays are identical.
    again = column_features(ds, "text", model=model)
    assert len(_calls(log)) == 3
    np.testing.assert_array_equal(np.asarray(again), np.asarray(emb))
    np.testing.assert_array_equal(np.asarray(emb[:5]), model.encode(ds["text"][:5]))


@pytest.mark.slow
def test_parquet_shards_in_and_out(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(2)
    x = rng.normal(size=(2000, 8)).astype(np.float32)
    labels = rng.integers(0, 4, size=2000)
    shards = tmp_path / "shards"
    shards.mkdir()
    for i, start in enumerate(range(0, 2000, 700)):
        part = x[start:start + 700]
        pq.write_table(pa.table({"embedding": pa.FixedSizeListArray.from_arrays(pa.array(part.ravel()), 8),
                                 "label": labels[start:start + 700]}), shards / f"part-{i:03d}.parquet",
                       row_group_size=300)
    result = ray_engine.score_parquet(shards, out_dir=tmp_path / "scores", method="prototype", seed=0,
                                      n_clusters=10, keep_columns=["label"])
    assert result["n_rows"] == 2000
    table = pq.read_table(tmp_path / "scores")
    table = table.take(np.argsort(table.column("row_id").to_numpy()))
    np.testing.assert_array_equal(table.column("row_id").to_numpy(), np.arange(2000))
    expected = get_scorer("prototype", n_clusters=10, seed=0).score_embeddings(x)
    np.testing.assert_array_equal(table.column("score").to_numpy(), expected)
    kept = ray_engine.select_parquet(tmp_path / "scores", keep=0.25, strategy="balanced",
                                       label_column="label")
    np.testing.assert_array_equal(kept, datapruner.select_indices(expected, keep=0.25, strategy="balanced",
                                                                  labels=labels))
    with pytest.raises(DataprunerError, match="no parquet shards"):
        ray_engine.score_parquet(tmp_path / "nothing", out_dir=tmp_path / "o", method="prototype")


@pytest.mark.slow
def test_cli_engine_ray_writes_the_same_rows(tmp_path):
    from datapruner.cli.main import main

    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps({"text": f"row {i}", "label": i % 2}) + "\n" for i in range(300)))
    for engine in ("local", "ray"):
        code = main(["select", "--data", str(data), "--method", "random", "--keep", "0.2", "--strategy",
                     "balanced", "--out", str(tmp_path / f"{engine}.jsonl"), "--engine", engine])
        assert code == 0
    assert (tmp_path / "ray.jsonl").read_bytes() == (tmp_path / "local.jsonl").read_bytes()
    assert len((tmp_path / "ray.jsonl").read_text().splitlines()) == 60
