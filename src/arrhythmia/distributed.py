"""Data-parallel training with PyTorch's own ``torch.distributed``: one process per device, started by torchrun.

    torchrun --nproc-per-node 4 -m arrhythmia.cli train --data STORE ...

torchrun starts the processes and tells each one its place in the environment (``RANK``, ``LOCAL_RANK``,
``WORLD_SIZE``, ``LOCAL_WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``). ``setup`` reads it, picks the
process's device (the GPU numbered ``LOCAL_RANK`` on CUDA, else the CPU) and joins the process group
(``nccl`` on CUDA, ``gloo`` on the CPU). Training then wraps the model in ``DistributedDataParallel``, gives
each rank its own share of every epoch (``shard``), reduces the loss sums across ranks (``all_reduce_sum``)
and lets only rank 0 write files. Without torchrun (or with ``WORLD_SIZE=1``) every function here is a
no-op and training runs as one ordinary process.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from arrhythmia.device import pick_device
from arrhythmia.errors import ArrhythmiaError

#: The environment variables torchrun sets for each process it starts.
LAUNCH_VARIABLES = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE")


@dataclass(frozen=True)
class Context:
    """Where this process stands in a distributed run.

    rank : 0 .. world_size - 1 over all nodes; local_rank : on this node (picks the GPU);
    world_size : processes in all; local_world_size : processes on this node;
    backend : ``"gloo"`` or ``"nccl"``, None for a single process;
    owns_group : this module created the process group, so ``teardown`` destroys it (a group the caller
    initialised before calling ``train`` is left to the caller).
    """

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    local_world_size: int = 1
    backend: str | None = None
    owns_group: bool = False

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that logs and writes the run directory."""
        return self.rank == 0


SINGLE = Context()


def from_environment(environ: Mapping[str, str] | None = None) -> Context:
    """The launch torchrun describes in ``environ`` (default ``os.environ``), not yet joined.

    ``SINGLE`` when the variables are absent (a plain ``arrhythmia train``) or ``WORLD_SIZE`` is 1.
    """
    environ = os.environ if environ is None else environ
    if "WORLD_SIZE" not in environ or "RANK" not in environ:
        return SINGLE
    try:
        values = {name: int(environ.get(name, "0")) for name in LAUNCH_VARIABLES}
    except ValueError:
        shown = ", ".join(f"{name}={environ.get(name)!r}" for name in LAUNCH_VARIABLES)
        raise ArrhythmiaError(f"malformed torchrun environment ({shown})") from None
    world_size = values["WORLD_SIZE"]
    if world_size <= 1:
        return SINGLE
    if not 0 <= values["RANK"] < world_size:
        raise ArrhythmiaError(f"RANK={values['RANK']} is outside WORLD_SIZE={world_size}")
    return Context(
        rank=values["RANK"],
        local_rank=values["LOCAL_RANK"],
        world_size=world_size,
        local_world_size=max(1, values["LOCAL_WORLD_SIZE"] or 1),
    )


def _device(requested: str, ctx: Context) -> torch.device:
    """The device of a rank: the GPU numbered LOCAL_RANK on CUDA (one GPU per process), else the CPU."""
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    device = pick_device(requested)
    if device.type == "mps":
        raise ArrhythmiaError(
            "distributed training runs on CUDA (nccl) or the CPU (gloo), not on MPS; use --device cpu"
        )
    if device.type != "cuda":
        return device
    if device.index is not None:
        raise ArrhythmiaError(
            f"under torchrun each process takes the GPU numbered by its LOCAL_RANK: use --device cuda, not {requested}"
        )
    if ctx.local_rank >= torch.cuda.device_count():
        raise ArrhythmiaError(
            f"LOCAL_RANK {ctx.local_rank} but only {torch.cuda.device_count()} CUDA device(s) on this node: "
            "start at most one process per GPU (--nproc-per-node)"
        )
    return torch.device("cuda", ctx.local_rank)


