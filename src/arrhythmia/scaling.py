"""Standardisation of beat windows and context features, fitted on the training split only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from sklearn.preprocessing import StandardScaler

if TYPE_CHECKING:
    from arrhythmia.data.store import ShardedArray


@dataclass
class Scaling:
    """Standardisation fitted on the training split.

    mean, std : (window length,) float32, per sample of the beat window;
    context_mean, context_std : (n_context,) float32 per context feature, or None for models without them.
    """

    mean: np.ndarray
    std: np.ndarray
    context_mean: np.ndarray | None = None
    context_std: np.ndarray | None = None

    @property
    def n_context(self) -> int:
        return 0 if self.context_mean is None else len(self.context_mean)

    def beats(self, X: np.ndarray) -> np.ndarray:
        """Raw beats X: (n, length) -> standardised float32."""
        return ((X - self.mean) / self.std).astype(np.float32)

    def context(self, context: np.ndarray | None) -> np.ndarray | None:
        """Context features (n, n_context) -> standardised float32; None for a model without them."""
        if self.context_mean is None:
            return None
        return ((context - self.context_mean) / self.context_std).astype(np.float32)

    # Checkpoints keep the names the first format used ("rr_mean", "rr_std"), so old files still load.
    _STATE_KEYS = {"mean": "mean", "std": "std", "context_mean": "rr_mean", "context_std": "rr_std"}

    def to_state(self) -> dict:
        as_tensor = lambda a: None if a is None else torch.from_numpy(np.asarray(a, dtype=np.float32))  # noqa: E731
        return {key: as_tensor(getattr(self, attr)) for attr, key in self._STATE_KEYS.items()}

    @classmethod
    def from_state(cls, state: dict) -> Scaling:
        as_array = lambda t: None if t is None else t.numpy()  # noqa: E731
        return cls(**{attr: as_array(state.get(key)) for attr, key in cls._STATE_KEYS.items()})


def fit_scaling(
    X: np.ndarray | ShardedArray, context: np.ndarray | None, train_index: np.ndarray, chunk: int = 65_536
) -> Scaling:
    """Standardisation of the training beats ``X[train_index]`` (and their context features, when given),
    fitted in chunks so a beat store is never read whole. Only training beats: validation and test stay
    unseen. X: (n, length) array or a store's ShardedArray; context: (n, n_context) or None."""
    beat_scaler, context_scaler = StandardScaler(), StandardScaler()
    for start in range(0, len(train_index), chunk):
        rows = np.sort(train_index[start : start + chunk])
        beat_scaler.partial_fit(np.asarray(X[rows], dtype=np.float64))
        if context is not None:
            context_scaler.partial_fit(context[rows])
    as_f32 = lambda a: a.astype(np.float32)  # noqa: E731
    if context is None:
        return Scaling(as_f32(beat_scaler.mean_), as_f32(beat_scaler.scale_))
    return Scaling(*map(as_f32, (beat_scaler.mean_, beat_scaler.scale_, context_scaler.mean_, context_scaler.scale_)))
