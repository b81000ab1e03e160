"""Knowledge distillation for training on a pruned subset (after "Distilling the Knowledge in Data Pruning").

The student is trained on the kept rows with

    loss = (1 - alpha) * CE(student, y) + alpha * T**2 * KL(softmax(teacher / T) || softmax(student / T))

where the teacher was trained on the *full* data (or is passed in; it may be smaller than the student).
The ``T**2`` factor keeps the gradient scale of the soft term comparable across temperatures (Hinton et al.).
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Literal

from datapruner._validation import check_fraction
from datapruner.errors import DataprunerError

if TYPE_CHECKING:
    import torch

__all__ = ["distillation_loss", "default_alpha", "ALPHA_MIN", "ALPHA_MAX"]

#: ``default_alpha`` at keep = 1 (all data kept: labels and teacher weigh the same).
ALPHA_MIN = 0.5
#: ``default_alpha`` as keep -> 0 (almost no data kept: rely almost only on the teacher).
ALPHA_MAX = 0.9


def default_alpha(keep: float) -> float:
    """Return the default distillation weight for a kept fraction: ``ALPHA_MAX - (ALPHA_MAX - ALPHA_MIN) * keep``.

    The less data is kept, the more weight goes to the teacher: the seed paper finds the best weight grows as the
    pruning gets more aggressive, because the teacher saw the full data and its soft labels also damp the noisy
    labels that pruning scores tend to keep. The line runs from 0.9 as keep -> 0 down to 0.5 at keep = 1
    (0.86 at keep 0.1, 0.78 at keep 0.3, 0.7 at keep 0.5). It is monotone non-increasing in ``keep``; pass an
    explicit ``alpha`` to override it.

    Args:
        keep: Kept fraction of the training data, in (0, 1].

    Raises:
        DataprunerError: If ``keep`` is not in (0, 1].

    Example:
        >>> default_alpha(0.1), default_alpha(0.5), default_alpha(1.0)
        (0.86, 0.7, 0.5)
    """
    keep = check_fraction("keep", keep, low=0.0, high=1.0, low_open=True)
    return round(ALPHA_MAX - (ALPHA_MAX - ALPHA_MIN) * keep, 10)


def _check_temperature(temperature: Any) -> float:
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not (
            math.isfinite(temperature) and temperature > 0):
        raise DataprunerError(f"temperature={temperature!r} is not valid: use a number > 0.")
    return float(temperature)


def distillation_loss(
    student_logits: torch.Tensor,
    labels: torch.Tensor,
    teacher_logits: torch.Tensor,
    *,
    alpha: float,
    temperature: float = 1.0,
    reduction: Literal["mean", "none"] = "mean",
) -> torch.Tensor:
    """Return ``(1 - alpha) * CE(student, y) + alpha * T**2 * KL(softmax(teacher/T) || softmax(student/T))``.

    Args:
        student_logits: Student logits ``(batch, n_classes)``.
        labels: Integer class ids ``(batch,)``.
        teacher_logits: Teacher logits ``(batch, n_classes)``; no gradient flows into them.
        alpha: Weight of the distillation term, in [0, 1].
        temperature: Softening temperature ``T > 0``.
        reduction: ``"mean"`` over the batch (the KL term is then the usual ``batchmean``) or ``"none"`` for one
            value per row.

    Example:
        >>> import torch
        >>> s = torch.tensor([[2.0, 0.0]]); t = torch.tensor([[2.0, 0.0]]); y = torch.tensor([0])
        >>> round(float(distillation_loss(s, y, t, alpha=1.0, temperature=2.0)), 6)  # same logits: KL = 0
        0.0
    """
    import torch
    import torch.nn.functional as F

    alpha = check_fraction("alpha", alpha)
    temperature = _check_temperature(temperature)
    if reduction not in ("mean", "none"):
        raise DataprunerError(f"reduction={reduction!r} is not valid: use one of ['mean', 'none'].")
    if student_logits.shape != teacher_logits.shape:
        raise DataprunerError(
            f"teacher_logits shape {tuple(teacher_logits.shape)} does not match the student's "
            f"{tuple(student_logits.shape)}: the teacher must predict the same classes.")
    ce = F.cross_entropy(student_logits, labels, reduction="none")
    log_p_student = F.log_softmax(student_logits / temperature, dim=-1)
    log_p_teacher = F.log_softmax(teacher_logits.detach().to(student_logits.dtype) / temperature, dim=-1)
    kl = (log_p_teacher.exp() * (log_p_teacher - log_p_student)).sum(dim=-1)
    per_row = (1.0 - alpha) * ce + alpha * temperature ** 2 * kl
    if reduction == "none":
        return per_row
    return per_row.mean() if per_row.numel() else per_row.sum() * torch.tensor(0.0)
