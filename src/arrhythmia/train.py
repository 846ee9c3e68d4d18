"""Training: one plain loop (Adam, ReduceLROnPlateau, early stopping, best checkpoint), resumable.

run_dir = train(TrainConfig(model="seed-cnn", data="../shared/data/mitdb", protocol="intra"))

``train`` prepares the data once (beats, split, standardisation) and calls ``fit`` for each model of the
run (one, or the members of an ensemble); ``fit`` is the loop itself.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from sklearn.preprocessing import StandardScaler
from sklearn.utils.class_weight import compute_class_weight
from torch import nn
from torch.utils.data import WeightedRandomSampler
from tqdm import tqdm

from arrhythmia.augment import augment
from arrhythmia.checkpoint import MODEL_FORMAT, RESUME_FORMAT, load_checkpoint, save_checkpoint
from arrhythmia.config import TrainConfig
from arrhythmia.data import BeatSet, get_window, load_beats, make_split
from arrhythmia.data.rhythm import RR_FEATURES
from arrhythmia.device import pick_device
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
    """Standardisation of the training beats (and their RR features), fitted in chunks so a memory-mapped
    beat store is never read whole. Only training beats: validation and test stay unseen."""
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


def _batch(beats: BeatSet, index: np.ndarray, scaling: Scaling, config: TrainConfig, generator=None):
    """Standardised inputs of the beats at ``index``: (x (b, 1, L), rr (b, n_rr) or None), both CPU float32;
    augmented (before standardisation, on the raw window) when a generator is given."""
    x = torch.from_numpy(np.asarray(beats.X[index], dtype=np.float32)).unsqueeze(1)
    if generator is not None and config.augment:
        x = augment(x, generator, kinds=config.augment, fs=beats.window.fs)
    x = (x - torch.from_numpy(scaling.mean)) / torch.from_numpy(scaling.std)
    rr = scaling.rr(beats.rr[index]) if scaling.n_rr else None
    return x, None if rr is None else torch.from_numpy(rr)


def _validation_loss(model, beats, val_index, scaling, loss_fn, device) -> tuple[float, float]:
    """Mean loss and accuracy on the validation beats."""
    if len(val_index) == 0:
        return math.nan, math.nan
    rr = beats.rr[val_index] if scaling.n_rr else None
    probs = softmax_batches(model, LazyRows(beats.X, val_index), device, rr=rr, scaling=scaling)
    y = beats.y[val_index]
    logp = torch.log(torch.from_numpy(probs).clamp_min(1e-12))
    weight = loss_fn.weight.cpu() if loss_fn.weight is not None else None
    return float(nn.functional.nll_loss(logp, torch.from_numpy(y), weight=weight)), float((probs.argmax(1) == y).mean())


class LazyRows:
    """Rows ``index`` of an array, read only when sliced: validation batches from a beat store."""

    def __init__(self, X, index: np.ndarray):
        self.X, self.index = X, index

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, item: slice) -> np.ndarray:
        return np.asarray(self.X[self.index[item]])


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

    Parameters
    ----------
    config : the run's settings (saved as ``config.json``).
    run_dir : where to write; a new ``runs/<model>-<protocol>-<time>`` directory when None.
    resume : continue the run in ``run_dir`` from its ``last.pt`` (each ensemble member from its own).
    beats : the beat set to use instead of loading ``config.data`` (for the Python API and tests).
    report : write the figures and ``report.html`` at the end.

    Returns the run directory.
    """
    config.validate()
    if config.threads:
        torch.set_num_threads(config.threads)
    device = pick_device(config.device)
    if resume:
        if run_dir is None or not (Path(run_dir) / "config.json").is_file():
            raise ArrhythmiaError(f"{run_dir}: nothing to resume (not a run directory: no config.json)")
        run_dir = Path(run_dir)
    else:
        run_dir = Path(run_dir) if run_dir else new_run_dir(config.model, config.protocol)
        run_dir.mkdir(parents=True, exist_ok=True)
        config.save(run_dir / "config.json")
        write_json(run_dir / "environment.json", environment(str(device)))

    window = get_window(config.window)
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
    write_json(run_dir / "data.json", describe_data(beats, split, config))
    scaling = fit_scaling(beats, split.train, config.rr_features)
    log(
        f"{beats.description}, {config.window} window, protocol {config.protocol}: {len(split.train):,} train / "
        f"{len(split.val):,} val / {len(split.test):,} test beats"
    )

    member_dirs = [run_dir] if config.ensemble == 1 else [run_dir / "members" / str(k) for k in range(config.ensemble)]
    for k, member_dir in enumerate(member_dirs):
        if config.ensemble > 1:
            log(f"ensemble member {k + 1}/{config.ensemble} (seed {config.seed + k})")
        fit(config, member_dir, beats, split, scaling, config.seed + k, device, resume, log, progress)
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
) -> None:
    """Train one model on ``split.train``, keeping the checkpoint with the lowest validation loss in
    ``run_dir/model.pt`` and the state after every epoch in ``run_dir/last.pt``."""
    run_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    n_classes = len(beats.classes)
    model = create_model(config.model, n_classes=n_classes, input_length=beats.window.length, n_rr=scaling.n_rr)
    model = model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="min", factor=config.lr_factor, patience=config.lr_patience
    )
    y_train = beats.y[split.train]
    loss_fn = _loss_function(y_train, n_classes, config).to(device)

    history: list[dict] = []
    best_val_loss, stale_epochs, start_epoch, finished = math.inf, 0, 0, False
    if resume and (run_dir / RESUME_FILE).is_file():
        state = load_checkpoint(run_dir / RESUME_FILE, RESUME_FORMAT)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"])
        history, best_val_loss = state["history"], state["best_val_loss"]
        stale_epochs, start_epoch = state["stale_epochs"], state["epoch"] + 1
        finished = state.get("finished", False)
        if finished:
            return
        log(f"resuming {run_dir} after epoch {start_epoch}")

    total, trainable = count_parameters(model)
    log(f"{config.model}: {total:,} parameters ({trainable:,} trainable) on {device}")

    def save_state(epoch: int, finished: bool) -> None:
        save_checkpoint(
            {
                "format": RESUME_FORMAT,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "rng": torch.get_rng_state(),
                "history": history,
                "best_val_loss": best_val_loss,
                "stale_epochs": stale_epochs,
                "epoch": epoch,
                "finished": finished,
            },
            run_dir / RESUME_FILE,
        )

    epoch = start_epoch - 1
    try:
        for epoch in range(start_epoch, config.epochs):
            if stale_epochs >= config.early_stopping_patience:
                break
            started = time.perf_counter()
            model.train()
            # Seeded per epoch, so a resumed run draws exactly as an uninterrupted one.
            order = epoch_order(y_train, config.sampling, torch.Generator().manual_seed(seed + epoch))
            augmenter = torch.Generator().manual_seed(seed * 7919 + epoch)
            loss_sum, correct = 0.0, 0
            batches = range(0, len(order), config.batch_size)
            bar = tqdm(
                batches,
                desc=f"epoch {epoch + 1}/{config.epochs}",
                leave=False,
                disable=None if progress else True,
                unit="batch",
            )
            for start in bar:
                # Sorted: a batch is a set, and sorted rows read faster from a memory-mapped store.
                index = np.sort(split.train[order[start : start + config.batch_size].numpy()])
                x, rr = _batch(beats, index, scaling, config, augmenter)
                yb = torch.from_numpy(beats.y[index]).to(device)
                logits = model(x.to(device), None if rr is None else rr.to(device))
                loss = loss_fn(logits, yb)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                loss_sum += loss.item() * len(index)
                correct += (logits.argmax(1) == yb).sum().item()
            val_loss, val_acc = _validation_loss(model, beats, split.val, scaling, loss_fn, device)
            scheduler.step(val_loss)
            row = {
                "epoch": epoch + 1,
                "train_loss": loss_sum / len(order),
                "train_acc": correct / len(order),
                "val_loss": val_loss,
                "val_acc": val_acc,
                "lr": optimizer.param_groups[0]["lr"],
                "seconds": time.perf_counter() - started,
            }
            history.append(row)
            improved = val_loss < best_val_loss
            if improved:
                best_val_loss, stale_epochs = val_loss, 0
                save_checkpoint(
                    {
                        "format": MODEL_FORMAT,
                        "model": config.model,
                        "state_dict": model.state_dict(),
                        "classes": list(beats.classes),
                        "input_length": beats.window.length,
                        "window": beats.window.to_dict(),
                        "n_rr": scaling.n_rr,
                        "rr_features": list(RR_FEATURES) if scaling.n_rr else [],
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
