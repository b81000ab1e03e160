"""Atomic writes: an output appears whole, in one rename, or not at all (nothing is lost on a crash)."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt


def _umask() -> int:
    """The process umask (reading it means setting it, so it is put back at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def give_normal_mode(path: str | os.PathLike[str]) -> None:
    """Give a file the mode a plain ``open(path, "w")`` would (0666 less the umask); temporary-file and
    safetensors writers make 0600."""
    os.chmod(path, 0o666 & ~_umask())


@contextmanager
def atomic_file(path: str | os.PathLike[str], *, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``, on failure it is removed.

    ``suffix`` lets writers that choose a format by extension (pandas, pyarrow) see the right one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        give_normal_mode(tmp)  # mkstemp makes 0600
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a not-yet-existing folder path beside ``path``; on success it replaces the folder ``path``.

    An existing folder is swapped out with two renames and then deleted, so readers never see a half-written one.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    holder = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
    try:
        new = holder / "content"
        yield new
        if target.exists():
            old = target.with_name(f".{target.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(target, old)
            os.replace(new, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(new, target)
    finally:
        shutil.rmtree(holder, ignore_errors=True)


def write_json(path: str | os.PathLike[str], payload: Any, **dump_kwargs: Any) -> None:
    """Write ``payload`` as JSON to ``path`` atomically and durably (fsync before the rename)."""
    with atomic_file(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        json.dump(payload, fh, **{"default": str, **dump_kwargs})
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())


def save_npy(path: str | os.PathLike[str], array: npt.NDArray[Any]) -> None:
    """Write ``array`` as a ``.npy`` file atomically (no pickles)."""
    with atomic_file(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, np.ascontiguousarray(array), allow_pickle=False)
