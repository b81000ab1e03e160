"""Out-of-core embeddings: score an ``(n_rows, dim)`` ``.npy`` file with memory that does not grow with ``n_rows``.

``np.load(mmap_mode="r")`` bounds what the *heap* holds, but every page a memory map touches stays resident in the
process (its RSS grows to the file size as a pass goes through it). Here row blocks are read with plain ``readinto``
calls into one reused buffer and scores are written block by block with ``pwrite``, so the resident memory is one
block, the k-means sample and the centroids, whatever ``n_rows`` is.

The pass is checkpointed: the centroids and a list of finished blocks are saved (atomically) next to the output,
so a run that is killed resumes from the last finished block and recomputes nothing that was written.
"""
from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from datapruner._atomic import save_npy, write_json
from datapruner._validation import as_rng, check_positive_int
from datapruner.errors import DataprunerError

__all__ = ["NpyRows", "NpyWriter", "score_embeddings_file"]

logger = logging.getLogger(__name__)


class NpyRows:
    """Read row blocks of a C-order ``.npy`` file without memory-mapping it.

    Args:
        path: A ``.npy`` file holding a 2-d array.

    Attributes:
        shape: ``(n_rows, dim)``.
        dtype: The array's dtype.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        try:
            with open(self.path, "rb") as fh:
                version = np.lib.format.read_magic(fh)
                reader = {(1, 0): np.lib.format.read_array_header_1_0,
                          (2, 0): np.lib.format.read_array_header_2_0}.get(version)
                if reader is None:
                    raise ValueError(f"unsupported .npy version {version}")
                shape, fortran, dtype = reader(fh)
                self.offset = fh.tell()
        except FileNotFoundError as err:
            raise DataprunerError(f"{self.path} does not exist.") from err
        except (OSError, ValueError) as err:
            raise DataprunerError(f"cannot read {self.path}: it is not a .npy file ({err}).") from err
        if len(shape) != 2 or fortran or dtype.hasobject:
            raise DataprunerError(f"{self.path} must hold a C-order numeric (n_rows, dim) array, got shape {shape}.")
        self.shape: tuple[int, int] = (int(shape[0]), int(shape[1]))
        self.dtype = np.dtype(dtype)
        self.row_bytes = self.shape[1] * self.dtype.itemsize

    def read(self, start: int, end: int, out: npt.NDArray[Any] | None = None) -> npt.NDArray[Any]:
        """Return rows ``[start, end)`` (into ``out`` when given, which must be C-contiguous and large enough)."""
        n = end - start
        buf = np.empty((n, self.shape[1]), dtype=self.dtype) if out is None else out[:n]
        with open(self.path, "rb", buffering=0) as fh:
            fh.seek(self.offset + start * self.row_bytes)
            view = memoryview(buf.reshape(-1).view(np.uint8))
            got = 0
            while got < view.nbytes:
                read = fh.readinto(view[got:])
                if not read:
                    raise DataprunerError(f"{self.path} is truncated: expected {self.shape[0]} rows.")
                got += read
        return buf

    def blocks(self, block_rows: int) -> Iterator[tuple[int, int, npt.NDArray[Any]]]:
        """Yield ``(start, end, rows)`` for consecutive blocks; ``rows`` reuses one buffer (copy to keep it)."""
        buf = np.empty((min(block_rows, max(self.shape[0], 1)), self.shape[1]), dtype=self.dtype)
        for start in range(0, self.shape[0], block_rows):
            end = min(start + block_rows, self.shape[0])
            yield start, end, self.read(start, end, buf)

    def take(self, rows: npt.NDArray[np.int64], *, block_rows: int = 65536) -> npt.NDArray[Any]:
        """Return the rows at the sorted indices ``rows``, reading only the blocks that hold them."""
        out = np.empty((rows.size, self.shape[1]), dtype=self.dtype)
        bounds = np.searchsorted(rows, np.arange(0, self.shape[0] + block_rows, block_rows))
        buf = np.empty((min(block_rows, max(self.shape[0], 1)), self.shape[1]), dtype=self.dtype)
        for b in range(len(bounds) - 1):
            lo, hi = bounds[b], bounds[b + 1]
            if lo == hi:
                continue
            start = b * block_rows
            block = self.read(start, min(start + block_rows, self.shape[0]), buf)
            out[lo:hi] = block[rows[lo:hi] - start]
        return out


class NpyWriter:
    """Create a ``(n_rows, *row_shape)`` ``.npy`` file and write row blocks into it with ``pwrite``.

    The file is created at full size (sparse) so blocks can be written in any order, and reopened by a resumed
    run (``resume=True`` keeps what an earlier run wrote).
    """

    def __init__(self, path: str | os.PathLike[str], shape: tuple[int, ...], dtype: Any, *,
                 resume: bool = False) -> None:
        self.path = Path(path)
        self.shape = tuple(int(s) for s in shape)
        self.dtype = np.dtype(dtype)
        header = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False, "shape": self.shape}
        size_of_row = int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize
        if not (resume and self.path.exists()):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "wb") as fh:
                np.lib.format.write_array_header_1_0(fh, header)
                self.offset = fh.tell()
                fh.truncate(self.offset + self.shape[0] * size_of_row)
        else:
            self.offset = NpyRows(self.path).offset if len(self.shape) == 2 else _npy_offset(self.path)
        self.row_bytes = size_of_row

    def write(self, start: int, rows: npt.ArrayLike) -> None:
        """Write ``rows`` at row ``start`` (flushed to the OS before returning)."""
        data = np.ascontiguousarray(rows, dtype=self.dtype)
        fd = os.open(self.path, os.O_WRONLY)
        try:
            view = memoryview(data.reshape(-1).view(np.uint8))
            done = 0
            while done < view.nbytes:
                done += os.pwrite(fd, view[done:], self.offset + start * self.row_bytes + done)
            os.fsync(fd)
        finally:
            os.close(fd)


def _npy_offset(path: Path) -> int:
    with open(path, "rb") as fh:
        version = np.lib.format.read_magic(fh)
        (np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0)(fh)
        return fh.tell()


def _unit_block(block: npt.NDArray[np.float32], already_unit: bool) -> npt.NDArray[np.float32]:
    """Row-normalise exactly as ``datapruner.scorers._kmeans.normalize_rows`` does."""
    if already_unit:
        return block
    norms = np.sqrt(np.einsum("ij,ij->i", block, block))
    safe = np.where(norms > 0, norms, 1.0).astype(np.float32)
    return block / safe[:, None]


def score_embeddings_file(path: str | os.PathLike[str], *, out: str | os.PathLike[str], method: str = "prototype",
                          n_clusters: int | None = None, n_iter: int = 20, sample_per_cluster: int = 64,
                          seed: Any = 0, block_rows: int = 65536,  # = _kmeans.BLOCK_ROWS: bit-identical scores
                          progress: Any = None) -> dict[str, Any]:
    """Write the prototype score of every row of an embeddings ``.npy`` file to ``out`` (float64 ``.npy``).

    The scores equal ``PrototypeScorer(n_clusters=..., seed=...).score_embeddings(np.load(path))``; memory stays
    at one block of ``block_rows`` rows plus the k-means sample (``sample_per_cluster * n_clusters`` rows) whatever
    the number of rows. Fix ``n_clusters`` for a bound independent of ``n_rows`` (the default grows as its square
    root).

    Checkpointing: ``out`` is built as ``<out>.partial`` with a ``<out>.progress.json`` listing the finished blocks
    and ``<out>.centroids.npy``; a rerun after a crash or ``SIGKILL`` keeps them and computes only the missing
    blocks; the finished file is renamed to ``out`` at the end (it appears whole or not at all).

    Args:
        path: ``(n_rows, dim)`` float embeddings in a C-order ``.npy`` file.
        out: Where the ``(n_rows,)`` float64 scores go.
        method: Only ``"prototype"`` is computed out of core.
        n_clusters, n_iter, sample_per_cluster, seed: As in ``PrototypeScorer``.
        block_rows: Rows read and scored at a time.
        progress: Optional callable ``progress(start, end)`` called after each block is written (tests count
            recomputation with it).

    Returns:
        ``{"n_rows", "blocks_total", "blocks_computed", "blocks_resumed"}``.
    """
    from datapruner.scorers._kmeans import assign, default_n_clusters, fit_centroids, threads_for

    if method != "prototype":
        raise DataprunerError(f"method={method!r} is not valid out of core: use 'prototype'.")
    block_rows = check_positive_int("block_rows", block_rows)
    rows = NpyRows(path)
    n, dim = rows.shape
    if n == 0:
        raise DataprunerError("the dataset is empty: there are no rows to score.")
    out = Path(out)
    partial = out.with_name(out.name + ".partial")
    progress_file = out.with_name(out.name + ".progress.json")
    centroid_file = out.with_name(out.name + ".centroids.npy")
    k = n_clusters if n_clusters is not None else default_n_clusters(n)
    key = {"input": str(Path(path).resolve()), "size": os.path.getsize(path), "mtime": os.path.getmtime(path),
           "n_clusters": k, "n_iter": n_iter, "sample_per_cluster": sample_per_cluster, "seed": repr(seed),
           "block_rows": block_rows}
    done: set[int] = set()
    if progress_file.exists() and partial.exists() and centroid_file.exists():
        saved = json.loads(progress_file.read_text())
        if saved.get("key") == key:
            done = set(saved["done"])
            logger.info("resuming %s: %d blocks already scored", out, len(done))
    out.parent.mkdir(parents=True, exist_ok=True)
    if done:
        centroids = np.load(centroid_file)
        already_unit = bool(json.loads(progress_file.read_text())["already_unit"])
    else:
        already_unit = True
        for _, _, block in rows.blocks(block_rows):
            norms = np.sqrt(np.einsum("ij,ij->i", block.astype(np.float32, copy=False),
                                      block.astype(np.float32, copy=False)))
            if not np.isfinite(norms).all():
                raise DataprunerError("embeddings contain NaN or infinite values: recompute them.")
            already_unit = already_unit and bool(np.all(np.abs(norms - 1.0) <= 1e-3))
        k = min(check_positive_int("n_clusters", k), n)
        rng = as_rng(seed)
        n_sample = min(n, k * check_positive_int("sample_per_cluster", sample_per_cluster))
        wanted = np.sort(rng.choice(n, size=n_sample, replace=False)) if n_sample < n else np.arange(n)
        sample = _unit_block(rows.take(wanted, block_rows=block_rows).astype(np.float32, copy=False), already_unit)
        with threads_for(n * dim):  # the local scorer's thread policy: k-means sums depend on the thread count
            centroids = fit_centroids(sample, k, n_iter=n_iter, sample_per_cluster=sample_per_cluster, seed=rng)
        del sample
        NpyWriter(partial, (n,), np.float64)
        save_npy(centroid_file, centroids)
        write_json(progress_file, {"key": key, "already_unit": already_unit, "done": []})
    writer = NpyWriter(partial, (n,), np.float64, resume=True)
    computed = 0
    for b, start in enumerate(range(0, n, block_rows)):
        if b in done:
            continue
        end = min(start + block_rows, n)
        block = _unit_block(rows.read(start, end).astype(np.float32, copy=False), already_unit)
        with threads_for(n * dim):
            _, sims = assign(block, centroids)
        writer.write(start, np.clip(1.0 - sims.astype(np.float64), 0.0, 2.0))
        done.add(b)
        computed += 1
        write_json(progress_file, {"key": key, "already_unit": already_unit, "done": sorted(done)})
        if progress is not None:
            progress(start, end)
    os.replace(partial, out)
    progress_file.unlink(missing_ok=True)
    centroid_file.unlink(missing_ok=True)
    n_blocks = -(-n // block_rows)
    return {"n_rows": n, "blocks_total": n_blocks, "blocks_computed": computed,
            "blocks_resumed": n_blocks - computed}
