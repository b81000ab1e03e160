"""Proxy, student and teacher model families.

- ``linear`` / ``mlp``: a trainable head on frozen sentence embeddings (from :mod:`datapruner.models.embedder`)
  or on any numeric feature vectors;
- ``fasttext``: bag of hashed word + bigram embeddings trained from scratch (:mod:`datapruner.models.fasttext`);
- ``cnn``: a small CNN for 28x28 images (:mod:`datapruner.models.cnn`).

:func:`build_model` builds any of them with seeded initial weights; train them with
:func:`datapruner.training.loop.fit_classifier`.
"""
from __future__ import annotations

from datapruner.models.cnn import SmallCNN
from datapruner.models.factory import ARCHITECTURES, build_model
from datapruner.models.fasttext import FastTextClassifier, HashingTokenizer
from datapruner.models.heads import LinearHead, MLPClassifier

__all__ = ["ARCHITECTURES", "build_model", "LinearHead", "MLPClassifier", "FastTextClassifier",
           "HashingTokenizer", "SmallCNN"]
