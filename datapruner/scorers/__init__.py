"""Scorer registry: a plain dict, one import and one line per scorer."""
from __future__ import annotations

from typing import Any

from datapruner._validation import check_option
from datapruner.scorers.base import Scorer
from datapruner.scorers.coverage import NgramCoverageScorer
from datapruner.scorers.el2n import EL2NScorer
from datapruner.scorers.feature_mapping import FeatureMappingScorer
from datapruner.scorers.forgetting import ForgettingScorer
from datapruner.scorers.prototype import PrototypeScorer
from datapruner.scorers.random import RandomScorer
from datapruner.scorers.semdedup import SemDedupScorer

SCORERS: dict[str, type[Scorer]] = {
    "random": RandomScorer,
    "prototype": PrototypeScorer,
    "semdedup": SemDedupScorer,
    "feature_mapping": FeatureMappingScorer,
    "el2n": EL2NScorer,
    "forgetting": ForgettingScorer,
    "ngram_coverage": NgramCoverageScorer,
}

__all__ = ["SCORERS", "Scorer", "get_scorer"]


def get_scorer(name: str, **params: Any) -> Scorer:
    """Return the scorer registered under ``name``, built with ``params``.

    Raises:
        DataprunerError: If ``name`` is unknown (the message lists the valid names) or a parameter is not
            accepted by that scorer.
    """
    check_option("method", name, SCORERS)
    cls = SCORERS[name]
    try:
        return cls(**params)
    except TypeError as err:
        from datapruner.errors import DataprunerError

        raise DataprunerError(f"method={name!r} does not take these parameters: {err}.") from err
