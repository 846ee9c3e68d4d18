"""The CNN of the classic arrhythmia-CNN notebook: four conv blocks and three dense layers."""

import torch
from torch import nn

from arrhythmia.models import register


def _conv_block(c_in: int, c_out: int, kernel: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv1d(c_in, c_out, kernel, padding=kernel // 2),
        nn.BatchNorm1d(c_out),
        nn.ReLU(),
        nn.MaxPool1d(2),
    )


@register("seed-cnn", "classic notebook CNN: 4 conv blocks (32-64-128-256) + 3 dense layers")
class SeedCNN(nn.Module):
    def __init__(self, n_classes: int = 5, input_length: int = 187):
        super().__init__()
        self.features = nn.Sequential(
            _conv_block(1, 32, 5),  # 187 -> 93
            _conv_block(32, 64, 5),  # -> 46
            _conv_block(64, 128, 3),  # -> 23
            _conv_block(128, 256, 3),  # -> 11
        )
        length = input_length
        for _ in range(4):
            length //= 2
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(256 * length, 512),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Linear(512, 128),
            nn.ReLU(),
            nn.Dropout(0.3),
            nn.Linear(128, n_classes),
        )

    def forward(self, x: torch.Tensor, context: None = None) -> torch.Tensor:
        """x: (batch, 1, input_length) -> logits (batch, n_classes); takes no context features."""
        return self.classifier(self.features(x))