def setup(requested_device: str = "auto") -> tuple[Context, torch.device]:
    """Join the process group torchrun describes, if any; returns this process's context and device.

    requested_device : ``config.device``; under torchrun ``auto`` and ``cuda`` mean the GPU numbered
    ``LOCAL_RANK`` (backend nccl), ``cpu`` the CPU (backend gloo).
    """
    ctx = from_environment()
    if not ctx.enabled:
        return SINGLE, pick_device(requested_device)
    device = _device(requested_device, ctx)
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)  # collectives and broadcast_object_list use the current device
    if dist.is_initialized():  # the caller's own group (Python API): use it, leave it to them
        if dist.get_world_size() != ctx.world_size:
            raise ArrhythmiaError(f"process group has {dist.get_world_size()} ranks, WORLD_SIZE says {ctx.world_size}")
        return replace(ctx, backend=dist.get_backend()), device
    # env:// rendezvous: MASTER_ADDR and MASTER_PORT come from torchrun. device_id binds nccl to this
    # rank's GPU (barriers need not guess it).
    dist.init_process_group(backend=backend, device_id=device if device.type == "cuda" else None)
    return replace(ctx, backend=backend, owns_group=True), device


def teardown(ctx: Context) -> None:
    """Leave the process group (in a ``finally``): a rank that stops, by error or Ctrl-C, does not leave
    its group open; torchrun then stops the other ranks instead of their waiting on it until a timeout."""
    if ctx.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def shard(order: torch.Tensor, rank: int, world_size: int) -> torch.Tensor:
    """This rank's share of one epoch's order: ``order[rank::world_size]`` after padding.

    A distributed sampler over any epoch order, so it works for balanced (with replacement) sampling as for
    shuffling: every rank draws the same ``order`` (same seed) and keeps every ``world_size``-th position
    from its rank on, so the shares are disjoint (as positions) and together cover the epoch. The order is
    first padded to a multiple of ``world_size`` with its own first positions, as ``DistributedSampler``
    does: every rank then gets ``ceil(len(order) / world_size)`` positions and so runs the same number of
    batches, which DistributedDataParallel needs (a rank with one batch more would wait forever for the
    others' gradients).

    order : (n,) int64 positions; returns (ceil(n / world_size),) int64.
    """
    if world_size <= 1 or len(order) == 0:
        return order
    total = math.ceil(len(order) / world_size) * world_size
    if total > len(order):
        order = order.repeat(math.ceil(total / len(order)))[:total]
    return order[rank::world_size]


def wrap(model: nn.Module, ctx: Context, device: torch.device) -> nn.Module:
    """``model`` in DistributedDataParallel (gradients averaged across ranks in backward), or itself."""
    if not ctx.enabled:
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def all_reduce_sum(values: torch.Tensor, ctx: Context) -> torch.Tensor:
    """Element-wise sum of ``values`` over all ranks, in place; every rank gets the same result. On the
    device of the backend: CPU for gloo, the rank's GPU for nccl."""
    if ctx.enabled:
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


def broadcast_object(value: Any, ctx: Context) -> Any:
    """Rank 0's ``value`` on every rank (any picklable object; other ranks may pass None)."""
    if not ctx.enabled:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def sync_buffers(model: nn.Module, ctx: Context) -> None:
    """Copy rank 0's buffers (BatchNorm running statistics) to every rank.

    DistributedDataParallel averages gradients, so parameters agree on all ranks, but each rank updates
    its running statistics from its own last batch after DDP broadcast rank 0's at the start of that
    forward pass. Validation on every rank and the checkpoint rank 0 saves must see one model.
    """
    if not ctx.enabled:
        return
    for buffer in model.buffers():
        dist.broadcast(buffer.data, src=0)


def barrier(ctx: Context) -> None:
    if ctx.enabled:
        dist.barrier()


@contextmanager
def local_main_first(ctx: Context) -> Iterator[None]:
    """Run the block on local rank 0 of each node first, then on the node's other ranks: a download or
    a beat cache is filled once per node, and the others then read it instead of all building it at once."""
    if ctx.enabled and ctx.local_rank != 0:
        barrier(ctx)
    try:
        yield
    finally:
        if ctx.enabled and ctx.local_rank == 0:
            barrier(ctx)
