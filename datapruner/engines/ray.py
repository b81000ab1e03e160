"""The Ray engine: scoring and selection as Ray Data batch maps and grouped operations.

What runs where:

- **Embeddings** (the expensive inference of every embedding-based scorer, and the frozen-encoder features of the
  proxy-model scorers): one Ray Data block per embedding-cache chunk, mapped by a pool of actors that each load the
  model once and write their chunk into the same resumable cache the local engine uses
  (``$DATAPRUNER_CACHE/embeddings``). A killed run resumes from the chunks on disk, and a later local run reuses
  them. On a cluster the cache folder must be on storage every node can write (set ``DATAPRUNER_CACHE``).
- **prototype / semdedup**: the norm check and the nearest-centroid assignment are batch maps; k-means (faiss) is fit
  on the driver on a seeded sample fetched with a distributed filter (the same rows and seed as the local engine);
  semdedup compares rows inside each cluster as a ``groupby("cluster").map_groups`` operation.
- **random**: each block draws its own slice of the seeded PCG64 stream (``advance``), so the scores equal the local
  ones number for number.
- Other scorers: their embeddings are computed on Ray as above, then the scorer (a small proxy head) runs on the
  driver on the cached features.
- **Selection**: ``hard``/``easy``/``offset`` are a distributed sort on (hardness, row id); ``balanced`` counts
  classes with ``groupby(label).count()`` and takes each class's quota with ``groupby(label).map_groups``; ``ccs``
  samples bins with one sequential random stream, so it runs on the driver over the gathered scores.

``score_parquet`` and ``select_parquet`` take parquet shards in and write parquet shards out, so data never has to
pass through one process; ``RayEngine`` is the same computation behind ``datapruner.score(..., engine="ray")``.

Ray is started on first use (``ray.init`` joins ``RAY_ADDRESS`` when it is set, else starts a local Ray without the
dashboard); an already initialised Ray is used as it is.
"""
from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from datapruner._validation import as_rng, check_option, check_positive_int, resolve_keep
from datapruner.engines.base import Engine
from datapruner.errors import DataprunerError

if TYPE_CHECKING:
    import datasets
    import pyarrow as pa
    import ray.data

    from datapruner.scorers.base import Scorer

__all__ = ["RayEngine", "ensure_ray", "features_dataset", "score_parquet", "select_parquet", "select_ray"]

logger = logging.getLogger(__name__)

#: Rows per block of feature datasets: the local engine's assignment block, so that faiss sees the same blocks and
#: the scores are bit for bit the local ones (``datapruner.scorers._kmeans.BLOCK_ROWS``).
_BLOCK_ROWS = 65536
#: Rows of the embedding-cache chunks (the local engine's ``column_features`` default).
_CHUNK_ROWS = 4096


# ---------------------------------------------------------------------------------------------------------- Ray setup
def ensure_ray(*, num_cpus: int | None = None) -> Any:
    """Return the ``ray`` module, initialised (joins ``RAY_ADDRESS`` if set, else starts a local Ray).

    Raises:
        DataprunerError: If Ray is not installed.
    """
    try:
        import ray
    except ImportError as err:
        raise DataprunerError("engine='ray' needs Ray: pip install 'datapruner[ray]'.") from err
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"include_dashboard": False, "ignore_reinit_error": True,
                                  "logging_level": logging.WARNING, "log_to_driver": False}
        if num_cpus is not None and not os.environ.get("RAY_ADDRESS"):
            kwargs["num_cpus"] = num_cpus
        ray.init(**kwargs)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = logger.isEnabledFor(logging.INFO)
    ctx.enable_auto_log_stats = False
    # Task-based sort shuffle for groupby/sort: the default hash shuffle runs aggregator actors that hold CPUs,
    # which on a small cluster starve the other operators (minutes instead of seconds on 2 CPUs).
    from ray.data.context import ShuffleStrategy

    ctx.shuffle_strategy = ShuffleStrategy.SORT_SHUFFLE_PULL_BASED
    if not logger.isEnabledFor(logging.INFO):
        logging.getLogger("ray.data").setLevel(logging.WARNING)
    return ray


# ------------------------------------------------------------------------------------------- arrow <-> numpy helpers
def _matrix(column: pa.ChunkedArray | pa.Array) -> npt.NDArray[np.float32]:
    """Return a fixed-size-list (or tensor) arrow column as an ``(n, d)`` float32 array."""
    import pyarrow as pa

    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if isinstance(column, pa.ExtensionArray):  # Ray's tensor extension type
        return np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float32).reshape(len(column), -1)
    if isinstance(column, (pa.FixedSizeListArray, pa.ListArray, pa.LargeListArray)):
        if column.null_count:
            raise DataprunerError("the embedding column holds missing values: recompute them.")
        flat = column.flatten().to_numpy(zero_copy_only=False)
        return np.asarray(flat, dtype=np.float32).reshape(len(column), -1)
    raise DataprunerError(f"embedding column has type {column.type}: use a fixed-size list of floats.")


