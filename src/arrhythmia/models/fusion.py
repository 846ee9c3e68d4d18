"""Shared head of the models that fuse a beat's waveform embedding with its rhythm features."""

import torch
from torch import nn


class ContextFusionHead(nn.Module):
    """Concatenate pooled waveform features (batch, n_features) with an embedding of the rhythm features
    (batch, n_context), then classify. With ``n_context = 0`` it classifies the waveform features alone."""

    def __init__(
        self,
        n_features: int,
        n_classes: int,
        n_context: int = 0,
        context_width: int = 16,
        hidden: int = 64,
        dropout: float = 0.2,
    ):
        super().__init__()
        # Named ``rr`` in the first checkpoints (the features were RR intervals only): kept so they load.
        self.rr = nn.Sequential(nn.Linear(n_context, context_width), nn.ReLU()) if n_context else None
        self.classify = nn.Sequential(
            nn.Linear(n_features + (context_width if n_context else 0), hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, n_classes),
        )

    def forward(self, features: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        """features: (batch, n_features) pooled waveform features, context: (batch, n_context) standardised
        rhythm features or None -> logits (batch, n_classes)."""
        if self.rr is not None:
            if context is None:
                raise ValueError("this model was built with context features: pass context (batch, n_context)")
            features = torch.cat([features, self.rr(context)], dim=1)
        return self.classify(features)
