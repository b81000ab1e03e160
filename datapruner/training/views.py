"""Input views for distillation: the teacher labels a fresh random view of every batch ("function matching").

A student trained on a pruned subset only ever sees the kept rows. With distillation it can learn more of the
teacher's function than those rows show: each batch is replaced by a random view of it (some n-grams dropped,
an image shifted), and the teacher, run on the same view, supplies the soft target. The loss keeps its form on
the view, ``(1 - alpha) * CE(view, row label) + alpha * T**2 * KL(teacher(view) || student(view))``, so most of the
weight is on the teacher, which matters: dropping "not" from "not good" flips the sentiment, and only the
teacher knows. Beyer et al. (2022), "Knowledge distillation: A good teacher is patient and consistent", is the
recipe this follows.

Measured on validation splits of SST-2, TREC, SUBJ and MNIST (``scripts/tune_kd_views.py``, random subsets of
10% and 30%, the benchmark's schedule): n-gram dropout up to 0.8 raised fastText students from 0.791 to 0.838 mean
accuracy over plain distillation (0.830 at 0.5, 0.836 at 0.9), shifts of up to 2 pixels raised a small CNN from
0.922 to 0.931 (0.928 at 1, 0.927 at 3). Views are only used with a teacher.

Every view function maps ``(batch, generator) -> batch`` of the same shape and dtype, on CPU tensors.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from datapruner.errors import DataprunerError

if TYPE_CHECKING:
    import torch

__all__ = ["ViewFn", "ngram_dropout", "random_shift", "make_views", "default_views", "VIEWS", "VIEW_DEFAULTS"]

ViewFn = Callable[["torch.Tensor", "torch.Generator"], "torch.Tensor"]

#: model type -> (view function name, strength) used when ``views=True``; chosen on validation splits of the
#: training sets (``eval/results/data/kd_views_tuning.json``).
VIEW_DEFAULTS: dict[str, tuple[str, float]] = {"fasttext": ("ngram_dropout", 0.8), "cnn": ("random_shift", 2)}


def ngram_dropout(max_rate: float = 0.8) -> ViewFn:
    """Return a view of padded token ids: each row drops every id with its own rate drawn from U(0, max_rate).

    Dropped ids become padding (id 0) in place, which :class:`~datapruner.models.FastTextClassifier` ignores
    wherever it sits; a row never loses all its ids.

    Example:
        >>> import torch
        >>> view = ngram_dropout(0.5)
        >>> out = view(torch.tensor([[5, 6, 7, 0]]), torch.Generator().manual_seed(0))
        >>> out.shape, set(out[0].tolist()) <= {0, 5, 6, 7}
        (torch.Size([1, 4]), True)
    """
    if not 0.0 <= float(max_rate) < 1.0:
        raise DataprunerError(f"max_rate={max_rate!r} is not valid: use a number in [0, 1).")

    def view(ids: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        import torch

        present = ids != 0
        rate = torch.rand(ids.shape[0], 1, generator=generator) * float(max_rate)
        kept = present & (torch.rand(ids.shape, generator=generator) >= rate)
        emptied = ~kept.any(dim=1)
        kept[emptied] = present[emptied]
        return torch.where(kept, ids, torch.zeros_like(ids))

    return view


def random_shift(max_shift: int = 2) -> ViewFn:
    """Return a view of images ``(batch, channels, height, width)``: each image moves by up to ``max_shift``
    pixels along each axis, filling with zeros.

    Example:
        >>> import torch
        >>> img = torch.zeros(1, 1, 5, 5); img[0, 0, 2, 2] = 1.0
        >>> out = random_shift(1)(img, torch.Generator().manual_seed(0))
        >>> out.shape, float(out.sum())
        (torch.Size([1, 1, 5, 5]), 1.0)
    """
    if isinstance(max_shift, bool) or int(max_shift) != max_shift or max_shift < 0:
        raise DataprunerError(f"max_shift={max_shift!r} is not valid: use an int >= 0.")
    max_shift = int(max_shift)

    def view(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        import torch
        import torch.nn.functional as F

        if images.dim() != 4:
            raise DataprunerError(f"random_shift needs images (batch, channels, height, width), got shape "
                                  f"{tuple(images.shape)}.")
        if max_shift == 0:
            return images
        n, c, h, w = images.shape
        padded = F.pad(images, (max_shift,) * 4)
        dy = torch.randint(0, 2 * max_shift + 1, (n,), generator=generator)
        dx = torch.randint(0, 2 * max_shift + 1, (n,), generator=generator)
        rows = (dy[:, None] + torch.arange(h)[None, :])[:, None, :, None].expand(n, c, h, padded.shape[3])
        cols = (dx[:, None] + torch.arange(w)[None, :])[:, None, None, :].expand(n, c, h, w)
        return torch.gather(torch.gather(padded, 2, rows), 3, cols)

    return view


#: view name -> factory taking the view's strength.
VIEWS: dict[str, Callable[..., ViewFn]] = {"ngram_dropout": ngram_dropout, "random_shift": random_shift}


def make_views(name: str, strength: float) -> ViewFn:
    """Return the view function ``VIEWS[name](strength)``."""
    if name not in VIEWS:
        raise DataprunerError(f"views={name!r} is not valid: use one of {sorted(VIEWS)}.")
    return VIEWS[name](strength)


def default_views(model_type: str) -> ViewFn | None:
    """Return the view function for ``model_type`` from :data:`VIEW_DEFAULTS`, or ``None`` if it has none."""
    spec = VIEW_DEFAULTS.get(model_type)
    return None if spec is None else make_views(*spec)
