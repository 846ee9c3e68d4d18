"""Training: one plain loop (Adam, ReduceLROnPlateau, early stopping, best checkpoint), resumable.

run = train(TrainConfig(model="seed-cnn", data="../shared/data/mitdb", protocol="intra"))

``train`` prepares the run once (its directory, beats, split and standardisation) and calls ``fit`` for each
model of the run (one, or the members of an ensemble); ``fit`` is the loop itself. Evaluation and the report
come after, in ``arrhythmia.experiment``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from arrhythmia import distributed
from arrhythmia.batches import EpochBatches, LazyRows, TrainBatches, loader_workers
from arrhythmia.checkpoint import RESUME_FORMAT, Member, ModelSpec, load_checkpoint, save_checkpoint
from arrhythmia.config import TrainConfig
from arrhythmia.data import BeatSet, Split
from arrhythmia.data.context import CONTEXT_FEATURES
from arrhythmia.data.splits import with_other_lead
from arrhythmia.data.wfdb_source import MIXED_ANGLES_DEG
from arrhythmia.distributed import SINGLE, Context, all_reduce_sum
from arrhythmia.errors import ArrhythmiaError, Interrupted
from arrhythmia.inference import softmax_batches
from arrhythmia.losses import make_loss
from arrhythmia.models import count_parameters
from arrhythmia.runs import Run, saved_paths
from arrhythmia.scaling import Scaling, fit_scaling


class TrainingInterrupted(Interrupted):
    """Ctrl-C during training; the last finished epoch is saved and ``--resume`` continues from it.

    epoch : the epoch (from 1) that was interrupted; its run saved the ones before it."""

    def __init__(self, message: str, epoch: int = 0) -> None:
        super().__init__(message)
        self.epoch = epoch


def train(
    config: TrainConfig,
    run_dir: str | Path | None = None,
    resume: bool = False,
    beats: BeatSet | None = None,
    log: Callable[[str], None] = print,
    progress: bool = True,
) -> Run:
    """Train ``config.model`` (``config.ensemble`` of them), keeping the best checkpoint; returns the ``Run``.

    Under torchrun (``WORLD_SIZE`` > 1 in the environment) every process calls this: it joins the process
    group (gloo on the CPU, nccl on CUDA with the GPU numbered ``LOCAL_RANK``), trains its share of each
    epoch in DistributedDataParallel (``config.batch_size`` beats per process and step, so
    ``batch_size * WORLD_SIZE`` per step in all), and leaves the group at the end, also on an error. Only
    rank 0 logs and writes the run directory; see ``arrhythmia.distributed``.

    Parameters
    ----------
    config : the run's settings (saved as ``config.json``).
    run_dir : where to write; a new ``runs/<model>-<protocol>-<time>`` directory when None.
    resume : continue the run in ``run_dir`` from its ``last.pt`` (each ensemble member from its own).
    beats : the beat set to use instead of loading ``config.data`` (for the Python API and tests).
    """
    config.validate()
    if not resume:  # saved absolute: --resume, evaluate and report read the same folder from any directory
        config = saved_paths(config)
    if not resume and run_dir is not None and distributed.from_environment().is_main:
        Run.check_free(run_dir)  # before the process group: a refusal is one line, not a hung group
    if config.threads:
        torch.set_num_threads(config.threads)
    ctx, device = distributed.setup(config.device)
    try:
        if not ctx.is_main:
            log, progress = _quiet, False
        return _train(config, run_dir, resume, beats, log, progress, ctx, device)
    finally:
        distributed.teardown(ctx)


def _quiet(_: str) -> None:
    """The log of ranks other than 0: one process reports."""


def resume_hint(path, ctx: Context = SINGLE) -> str:
    """How to continue the run in ``path`` as it was trained: ``arrhythmia train --resume PATH``, under
    torchrun with as many processes (and nodes) for a distributed run, whose effective batch is theirs."""
    command = f"arrhythmia train --resume {path}"
    if not ctx.enabled:
        return f"continue with `{command}`"
    nodes = -(-ctx.world_size // ctx.local_world_size)
    if nodes == 1:
        launch = f"torchrun --standalone --nproc-per-node {ctx.local_world_size}"
        return f"continue under torchrun with {ctx.world_size} processes: `{launch} -m {command}`"
    return (
        f"continue under torchrun with {ctx.world_size} processes, as started: `torchrun --nnodes {nodes} "
        f"--nproc-per-node {ctx.local_world_size}` with its rendezvous options, `-m {command}`"
    )


def _distributed_setup(config: TrainConfig, ctx: Context) -> dict | None:
    """``environment.json``'s ``distributed``: processes, backend and batch per process and per step."""
    if not ctx.enabled:
        return None
    return {
        "world_size": ctx.world_size,
        "backend": ctx.backend,
        "batch_size_per_process": config.batch_size,
        "effective_batch_size": config.batch_size * ctx.world_size,
    }


