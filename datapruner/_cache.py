"""On-disk cache for embeddings and for resumable scoring runs.

Everything lives under ``$DATAPRUNER_CACHE`` (default ``~/.cache/datapruner``). An entry is a folder named by a
hash of what produced it (model identity, data fingerprint, column, parameters). Work is written in parts, each
part atomically (temporary file, then ``os.replace``), so a run that is interrupted resumes from the parts that
finished and recomputes nothing that was already written.

Two shapes of work are covered:

- :class:`RowChunkCache` — an ``(n_rows, d)`` array computed in row chunks (embeddings). When every chunk is done
  the chunks are merged into one ``.npy`` file that later runs memory-map.
- :class:`PartsCache` — named arrays computed one at a time (for example one score vector per ensemble member).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from datapruner._atomic import save_npy, write_json

__all__ = ["PartsCache", "RowChunkCache", "cache_key", "cache_root"]

logger = logging.getLogger(__name__)

#: Arrays larger than this many bytes are returned memory-mapped instead of loaded.
_MMAP_BYTES = 64 * 1024 * 1024


def cache_root() -> Path:
    """Return the cache folder: ``$DATAPRUNER_CACHE`` if set, else ``~/.cache/datapruner``."""
    env = os.environ.get("DATAPRUNER_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "datapruner"


def cache_key(parts: dict[str, Any]) -> str:
    """Return a stable hex key for a dict of JSON-serialisable parts (key order does not matter)."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()[:32]


def _load(path: Path) -> npt.NDArray[Any]:
    if path.stat().st_size > _MMAP_BYTES:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    return np.load(path, allow_pickle=False)


def _write_meta(directory: Path, meta: dict[str, Any]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "meta.json"
    if not path.exists():
        write_json(path, meta, indent=2, sort_keys=True)


class RowChunkCache:
    """An ``(n_rows, ...)`` array computed chunk by chunk, resumable after an interruption.

    Args:
        key_parts: What produced the array (model identity, data fingerprint, column, ...); hashed into the
            folder name, and stored in ``meta.json`` for people reading the cache.
        n_rows: Number of rows of the full array.
        chunk_size: Rows per chunk; part of the key, so a different chunk size starts a fresh entry.
        kind: Sub-folder of the cache root (``"embeddings"``, ...).
        root: Cache root; ``None`` uses :func:`cache_root`.
    """

    def __init__(self, key_parts: dict[str, Any], *, n_rows: int, chunk_size: int = 4096,
                 kind: str = "embeddings", root: Path | None = None) -> None:
        self.n_rows = int(n_rows)
        self.chunk_size = int(chunk_size)
        parts = {**key_parts, "n_rows": self.n_rows, "chunk_size": self.chunk_size}
        self.directory = (root or cache_root()) / kind / cache_key(parts)
        self.meta = parts
        self.final_path = self.directory / "array.npy"

    def chunk_bounds(self) -> list[tuple[int, int]]:
        """Return the ``[start, end)`` row range of every chunk."""
        return [(s, min(s + self.chunk_size, self.n_rows)) for s in range(0, self.n_rows, self.chunk_size)]

    def _chunk_path(self, start: int, end: int) -> Path:
        return self.directory / "chunks" / f"{start:012d}_{end:012d}.npy"

    def done_chunks(self) -> list[tuple[int, int]]:
        """Return the chunks already on disk (all of them once the entry is complete)."""
        if self.final_path.exists():
            return self.chunk_bounds()
        return [b for b in self.chunk_bounds() if self._chunk_path(*b).exists()]

    def get_or_compute(self, compute: Callable[[int, int], npt.NDArray[Any]]) -> npt.NDArray[Any]:
        """Return the full array, calling ``compute(start, end)`` only for chunks not yet on disk.

        The result is memory-mapped (read-only) when it is larger than 64 MiB, loaded otherwise.
        """
        if self.final_path.exists():
            logger.info("cache hit: %s", self.final_path)
            return _load(self.final_path)
        _write_meta(self.directory, self.meta)
        bounds = self.chunk_bounds()
        todo = [b for b in bounds if not self._chunk_path(*b).exists()]
        if len(todo) < len(bounds):
            logger.info("resuming: %d of %d chunks already cached in %s", len(bounds) - len(todo),
                        len(bounds), self.directory)
        for start, end in todo:
            block = np.asarray(compute(start, end))
            if block.shape[0] != end - start:
                raise RuntimeError(f"compute({start}, {end}) returned {block.shape[0]} rows, expected {end - start}")
            save_npy(self._chunk_path(start, end), block)
        return self._merge(bounds)

    def _merge(self, bounds: list[tuple[int, int]]) -> npt.NDArray[Any]:
        """Merge the chunks into the final array, or load it when another process (computing the same entry at the
        same time) merged first and removed the chunks."""
        try:
            return self._merge_chunks(bounds)
        except FileNotFoundError:
            if not self.final_path.exists():
                raise
            shutil.rmtree(self.directory / "chunks", ignore_errors=True)  # any chunk this process saved late
            return _load(self.final_path)

    def _merge_chunks(self, bounds: list[tuple[int, int]]) -> npt.NDArray[Any]:
        if not bounds:  # zero rows
            return np.zeros((0,), dtype=np.float32)
        first = np.load(self._chunk_path(*bounds[0]), mmap_mode="r")
        shape = (self.n_rows, *first.shape[1:])
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".array.", suffix=".npy")
        os.close(fd)
        try:
            out = np.lib.format.open_memmap(tmp, mode="w+", dtype=first.dtype, shape=shape)
            for start, end in bounds:
                out[start:end] = np.load(self._chunk_path(start, end), mmap_mode="r")
            out.flush()
            del out
            os.replace(tmp, self.final_path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        shutil.rmtree(self.directory / "chunks", ignore_errors=True)
        return _load(self.final_path)


class PartsCache:
    """Named arrays computed one at a time (e.g. one per ensemble member), resumable after an interruption.

    Args:
        key_parts: What produced the parts (method, parameters, data fingerprint, ...); hashed into the folder name.
        kind: Sub-folder of the cache root (``"scores"``, ...).
        root: Cache root; ``None`` uses :func:`cache_root`.
        enabled: With ``False`` nothing is read or written and every part is computed.
    """

    def __init__(self, key_parts: dict[str, Any], *, kind: str = "scores", root: Path | None = None,
                 enabled: bool = True) -> None:
        self.directory = (root or cache_root()) / kind / cache_key(key_parts)
        self.meta = key_parts
        self.enabled = enabled

    def _path(self, name: str) -> Path:
        return self.directory / f"{name}.npy"

    def has(self, name: str) -> bool:
        """Return whether part ``name`` is already on disk."""
        return self.enabled and self._path(name).exists()

    def get_or_compute(self, name: str, compute: Callable[[], npt.NDArray[Any]]) -> npt.NDArray[Any]:
        """Return part ``name``, computing and saving it (atomically) only if it is not on disk yet."""
        if not self.enabled:
            return np.asarray(compute())
        path = self._path(name)
        if path.exists():
            logger.info("cache hit: %s", path)
            return np.load(path, allow_pickle=False)
        _write_meta(self.directory, self.meta)
        value = np.asarray(compute())
        save_npy(path, value)
        return value
