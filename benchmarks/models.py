"""Training seconds per epoch and test-set inference speed of every registered model.

    python benchmarks/models.py [--data ../shared/data/mitdb] [--batches 100] [--threads 2]

Uses the intra-patient split of the data (MIT-BIH by default). One training epoch is timed over
``--batches`` batches of the run's default size (128) and scaled to the full training split;
``--batches 0`` times a whole epoch. Inference runs the PyTorch model in eval mode on the whole
test split at batch 1024. Prints one table; nothing is written.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from machine import noted_machine
from torch import nn

from arrhythmia.config import TrainConfig
from arrhythmia.data import load_beats, make_split
from arrhythmia.inference import softmax_batches
from arrhythmia.models import count_parameters, create_model, list_models


def time_training(model: nn.Module, X: torch.Tensor, y: torch.Tensor, batch_size: int, batches: int) -> float:
    """Seconds for one epoch over X: (n, 1, 187), measured on ``batches`` batches (0: all) and scaled."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)
    loss_fn = nn.CrossEntropyLoss()
    order = torch.randperm(len(X), generator=torch.Generator().manual_seed(0))
    starts = list(range(0, len(X), batch_size))
    timed = starts if batches == 0 else starts[:batches]
    model.train()
    for start in timed[:2]:  # warm-up: first calls allocate and pick kernels
        idx = order[start : start + batch_size]
        loss_fn(model(X[idx]), y[idx]).backward()
    began = time.perf_counter()
    for start in timed:
        idx = order[start : start + batch_size]
        loss = loss_fn(model(X[idx]), y[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return (time.perf_counter() - began) * len(starts) / len(timed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/mitdb")
    parser.add_argument("--batches", type=int, default=100, help="training batches to time (0: a whole epoch)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    beats = load_beats(args.data, progress=False)
    split = make_split(beats, "intra")
    mean, std = beats.X[split.train].mean(0), beats.X[split.train].std(0) + 1e-6
    X_train = torch.from_numpy((beats.X[split.train] - mean) / std).unsqueeze(1)
    y_train = torch.from_numpy(beats.y[split.train])
    X_test = ((beats.X[split.test] - mean) / std).astype(np.float32)
    batch_size = TrainConfig().batch_size

    print(
        f"{beats.description}: {len(split.train):,} training beats, {len(split.test):,} test beats; "
        f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads"
    )
    columns = ["model", "parameters", f"train s/epoch (batch {batch_size})", "inference beats/s (batch 1024)"]
    widths = [16, 10, 26, 30]
    print("| " + " | ".join(c.ljust(w) for c, w in zip(columns, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    device = torch.device("cpu")
    for name in list_models():
        torch.manual_seed(0)
        model = create_model(name, n_classes=len(beats.classes))
        epoch_s = time_training(model, X_train, y_train, batch_size, args.batches)
        softmax_batches(model, X_test[:2048], device)  # warm-up
        began = time.perf_counter()
        softmax_batches(model, X_test, device, batch_size=1024)
        beats_per_s = len(X_test) / (time.perf_counter() - began)
        total, _ = count_parameters(model)
        cells = [name.ljust(16), f"{total:>10,}", f"{epoch_s:>26.1f}", f"{beats_per_s:>30,.0f}"]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    with noted_machine():
        main()
