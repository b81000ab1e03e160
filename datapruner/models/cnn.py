"""A small convolutional network for small images (28x28 grey-scale MNIST by default), trained from scratch."""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["SmallCNN"]


class SmallCNN(nn.Module):
    """Two conv-ReLU-maxpool blocks and a two-layer classifier; about 60k parameters at the defaults.

    Input: float images ``(batch, in_channels, image_size, image_width)`` (or ``(batch, H, W)``, treated as one
    channel), values scaled to about [0, 1]. Height and width must be at least 4 (two 2x2 max-pools); sides that
    are not divisible by 4 lose their last rows/columns in the pooling, as in ``nn.MaxPool2d``.

    Args:
        n_classes: Number of classes (10 for MNIST).
        in_channels: Image channels (1 for MNIST).
        image_size: Height of the input, and its width when ``image_width`` is None (28 for MNIST).
        image_width: Width of a non-square input; None for a square one.
        channels: Output channels of the two conv blocks.
        hidden: Width of the hidden fully connected layer.
        dropout: Dropout before the last layer, in [0, 1).
    """

    def __init__(self, n_classes: int = 10, *, in_channels: int = 1, image_size: int = 28,
                 image_width: int | None = None, channels: tuple[int, int] = (16, 32), hidden: int = 64,
                 dropout: float = 0.1) -> None:
        super().__init__()
        self.n_classes, self.in_channels, self.image_size = int(n_classes), int(in_channels), int(image_size)
        self.image_width = self.image_size if image_width is None else int(image_width)
        self.channels, self.hidden, self.dropout_p = (int(channels[0]), int(channels[1])), int(hidden), float(dropout)
        c1, c2 = self.channels
        self.features = nn.Sequential(
            nn.Conv2d(self.in_channels, c1, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        # two 2x2 max-pools floor each side twice: floor(floor(s / 2) / 2) == s // 4
        height, width = self.image_size // 4, self.image_width // 4
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(c2 * height * width, self.hidden), nn.ReLU(), nn.Dropout(self.dropout_p),
            nn.Linear(self.hidden, self.n_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return logits ``(batch, n_classes)``."""
        if x.ndim == 3:
            x = x.unsqueeze(1)
        return self.classifier(self.features(x))
