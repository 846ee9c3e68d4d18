"""A compact CNN for fast CPU inference, fused with context features.

Four strided convolutions shrink the beat quickly (every layer but the last halves the length), so the
whole network costs ~0.3 M multiply-adds per beat on the 87-sample centred window of the ``fast`` preset
(0.7 M on the 187-sample kachuee window), ~1/10 of the Kachuee ResNet's 3.6 M; global average and max
pooling make it independent of the window length.
"""

import torch
from torch import nn

from arrhythmia.models import register
from arrhythmia.models.fusion import ContextFusionHead


def _conv(c_in: int, c_out: int, kernel: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv1d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
        nn.BatchNorm1d(c_out),
        nn.ReLU(),
    )


@register("fast-cnn", "compact strided CNN (16-32-64-64), fuses context features; the fast model for CPU inference")
class FastCNN(nn.Module):
    takes_context = True

    def __init__(self, n_classes: int = 5, input_length: int = 187, n_context: int = 0):
        super().__init__()
        self.features = nn.Sequential(_conv(1, 16, 7, 2), _conv(16, 32, 5, 2), _conv(32, 64, 5, 2), _conv(64, 64, 3, 1))
        self.head = ContextFusionHead(2 * 64, n_classes, n_context, hidden=64, dropout=0.2)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        """x: (batch, 1, input_length), context: (batch, n_context) or None -> logits (batch, n_classes)."""
        h = self.features(x)
        return self.head(torch.cat([h.mean(dim=2), h.amax(dim=2)], dim=1), context)