def _resuming(run: Run, config: TrainConfig, ctx: Context, device: torch.device, log: Callable[[str], None]) -> None:
    """Rank 0 before a resume that trains: a warning line where the run trained in another number of processes
    before (each step then sees another number of beats), and the part about to run added to
    ``environment.json`` (``resumed``: device and processes of each resume)."""
    environment = run.environment()
    if not environment or run.finished_training():
        return
    before = ([environment, *environment.get("resumed", [])][-1].get("distributed") or {}).get("world_size", 1)
    if before != ctx.world_size and run.saved_an_epoch():
        then, now = config.batch_size * before, config.batch_size * ctx.world_size
        as_before = "in one process" if before == 1 else f"under torchrun with {before} processes"
        log(
            f"warning: {run.path}: resumed in {ctx.world_size} process{'es' if ctx.world_size > 1 else ''}, "
            f"trained in {before} before: {now} beats per step from here, {then} until now (resume {as_before} "
            "to go on as it trained)"
        )
    run.record_resume(str(device), distributed=_distributed_setup(config, ctx))


def _start_run(config: TrainConfig, run_dir, resume: bool, ctx: Context, device: torch.device) -> Run:
    """The run to train: reopened to resume, else created by rank 0 and named to every rank."""
    if resume:
        if run_dir is None or not (Path(run_dir) / Run.CONFIG).is_file():
            raise ArrhythmiaError(f"{run_dir}: nothing to resume (not a run directory: no {Run.CONFIG})")
        return Run(run_dir, config)
    path, run = None, None
    if ctx.is_main:
        run = Run.create(config, run_dir)
        setup = _distributed_setup(config, ctx)
        run.write_environment(str(device), **({} if setup is None else {"distributed": setup}))
        path = str(run.path)
    # Rank 0 names the directory (a timestamp could differ between nodes); the others create nothing.
    path = distributed.broadcast_object(path, ctx)
    return run if run is not None else Run(path, config)  # rank 0's knows what it created (remove_unstarted)


def _with_copies(
    run: Run, beats: BeatSet, split: Split, load: Callable[[], BeatSet], ctx: Context
) -> tuple[BeatSet, Split, BeatSet, int]:
    """``beats`` and ``split`` with the copies of the training beats that ``load()`` cuts from another lead
    of the same records added to training (``splits.with_other_lead``); also the loaded beats and how many
    were added."""
    with distributed.local_main_first(ctx):  # a beat cache made once per node
        copies = run.labelled(load(), like=beats)
    before = len(split.train)
    beats, split = with_other_lead(beats, split, copies)
    return beats, split, copies, len(split.train) - before


def _train(config, run_dir, resume, beats, log, progress, ctx: Context, device: torch.device) -> Run:
    run = _start_run(config, run_dir, resume, ctx, device)
    if ctx.is_main and not resume:  # said first: a long run's folder is where its history and checkpoints grow
        log(f"run directory: {run.path}")
    try:
        with _training(run, ctx):
            return _train_run(run, config, resume, beats, log, progress, ctx, device)
    except (Exception, KeyboardInterrupt) as exc:
        # A run that failed (bad data, too few beats, Ctrl-C) before it saved an epoch holds nothing to keep or
        # resume: what its start wrote goes, so no half-made run directory is left behind.
        removed = ctx.is_main and not resume and run.remove_unstarted()
        if removed and isinstance(exc, (TrainingInterrupted, KeyboardInterrupt)):
            raise TrainingInterrupted(
                f"{run.path}: interrupted before the first epoch was saved; nothing to keep, the run directory "
                "is removed"
            ) from None
        if isinstance(exc, KeyboardInterrupt):  # between epochs' saves: loading, between ensemble members
            raise TrainingInterrupted(f"{run.path}: interrupted; {resume_hint(run.path, ctx)}") from None
        raise


