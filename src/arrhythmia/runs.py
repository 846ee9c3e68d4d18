"""The run directory: one folder per experiment holding its config, history, checkpoints and metrics.

Layout of ``runs/<name>/``::

    config.json     the TrainConfig of the run
    environment.json  package versions, device, git commit
    history.csv     one row per epoch: losses, accuracies, learning rate, seconds
    model.pt        best checkpoint (lowest validation loss) with standardisation and classes
    last.pt         training state after the last finished epoch, for --resume
    data.json       data source, protocol, split sizes and class counts
    metrics.json    test metrics (see arrhythmia.evaluation)
"""

from __future__ import annotations

import csv
import io
import json
import platform
import subprocess
import time
from importlib import metadata
from pathlib import Path

from arrhythmia.data.cache import atomic_write_bytes
from arrhythmia.errors import ArrhythmiaError

RUNS_ROOT = Path("runs")
HISTORY_FIELDS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds")


def new_run_dir(model: str, protocol: str, root: Path = RUNS_ROOT) -> Path:
    """A fresh ``root/<model>-<protocol>-<timestamp>`` directory."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = root / f"{model}-{protocol}-{stamp}"
    suffix = 1
    while path.exists():
        suffix += 1
        path = root / f"{model}-{protocol}-{stamp}-{suffix}"
    path.mkdir(parents=True)
    return path


def write_text_atomic(path: Path, text: str) -> None:
    atomic_write_bytes(Path(path), lambda tmp: tmp.write_text(text))


def write_json(path: Path, data: dict) -> None:
    write_text_atomic(path, json.dumps(data, indent=2) + "\n")


def read_json(path: Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ArrhythmiaError(f"{path}: file does not exist (is this a run directory?)")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ArrhythmiaError(f"{path}: not valid JSON ({exc})") from None


def write_history(path: Path, history: list[dict]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=HISTORY_FIELDS)
    writer.writeheader()
    writer.writerows(history)
    write_text_atomic(path, buffer.getvalue())


def read_history(path: Path) -> list[dict]:
    with Path(path).open(newline="") as fh:
        return [{k: float(v) if k != "epoch" else int(v) for k, v in row.items()} for row in csv.DictReader(fh)]


def environment(device: str) -> dict:
    """What produced a run: versions, platform, device, git commit (when run from a checkout)."""
    versions = {}
    for package in ("arrhythmia", "torch", "numpy", "scipy", "scikit-learn", "wfdb"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    try:
        commit = (
            subprocess.run(
                ["git", "rev-parse", "HEAD"],
                capture_output=True,
                text=True,
                timeout=5,
                cwd=Path(__file__).resolve().parent,
            ).stdout.strip()
            or None
        )
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {
        "versions": versions,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device": device,
        "git_commit": commit,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