def _list_column(x: npt.NDArray[np.float32]) -> pa.FixedSizeListArray:
    import pyarrow as pa

    x = np.ascontiguousarray(x, dtype=np.float32)
    return pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1)), x.shape[1])


def _gather(ds: ray.data.Dataset, columns: list[str]) -> pa.Table:
    """Collect ``columns`` of every block to the driver, ordered by ``row_id``."""
    import pyarrow as pa
    import ray

    tables = [t.select(columns) for t in ray.get(ds.select_columns(columns).to_arrow_refs()) if t.num_rows]
    if not tables:
        return pa.table({c: [] for c in columns})
    table = pa.concat_tables(tables)
    return table.take(np.argsort(table.column("row_id").to_numpy(), kind="stable"))


# --------------------------------------------------------------------------------------------------- feature datasets
def _read_npy_rows(batch: dict[str, npt.NDArray[Any]], *, path: str) -> pa.Table:
    """Batch map (a task): ``{"start", "end"}`` row ranges -> those rows of a ``.npy`` file with their ``row_id``."""
    import pyarrow as pa

    x = np.load(path, mmap_mode="r")
    tables = []
    for start, end in zip(np.asarray(batch["start"]).tolist(), np.asarray(batch["end"]).tolist()):
        rows = np.asarray(x[start:end], dtype=np.float32).reshape(end - start, -1)
        tables.append(pa.table({"row_id": np.arange(start, end, dtype=np.int64), "embedding": _list_column(rows)}))
    del x
    return pa.concat_tables(tables)


def features_dataset(features: npt.ArrayLike | str | os.PathLike[str], *,
                     block_rows: int = _BLOCK_ROWS) -> ray.data.Dataset:
    """Return a Ray dataset with columns ``row_id`` (int64) and ``embedding`` (fixed-size list of float32).

    Args:
        features: An ``(n_rows, dim)`` array, or the path of a ``.npy`` file (read block by block by the workers,
            never loaded whole).
        block_rows: Rows per block.
    """
    import pyarrow as pa

    ensure_ray()
    import ray.data

    if isinstance(features, (str, os.PathLike)) or (isinstance(features, np.memmap) and features.filename):
        path = str(features if isinstance(features, (str, os.PathLike)) else features.filename)
        n = int(np.load(path, mmap_mode="r").shape[0])
        ranges = [{"start": s, "end": min(s + block_rows, n)} for s in range(0, n, block_rows)]
        # One range per block, so every block holds exactly the rows the local engine assigns together.
        return ray.data.from_items(ranges, override_num_blocks=len(ranges)).map_batches(
            _read_npy_rows, fn_kwargs={"path": path}, batch_size=None, batch_format="numpy")
    x = np.asarray(features, dtype=np.float32)
    if x.ndim != 2:
        raise DataprunerError(f"embeddings must have shape (n_rows, dim), got shape {x.shape}.")
    tables = [pa.table({"row_id": np.arange(s, min(s + block_rows, len(x)), dtype=np.int64),
                        "embedding": _list_column(x[s:s + block_rows])})
              for s in range(0, len(x), block_rows)]
    return ray.data.from_arrow(tables)


# ---------------------------------------------------------------------------------------------------- batch functions
def _norm_stats(table: pa.Table) -> pa.Table:
    """Batch map: the largest deviation of a row norm from 1 and whether every value is finite."""
    import pyarrow as pa

    x = _matrix(table.column("embedding"))
    norms = np.sqrt(np.einsum("ij,ij->i", x, x))
    finite = bool(np.isfinite(norms).all())
    dev = float(np.abs(norms - 1.0).max()) if finite and len(norms) else 0.0
    return pa.table({"max_dev": [dev], "finite": [finite]})


def _unit(x: npt.NDArray[np.float32], already_unit: bool) -> npt.NDArray[np.float32]:
    """Row-normalise exactly as ``datapruner.scorers._kmeans.normalize_rows`` does (same float32 operations)."""
    if already_unit:
        return x
    norms = np.sqrt(np.einsum("ij,ij->i", x, x))
    safe = np.where(norms > 0, norms, 1.0).astype(np.float32)
    return x / safe[:, None]


def _take_rows(table: pa.Table, wanted: Any) -> pa.Table:
    """Batch map: keep the rows whose ``row_id`` is in ``wanted`` (a sorted int64 array)."""
    ids = table.column("row_id").to_numpy()
    return table.filter(np.isin(ids, wanted, assume_unique=False))


