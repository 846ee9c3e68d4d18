"""Pick the compute device: CUDA, then Apple MPS, then CPU, unless the user forces one; count the CPUs."""

from __future__ import annotations

import os

import torch

from arrhythmia.errors import ArrhythmiaError


def pick_device(requested: str = "auto") -> torch.device:
    """``"auto"`` picks the fastest available; ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or ``"mps"`` force one."""
    if requested == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(requested)
    except RuntimeError:
        raise ArrhythmiaError(f"unknown device {requested!r} (auto, cpu, cuda, cuda:N or mps)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ArrhythmiaError("device 'cuda' requested but CUDA is not available")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ArrhythmiaError("device 'mps' requested but Apple MPS is not available")
    return device


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask where the system has one: containers, taskset)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
