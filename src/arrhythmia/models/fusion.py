"""Shared head of the models that fuse a beat's waveform embedding with its rhythm features."""

import torch
from torch import nn


class RhythmFusionHead(nn.Module):
    """Concatenate pooled waveform features (batch, n_features) with an embedding of the rhythm features
    (batch, n_rr), then classify. With ``n_rr = 0`` it classifies the waveform features alone."""

    def __init__(
        self, n_features: int, n_classes: int, n_rr: int = 0, rr_width: int = 16, hidden: int = 64, dropout: float = 0.2
    ):
        super().__init__()
        self.rr = nn.Sequential(nn.Linear(n_rr, rr_width), nn.ReLU()) if n_rr else None
        self.classify = nn.Sequential(
            nn.Linear(n_features + (rr_width if n_rr else 0), hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, n_classes),
        )

    def forward(self, features: torch.Tensor, rr: torch.Tensor | None = None) -> torch.Tensor:
        if self.rr is not None:
            if rr is None:
                raise ValueError("this model was built with RR features: pass rr (batch, n_rr)")
            features = torch.cat([features, self.rr(rr)], dim=1)
        return self.classify(features)
