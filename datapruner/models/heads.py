"""Dense classifiers: a linear head and an MLP, for frozen sentence embeddings or any numeric feature vectors."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["LinearHead", "MLPClassifier"]


class LinearHead(nn.Module):
    """Logistic-regression head: ``Linear(in_dim, n_classes)`` on float features ``(batch, in_dim)``.

    Args:
        in_dim: Feature dimension (384 for MiniLM embeddings).
        n_classes: Number of classes, >= 2.
        dropout: Dropout on the input features during training, in [0, 1).
    """

    def __init__(self, in_dim: int, n_classes: int, *, dropout: float = 0.0) -> None:
        super().__init__()
        self.in_dim, self.n_classes, self.dropout_p = int(in_dim), int(n_classes), float(dropout)
        self.dropout = nn.Dropout(self.dropout_p)
        self.linear = nn.Linear(self.in_dim, self.n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return logits ``(batch, n_classes)``."""
        return self.linear(self.dropout(x))


class MLPClassifier(nn.Module):
    """Multi-layer perceptron ``in_dim -> hidden... -> n_classes`` with ReLU and dropout.

    Used as the trainable head on frozen embeddings and as the proxy/student for numeric feature columns.

    Args:
        in_dim: Feature dimension.
        n_classes: Number of classes, >= 2.
        hidden: Widths of the hidden layers (default one layer of 256).
        dropout: Dropout after each hidden layer, in [0, 1).
    """

    def __init__(self, in_dim: int, n_classes: int, *, hidden: Sequence[int] = (256,),
                 dropout: float = 0.1) -> None:
        super().__init__()
        self.in_dim, self.n_classes = int(in_dim), int(n_classes)
        self.hidden, self.dropout_p = tuple(int(h) for h in hidden), float(dropout)
        layers: list[nn.Module] = []
        width = self.in_dim
        for h in self.hidden:
            layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(self.dropout_p)]
            width = h
        layers.append(nn.Linear(width, self.n_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return logits ``(batch, n_classes)``; inputs of more than 2 dims are flattened per row."""
        if x.ndim > 2:
            x = x.flatten(1)
        return self.net(x)