def _assign_batch(table: pa.Table, *, centroids: npt.NDArray[np.float32], already_unit: bool,
                  keep_embedding: bool, n_entries: int) -> pa.Table:
    """Batch map: nearest centroid and its cosine similarity (and, for semdedup, the unit-norm embedding).

    faiss's results depend on its thread count in the last float32 bit, so the batch runs under the thread policy
    the local engine applies to the whole ``n_entries``-value matrix. Small problems (one thread on both engines)
    then give bit-identical scores; on large ones Ray pins a worker to its one CPU while the local engine uses
    every core, and the scores agree to float32 rounding (5.4e-7 at 1M rows, with the same rows kept).
    """
    import pyarrow as pa

    from datapruner.scorers._kmeans import assign, threads_for

    x = _unit(_matrix(table.column("embedding")), already_unit)
    with threads_for(n_entries):
        labels, sims = assign(x, centroids)
    columns = {"row_id": table.column("row_id"), "cluster": labels, "sim": sims}
    if keep_embedding:
        columns["embedding"] = _list_column(x)
    for name in table.column_names:
        if name not in columns and name != "embedding":
            columns[name] = table.column(name)
    return pa.table(columns)


def _extra_columns(table: pa.Table, skip: set[str]) -> dict[str, Any]:
    """Columns carried through a batch map unchanged (e.g. labels kept next to the scores)."""
    return {name: table.column(name) for name in table.column_names if name not in skip}


def _prototype_batch(table: pa.Table) -> pa.Table:
    """Batch map: prototype score = cosine distance to the nearest centroid, clipped to [0, 2]."""
    import pyarrow as pa

    sims = table.column("sim").to_numpy().astype(np.float64)
    return pa.table({"row_id": table.column("row_id"), "score": np.clip(1.0 - sims, 0.0, 2.0),
                     "cluster": table.column("cluster"),
                     **_extra_columns(table, {"row_id", "sim", "cluster", "embedding"})})


def _semdedup_group(table: pa.Table, *, max_similarity: float, representative: str) -> pa.Table:
    """Grouped map over one k-means cluster: redundancy scores and duplicate groups (see ``SemDedupScorer``)."""
    import pyarrow as pa

    from datapruner.scorers.semdedup import duplicate_groups

    table = table.take(np.argsort(table.column("row_id").to_numpy(), kind="stable"))
    ids = table.column("row_id").to_numpy().astype(np.int64)
    x = _matrix(table.column("embedding"))
    sims = table.column("sim").to_numpy().astype(np.float32)
    scores, groups = duplicate_groups(x, np.zeros(len(ids), dtype=np.int64), max_similarity=max_similarity,
                                      centroid_sims=sims, representative=representative)
    rep = np.full(len(ids), -1, dtype=np.int64)
    for g in groups:
        rep[g] = ids[g[0]]
    return pa.table({"row_id": ids, "score": scores, "group_rep": rep,
                     "cluster": table.column("cluster").to_numpy().astype(np.int64),
                     **_extra_columns(table, {"row_id", "sim", "cluster", "embedding"})})


def _random_batch(batch: dict[str, npt.NDArray[Any]], *, seed: int) -> dict[str, npt.NDArray[Any]]:
    """Batch map: rows ``[a, b)`` get draws ``a..b-1`` of ``default_rng(seed).random(n)`` (PCG64 ``advance``)."""
    ids = np.asarray(batch["id"], dtype=np.int64)
    start = int(ids.min())
    bit_generator = np.random.PCG64(seed)
    bit_generator.advance(start)
    values = np.random.Generator(bit_generator).random(int(ids.max()) + 1 - start)
    return {"row_id": ids, "score": values[ids - start]}


# ------------------------------------------------------------------------------------------------------ k-means on Ray
def _check_norms(fds: ray.data.Dataset) -> bool:
    """Return whether every row already has unit norm (then rows are used as they are, like the local engine)."""
    stats = _gather_plain(fds.map_batches(_norm_stats, batch_format="pyarrow"))
    if not all(stats["finite"]):
        raise DataprunerError("embeddings contain NaN or infinite values: recompute them.")
    return bool(max(stats["max_dev"], default=0.0) <= 1e-3)


def _gather_plain(ds: ray.data.Dataset) -> dict[str, list[Any]]:
    import pyarrow as pa
    import ray

    tables = [t for t in ray.get(ds.to_arrow_refs()) if t.num_rows]
    return pa.concat_tables(tables).to_pydict() if tables else {}