@contextmanager
def _training(run: Run, ctx: Context) -> Iterator[None]:
    """Rank 0 holds the run's training lock (``Run.training``) while the ranks train; a run another process
    is training is refused on every rank, in one line (not a hung process group)."""
    with ExitStack() as held:
        problem = None
        if ctx.is_main:
            try:
                held.enter_context(run.training())
            except ArrhythmiaError as exc:
                problem = str(exc)
        problem = distributed.broadcast_object(problem, ctx)
        if problem:
            raise ArrhythmiaError(problem)
        yield


def _train_run(run: Run, config, resume, beats, log, progress, ctx: Context, device: torch.device) -> Run:
    """``train``'s work on the started ``run``: beats, split, standardisation, then each model's ``fit``."""
    if resume and beats is None:  # before loading: where config.data points from here
        _check_resumed_data(run, None, None, ctx)
    with distributed.local_main_first(ctx):  # a download or beat cache made once per node
        beats = run.use_beats(beats) if beats is not None else run.beats(progress)
    if config.context_features and beats.context is None:
        raise ArrhythmiaError(
            f"{beats.source}: no R-peak positions, so no context features (set context_features: false)"
        )
    split = run.split(beats)
    if resume:
        _check_resumed_data(run, beats, split, ctx)
        if ctx.is_main:
            _resuming(run, config, ctx, device, log)
    if len(split.train) == 0 or len(split.val) == 0:
        raise ArrhythmiaError(f"{beats.source}: too few beats to split ({len(beats)})")
    # data.json describes the first lead's beats and split: those evaluation and the report reload.
    first_beats, first_split, other_lead, mixed_lead = beats, split, None, None
    lead_ends = [len(beats)]  # where the first lead's beats, then each set of copies added below, end
    if config.other_lead:
        beats, split, other, added = _with_copies(run, beats, split, lambda: run.other_lead_beats(progress), ctx)
        leads = sorted(set((other.info.get("leads") or {}).values()))
        other_lead = {"leads": leads, "train_beats_added": added}
        lead_ends.append(len(beats))
        log(f"other lead ({', '.join(leads)}): {added:,} more training beats")
    if config.mixed_lead:
        beats, split, _, added = _with_copies(run, beats, split, lambda: run.mixed_lead_beats(progress), ctx)
        mixed_lead = {"angles_deg": list(MIXED_ANGLES_DEG), "train_beats_added": added}
        lead_ends.append(len(beats))
        log(f"mixed leads: {added:,} more training beats")
    if ctx.is_main:
        run.write_data(first_beats, first_split, other_lead, mixed_lead)
    # Fitted once (it reads the whole training split) and shared: every rank standardises identically.
    context = beats.context if config.context_features else None
    scaling = distributed.broadcast_object(fit_scaling(beats.X, context, split.train) if ctx.is_main else None, ctx)
    spec = ModelSpec(
        model=config.model,
        classes=tuple(beats.classes),
        window=beats.window,
        context_features=CONTEXT_FEATURES if config.context_features else (),
        scaling=scaling,
        synthetic=beats.synthetic,
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

    recordings = None
    if config.record_batches:  # one lead of one record is one recording
        record = np.unique(beats.record[split.train], return_inverse=True)[1]
        recordings = record * len(lead_ends) + np.searchsorted(lead_ends, split.train, side="right")
    members = run.members()
    for k, member in enumerate(members):
        if len(members) > 1:
            log(f"ensemble member {k + 1}/{len(members)} (seed {config.seed + k})")
        try:
            fit(member, spec, beats, split, config.seed + k, device, resume, log, progress, ctx, recordings)
        except TrainingInterrupted as exc:
            if len(members) == 1:
                raise
            # --resume takes the ensemble's directory, which holds config.json, not the member's.
            kept = {0: "", 1: "member 1 and "}.get(k, f"members 1-{k} and ")
            raise TrainingInterrupted(
                f"{run.path}: interrupted in epoch {exc.epoch} of ensemble member {k + 1}/{len(members)}; "
                f"{kept}the epochs before are saved, {resume_hint(run.path, ctx)}",
                exc.epoch,
            ) from None
    if ctx.is_main and len(members) > 1:
        ModelSpec.ensemble([member.spec() for member in members]).save(run.model_path)
        run.write_history(members[0].history())
    return run


def _check_resumed_data(run: Run, beats: BeatSet | None, split: Split | None, ctx: Context) -> None:
    """ArrhythmiaError, on every rank, where a resume would train ``run`` on other data than it trained on
    (``Run.resumed_data_problem``: rank 0 looks, as it alone may hold ``data.json``)."""
    problem = distributed.broadcast_object(run.resumed_data_problem(beats, split) if ctx.is_main else None, ctx)
    if problem:
        raise ArrhythmiaError(problem)


def fit(
    run: Run,
    spec: ModelSpec,
    beats: BeatSet,
    split: Split,
    seed: int,
    device: torch.device,
    resume: bool = False,
    log: Callable[[str], None] = print,
    progress: bool = True,
    ctx: Context = SINGLE,
    recordings: np.ndarray | None = None,
) -> None:
    """Train one model of ``spec``'s shape on ``split.train``: each epoch train, validate, step the
    scheduler, keep the checkpoint with the lowest validation loss (or, with ``config.checkpoint == "last"``,
    the latest: ``run.model_path``) and save the state
    after the epoch (``run.resume_path``). Files are written by rank 0 only, with the unwrapped model's
    weights: the same files as a single-process run. ``recordings``: (len(split.train),) the recording of
    each training beat, for batches of one recording each (``config.record_batches``)."""
    config = run.config
    if ctx.is_main:
        run.path.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    net = spec.create_network().to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="min", factor=config.lr_factor, patience=config.lr_patience
    )
    use_amp = config.amp and device.type == "cuda"
    # float16 needs its gradients scaled up against underflow; disabled, the scaler passes everything through.
    scaler = torch.amp.GradScaler(device.type, enabled=use_amp)
    y_train = beats.y[split.train]
    loss_fn = make_loss(y_train, len(spec.classes), config.class_weights, config.loss, config.focal_gamma).to(device)

    history: list[dict] = []
    best_val_loss, stale_epochs, start_epoch = math.inf, 0, 0
    # "last": every epoch is trained and the final one kept; the validation loss still steers the learning rate.
    keep_best = config.checkpoint == "best"
    if resume:
        # Rank 0 reads last.pt and hands it to the others: every rank continues from one state.
        state = None
        if ctx.is_main and run.resume_path.is_file():
            state = load_checkpoint(run.resume_path, RESUME_FORMAT)
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
                log(f"{run.path}: finished before ({start_epoch} epochs); nothing left to train")
                return
            log(f"resuming {run.path} after epoch {start_epoch}")
        else:
            log(f"{run.path}: no epoch was saved; training from the first")

    total, trainable = count_parameters(net)
    log(f"{spec.model}: {total:,} parameters ({trainable:,} trainable) on {device}")
    model = distributed.wrap(net, ctx, device)  # DDP around net; net's state_dict has no "module." prefix

    def save_state(epoch: int, finished: bool) -> None:
        if ctx.is_main:
            state = {
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
            }
            save_checkpoint(state, run.resume_path)

    batches = EpochBatches(
        y_train, split.train, config.sampling, config.batch_size, seed, ctx.rank, ctx.world_size, recordings
    )
    workers = loader_workers(config.workers, beats.X, ctx.local_world_size)
    # Workers read (and augment) the next batches while this process trains on the current one.
    loader = DataLoader(
        TrainBatches(beats, spec.scaling, config.augment),
        batch_size=None,
        sampler=batches,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        persistent_workers=workers > 0,
        # Spawned, not forked: forked workers, which inherit the parent's open shard files and their
        # state, read wrong rows of a store in about one test run in six.
        multiprocessing_context="spawn" if workers > 0 else None,
    )
    epoch = start_epoch - 1
    trained = epoch  # the last epoch trained (from 0): early stopping breaks in the one after it, untrained
    try:
        for epoch in range(start_epoch, config.epochs):
            if stale_epochs >= config.early_stopping_patience:
                break
            started = time.perf_counter()
            batches.set_epoch(epoch)
            if workers > 0 and epoch > start_epoch:
                # Each iterator the loader makes draws its workers' base seed from torch's generator, which
                # dropout draws from too: one each epoch without workers, but persistent workers keep the
                # first epoch's. The same draw here keeps dropout's masks, and the weights, those of a run
                # without workers (and of one resumed, or run before workers drew so).
                torch.empty((), dtype=torch.int64).random_()
            bar = tqdm(
                loader,
                total=len(batches),
                desc=f"epoch {epoch + 1}/{config.epochs}",
                leave=False,
                disable=None if progress else True,
                unit="batch",
            )
            train_loss, train_acc = train_epoch(model, bar, optimizer, scaler, loss_fn, device, use_amp, ctx)
            distributed.sync_buffers(net, ctx)
            val_loss, val_acc = validate(net, beats, split.val, spec.scaling, loss_fn, device, ctx)
            # The rate this epoch trained with: the scheduler's step lowers the next epoch's.
            lr = optimizer.param_groups[0]["lr"]
            scheduler.step(val_loss)
            row = {
                "epoch": epoch + 1,
                "train_loss": train_loss,
                "train_acc": train_acc,
                "val_loss": val_loss,
                "val_acc": val_acc,
                "lr": lr,
                "seconds": time.perf_counter() - started,
            }
            history.append(row)
            improved = val_loss < best_val_loss
            if improved:
                best_val_loss, stale_epochs = val_loss, 0
            elif keep_best:
                stale_epochs += 1
            if ctx.is_main and (improved or not keep_best):
                kept = replace(spec, members=[Member(spec.model, net.state_dict())], epoch=epoch + 1, val_loss=val_loss)
                kept.save(run.model_path)
            save_state(epoch, finished=False)
            trained = epoch
            if ctx.is_main:
                run.write_history(history)
            log(
                f"epoch {epoch + 1:3d}/{config.epochs}  train loss {train_loss:.4f} acc {train_acc:.4f}"
                f" | val loss {val_loss:.4f} acc {val_acc:.4f} | lr {row['lr']:.1e} | {row['seconds']:.1f}s"
                + ("  *best" if improved and keep_best else "")  # kept: with checkpoint last, every epoch is
            )
    except KeyboardInterrupt:
        saved = "the epochs before are saved" if epoch > 0 else "no epoch was saved yet"
        raise TrainingInterrupted(
            f"{run.path}: interrupted in epoch {epoch + 1}; {saved}, {resume_hint(run.path, ctx)}", epoch + 1
        ) from None
    if stale_epochs >= config.early_stopping_patience:
        log(f"early stopping: no validation improvement for {stale_epochs} epochs")
    save_state(trained, finished=True)


