"""Training: one plain loop (Adam, ReduceLROnPlateau, early stopping, best checkpoint), resumable.

run_dir = train(TrainConfig(model="seed-cnn", data="../shared/data/mitdb", protocol="intra"))
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
from tqdm import tqdm

from arrhythmia.checkpoint import MODEL_FORMAT, RESUME_FORMAT, load_checkpoint, save_checkpoint
from arrhythmia.config import TrainConfig
from arrhythmia.data import BeatSet, load_beats, make_split
from arrhythmia.device import pick_device
from arrhythmia.errors import ArrhythmiaError
from arrhythmia.inference import MODEL_FILE, softmax_batches
from arrhythmia.models import count_parameters, create_model
from arrhythmia.runs import environment, new_run_dir, read_json, write_history, write_json

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


def _standardiser(X_train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scaler = StandardScaler().fit(X_train)
    return scaler.mean_.astype(np.float32), scaler.scale_.astype(np.float32)


def _loss_weights(y_train: np.ndarray, n_classes: int, mode: str) -> torch.Tensor | None:
    if mode == "none":
        return None
    present = np.unique(y_train)
    weights = np.ones(n_classes)
    weights[present] = compute_class_weight("balanced", classes=present, y=y_train)
    return torch.tensor(weights, dtype=torch.float32)


@torch.no_grad()
def _evaluate_loss(model: nn.Module, X: np.ndarray, y: np.ndarray, loss_fn, device) -> tuple[float, float]:
    """Mean loss and accuracy of ``model`` on standardised beats X (n, length) with labels y (n,)."""
    if len(X) == 0:
        return math.nan, math.nan
    probs = softmax_batches(model, X, device)
    logp = torch.log(torch.from_numpy(probs).clamp_min(1e-12))
    loss = nn.functional.nll_loss(
        logp, torch.from_numpy(y), weight=loss_fn.weight.cpu() if loss_fn.weight is not None else None
    )
    return float(loss), float((probs.argmax(1) == y).mean())


def train(
    config: TrainConfig,
    run_dir: str | Path | None = None,
    resume: bool = False,
    beats: BeatSet | None = None,
    log: Callable[[str], None] = print,
    progress: bool = True,
    report: bool = True,
) -> Path:
    """Train ``config.model`` and evaluate its best checkpoint on the test split.

    Parameters
    ----------
    config : the run's settings (saved as ``config.json``).
    run_dir : where to write; a new ``runs/<model>-<protocol>-<time>`` directory when None.
    resume : continue the run in ``run_dir`` from its ``last.pt``.
    beats : the beat set to use instead of loading ``config.data`` (for the Python API and tests).
    report : write the figures and ``report.html`` at the end.

    Returns the run directory.
    """
    config.validate()
    if config.threads:
        torch.set_num_threads(config.threads)
    device = pick_device(config.device)
    if resume:
        if run_dir is None or not (Path(run_dir) / RESUME_FILE).is_file():
            raise ArrhythmiaError(f"{run_dir}: nothing to resume (no {RESUME_FILE} in the run directory)")
        run_dir = Path(run_dir)
    else:
        run_dir = Path(run_dir) if run_dir else new_run_dir(config.model, config.protocol)
        run_dir.mkdir(parents=True, exist_ok=True)
        config.save(run_dir / "config.json")
        write_json(run_dir / "environment.json", environment(str(device)))

    beats = beats if beats is not None else load_beats(config.data, progress=progress)
    split = make_split(beats, config.protocol, config.seed)
    if len(split.train) == 0 or len(split.val) == 0:
        raise ArrhythmiaError(f"{beats.source}: too few beats to split ({len(beats)})")
    write_json(run_dir / "data.json", describe_data(beats, split, config))

    mean, std = _standardiser(beats.X[split.train])
    X_train = torch.from_numpy((beats.X[split.train] - mean) / std).unsqueeze(1)
    y_train = torch.from_numpy(beats.y[split.train])
    X_val, y_val = (beats.X[split.val] - mean) / std, beats.y[split.val]

    torch.manual_seed(config.seed)
    n_classes = len(beats.classes)
    model = create_model(config.model, n_classes=n_classes, input_length=beats.X.shape[1]).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="min", factor=config.lr_factor, patience=config.lr_patience
    )
    weights = _loss_weights(beats.y[split.train], n_classes, config.class_weights)
    loss_fn = nn.CrossEntropyLoss(weight=None if weights is None else weights.to(device))

    history: list[dict] = []
    best_val_loss, stale_epochs, start_epoch = math.inf, 0, 0
    if resume:
        state = load_checkpoint(run_dir / RESUME_FILE, RESUME_FORMAT)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"])
        history, best_val_loss = state["history"], state["best_val_loss"]
        stale_epochs, start_epoch = state["stale_epochs"], state["epoch"] + 1
        log(f"resuming {run_dir} after epoch {start_epoch}")

    total, trainable = count_parameters(model)
    log(
        f"{config.model}: {total:,} parameters ({trainable:,} trainable) on {device}; "
        f"{beats.description}, protocol {config.protocol}: {len(split.train):,} train / "
        f"{len(split.val):,} val / {len(split.test):,} test beats"
    )

    epoch = start_epoch - 1
    try:
        for epoch in range(start_epoch, config.epochs):
            if stale_epochs >= config.early_stopping_patience:
                break
            started = time.perf_counter()
            model.train()
            # Seeded per epoch, so a resumed run shuffles exactly as an uninterrupted one.
            order = torch.randperm(len(X_train), generator=torch.Generator().manual_seed(config.seed + epoch))
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
                idx = order[start : start + config.batch_size]
                xb, yb = X_train[idx].to(device), y_train[idx].to(device)
                logits = model(xb)
                loss = loss_fn(logits, yb)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                loss_sum += loss.item() * len(idx)
                correct += (logits.argmax(1) == yb).sum().item()
            val_loss, val_acc = _evaluate_loss(model, X_val, y_val, loss_fn, device)
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
                        "input_length": int(beats.X.shape[1]),
                        "mean": torch.from_numpy(mean),
                        "std": torch.from_numpy(std),
                        "epoch": epoch + 1,
                        "val_loss": val_loss,
                        "synthetic": beats.synthetic,
                    },
                    run_dir / MODEL_FILE,
                )
            else:
                stale_epochs += 1
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
                },
                run_dir / RESUME_FILE,
            )
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

    from arrhythmia.evaluation import evaluate_run

    evaluate_run(run_dir, beats=beats, log=log, report=report)
    return run_dir


def load_run_config(run_dir: str | Path) -> TrainConfig:
    return TrainConfig.from_dict(read_json(Path(run_dir) / "config.json"), where=str(Path(run_dir) / "config.json"))