def _fit_centroids(fds: ray.data.Dataset, n_rows: int, scorer: Any, already_unit: bool
                   ) -> npt.NDArray[np.float32]:
    """Fit k-means on the driver over the same seeded sample of rows the local engine draws."""
    from datapruner.scorers._kmeans import default_n_clusters, fit_centroids, threads_for

    k = scorer.n_clusters if scorer.n_clusters is not None else default_n_clusters(n_rows)
    k = min(check_positive_int("n_clusters", k), n_rows)
    spc = check_positive_int("sample_per_cluster", scorer.sample_per_cluster)
    rng = as_rng(scorer.seed)
    n_sample = min(n_rows, k * spc)
    if n_sample < n_rows:
        wanted = np.sort(rng.choice(n_rows, size=n_sample, replace=False))
        part = fds.map_batches(_take_rows, fn_kwargs={"wanted": wanted}, batch_format="pyarrow")
    else:
        part = fds
    table = _gather(part, ["row_id", "embedding"])
    sample = _unit(_matrix(table.column("embedding")), already_unit)
    # ``rng`` has drawn the sample exactly as fit_centroids would; it now seeds faiss the same way too, with the
    # thread policy the local scorer applies to the whole matrix (k-means sums depend on the thread count).
    with threads_for(n_rows * sample.shape[1]):
        return fit_centroids(sample, k, n_iter=scorer.n_iter, sample_per_cluster=spc, seed=rng)


def _assigned(fds: ray.data.Dataset, n_rows: int, scorer: Any, *, keep_embedding: bool
              ) -> tuple[ray.data.Dataset, npt.NDArray[np.float32]]:
    already_unit = _check_norms(fds)
    centroids = _fit_centroids(fds, n_rows, scorer, already_unit)
    mapped = fds.map_batches(_assign_batch, batch_format="pyarrow",
                             fn_kwargs={"centroids": centroids, "already_unit": already_unit,
                                        "keep_embedding": keep_embedding,
                                        "n_entries": n_rows * int(centroids.shape[1])})
    return mapped, centroids


def prototype_scores(fds: ray.data.Dataset, n_rows: int, scorer: Any) -> ray.data.Dataset:
    """Return a Ray dataset of ``row_id``, ``score`` (prototype) and ``cluster`` for the feature dataset ``fds``."""
    mapped, centroids = _assigned(fds, n_rows, scorer, keep_embedding=False)
    scorer.centroids_ = centroids
    return mapped.map_batches(_prototype_batch, batch_format="pyarrow")


def semdedup_scores(fds: ray.data.Dataset, n_rows: int, scorer: Any) -> ray.data.Dataset:
    """Return a Ray dataset of ``row_id``, ``score`` (semdedup), ``group_rep`` and ``cluster`` for ``fds``."""
    threshold = scorer._check()
    mapped, _ = _assigned(fds, n_rows, scorer, keep_embedding=True)
    return mapped.groupby("cluster", num_partitions=_partitions()).map_groups(
        _semdedup_group, batch_format="pyarrow",
        fn_kwargs={"max_similarity": threshold, "representative": scorer.representative})


def random_scores(n_rows: int, seed: int, *, block_rows: int = 1 << 20) -> ray.data.Dataset:
    """Return a Ray dataset of ``row_id`` and the seeded random ``score`` of ``RandomScorer(seed)``."""
    ensure_ray()
    import ray.data

    return ray.data.range(n_rows, override_num_blocks=max(1, math.ceil(n_rows / block_rows))).map_batches(
        _random_batch, fn_kwargs={"seed": seed}, batch_format="numpy")


# ------------------------------------------------------------------------------------------------------- embeddings
class _EmbedChunk:
    """Actor: embed one cache chunk per batch and write it to the embedding cache (atomically)."""

    def __init__(self, model: Any, batch_size: int, device: str | None, directory: str, n_rows: int,
                 chunk_size: int) -> None:
        from datapruner.models.embedder import get_embedder

        self.embedder = get_embedder(model, batch_size=batch_size, device=device, show_progress_bar=False)
        self.directory = Path(directory)
        self.n_rows = n_rows
        self.chunk_size = chunk_size

    def __call__(self, table: pa.Table) -> pa.Table:
        import pyarrow as pa

        from datapruner._atomic import save_npy

        ids = table.column("row_id").to_numpy()
        start, end = int(ids[0]), int(ids[-1]) + 1
        if start % self.chunk_size or end != min(start + self.chunk_size, self.n_rows) or len(ids) != end - start:
            raise RuntimeError(f"embedding batch {start}..{end} is not one cache chunk")  # a bug, not user input
        texts = table.column("text").to_pylist()
        block = np.asarray(self.embedder.encode(texts), dtype=np.float32)
        save_npy(self.directory / "chunks" / f"{start:012d}_{end:012d}.npy", block)
        return pa.table({"start": [start], "end": [end]})


