"""Training: the shared classification loop and knowledge distillation onto a pruned subset."""
from __future__ import annotations

from datapruner.training.distill import default_alpha, distillation_loss
from datapruner.training.loop import fit_classifier, predict_logits, predict_proba

__all__ = ["fit_classifier", "predict_logits", "predict_proba", "distillation_loss", "default_alpha"]
