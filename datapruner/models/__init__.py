"""Proxy, student and teacher model families.

- ``linear`` / ``mlp``: a trainable head on frozen sentence embeddings (from :mod:`datapruner.models.embedder`)
  or on any numeric feature vectors;
- ``fasttext``: bag of hashed word + bigram embeddings trained from scratch (:mod:`datapruner.models.fasttext`);
- ``cnn``: a small CNN for 28x28 images (:mod:`datapruner.models.cnn`).

:func:`build_model` builds any of them with seeded initial weights; train them with
:func:`datapruner.training.loop.fit_classifier`.

The names below load on first use, so that reading a light submodule (``datapruner.models.pipeline``'s
``MODEL_TYPES`` for ``datapruner --help``) does not import torch.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from datapruner.models.cnn import SmallCNN
    from datapruner.models.factory import ARCHITECTURES, build_model
    from datapruner.models.fasttext import FastTextClassifier, HashingTokenizer
    from datapruner.models.heads import LinearHead, MLPClassifier

_HOMES = {
    "ARCHITECTURES": "factory", "build_model": "factory", "LinearHead": "heads", "MLPClassifier": "heads",
    "FastTextClassifier": "fasttext", "HashingTokenizer": "fasttext", "SmallCNN": "cnn",
}
__all__ = ["ARCHITECTURES", "build_model", "LinearHead", "MLPClassifier", "FastTextClassifier",
           "HashingTokenizer", "SmallCNN"]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOMES])