def embed_column(dataset: datasets.Dataset, column: str, *, model: Any = None, batch_size: int = 32,
                 device: str | None = None, concurrency: int | None = None,
                 chunk_size: int = _CHUNK_ROWS) -> npt.NDArray[np.float32]:
    """Return the embeddings of a text column, computed on Ray into the shared, resumable embedding cache.

    The cache entry is the one ``datapruner.models.embedder.column_features`` reads and writes (same key), so
    the local engine reuses what Ray computed and vice versa; chunks already on disk are not recomputed.
    """
    import pyarrow as pa

    from datapruner._cache import RowChunkCache
    from datapruner.io import data_fingerprint
    from datapruner.models.embedder import get_embedder

    ensure_ray()
    import ray.data

    n = len(dataset)
    nulls = dataset.with_format("arrow")[column].null_count if n else 0
    if nulls:
        raise DataprunerError(f"column {column!r} has {nulls} missing texts: fill or drop them first.")
    identity = get_embedder(model, batch_size=batch_size, device=device).identity
    store = RowChunkCache({"model": identity, "data": data_fingerprint(dataset, [column]), "column": column},
                          n_rows=n, chunk_size=chunk_size, kind="embeddings")
    done = set(store.done_chunks())
    todo = [b for b in store.chunk_bounds() if b not in done]
    if todo:
        logger.info("embedding %d of %d chunks on Ray (cache: %s)", len(todo), len(store.chunk_bounds()),
                    store.directory)
        store.directory.mkdir(parents=True, exist_ok=True)
        texts = dataset.with_format("arrow")[column]
        tables = [pa.table({"row_id": np.arange(s, e, dtype=np.int64), "text": texts.slice(s, e - s)})
                  for s, e in todo]
        n_actors = concurrency or max(1, min(len(todo), int(ray_cpus())))
        ray.data.from_arrow(tables).map_batches(
            _EmbedChunk, batch_size=None, batch_format="pyarrow", concurrency=n_actors,
            fn_constructor_args=(model, batch_size, device, str(store.directory), n, chunk_size)).materialize()

    def missing(start: int, end: int) -> npt.NDArray[np.float32]:  # only if a chunk vanished meanwhile
        encoder = get_embedder(model, batch_size=batch_size, device=device)
        return np.asarray(encoder.encode(dataset.with_format(None)[start:end][column]), dtype=np.float32)

    return store.get_or_compute(missing)


def _partitions() -> int:
    """Shuffle partitions of grouped operations: a few per CPU (Ray's default of 200 is for large clusters)."""
    return max(1, 2 * int(ray_cpus()))


def ray_cpus() -> float:
    """Return the number of CPUs of the Ray cluster (starting Ray if needed)."""
    ray = ensure_ray()
    return float(ray.cluster_resources().get("CPU", 1.0))


# -------------------------------------------------------------------------------------------------------- selection
def _hard_batch(table: pa.Table, *, higher_is_harder: bool) -> pa.Table:
    import pyarrow as pa

    score = table.column("score").to_numpy().astype(np.float64)
    hardness = score if higher_is_harder else -score
    columns = {"row_id": table.column("row_id"), "hardness": hardness + 0.0}  # + 0.0 turns -0.0 into 0.0
    if "label" in table.column_names:
        columns["label"] = table.column("label")
    return pa.table(columns)


def _quota_group(table: pa.Table, *, quotas: dict[Any, int]) -> pa.Table:
    """Grouped map over one class: its ``quota`` hardest rows, ties by row id."""
    import pyarrow as pa

    label = table.column("label")[0].as_py()
    hardness = table.column("hardness").to_numpy()
    ids = table.column("row_id").to_numpy()
    order = np.lexsort((ids, -hardness))
    return pa.table({"row_id": ids[order[: quotas[label]]].astype(np.int64)})


