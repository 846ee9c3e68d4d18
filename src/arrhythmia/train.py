"""Training: one plain loop (Adam, ReduceLROnPlateau, early stopping, best checkpoint), resumable.

run_dir = train(TrainConfig(model="seed-cnn", data="../shared/data/mitdb", protocol="intra"))

``train`` prepares the data once (beats, split, standardisation) and calls ``fit`` for each model of the
run (one, or the members of an ensemble); ``fit`` is the loop itself.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
from sklearn.preprocessing import StandardScaler
from sklearn.utils.class_weight import compute_class_weight
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler, WeightedRandomSampler, get_worker_info
from tqdm import tqdm

from arrhythmia import distributed
from arrhythmia.augment import augment
from arrhythmia.checkpoint import MODEL_FORMAT, RESUME_FORMAT, load_checkpoint, save_checkpoint
from arrhythmia.config import TrainConfig
from arrhythmia.data import BeatSet, get_window, load_beats, make_split
from arrhythmia.data.rhythm import CONTEXT_FEATURES
from arrhythmia.distributed import SINGLE, Context, all_reduce_sum, shard
from arrhythmia.errors import ArrhythmiaError
from arrhythmia.inference import MODEL_FILE, Scaling, softmax_batches
from arrhythmia.losses import FocalLoss
from arrhythmia.models import count_parameters, create_model
from arrhythmia.runs import environment, new_run_dir, read_history, read_json, write_history, write_json

RESUME_FILE = "last.pt"


class TrainingInterrupted(ArrhythmiaError):
    """Ctrl-C during training; the last finished epoch is saved and ``--resume`` continues from it."""


def describe_data(beats: BeatSet, split, config: TrainConfig) -> dict:
    """What the run trained on, for data.json and the report."""
    from arrhythmia.data.sources import citation

    return {
        "source": beats.source,
        "description": beats.description,
        "synthetic": beats.synthetic,
        "citation": citation(beats.source),
        "protocol": config.protocol,
        "split_note": split.note,
        "classes": list(beats.classes),
        "counts": split.class_counts(beats),
    }


def fit_scaling(beats: BeatSet, train_index: np.ndarray, rr: bool, chunk: int = 65_536) -> Scaling:
    """Standardisation of the training beats (and their RR features), fitted in chunks so a beat store is
    never read whole. Only training beats: validation and test stay unseen."""
    beat_scaler, rr_scaler = StandardScaler(), StandardScaler()
    for start in range(0, len(train_index), chunk):
        rows = np.sort(train_index[start : start + chunk])
        beat_scaler.partial_fit(np.asarray(beats.X[rows], dtype=np.float64))
        if rr:
            rr_scaler.partial_fit(beats.rr[rows])
    as_f32 = lambda a: a.astype(np.float32)  # noqa: E731
    if not rr:
        return Scaling(as_f32(beat_scaler.mean_), as_f32(beat_scaler.scale_))
    return Scaling(*map(as_f32, (beat_scaler.mean_, beat_scaler.scale_, rr_scaler.mean_, rr_scaler.scale_)))


def _loss_function(y_train: np.ndarray, n_classes: int, config: TrainConfig) -> nn.Module:
    weights = None
    if config.class_weights == "balanced":
        present = np.unique(y_train)
        weights = np.ones(n_classes)
        weights[present] = compute_class_weight("balanced", classes=present, y=y_train)
        weights = torch.tensor(weights, dtype=torch.float32)
    if config.loss == "focal":
        return FocalLoss(gamma=config.focal_gamma, weight=weights)
    return nn.CrossEntropyLoss(weight=weights)


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


def _batch_seed(seed: int, epoch: int, number: int) -> int:
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
    ``batch_size * world_size`` beats.
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
    ) -> None:
        self.y_train, self.train_index, self.sampling = y_train, train_index, sampling
        self.batch_size, self.seed, self.rank, self.world_size = batch_size, seed, rank, world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def beats_per_rank(self) -> int:
        return math.ceil(len(self.y_train) / self.world_size)

    def __len__(self) -> int:
        return math.ceil(self.beats_per_rank() / self.batch_size)

    def __iter__(self) -> Iterator[tuple[np.ndarray, int]]:
        # Seeded per epoch, so a resumed run draws exactly as an uninterrupted one.
        order = epoch_order(self.y_train, self.sampling, torch.Generator().manual_seed(self.seed + self.epoch))
        mine = shard(order, self.rank, self.world_size).numpy()
        for k, start in enumerate(range(0, len(mine), self.batch_size)):
            index = np.sort(self.train_index[mine[start : start + self.batch_size]])
            # Numbered over all ranks, so no two ranks augment with the same seed.
            yield index, _batch_seed(self.seed, self.epoch, k * self.world_size + self.rank)


class TrainBatches(Dataset):
    """Training batches as dataset items, for a DataLoader with ``batch_size=None`` and an ``EpochBatches``
    sampler: item ``(index, seed)`` -> ``(x (b, 1, L), rr (b, n_rr) or None, y (b,))``, CPU tensors;
    x augmented (with a generator seeded by ``seed``, before standardisation, on the raw window) and
    standardised, rr standardised.

    Only the beat arrays are kept (X may be a store's ShardedArray, which pickles as its paths), so a
    worker process started by spawn gets little to copy.
    """

    def __init__(self, beats: BeatSet, scaling: Scaling, augment: list[str]) -> None:
        self.X, self.y = beats.X, beats.y
        self.rr = beats.rr if scaling.n_rr else None
        self.scaling, self.augment, self.fs = scaling, list(augment), beats.window.fs
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
            x = augment(x, torch.Generator().manual_seed(seed), kinds=self.augment, fs=self.fs)
        x = (x - self.mean) / self.std
        rr = None if self.rr is None else torch.from_numpy(self.scaling.rr(self.rr[index]))
        return x, rr, torch.from_numpy(self.y[index])


def loader_workers(requested: int | None, X, local_world_size: int = 1) -> int:
    """DataLoader worker processes reading training batches ahead: ``requested``, else 0 for beats in
    memory (a batch is one fancy index there; workers would only add pickling), else -- beats read from a
    store's files -- up to 4, leaving one CPU per training process free."""
    if requested is not None:
        return requested
    if isinstance(X, np.ndarray):
        return 0
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(0, min(4, cpus // max(1, local_world_size) - 1))


def _validation_loss(model, beats, val_index, scaling, loss_fn, device, ctx: Context = SINGLE) -> tuple[float, float]:
    """Mean loss and accuracy on the validation beats, over all ranks: each rank predicts its share
    ``val_index[rank::world_size]`` and the sums are all-reduced, so every rank gets the same numbers
    (and takes the same learning-rate and early-stopping decisions)."""
    if len(val_index) == 0:
        return math.nan, math.nan
    mine = val_index[ctx.rank :: ctx.world_size]
    # (weighted loss sum, weight sum, correct, beats): the weighted mean is nll_loss's with reduction="mean".
    sums = torch.zeros(4, dtype=torch.float64)
    if len(mine):
        rr = beats.rr[mine] if scaling.n_rr else None
        probs = softmax_batches(model, LazyRows(beats.X, mine), device, rr=rr, scaling=scaling)
        y = torch.from_numpy(beats.y[mine])
        # float32 as in training: a change below its resolution (a learning rate of ~0) is no improvement.
        logp = torch.log(torch.from_numpy(probs).clamp_min(1e-12))
        weight = loss_fn.weight.cpu() if loss_fn.weight is not None else None
        sums[0] = nn.functional.nll_loss(logp, y, weight=weight, reduction="sum")
        sums[1] = len(y) if weight is None else weight[y].sum()
        sums[2] = float((probs.argmax(1) == y.numpy()).sum())
        sums[3] = len(y)
    if ctx.backend == "nccl":
        sums = sums.to(device)
    loss, weights, correct, n = all_reduce_sum(sums, ctx).tolist()
    return loss / weights, correct / n


class LazyRows:
    """Rows ``index`` of an array, read only when sliced: validation and test batches from a beat store.

    X : (n, ...) array or ``ShardedArray``; index : (k,) int64 rows of X. Behaves as the (k, ...) array
    ``X[index]`` for ``len``, ``shape``, ``ndim`` and slicing, without reading it whole.
    """

    def __init__(self, X, index: np.ndarray):
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


def _quiet(_: str) -> None:
    """The log of ranks other than 0: one process reports."""


def train(
    config: TrainConfig,
    run_dir: str | Path | None = None,
    resume: bool = False,
    beats: BeatSet | None = None,
    log: Callable[[str], None] = print,
    progress: bool = True,
    report: bool = True,
) -> Path:
    """Train ``config.model`` (``config.ensemble`` of them) and evaluate the best checkpoint on the test split.

    Under torchrun (``WORLD_SIZE`` > 1 in the environment) every process calls this: it joins the process
    group (gloo on the CPU, nccl on CUDA with the GPU numbered ``LOCAL_RANK``), trains its share of each
    epoch in DistributedDataParallel (``config.batch_size`` beats per process and step, so
    ``batch_size * WORLD_SIZE`` per step in all), and leaves the group at the end, also on an error. Only
    rank 0 logs, writes the run directory and evaluates; see ``arrhythmia.distributed``.

    Parameters
    ----------
    config : the run's settings (saved as ``config.json``).
    run_dir : where to write; a new ``runs/<model>-<protocol>-<time>`` directory when None.
    resume : continue the run in ``run_dir`` from its ``last.pt`` (each ensemble member from its own).
    beats : the beat set to use instead of loading ``config.data`` (for the Python API and tests).
    report : write the figures and ``report.html`` at the end.

    Returns the run directory (on every rank; ranks other than 0 return when training ends, before
    rank 0's evaluation).
    """
    config.validate()
    if config.threads:
        torch.set_num_threads(config.threads)
    ctx, device = distributed.setup(config.device)
    try:
        if not ctx.is_main:
            log, progress = _quiet, False
        return _train(config, run_dir, resume, beats, log, progress, report, ctx, device)
    finally:
        distributed.teardown(ctx)


def _train(config, run_dir, resume, beats, log, progress, report, ctx: Context, device: torch.device) -> Path:
    if resume:
        if run_dir is None or not (Path(run_dir) / "config.json").is_file():
            raise ArrhythmiaError(f"{run_dir}: nothing to resume (not a run directory: no config.json)")
        run_dir = Path(run_dir)
    else:
        if ctx.is_main:
            run_dir = Path(run_dir) if run_dir else new_run_dir(config.model, config.protocol)
            run_dir.mkdir(parents=True, exist_ok=True)
            config.save(run_dir / "config.json")
            setup = environment(str(device))
            if ctx.enabled:
                setup["distributed"] = {
                    "world_size": ctx.world_size,
                    "backend": ctx.backend,
                    "batch_size_per_process": config.batch_size,
                    "effective_batch_size": config.batch_size * ctx.world_size,
                }
            write_json(run_dir / "environment.json", setup)
        # Rank 0 names the directory (a timestamp could differ between nodes); the others create nothing.
        run_dir = Path(distributed.broadcast_object(str(run_dir) if ctx.is_main else None, ctx))

    window = get_window(config.window)
    with distributed.local_main_first(ctx):  # a download or beat cache made once per node
        beats = beats if beats is not None else load_beats(config.data, progress=progress, window=window)
    if beats.window != window:
        raise ArrhythmiaError(
            f"{beats.source}: beats were cut with the {beats.window.kind!r} window, config says {config.window!r}"
        )
    if config.rr_features and beats.rr is None:
        raise ArrhythmiaError(f"{beats.source}: no R-peak positions, so no RR features (set rr_features: false)")
    split = make_split(beats, config.protocol, config.seed)
    if len(split.train) == 0 or len(split.val) == 0:
        raise ArrhythmiaError(f"{beats.source}: too few beats to split ({len(beats)})")
    if ctx.is_main:
        write_json(run_dir / "data.json", describe_data(beats, split, config))
    # Fitted once (it reads the whole training split) and shared: every rank standardises identically.
    scaling = distributed.broadcast_object(
        fit_scaling(beats, split.train, config.rr_features) if ctx.is_main else None, ctx
    )
    log(
        f"{beats.description}, {config.window} window, protocol {config.protocol}: {len(split.train):,} train / "
        f"{len(split.val):,} val / {len(split.test):,} test beats"
    )
    if ctx.enabled:
        log(
            f"distributed: {ctx.world_size} processes ({ctx.backend}), {config.batch_size} beats per process "
            f"and step, {config.batch_size * ctx.world_size} per step in all"
        )
    if config.amp and device.type != "cuda":
        log(f"--amp ignored: mixed precision is used on CUDA only, this run is on {device.type}")

    member_dirs = [run_dir] if config.ensemble == 1 else [run_dir / "members" / str(k) for k in range(config.ensemble)]
    for k, member_dir in enumerate(member_dirs):
        if config.ensemble > 1:
            log(f"ensemble member {k + 1}/{config.ensemble} (seed {config.seed + k})")
        fit(config, member_dir, beats, split, scaling, config.seed + k, device, resume, log, progress, ctx)
    if not ctx.is_main:
        return run_dir
    if config.ensemble > 1:
        states = [load_checkpoint(d / MODEL_FILE, MODEL_FORMAT) for d in member_dirs]
        members = [{"model": s["model"], "state_dict": s["state_dict"]} for s in states]
        save_checkpoint({**states[0], "members": members, "state_dict": {}, "epoch": None}, run_dir / MODEL_FILE)
        write_history(run_dir / "history.csv", read_history(member_dirs[0] / "history.csv"))

    from arrhythmia.evaluation import evaluate_run

    evaluate_run(run_dir, beats=beats, log=log, report=report)
    return run_dir


def fit(
    config: TrainConfig,
    run_dir: Path,
    beats: BeatSet,
    split,
    scaling: Scaling,
    seed: int,
    device: torch.device,
    resume: bool,
    log: Callable[[str], None],
    progress: bool,
    ctx: Context = SINGLE,
) -> None:
    """Train one model on ``split.train``, keeping the checkpoint with the lowest validation loss in
    ``run_dir/model.pt`` and the state after every epoch in ``run_dir/last.pt`` (written by rank 0 only,
    with the unwrapped model's weights: the same files as a single-process run)."""
    if ctx.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    n_classes = len(beats.classes)
    net = create_model(config.model, n_classes=n_classes, input_length=beats.window.length, n_rr=scaling.n_rr)
    net = net.to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="min", factor=config.lr_factor, patience=config.lr_patience
    )
    use_amp = config.amp and device.type == "cuda"
    # float16 needs its gradients scaled up against underflow; disabled, the scaler passes everything through.
    scaler = torch.amp.GradScaler(device.type, enabled=use_amp)
    y_train = beats.y[split.train]
    loss_fn = _loss_function(y_train, n_classes, config).to(device)

    history: list[dict] = []
    best_val_loss, stale_epochs, start_epoch = math.inf, 0, 0
    if resume:
        # Rank 0 reads last.pt and hands it to the others: every rank continues from one state, and only
        # rank 0 needs to see the file.
        state = None
        if ctx.is_main and (run_dir / RESUME_FILE).is_file():
            state = load_checkpoint(run_dir / RESUME_FILE, RESUME_FORMAT)
        state = distributed.broadcast_object(state, ctx)
        if state is not None:
            net.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            if state.get("scaler"):
                scaler.load_state_dict(state["scaler"])
            torch.set_rng_state(state["rng"])
            history, best_val_loss = state["history"], state["best_val_loss"]
            stale_epochs, start_epoch = state["stale_epochs"], state["epoch"] + 1
            if state.get("finished", False):
                return
            log(f"resuming {run_dir} after epoch {start_epoch}")

    total, trainable = count_parameters(net)
    log(f"{config.model}: {total:,} parameters ({trainable:,} trainable) on {device}")
    model = distributed.wrap(net, ctx, device)  # DDP around net; net's state_dict has no "module." prefix

    def save_state(epoch: int, finished: bool) -> None:
        if not ctx.is_main:
            return
        save_checkpoint(
            {
                "format": RESUME_FORMAT,
                "model": net.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "scaler": scaler.state_dict(),
                "rng": torch.get_rng_state(),
                "history": history,
                "best_val_loss": best_val_loss,
                "stale_epochs": stale_epochs,
                "epoch": epoch,
                "finished": finished,
            },
            run_dir / RESUME_FILE,
        )

    batches = EpochBatches(y_train, split.train, config.sampling, config.batch_size, seed, ctx.rank, ctx.world_size)
    workers = loader_workers(config.workers, beats.X, ctx.local_world_size)
    # Workers read (and augment) the next batches while this process trains on the current one.
    loader = DataLoader(
        TrainBatches(beats, scaling, config.augment),
        batch_size=None,
        sampler=batches,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        persistent_workers=workers > 0,
        # Spawned, not forked: forked workers, which inherit the parent's open shard files and their
        # state, read wrong rows of a store in about one test run in six.
        multiprocessing_context="spawn" if workers > 0 else None,
    )
    # Loss, correct and beat sums stay on the device (no synchronisation per batch); float64 where it exists.
    sum_dtype = torch.float32 if device.type == "mps" else torch.float64
    epoch = start_epoch - 1
    try:
        for epoch in range(start_epoch, config.epochs):
            if stale_epochs >= config.early_stopping_patience:
                break
            started = time.perf_counter()
            model.train()
            batches.set_epoch(epoch)
            sums = torch.zeros(3, dtype=sum_dtype, device=device)  # loss * beats, correct, beats
            bar = tqdm(
                loader,
                total=len(batches),
                desc=f"epoch {epoch + 1}/{config.epochs}",
                leave=False,
                disable=None if progress else True,
                unit="batch",
            )
            for item in bar:
                if isinstance(item, ArrhythmiaError):  # a batch a worker could not read
                    raise item
                x, rr, yb = (None if t is None else t.to(device, non_blocking=True) for t in item)
                with torch.autocast(device.type, dtype=torch.float16, enabled=use_amp):
                    logits = model(x, rr)
                    loss = loss_fn(logits, yb)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                sums[0] += loss.detach().to(sum_dtype) * len(yb)
                sums[1] += (logits.argmax(1) == yb).sum()
                sums[2] += len(yb)
            loss_sum, correct, seen = all_reduce_sum(sums, ctx).tolist()  # over all ranks: history is global
            distributed.sync_buffers(net, ctx)
            val_loss, val_acc = _validation_loss(net, beats, split.val, scaling, loss_fn, device, ctx)
            scheduler.step(val_loss)
            row = {
                "epoch": epoch + 1,
                "train_loss": loss_sum / seen,
                "train_acc": correct / seen,
                "val_loss": val_loss,
                "val_acc": val_acc,
                "lr": optimizer.param_groups[0]["lr"],
                "seconds": time.perf_counter() - started,
            }
            history.append(row)
            improved = val_loss < best_val_loss
            if improved:
                best_val_loss, stale_epochs = val_loss, 0
                if ctx.is_main:
                    save_checkpoint(
                        {
                            "format": MODEL_FORMAT,
                            "model": config.model,
                            "state_dict": net.state_dict(),
                            "classes": list(beats.classes),
                            "input_length": beats.window.length,
                            "window": beats.window.to_dict(),
                            "n_rr": scaling.n_rr,
                            "rr_features": list(CONTEXT_FEATURES) if scaling.n_rr else [],
                            **scaling.to_state(),
                            "epoch": epoch + 1,
                            "val_loss": val_loss,
                            "synthetic": beats.synthetic,
                        },
                        run_dir / MODEL_FILE,
                    )
            else:
                stale_epochs += 1
            save_state(epoch, finished=False)
            if ctx.is_main:
                write_history(run_dir / "history.csv", history)
            log(
                f"epoch {epoch + 1:3d}/{config.epochs}  train loss {row['train_loss']:.4f} acc {row['train_acc']:.4f}"
                f" | val loss {val_loss:.4f} acc {val_acc:.4f} | lr {row['lr']:.1e} | {row['seconds']:.1f}s"
                + ("  *best" if improved else "")
            )
    except KeyboardInterrupt:
        raise TrainingInterrupted(
            f"{run_dir}: interrupted; epochs up to {epoch} are saved, continue with "
            f"`arrhythmia train --resume {run_dir}`"
        ) from None
    if stale_epochs >= config.early_stopping_patience:
        log(f"early stopping: no validation improvement for {stale_epochs} epochs")
    save_state(epoch, finished=True)


def load_run_config(run_dir: str | Path) -> TrainConfig:
    return TrainConfig.from_dict(read_json(Path(run_dir) / "config.json"), where=str(Path(run_dir) / "config.json"))
