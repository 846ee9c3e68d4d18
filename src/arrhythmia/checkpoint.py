"""Checkpoint files: written atomically, read with ``torch.load(weights_only=True)`` so no code runs.

Two kinds, told apart by their ``format`` entry:

- ``model.pt`` (``MODEL_FORMAT``): the best weights plus what inference needs (model name, classes,
  input length, the standardisation fitted on the training split).
- ``last.pt`` (``RESUME_FORMAT``): the whole training state after the last finished epoch, for ``--resume``.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from arrhythmia.data.cache import atomic_write_bytes
from arrhythmia.errors import ArrhythmiaError

MODEL_FORMAT = "arrhythmia-model/1"
RESUME_FORMAT = "arrhythmia-resume/1"


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    """Write ``state`` to ``path`` via a temporary file and a rename: a kill never leaves half a file."""
    atomic_write_bytes(Path(path), lambda tmp: torch.save(state, tmp))


def load_checkpoint(path: str | Path, expected_format: str = MODEL_FORMAT) -> dict[str, Any]:
    """Read a checkpoint written by ``save_checkpoint``; ArrhythmiaError for anything else."""
    path = Path(path)
    if not path.is_file():
        raise ArrhythmiaError(f"{path}: checkpoint does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # torch raises this both for files that would build arbitrary objects and for broken pickle streams.
        if "Unsupported global" in str(exc):
            raise ArrhythmiaError(
                f"{path}: refused: the checkpoint holds objects other than weights (foreign or unsafe file)"
            ) from None
        raise ArrhythmiaError(f"{path}: not a readable checkpoint (corrupt or truncated)") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ArrhythmiaError(f"{path}: not a readable checkpoint (corrupt or truncated: {exc})") from None
    if not isinstance(state, dict) or state.get("format") != expected_format:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise ArrhythmiaError(f"{path}: not an arrhythmia checkpoint of format {expected_format} (found {found!r})")
    return state
