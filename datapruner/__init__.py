"""datapruner: score training data and keep the rows worth training on.

>>> import datapruner
>>> kept = datapruner.select(dataset, method="el2n", keep=0.3)   # doctest: +SKIP
"""
from __future__ import annotations

from datapruner.errors import DataprunerError
from datapruner.io import load_data, save_data
from datapruner.prune import Selection, score, select, select_rows
from datapruner.scorers import SCORERS, Scorer, get_scorer
from datapruner.selection import STRATEGIES, select_indices

__version__ = "0.1.0"

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
