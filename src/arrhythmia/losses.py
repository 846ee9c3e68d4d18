"""Loss functions for imbalanced heartbeat classes.

FocalLoss (Lin et al. 2017, "Focal Loss for Dense Object Detection") down-weights beats the model already
classifies confidently, so training concentrates on the hard, usually rare, beats (S and V in the inter-patient
protocol) instead of the abundant easy N beats.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.utils.class_weight import compute_class_weight
from torch import nn


class FocalLoss(nn.Module):
    """Focal loss ``-w_y * (1 - p_y) ** gamma * log p_y``, averaged like ``nn.CrossEntropyLoss``.

    With ``gamma=0`` it equals ``nn.functional.cross_entropy(logits, target, weight=weight)`` (mean reduction:
    with class weights the sum is divided by the sum of the targets' weights, not by the batch size).

    Args:
        gamma: focusing parameter, >= 0; 0 is cross-entropy, 2 is the paper's default.
        weight: optional per-class weights, shape (n_classes,), float; kept as the buffer ``weight`` so it moves
            with ``.to(device)`` and the training loop can read ``loss_fn.weight``.
    """

    weight: torch.Tensor | None

    def __init__(self, gamma: float = 2.0, weight: torch.Tensor | None = None) -> None:
        super().__init__()
        if gamma < 0:
            raise ValueError(f"focal loss gamma must be >= 0, got {gamma}")
        self.gamma = float(gamma)
        self.register_buffer("weight", weight)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean focal loss.

        Args:
            logits: unnormalised class scores, shape (batch, n_classes).
            target: class indices, shape (batch,), int64.

        Returns:
            Scalar tensor.
        """
        log_p = torch.log_softmax(logits, dim=1).gather(1, target[:, None]).squeeze(1)  # (batch,) log p_y
        loss = -log_p
        if self.gamma != 0:
            one_minus_p = -torch.expm1(log_p)  # 1 - p_y, accurate when p_y is close to 1
            loss = one_minus_p.clamp_min(0).pow(self.gamma) * loss
        if self.weight is None:
            return loss.mean()
        w = self.weight[target]
        return (w * loss).sum() / w.sum()

    def extra_repr(self) -> str:
        return f"gamma={self.gamma}"


def make_loss(
    y_train: np.ndarray, n_classes: int, class_weights: str = "none", loss: str = "ce", gamma: float = 2.0
) -> nn.Module:
    """The training loss: cross-entropy or focal, with class weights from the training labels.

    y_train : (n,) int class indices of the training split; class_weights : ``none``, or ``balanced``
    (inverse class frequency, scikit-learn's ``compute_class_weight``; absent classes weigh 1); loss : ``ce``
    (``nn.CrossEntropyLoss``) or ``focal`` (``FocalLoss`` with focusing parameter ``gamma``).
    """
    weights = None
    if class_weights == "balanced":
        present = np.unique(y_train)
        weights = np.ones(n_classes)
        weights[present] = compute_class_weight("balanced", classes=present, y=y_train)
        weights = torch.tensor(weights, dtype=torch.float32)
    if loss == "focal":
        return FocalLoss(gamma=gamma, weight=weights)
    return nn.CrossEntropyLoss(weight=weights)
