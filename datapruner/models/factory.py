"""Build a proxy / student / teacher network by name, with seeded initial weights."""
from __future__ import annotations

from typing import Any

import torch

from datapruner._validation import check_option, check_positive_int
from datapruner.errors import DataprunerError
from datapruner.models.cnn import SmallCNN
from datapruner.models.fasttext import FastTextClassifier
from datapruner.models.heads import LinearHead, MLPClassifier

__all__ = ["ARCHITECTURES", "build_model"]

#: Architecture name -> class. ``linear``/``mlp`` take float features ``(n, in_dim)``; ``fasttext`` takes padded
#: hashed ids; ``cnn`` takes images ``(n, 1, 28, 28)``.
ARCHITECTURES: dict[str, type[torch.nn.Module]] = {
    "linear": LinearHead,
    "mlp": MLPClassifier,
    "fasttext": FastTextClassifier,
    "cnn": SmallCNN,
}


def build_model(architecture: str, *, n_classes: int, in_dim: int | None = None, seed: int = 0,
                **kwargs: Any) -> torch.nn.Module:
    """Return a freshly initialised network; the same ``seed`` gives the same initial weights.

    Args:
        architecture: One of ``sorted(ARCHITECTURES)``: ``"linear"``, ``"mlp"`` (both need ``in_dim``),
            ``"fasttext"`` (``n_buckets``, ``dim``) or ``"cnn"`` (``in_channels``, ``image_size``).
        n_classes: Number of classes, >= 2.
        in_dim: Feature dimension for ``linear`` and ``mlp``.
        seed: Seeds the initial weights (the caller's global torch RNG state is left as it was).
        **kwargs: Passed to the architecture's constructor (e.g. ``hidden=(256,)``, ``dropout=0.1``).

    Raises:
        DataprunerError: If the architecture is unknown or a required size is missing.

    Example:
        >>> build_model("linear", n_classes=3, in_dim=384)
        LinearHead(
          (dropout): Dropout(p=0.0, inplace=False)
          (linear): Linear(in_features=384, out_features=3, bias=True)
        )
    """
    check_option("architecture", architecture, ARCHITECTURES)
    n_classes = check_positive_int("n_classes", n_classes, minimum=2)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        if architecture in ("linear", "mlp"):
            if in_dim is None:
                raise DataprunerError(f"in_dim=None is not valid for architecture={architecture!r}: "
                                      "pass the feature dimension.")
            in_dim = check_positive_int("in_dim", in_dim)
            return ARCHITECTURES[architecture](in_dim, n_classes, **kwargs)
        return ARCHITECTURES[architecture](n_classes, **kwargs)
