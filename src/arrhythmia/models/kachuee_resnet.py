"""The residual CNN of Kachuee, Fazeli & Sarrafzadeh 2018 (arXiv:1805.00794, figure 2)."""

import torch
from torch import nn

from arrhythmia.errors import ArrhythmiaError
from arrhythmia.models import register

FILTERS = 32


class ResidualBlock(nn.Module):
    """conv k5 -> ReLU -> conv k5, add the input, ReLU, max-pool (size 5, stride 2)."""

    def __init__(self, channels: int = FILTERS):
        super().__init__()
        self.conv1 = nn.Conv1d(channels, channels, 5, padding=2)
        self.conv2 = nn.Conv1d(channels, channels, 5, padding=2)
        self.relu = nn.ReLU()
        self.pool = nn.MaxPool1d(5, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(self.relu(self.conv1(x)))
        return self.pool(self.relu(out + x))


@register("kachuee-resnet", "Kachuee et al. 2018: conv + 5 residual blocks (32 filters) + 2 dense layers of 32")
class KachueeResNet(nn.Module):
    def __init__(self, n_classes: int = 5, input_length: int = 187, n_blocks: int = 5):
        super().__init__()
        self.stem = nn.Conv1d(1, FILTERS, 5, padding=2)
        self.blocks = nn.Sequential(*[ResidualBlock() for _ in range(n_blocks)])
        length, shortest = input_length, 1
        for _ in range(n_blocks):
            length = (length - 5) // 2 + 1  # 187 -> 92 -> 44 -> 20 -> 8 -> 2
            shortest = 2 * (shortest - 1) + 5  # the shortest input these blocks pool to a sample or more
        if length < 1:  # the centred window (87 samples) pools to nothing: say so, not torch's shape error
            raise ArrhythmiaError(
                f"model 'kachuee-resnet' takes beat windows of at least {shortest} samples ({n_blocks} residual "
                f"blocks each pool the length to (length - 5) // 2 + 1); this window has {input_length} "
                "(the kachuee window has 187)"
            )
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(FILTERS * length, 32),
            nn.ReLU(),
            nn.Linear(32, 32),
            nn.ReLU(),
            nn.Linear(32, n_classes),
        )

    def forward(self, x: torch.Tensor, context: None = None) -> torch.Tensor:
        """x: (batch, 1, input_length) -> logits (batch, n_classes); takes no context features."""
        return self.head(self.blocks(self.stem(x)))
