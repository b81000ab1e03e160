"""Semantic deduplication (Abbas et al., 2023, "SemDeDup"), keeping exactly one row per duplicate group.

Rows are embedded and clustered with k-means; inside each cluster, two rows whose cosine similarity is above
``max_similarity`` are linked, and the connected components of these links are the duplicate groups. Exactly one
row per group (its representative) is kept. The reference implementation instead drops every row that has a
near-duplicate earlier in its centrality order, so what survives of a chain depends on that order: for a ~ b ~ c
(a and c not similar) it keeps only a when the order is a, b, c, but keeps both a and c when it is a, c, b.
Grouping by connected components keeps exactly one row per group whatever the order.
"""
from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from datapruner._validation import check_columns, check_fraction, check_option
from datapruner.scorers._embedding import check_embedding_options, dataset_features
from datapruner.scorers._kmeans import (assign, check_features, default_n_clusters, fit_centroids,
                                         normalize_rows, threads_for)
from datapruner.scorers.base import Scorer

if TYPE_CHECKING:
    import datasets

    from datapruner.models.embedder import SupportsEncode

__all__ = ["SemDedupScorer", "duplicate_groups"]

logger = logging.getLogger(__name__)

#: Upper bound on the entries of one block of the similarity matrix (16M float32 = 64 MiB).
_BLOCK_ENTRIES = 1 << 24
#: When this many links have piled up in a cluster, they are compressed to one link per row (its component root).
_MAX_EDGES = 4_000_000


