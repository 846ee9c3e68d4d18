"""Residual 1D CNN with squeeze-and-excitation (Hu et al. 2018), fused with context features.

The accurate model: four residual stages (32-32-64-128 channels, each after the first halving the
length), each block re-weighting its channels by a learned global gate, then global average pooling,
concatenated with an embedding of the beat's rhythm features.
"""

import torch
from torch import nn

from arrhythmia.models import register
from arrhythmia.models.fusion import ContextFusionHead

WIDTHS = (32, 32, 64, 128)


class SqueezeExcite(nn.Module):
    """Channel gate: global average -> bottleneck MLP -> sigmoid, multiplied back onto the channels."""

    def __init__(self, channels: int, reduction: int = 8):
        super().__init__()
        self.gate = nn.Sequential(
            nn.AdaptiveAvgPool1d(1),
            nn.Conv1d(channels, channels // reduction, 1),
            nn.ReLU(),
            nn.Conv1d(channels // reduction, channels, 1),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)


class SEResidualBlock(nn.Module):
    """conv k7 (stride) -> BN -> ReLU -> conv k7 -> BN -> SE, plus a (projected) shortcut, ReLU."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv1d(c_in, c_out, 7, stride=stride, padding=3, bias=False),
            nn.BatchNorm1d(c_out),
            nn.ReLU(),
            nn.Conv1d(c_out, c_out, 7, padding=3, bias=False),
            nn.BatchNorm1d(c_out),
            SqueezeExcite(c_out),
        )
        self.shortcut = (
            nn.Identity()
            if stride == 1 and c_in == c_out
            else nn.Sequential(nn.Conv1d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm1d(c_out))
        )
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.body(x) + self.shortcut(x))


@register(
    "se-resnet", "residual CNN with squeeze-excitation (32-32-64-128), fuses context features; the accurate model"
)
class SEResNet(nn.Module):
    takes_context = True

    def __init__(self, n_classes: int = 5, input_length: int = 187, n_context: int = 0):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv1d(1, WIDTHS[0], 7, padding=3, bias=False), nn.BatchNorm1d(WIDTHS[0]), nn.ReLU()
        )
        blocks, c_in = [], WIDTHS[0]
        for i, width in enumerate(WIDTHS):
            blocks.append(SEResidualBlock(c_in, width, stride=1 if i == 0 else 2))
            c_in = width
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool1d(1)
        self.head = ContextFusionHead(WIDTHS[-1], n_classes, n_context, hidden=64, dropout=0.3)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        """x: (batch, 1, input_length), context: (batch, n_context) or None -> logits (batch, n_classes)."""
        return self.head(self.pool(self.blocks(self.stem(x))).flatten(1), context)
