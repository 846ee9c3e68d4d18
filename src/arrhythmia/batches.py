"""Training batches: which beats each step sees (samplers), and how they are read, augmented and scaled.

``EpochBatches`` draws an epoch's order (shuffled, or class-balanced with replacement) and shares it between
torchrun ranks; ``TrainBatches`` turns a batch's beat indices into standardised tensors, augmented with a seed
of the batch alone, so main process and DataLoader workers make identical batches. ``LazyRows`` reads the
validation and test rows of a beat store a batch at a time.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler, WeightedRandomSampler, get_worker_info

from arrhythmia.augment import augment
from arrhythmia.data import BeatSet
from arrhythmia.device import usable_cpus
from arrhythmia.distributed import shard
from arrhythmia.errors import ArrhythmiaError
from arrhythmia.scaling import Scaling

if TYPE_CHECKING:
    from arrhythmia.data.store import ShardedArray


def epoch_order(y_train: np.ndarray, sampling: str, generator: torch.Generator) -> torch.Tensor:
    """Positions into the training split for one epoch (as many as there are training beats).

    shuffle: each beat once, in random order; balanced: drawn with replacement, every class equally
    often; sqrt: drawn with replacement with class probability proportional to the square root of its
    frequency (a middle way: rare classes seen more often without repeating their few beats so much).
    """
    if sampling == "shuffle":
        return torch.randperm(len(y_train), generator=generator)
    counts = np.bincount(y_train).astype(np.float64)
    power = 1.0 if sampling == "balanced" else 0.5
    weights = 1.0 / counts[y_train] ** power
    sampler = WeightedRandomSampler(weights.tolist(), len(y_train), replacement=True, generator=generator)
    return torch.as_tensor(list(sampler))


def record_batches(groups: np.ndarray, batch_size: int, generator: torch.Generator) -> list[np.ndarray]:
    """One epoch's batches when every batch holds one recording's beats: positions into the training split.

    groups : (n_train,) int, the recording (one lead of one record) of each training beat. Each recording's
    beats are shuffled and dealt into near-equal batches of at most ``batch_size`` (so no batch is a lone
    leftover beat, which BatchNorm cannot normalise), and the batches of all recordings are shuffled.
    """
    batches = []
    for group in np.unique(groups):
        mine = np.flatnonzero(groups == group)
        mine = mine[torch.randperm(len(mine), generator=generator).numpy()]
        batches += np.array_split(mine, math.ceil(len(mine) / batch_size))
    order = torch.randperm(len(batches), generator=generator).tolist()
    return [batches[k] for k in order]


def batch_seed(seed: int, epoch: int, number: int) -> int:
    """Seed of the augmentation of batch ``number`` of ``epoch``: a function of the batch alone, so the
    draws are the same whichever process (main or DataLoader worker) makes the batch."""
    entropy = [seed & 0xFFFF_FFFF_FFFF_FFFF, epoch, number]
    return int(np.random.SeedSequence(entropy).generate_state(1, np.uint64)[0])


class EpochBatches(Sampler):
    """The training batches of this rank for the current epoch (``set_epoch``), as DataLoader items.

    Yields ``(index, seed)``: index (b,) int64 sorted beat indices into the beat set (sorted rows read
    faster from a beat store's files, and a batch is a set), seed the batch's augmentation seed. The
    epoch order is ``epoch_order`` seeded with ``seed + epoch`` -- identical on every rank -- and each rank
    takes its share with ``distributed.shard`` (``order[rank::world_size]`` after padding): a distributed
    sampler that works for balanced sampling (drawn with replacement) as for shuffling. Every rank runs
    ``len(self)`` batches of ``batch_size`` (the last one shorter), so one optimiser step sees
    ``batch_size * world_size`` beats. With ``groups`` (the recording of each training beat), each batch holds
    one recording's beats (``record_batches``), the batches dealt to the ranks in turn.
    """

    def __init__(
        self,
        y_train: np.ndarray,
        train_index: np.ndarray,
        sampling: str,
        batch_size: int,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
        groups: np.ndarray | None = None,
    ) -> None:
        self.y_train, self.train_index, self.sampling, self.groups = y_train, train_index, sampling, groups
        self.batch_size, self.seed, self.rank, self.world_size = batch_size, seed, rank, world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def beats_per_rank(self) -> int:
        return math.ceil(len(self.y_train) / self.world_size)

    def __len__(self) -> int:
        if self.groups is not None:
            sizes = np.unique(self.groups, return_counts=True)[1]
            return math.ceil(int(np.ceil(sizes / self.batch_size).sum()) / self.world_size)
        return math.ceil(self.beats_per_rank() / self.batch_size)

    def __iter__(self) -> Iterator[tuple[np.ndarray, int]]:
        # Seeded per epoch, so a resumed run draws exactly as an uninterrupted one.
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        if self.groups is not None:
            batches = record_batches(self.groups, self.batch_size, generator)
            # Every rank runs as many batches: the first ones are dealt again to fill the last round.
            batches = [batches[k % len(batches)] for k in range(len(self) * self.world_size)]
            for k in range(self.rank, len(batches), self.world_size):
                yield np.sort(self.train_index[batches[k]]), batch_seed(self.seed, self.epoch, k)
            return
        order = epoch_order(self.y_train, self.sampling, generator)
        mine = shard(order, self.rank, self.world_size).numpy()
        for k, start in enumerate(range(0, len(mine), self.batch_size)):
            index = np.sort(self.train_index[mine[start : start + self.batch_size]])
            # Numbered over all ranks, so no two ranks augment with the same seed.
            yield index, batch_seed(self.seed, self.epoch, k * self.world_size + self.rank)


class TrainBatches(Dataset):
    """Training batches as dataset items, for a DataLoader with ``batch_size=None`` and an ``EpochBatches``
    sampler: item ``(index, seed)`` -> ``(x (b, 1, L), context (b, n_context) or None, y (b,))``, CPU tensors;
    x augmented (with a generator seeded by ``seed``, before standardisation, on the raw window) and
    standardised, context standardised.

    Only the beat arrays are kept (X may be a store's ShardedArray, which pickles as its paths), so a
    worker process started by spawn gets little to copy.
    """

    def __init__(self, beats: BeatSet, scaling: Scaling, augment: list[str]) -> None:
        self.X, self.y = beats.X, beats.y
        self.context = beats.context if scaling.n_context else None
        self.scaling, self.augment, self.fs = scaling, list(augment), beats.window.fs
        self.r_peak = beats.window.r_peak
        self.mean, self.std = torch.from_numpy(scaling.mean), torch.from_numpy(scaling.std)

    def __getitem__(self, item: tuple[np.ndarray, int]):
        index, seed = item
        try:
            x = torch.from_numpy(np.asarray(self.X[index], dtype=np.float32)).unsqueeze(1)
        except ArrhythmiaError as exc:
            if get_worker_info() is None:
                raise
            # From a worker: handed back as the item, so the main process raises it as the one-line
            # error it is (DataLoader would re-raise it with the worker's traceback in the message).
            return exc
        if self.augment:
            x = augment(x, torch.Generator().manual_seed(seed), kinds=self.augment, fs=self.fs, centre=self.r_peak)
        x = (x - self.mean) / self.std
        context = None if self.context is None else torch.from_numpy(self.scaling.context(self.context[index]))
        return x, context, torch.from_numpy(self.y[index])


def loader_workers(requested: int | None, X: np.ndarray | ShardedArray, local_world_size: int = 1) -> int:
    """DataLoader worker processes reading training batches ahead: ``requested``, else 0 for beats in
    memory (a batch is one fancy index there; workers would only add pickling), else -- beats read from a
    store's files -- up to 4, leaving one CPU per training process free."""
    if requested is not None:
        return requested
    if isinstance(X, np.ndarray):
        return 0
    return max(0, min(4, usable_cpus() // max(1, local_world_size) - 1))


class LazyRows:
    """Rows ``index`` of an array, read only when sliced: validation and test batches from a beat store.

    X : (n, ...) array or ``ShardedArray``; index : (k,) int64 rows of X. Behaves as the (k, ...) array
    ``X[index]`` for ``len``, ``shape``, ``ndim`` and slicing, without reading it whole.
    """

    def __init__(self, X: np.ndarray | ShardedArray, index: np.ndarray) -> None:
        self.X, self.index = X, index

    def __len__(self) -> int:
        return len(self.index)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.index), *self.X.shape[1:])

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def dtype(self) -> np.dtype:
        return self.X.dtype

    def __getitem__(self, item: slice) -> np.ndarray:
        return np.asarray(self.X[self.index[item]])