def _components(n: int, rows: npt.NDArray[np.int64], cols: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Return the connected-component label of each of ``n`` nodes given undirected links ``rows[i]-cols[i]``."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    graph = coo_matrix((np.ones(rows.size, dtype=np.int8), (rows, cols)), shape=(n, n)).tocsr()
    _, labels = connected_components(graph, directed=False)
    return labels.astype(np.int64)


def _dedup_cluster(emb: npt.NDArray[np.float32], centroid_sims: npt.NDArray[np.float32], threshold: float,
                   representative: str) -> tuple[npt.NDArray[np.float64], list[npt.NDArray[np.int64]]]:
    """Return (score of each member, duplicate groups as local indices, representative first) for one cluster.

    Exact copies (equal embeddings) are always in one group when ``threshold < 1``, so each set of copies is
    compared once, as one row, and expanded afterwards: a cluster of 100,000 copies costs one comparison, not 10**10.
    """
    m = emb.shape[0]
    if threshold >= 1.0 or m < 2:
        return _dedup_rows(emb, centroid_sims, threshold, representative)
    _, first, inverse, counts = np.unique(emb, axis=0, return_index=True, return_inverse=True, return_counts=True)
    if counts.size == m:
        return _dedup_rows(emb, centroid_sims, threshold, representative)
    order = np.argsort(first)  # uniques by first occurrence: ties resolve to the lowest row, as without collapsing
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    unique_of = rank[inverse.ravel()]  # row -> its unique's position in first-occurrence order
    first, counts = first[order], counts[order]
    nn_unique, unique_groups = _dedup_rows(emb[first], centroid_sims[first], threshold, representative)
    copies = np.split(np.argsort(unique_of, kind="stable"), np.cumsum(counts)[:-1])  # ascending rows per unique
    scores = nn_unique[unique_of]
    # a copy's highest similarity to another row is the one to its twin (the matmul would give u.u, clipped)
    self_sims = np.minimum(np.einsum("ij,ij->i", emb[first], emb[first]).astype(np.float64), 1.0)
    copied = counts > 1
    scores[np.flatnonzero(copied[unique_of])] = np.maximum(scores, self_sims[unique_of])[copied[unique_of]]
    groups: list[npt.NDArray[np.int64]] = []
    grouped = np.zeros(counts.size, dtype=bool)
    for group in unique_groups:
        grouped[group] = True
        rep = copies[group[0]][0]
        scores[rep] = nn_unique[group[0]]  # a kept row scores its highest similarity outside its group
        rest = np.sort(np.concatenate([copies[group[0]][1:], *(copies[u] for u in group[1:])]))
        groups.append(np.concatenate([[rep], rest]).astype(np.int64))
    for u in np.flatnonzero(copied & ~grouped):  # copies with no other near-duplicate: a group of their own
        scores[copies[u][0]] = nn_unique[u]
        groups.append(copies[u].astype(np.int64))
    groups.sort(key=lambda g: int(g[0]))
    return scores, groups


def _dedup_rows(emb: npt.NDArray[np.float32], centroid_sims: npt.NDArray[np.float32], threshold: float,
                representative: str) -> tuple[npt.NDArray[np.float64], list[npt.NDArray[np.int64]]]:
    """``_dedup_cluster`` on every row as it is: blockwise similarities, links above ``threshold``, components."""
    m = emb.shape[0]
    nn_sim = np.full(m, -1.0, dtype=np.float64)
    if m < 2:
        return nn_sim, []
    block = max(1, min(m, _BLOCK_ENTRIES // m))
    edge_rows: list[npt.NDArray[np.int64]] = []
    edge_cols: list[npt.NDArray[np.int64]] = []
    n_edges = 0
    for start in range(0, m, block):
        end = min(start + block, m)
        # Only the upper triangle: rows [start, end) against columns [start, m), half the work of the full matrix.
        sims = emb[start:end] @ emb[start:].T  # (b, m - start)
        np.clip(sims, -1.0, 1.0, out=sims)  # unit vectors: rounding must not lift a copy above max_similarity=1
        local = np.arange(end - start)
        sims[local, local] = -np.inf  # no self-similarity
        np.maximum(nn_sim[start:end], sims.max(axis=1), out=nn_sim[start:end])
        if end < m:  # the same similarities seen from the later rows
            np.maximum(nn_sim[end:], sims[:, end - start:].max(axis=0), out=nn_sim[end:])
        r, c = np.nonzero(sims > threshold)
        r = r + start
        c = c + start
        upper = c > r  # each link once
        if upper.any():
            edge_rows.append(r[upper].astype(np.int64))
            edge_cols.append(c[upper].astype(np.int64))
            n_edges += int(upper.sum())
        if n_edges > _MAX_EDGES:  # keep memory bounded when a cluster is full of exact duplicates
            labels = _components(m, np.concatenate(edge_rows), np.concatenate(edge_cols))
            root = np.full(labels.max() + 1, -1, dtype=np.int64)
            root[labels[::-1]] = np.arange(m - 1, -1, -1)  # smallest member of each component
            keep = root[labels] != np.arange(m)
            edge_rows, edge_cols = [np.arange(m)[keep]], [root[labels][keep]]
            n_edges = int(keep.sum())
    if not edge_rows:
        return nn_sim, []
    labels = _components(m, np.concatenate(edge_rows), np.concatenate(edge_cols))
    sizes = np.bincount(labels)
    groups = []
    for comp in np.flatnonzero(sizes > 1):
        members = np.flatnonzero(labels == comp)
        central = centroid_sims[members]
        pick = int(np.argmax(central)) if representative == "closest" else int(np.argmin(central))
        rep = members[pick]
        groups.append(np.concatenate([[rep], np.delete(members, pick)]).astype(np.int64))
    # A representative's score: its highest similarity to a row outside its own group (<= threshold by construction).
    reps = np.array([g[0] for g in groups], dtype=np.int64)
    for start in range(0, reps.size, block):
        chunk = reps[start:start + block]
        rep_sims = emb[chunk] @ emb.T
        rep_sims[labels[chunk][:, None] == labels[None, :]] = -np.inf
        nn_sim[chunk] = np.maximum(rep_sims.max(axis=1), -1.0)
    return nn_sim, groups


def duplicate_groups(embeddings: npt.ArrayLike, cluster_labels: npt.ArrayLike, *, max_similarity: float,
                     centroid_sims: npt.ArrayLike | None = None, representative: str = "farthest",
                     ) -> tuple[npt.NDArray[np.float64], list[npt.NDArray[np.int64]]]:
    """Return (redundancy score per row, duplicate groups) for unit-norm embeddings already split into clusters.

    Each group lists global row indices with its representative (the kept row) first. See :class:`SemDedupScorer`
    for the meaning of the score.
    """
    x = check_features(embeddings)
    labels = np.asarray(cluster_labels, dtype=np.int64)
    n = x.shape[0]
    central = np.zeros(n, dtype=np.float32) if centroid_sims is None else np.asarray(centroid_sims, np.float32)
    scores = np.full(n, -1.0, dtype=np.float64)
    groups: list[npt.NDArray[np.int64]] = []
    order = np.argsort(labels, kind="stable")
    bounds = np.flatnonzero(np.diff(labels[order])) + 1
    clusters = [np.sort(m) for m in np.split(order, bounds) if m.size >= 2]

    def one(members: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64], Any, list[Any]]:
        emb = np.ascontiguousarray(x[members], dtype=np.float32)
        return (members, *_dedup_cluster(emb, central[members], max_similarity, representative))

    # Clusters are independent: a few Python threads (numpy releases the GIL in matmul and reductions), each on
    # single-threaded BLAS, keep the cores busy without the barrier spin-waits of multi-threaded BLAS on
    # many small matrices, which are costly on a loaded machine.
    workers = max(1, min(os.cpu_count() or 1, 8, len(clusters)))
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        if workers == 1:
            results = map(one, clusters)
        else:
            pool = ThreadPoolExecutor(max_workers=workers)
            results = pool.map(one, clusters)
        for members, local_scores, local_groups in results:
            scores[members] = local_scores
            groups.extend(members[g] for g in local_groups)
        if workers > 1:
            pool.shutdown()
    groups.sort(key=lambda g: int(g[0]))
    return scores, groups


class SemDedupScorer(Scorer):
    """Return how redundant each row is; rows above ``max_similarity`` are near-duplicates to drop.

    Score of a row (cosine similarity, in [-1, 1]):

    - a **removed duplicate**: its highest similarity to another row of its cluster, which is > ``max_similarity``
      (it is linked to at least one row of its group);
    - a **kept row** (a group's representative, or a row with no near-duplicate): its highest similarity to any row
      of its cluster outside its own duplicate group, which is <= ``max_similarity`` by construction;
    - a row alone in its cluster: -1.

    So ``score > max_similarity`` exactly marks the rows to remove, and because ``higher_is_harder`` is False (a
    near-duplicate is redundant, i.e. easy) the default ``strategy="hard"`` keeps rows from the least redundant up:
    every kept row before any duplicate. ``keep = 1 - n_removed / n_rows`` (``1 - is_duplicate_.mean()``) keeps
    exactly one row per group; a larger ``keep`` puts duplicates back, the least similar first; a smaller one
    removes the most redundant kept rows next. Comparisons are made within k-means clusters only
    (as in the paper): two near-duplicates assigned to different clusters are not linked.

    Args:
        model: Embedding model name or path, or an object with ``encode(texts)`` and ``identity``; ``None`` is the
            embedded all-MiniLM-L6-v2.
        max_similarity: Cosine similarity above which two rows are near-duplicates, in (0, 1] (the paper's
            ``1 - eps``). 1.0 removes nothing, not even exact copies (similarities are clipped to [-1, 1], so
            float rounding cannot push a copy over it).
        n_clusters: Number of k-means clusters; ``None`` uses ``round(sqrt(n_rows))``.
        representative: Which row of a group is kept: ``"farthest"`` from the cluster centroid (the paper's rule,
            and the reference code's default ``keep_hard``: the least prototypical copy carries the most information)
            or ``"closest"`` (the most prototypical).
        n_iter: k-means iterations.
        sample_per_cluster: k-means is fit on at most ``sample_per_cluster * n_clusters`` sampled rows.
        seed: Seed of the k-means sample and initialisation.
        batch_size: Texts per forward pass of the embedder.
        device: Torch device of the embedder; ``None`` lets sentence-transformers choose.
        show_progress_bar: Progress bar while embedding; ``None`` follows the logger level.
        cache: Cache embeddings on disk under ``$DATAPRUNER_CACHE`` (resumable).

    Attributes:
        duplicate_groups_: List of int64 arrays of row indices, one per group of >= 2 near-duplicates, the kept
            representative first; sorted by representative.
        is_duplicate_: ``(n_rows,)`` bool, True for rows to remove (every group member but the representative).
        cluster_labels_: ``(n_rows,)`` k-means cluster of each row.

    Example:
        >>> import numpy as np
        >>> x = np.array([[1, 0, 0], [0.999, -0.04, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float32)
        >>> scorer = SemDedupScorer(max_similarity=0.95, n_clusters=1)
        >>> s = scorer.score_embeddings(x)
        >>> [g.tolist() for g in scorer.duplicate_groups_], scorer.is_duplicate_.tolist()
        ([[1, 0]], [True, False, False, False])
    """

    name = "semdedup"
    higher_is_harder = False
    needs_labels = False
    default_strategy = "hard"

    def __init__(self, model: str | SupportsEncode | None = None, *, max_similarity: float = 0.95,
                 n_clusters: int | None = None, representative: Literal["closest", "farthest"] = "farthest",
                 n_iter: int = 20, sample_per_cluster: int = 64, seed: Any = 0, batch_size: int = 32,
                 device: str | None = None, show_progress_bar: bool | None = None, cache: bool = True) -> None:
        self.model = model
        self.max_similarity = max_similarity
        self.n_clusters = n_clusters
        self.representative = representative
        self.n_iter = n_iter
        self.sample_per_cluster = sample_per_cluster
        self.seed = seed
        self.batch_size = batch_size
        self.device = device
        self.show_progress_bar = show_progress_bar
        self.cache = cache

    def _check(self) -> float:
        check_embedding_options(self)
        check_option("representative", self.representative, ("closest", "farthest"))
        return check_fraction("max_similarity", self.max_similarity, low_open=True)

    def score(self, dataset: datasets.Dataset, *, text_column: str = "text",
              label_column: str | None = "label") -> npt.NDArray[np.float64]:
        """Return one redundancy score per row, shape ``(n_rows,)`` (``label_column`` is ignored).

        Raises:
            DataprunerError: On a bad option, a missing column or an empty dataset.
        """
        self._check()
        check_columns(dataset.column_names, text_column)
        return self.score_embeddings(dataset_features(self, dataset, text_column))

    def score_embeddings(self, embeddings: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Return the scores of precomputed ``(n_rows, dim)`` embeddings (a memory map is not copied whole)."""
        threshold = self._check()
        x = check_features(embeddings)
        n = x.shape[0]
        with threads_for(x.size):
            x = normalize_rows(x)
            k = self.n_clusters if self.n_clusters is not None else default_n_clusters(n)
            centroids = fit_centroids(x, k, n_iter=self.n_iter, sample_per_cluster=self.sample_per_cluster,
                                      seed=self.seed)
            self.cluster_labels_, centroid_sims = assign(x, centroids)
            scores, groups = duplicate_groups(x, self.cluster_labels_, max_similarity=threshold,
                                              centroid_sims=centroid_sims, representative=self.representative)
        self.duplicate_groups_ = groups
        self.is_duplicate_ = np.zeros(n, dtype=bool)
        for g in groups:
            self.is_duplicate_[g[1:]] = True
        logger.info("semdedup: %d duplicate groups, %d of %d rows are duplicates to remove",
                    len(groups), int(self.is_duplicate_.sum()), n)
        return scores
