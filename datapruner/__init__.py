"""datapruner: score training data and keep the rows worth training on.

>>> import datapruner
>>> kept = datapruner.select(dataset, method="el2n", keep=0.3)   # doctest: +SKIP
"""
from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from datapruner.errors import DataprunerError
from datapruner.io import load_data, save_data
from datapruner.prune import Selection, score, select, select_rows
from datapruner.scorers import SCORERS, Scorer, get_scorer
from datapruner.selection import STRATEGIES, select_indices

try:  # one source of truth: the version in pyproject.toml, as installed
    __version__ = version("datapruner")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "SCORERS",
    "STRATEGIES",
    "DataprunerError",
    "Scorer",
    "Selection",
    "get_scorer",
    "load_data",
    "save_data",
    "score",
    "select",
    "select_indices",
    "select_rows",
]
