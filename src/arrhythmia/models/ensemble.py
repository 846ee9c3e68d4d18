"""An ensemble of trained models: the average of their class probabilities."""

import torch
from torch import nn


class Ensemble(nn.Module):
    """Averages the softmax outputs of ``members``; returns log-probabilities, so that a softmax on top
    (as every caller of a model applies) gives back the averaged probabilities."""

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        """x: (batch, 1, length), context: (batch, n_context) or None -> log mean probabilities (batch, n_classes)."""
        probs = torch.stack([torch.softmax(member(x, context), dim=1) for member in self.members]).mean(dim=0)
        return torch.log(probs.clamp_min(1e-12))
