"""Locate files under ``--data-root`` with a clear error when the shared data is absent."""
from __future__ import annotations

from pathlib import Path

from eval.errors import EvalError


def data_file(data_root: Path, relative: str) -> Path:
    """Return ``data_root / relative``, or raise EvalError saying which file is missing."""
    path = Path(data_root) / relative
    if not path.exists():
        raise EvalError(f"{path} does not exist: pass --data-root pointing at the shared data folder.")
    return path
