"""Execution engines: where scoring and selection run.

``local`` runs in this process (memory-mapped, block by block); ``ray`` runs the same computations as Ray Data
batch maps and grouped operations, on a local Ray or a cluster. Both give the same selection for the same seed.
A registry is a plain dict: adding an engine is one module plus one line.
"""
from __future__ import annotations

from typing import Any

from datapruner._validation import check_option
from datapruner.engines.base import Engine
from datapruner.engines.local import LocalEngine
from datapruner.engines.ray import RayEngine

ENGINES: dict[str, type[Engine]] = {
    "local": LocalEngine,
    "ray": RayEngine,
}

__all__ = ["ENGINES", "Engine", "LocalEngine", "RayEngine", "get_engine"]


def get_engine(name: str, **options: Any) -> Engine:
    """Return the engine registered under ``name``, built with ``options``.

    Raises:
        DataprunerError: If ``name`` is unknown (the message lists the valid names).
    """
    check_option("engine", name, ENGINES)
    return ENGINES[name](**options)