def select_ray(sds: ray.data.Dataset, *, n_rows: int, keep: float, strategy: str = "hard",
               higher_is_harder: bool = True, seed: Any = 0, **strategy_params: Any) -> npt.NDArray[np.int64]:
    """Return the sorted row ids to keep from a Ray dataset of ``row_id``, ``score`` (and ``label``).

    Same result as ``datapruner.selection.select_indices`` on the gathered scores, for every strategy.
    """
    from datapruner.selection import STRATEGIES, select_indices
    from datapruner.selection.balanced import class_quotas

    check_option("strategy", strategy, STRATEGIES)
    n_keep = resolve_keep(keep, n_rows)
    hds = sds.map_batches(_hard_batch, fn_kwargs={"higher_is_harder": higher_is_harder}, batch_format="pyarrow")
    if strategy in ("hard", "easy", "offset"):
        start = 0
        if strategy == "offset":
            from datapruner._validation import check_fraction

            offset = check_fraction("offset", strategy_params.get("offset", 0.1), high=1.0)
            start = min(int(round(offset * n_rows)), n_rows - n_keep)
        ranked = hds.sort(["hardness", "row_id"], descending=[strategy != "easy", False])
        table = _gather_in_order(ranked.limit(start + n_keep), ["row_id"])
        return np.sort(table.column("row_id").to_numpy()[start:start + n_keep].astype(np.int64))
    if strategy == "balanced":
        if "label" not in sds.columns():
            raise DataprunerError("strategy='balanced' needs labels: pass label_column or labels.")
        counts = _gather_plain(hds.groupby("label", num_partitions=_partitions()).count())
        labels = counts["label"]
        count_col = next(c for c in counts if c != "label")
        order = np.argsort(np.asarray(labels), kind="stable")  # np.unique's class order
        sizes = np.asarray(counts[count_col], dtype=np.int64)[order]
        quotas = class_quotas(sizes, n_keep)
        quota_of = {labels[i]: int(q) for i, q in zip(order, quotas)}
        kept = _gather_plain(hds.groupby("label", num_partitions=_partitions()).map_groups(_quota_group, fn_kwargs={"quotas": quota_of},
                                                              batch_format="pyarrow"))
        return np.sort(np.asarray(kept.get("row_id", []), dtype=np.int64))
    # ccs draws every bin from one sequential random stream: gather the scores and run it on the driver.
    table = _gather(sds, ["row_id", "score"])
    return select_indices(table.column("score").to_numpy(), keep=keep, strategy=strategy,
                          higher_is_harder=higher_is_harder, seed=seed, **strategy_params)


def _gather_in_order(ds: ray.data.Dataset, columns: list[str]) -> pa.Table:
    """Collect ``columns`` to the driver keeping the dataset's order (after a sort)."""
    import pyarrow as pa
    import ray

    tables = [t.select(columns) for t in ray.get(ds.to_arrow_refs()) if t.num_rows]
    return pa.concat_tables(tables) if tables else pa.table({c: [] for c in columns})


# ------------------------------------------------------------------------------------------------------------ engine
class RayEngine(Engine):
    """Run scoring and selection on Ray Data (a local Ray, or the cluster ``RAY_ADDRESS`` names).

    Args:
        num_cpus: CPUs of a local Ray started by this engine (``None``: all of them). Ignored when Ray is
            already initialised or ``RAY_ADDRESS`` is set.
        concurrency: Embedding actors; ``None`` uses one per Ray CPU (at most one per chunk).

    Example:
        >>> RayEngine().select_indices([0.1, 0.9, 0.5, 0.7], keep=0.5)  # doctest: +SKIP
        array([1, 3])
    """

    name = "ray"

    def __init__(self, *, num_cpus: int | None = None, concurrency: int | None = None) -> None:
        self.num_cpus = num_cpus
        self.concurrency = concurrency

    def score(self, scorer: Scorer, dataset: datasets.Dataset, *, text_column: str = "text",
              label_column: str | None = None) -> npt.NDArray[np.float64]:
        """Return the scores of every row, computed on Ray (see the module docstring for what runs where)."""
        ensure_ray(num_cpus=self.num_cpus)
        n = len(dataset)
        if scorer.name == "random":
            seed = getattr(scorer, "seed", 0)
            if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
                return _gather(random_scores(n, int(seed)), ["row_id", "score"]).column("score").to_numpy()
            return scorer.score(dataset, text_column=text_column, label_column=label_column)
        if scorer.name in ("prototype", "semdedup"):
            from datapruner.scorers._embedding import check_embedding_options

            check_embedding_options(scorer)
            if scorer.name == "semdedup":
                scorer._check()
            features = self._features(scorer, dataset, text_column)
            fds = features_dataset(features)
            if scorer.name == "prototype":
                table = _gather(prototype_scores(fds, n, scorer), ["row_id", "score", "cluster"])
                scorer.cluster_labels_ = table.column("cluster").to_numpy().astype(np.int64)
                return table.column("score").to_numpy().astype(np.float64)
            table = _gather(semdedup_scores(fds, n, scorer), ["row_id", "score", "group_rep", "cluster"])
            _set_semdedup_attributes(scorer, table)
            return table.column("score").to_numpy().astype(np.float64)
        if getattr(scorer, "model", None) is not None or hasattr(scorer, "model"):
            # Proxy-model scorers: the frozen-encoder features are the heavy part; compute them on Ray into the
            # shared cache, then the scorer's small head reads them from the cache on the driver.
            if getattr(scorer, "cache", True) and _is_text(dataset, text_column):
                embed_column(dataset, text_column, model=scorer.model,
                             batch_size=getattr(scorer, "batch_size", 32), device=getattr(scorer, "device", None),
                             concurrency=self.concurrency)
        return scorer.score(dataset, text_column=text_column, label_column=label_column)

    def _features(self, scorer: Any, dataset: datasets.Dataset, column: str) -> npt.NDArray[np.float32]:
        from datapruner._validation import check_columns
        from datapruner.models.embedder import column_features
        from datapruner.scorers._embedding import check_vectors

        check_columns(dataset.column_names, column)
        if len(dataset) == 0:
            raise DataprunerError("the dataset is empty: there are no rows to score.")
        if _is_text(dataset, column) and scorer.cache:
            return embed_column(dataset, column, model=scorer.model, batch_size=scorer.batch_size,
                                device=scorer.device, concurrency=self.concurrency)
        return check_vectors(column_features(dataset, column, model=scorer.model, batch_size=scorer.batch_size,
                                             device=scorer.device, show_progress_bar=scorer.show_progress_bar,
                                             cache=scorer.cache), scorer, column)

    def select_indices(self, scores: npt.ArrayLike, *, keep: float, strategy: str = "hard",
                       labels: npt.ArrayLike | None = None, higher_is_harder: bool = True, seed: Any = 0,
                       **strategy_params: Any) -> npt.NDArray[np.int64]:
        """Return the sorted indices to keep, computed on Ray; identical to the local engine's."""
        import pyarrow as pa

        from datapruner._validation import check_keep, check_scores
        from datapruner.selection import (
            STRATEGIES,
            as_label_array,
            check_balanced_labels,
        )

        check_option("strategy", strategy, STRATEGIES)
        check_keep(keep)
        values = check_scores(scores)
        columns: dict[str, Any] = {"row_id": np.arange(values.size, dtype=np.int64), "score": values}
        label_array = None if labels is None else as_label_array(labels, values.size)
        if label_array is not None:
            columns["label"] = label_array
        if strategy == "balanced":
            check_balanced_labels(label_array)
        ensure_ray(num_cpus=self.num_cpus)
        import ray.data

        table = pa.table(columns)
        blocks = [table.slice(s, _BLOCK_ROWS * 16) for s in range(0, table.num_rows, _BLOCK_ROWS * 16)]
        return select_ray(ray.data.from_arrow(blocks), n_rows=values.size, keep=keep, strategy=strategy,
                          higher_is_harder=higher_is_harder, seed=seed, **strategy_params)

    def __repr__(self) -> str:
        return f"RayEngine(num_cpus={self.num_cpus!r}, concurrency={self.concurrency!r})"