def train_epoch(model, batches, optimizer, scaler, loss_fn, device, use_amp: bool, ctx: Context = SINGLE):
    """One pass over ``batches`` (items ``(x, context, y)`` or an ArrhythmiaError a worker met); returns
    the mean training loss and accuracy over all ranks."""
    model.train()
    # Loss, correct and beat sums stay on the device (no synchronisation per batch); float64 where it exists.
    sum_dtype = torch.float32 if device.type == "mps" else torch.float64
    sums = torch.zeros(3, dtype=sum_dtype, device=device)  # loss * beats, correct, beats
    for item in batches:
        if isinstance(item, ArrhythmiaError):  # a batch a worker could not read
            raise item
        x, context, y = (None if t is None else t.to(device, non_blocking=True) for t in item)
        with torch.autocast(device.type, dtype=torch.float16, enabled=use_amp):
            logits = model(x, context)
            loss = loss_fn(logits, y)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        sums[0] += loss.detach().to(sum_dtype) * len(y)
        sums[1] += (logits.argmax(1) == y).sum()
        sums[2] += len(y)
    loss_sum, correct, seen = all_reduce_sum(sums, ctx).tolist()  # over all ranks: history is global
    return loss_sum / seen, correct / seen


def validate(
    model: nn.Module,
    beats: BeatSet,
    val_index,
    scaling: Scaling,
    loss_fn: nn.Module,
    device: torch.device,
    ctx: Context = SINGLE,
) -> tuple[float, float]:
    """Mean loss and accuracy on the validation beats, over all ranks: each rank predicts its share
    ``val_index[rank::world_size]`` and the sums are all-reduced, so every rank gets the same numbers
    (and takes the same learning-rate and early-stopping decisions)."""
    if len(val_index) == 0:
        return math.nan, math.nan
    mine = val_index[ctx.rank :: ctx.world_size]
    # (weighted loss sum, weight sum, correct, beats): the weighted mean is nll_loss's with reduction="mean".
    sums = torch.zeros(4, dtype=torch.float64)
    if len(mine):
        context = beats.context[mine] if scaling.n_context else None
        probs = softmax_batches(model, LazyRows(beats.X, mine), device, context=context, scaling=scaling)
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