def _is_text(dataset: datasets.Dataset, column: str) -> bool:
    import datasets as hf

    feature = dataset.features.get(column)
    return isinstance(feature, hf.Value) and feature.dtype in ("string", "large_string")


def _set_semdedup_attributes(scorer: Any, table: pa.Table) -> None:
    """Rebuild ``duplicate_groups_``/``is_duplicate_``/``cluster_labels_`` as the local scorer sets them."""
    rep = table.column("group_rep").to_numpy().astype(np.int64)
    n = rep.size
    scorer.cluster_labels_ = table.column("cluster").to_numpy().astype(np.int64)
    members = np.flatnonzero(rep >= 0)
    groups = []
    if members.size:
        order = np.lexsort((members, rep[members]))
        sorted_members = members[order]
        bounds = np.flatnonzero(np.diff(rep[sorted_members])) + 1
        for part in np.split(sorted_members, bounds):
            head = int(rep[part[0]])
            groups.append(np.concatenate([[head], part[part != head]]).astype(np.int64))
    groups.sort(key=lambda g: int(g[0]))
    scorer.duplicate_groups_ = groups
    scorer.is_duplicate_ = np.zeros(n, dtype=bool)
    for g in groups:
        scorer.is_duplicate_[g[1:]] = True


# ------------------------------------------------------------------------------------------ parquet shards in and out
def _parquet_paths(data: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> list[str]:
    if isinstance(data, (str, os.PathLike)):
        path = Path(data)
        paths = sorted(path.glob("*.parquet")) if path.is_dir() else [path]
    else:
        paths = [Path(p) for p in data]
    missing = [str(p) for p in paths if not p.is_file()]
    if not paths or missing:
        raise DataprunerError(f"data={str(data)!r} is not valid: no parquet shards found"
                              + (f" ({missing[0]} does not exist)." if missing else "."))
    return [str(p) for p in paths]


def _read_shards(batch: dict[str, npt.NDArray[Any]], *, paths: list[str], offsets: list[int],
                 columns: list[str]) -> Iterator[pa.Table]:
    """Batch map (a task): shard numbers -> their rows with the global ``row_id``, one row group at a time.

    Tasks, not actors: an actor pool holding every CPU would starve the operators downstream of it.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    for shard in np.asarray(batch["id"]).tolist():
        pf = pq.ParquetFile(paths[shard])
        start = offsets[shard]
        for group in range(pf.num_row_groups):
            table = pf.read_row_group(group, columns=columns)
            ids = np.arange(start, start + table.num_rows, dtype=np.int64)
            start += table.num_rows
            yield table.append_column("row_id", pa.array(ids))


def _read_with_ids(paths: list[str], columns: list[str], offsets: dict[str, int]) -> ray.data.Dataset:
    import ray.data

    return ray.data.range(len(paths), override_num_blocks=len(paths)).map_batches(
        _read_shards, fn_kwargs={"paths": paths, "offsets": [offsets[p] for p in paths], "columns": columns},
        batch_size=1, batch_format="numpy")


def score_parquet(data: str | os.PathLike[str] | Iterable[str | os.PathLike[str]], *, out_dir: str | os.PathLike[str],
                  method: str, embedding_column: str = "embedding", keep_columns: Iterable[str] = (),
                  seed: int = 0, **params: Any) -> dict[str, Any]:
    """Score parquet shards of precomputed embeddings on Ray and write ``row_id, score`` parquet shards.

    Row ids number the rows of the shards in the order given (sorted by name for a folder). Only the embedding
    column is read. Works for ``prototype``, ``semdedup`` and ``random``.

    Args:
        data: A folder of ``*.parquet`` shards, one shard, or a list of shards.
        out_dir: Folder for the score shards; written to a temporary sibling folder first and renamed into place,
            so it appears whole or not at all.
        method: ``prototype``, ``semdedup`` or ``random``.
        embedding_column: Fixed-size-list column holding each row's embedding.
        keep_columns: Columns copied next to the scores (e.g. the label, for ``select_parquet``'s ``balanced``).
        seed: Seed of k-means (or of the random scores).
        **params: Scorer parameters (``n_clusters``, ``max_similarity``, ...).

    Returns:
        ``{"n_rows": ..., "out_dir": ...}``.
    """
    import shutil
    import tempfile

    from datapruner.scorers import get_scorer

    check_option("method", method, ("prototype", "random", "semdedup"))
    paths = _parquet_paths(data)
    scorer = get_scorer(method, seed=seed, **params)
    ensure_ray()
    import pyarrow.parquet as pq

    n_rows = int(sum(pq.ParquetFile(p).metadata.num_rows for p in paths))
    if n_rows == 0:
        raise DataprunerError("the dataset is empty: there are no rows to score.")
    keep_columns = list(keep_columns)
    if method == "random" and keep_columns:
        raise DataprunerError("keep_columns is not supported with method='random'.")
    if method == "random":
        sds = random_scores(n_rows, int(seed))
    else:
        offsets = dict(zip(paths, np.concatenate([[0], np.cumsum(
            [pq.ParquetFile(p).metadata.num_rows for p in paths])[:-1]]).astype(np.int64).tolist()))
        fds = _read_with_ids(paths, [embedding_column, *keep_columns], offsets)
        if embedding_column != "embedding":
            fds = fds.rename_columns({embedding_column: "embedding"})
        sds = prototype_scores(fds, n_rows, scorer) if method == "prototype" else semdedup_scores(fds, n_rows, scorer)
        sds = sds.select_columns(["row_id", "score", *keep_columns])
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
    try:
        sds.write_parquet(str(tmp / "scores"))
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp / "scores", out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"n_rows": n_rows, "out_dir": str(out)}


def select_parquet(scores: str | os.PathLike[str], *, keep: float, strategy: str = "hard",
                   higher_is_harder: bool = True, seed: int = 0, label_column: str | None = None,
                   **strategy_params: Any) -> npt.NDArray[np.int64]:
    """Return the sorted row ids to keep from ``row_id, score`` parquet shards (as ``score_parquet`` writes).

    Args:
        scores: Folder of score shards.
        keep, strategy, higher_is_harder, seed, strategy_params: As in ``datapruner.selection.select_indices``.
        label_column: Column of the score shards holding the class (``score_parquet(..., keep_columns=[...])``);
            needed by ``balanced``.
    """
    ensure_ray()
    import pyarrow.parquet as pq
    import ray.data

    paths = _parquet_paths(scores)
    columns = ["row_id", "score"] + ([label_column] if label_column else [])
    sds = ray.data.read_parquet(paths).select_columns(columns)
    if label_column and label_column != "label":
        sds = sds.rename_columns({label_column: "label"})
    n_rows = int(sum(pq.ParquetFile(p).metadata.num_rows for p in paths))
    return select_ray(sds, n_rows=n_rows, keep=keep, strategy=strategy, higher_is_harder=higher_is_harder,
                      seed=seed, **strategy_params)
