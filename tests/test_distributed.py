"""Data-parallel training: the rank sharding of an epoch, and a real 2-process torchrun launch on the CPU."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from arrhythmia.batches import EpochBatches
from arrhythmia.config import TrainConfig
from arrhythmia.distributed import SINGLE, from_environment, shard
from arrhythmia.errors import ArrhythmiaError
from arrhythmia.experiment import run_experiment


@pytest.mark.parametrize("n", [0, 1, 5, 10, 11, 1007])
@pytest.mark.parametrize("world_size", [1, 2, 3, 4, 8])
def test_shards_are_disjoint_equal_and_cover_the_epoch(n, world_size):
    order = torch.randperm(n, generator=torch.Generator().manual_seed(n))
    shares = [shard(order, rank, world_size) for rank in range(world_size)]
    per_rank = -(-n // world_size) if n else 0
    assert all(len(s) == per_rank for s in shares)  # the same number of batches on every rank
    # Rank r holds positions r, r + world_size, ... of the padded order: disjoint, and together all of it.
    padded = torch.cat([order, order.repeat(world_size)])[: per_rank * world_size] if n else order
    for rank, share in enumerate(shares):
        assert torch.equal(share, padded[rank::world_size])
    assert set(torch.cat(shares).tolist()) == set(order.tolist())
    assert len(torch.cat(shares)) - n < world_size  # padding: fewer than one beat per rank


@pytest.mark.parametrize("sampling", ["shuffle", "balanced"])
def test_epoch_batches_split_one_epoch_between_ranks(sampling):
    """Every rank draws the same epoch order and takes its share, for balanced sampling (with replacement)
    as for shuffling; batch counts agree, augmentation seeds do not repeat."""
    y = np.array([0] * 70 + [1] * 20 + [2] * 11)
    train_index = np.arange(1000, 1000 + len(y))  # positions in the split -> beat indices
    world_size, batch_size = 3, 8
    ranks = [
        EpochBatches(y, train_index, sampling, batch_size, seed=5, rank=r, world_size=world_size) for r in range(3)
    ]
    single = EpochBatches(y, train_index, sampling, batch_size, seed=5)
    for epoch in (0, 1):
        for sampler in [*ranks, single]:
            sampler.set_epoch(epoch)
        batches = [list(sampler) for sampler in ranks]
        assert {len(b) for b in batches} == {len(ranks[0])} and len(ranks[0]) == 5  # ceil(ceil(101/3)/8)
        drawn = np.concatenate([index for b in batches for index, _ in b])
        epoch_beats = np.concatenate([index for index, _ in single])
        assert len(drawn) == 34 * world_size  # 101 beats padded to 102
        # The ranks' beats together are the single-process epoch (as a multiset), plus the padding.
        counts = np.bincount(drawn - 1000, minlength=len(y)) - np.bincount(epoch_beats - 1000, minlength=len(y))
        assert counts.min() >= 0 and counts.sum() == 1
        if sampling == "shuffle":
            assert set(drawn.tolist()) == set(train_index.tolist())
        seeds = [seed for b in batches for _, seed in b]
        assert len(set(seeds)) == len(seeds)
        assert all(np.all(np.diff(index) >= 0) for b in batches for index, _ in b)  # sorted for the store


def test_launch_is_read_from_torchruns_environment():
    assert from_environment({}) is SINGLE
    assert from_environment({"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0"}) is SINGLE
    ctx = from_environment({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"})
    assert (ctx.rank, ctx.local_rank, ctx.world_size, ctx.local_world_size) == (3, 1, 4, 2)
    assert ctx.enabled and not ctx.is_main and not ctx.owns_group
    with pytest.raises(ArrhythmiaError, match="malformed torchrun environment"):
        from_environment({"RANK": "x", "WORLD_SIZE": "2"})
    with pytest.raises(ArrhythmiaError, match="outside WORLD_SIZE"):
        from_environment({"RANK": "2", "WORLD_SIZE": "2"})


RUN_FILES = {
    "config.json",
    "environment.json",
    "data.json",
    "history.csv",
    "model.pt",
    "last.pt",
    "metrics.json",
    "predictions.csv",
    "report.html",
    "figures",
}


def test_torchrun_two_cpu_processes_match_one_process_with_the_same_effective_batch(tmp_path):
    """``torchrun --nproc-per-node 2 -m arrhythmia.cli train`` with gloo on the CPU, batch B per process,
    against one process with batch 2B: the same number of beats per optimiser step.

    Exact equality is not expected: DDP averages the two ranks' gradients (summed in another order than
    one backward pass over 2B beats), and the ranks' batches are composed differently (each rank takes
    every other beat of the epoch order and sorts its batch). Both runs start from the same weights and
    data order and must reach the same test accuracy within 0.05 (both learn the synthetic classes to
    about 0.98 in 8 epochs).
    """
    B, epochs, lr = 32, 8, "3e-3"
    work = tmp_path / "work"
    work.mkdir()
    launcher = (
        [shutil.which("torchrun")] if shutil.which("torchrun") else [sys.executable, "-m", "torch.distributed.run"]
    )
    command = [*launcher, "--standalone", "--nproc-per-node", "2", "-m", "arrhythmia.cli", "train"]
    command += ["--data", "synthetic", "--model", "kachuee-resnet", "--epochs", str(epochs), "--batch-size", str(B)]
    command += ["--lr", lr, "--device", "cpu"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    # Exactly one run directory, written by rank 0 alone: rank 1 created nothing, anywhere in the cwd.
    assert [p.name for p in work.iterdir()] == ["runs"]
    (run,) = (work / "runs").iterdir()
    assert {p.name for p in run.iterdir()} == RUN_FILES
    assert "2 processes (gloo), 32 beats per process and step, 64 per step in all" in result.stdout
    assert result.stdout.count("epoch   1/") == 1  # one rank logs
    environment = json.loads((run / "environment.json").read_text())
    assert environment["distributed"] == {
        "world_size": 2,
        "backend": "gloo",
        "batch_size_per_process": B,
        "effective_batch_size": 2 * B,
    }
    # Checkpoints as a single process writes them: the unwrapped model's keys, no "module." prefix.
    state = torch.load(run / "model.pt", weights_only=True)
    assert not any(key.startswith("module.") for key in state["state_dict"])

    config = TrainConfig(
        model="kachuee-resnet", data="synthetic", epochs=epochs, batch_size=2 * B, lr=float(lr), threads=1, device="cpu"
    )
    single = run_experiment(config, run_dir=tmp_path / "single", log=lambda _: None, progress=False, report=False)
    ddp_metrics = json.loads((run / "metrics.json").read_text())
    single_metrics = json.loads((single / "metrics.json").read_text())
    assert ddp_metrics["n_beats"] == single_metrics["n_beats"]
    assert ddp_metrics["accuracy"] > 0.9
    assert abs(ddp_metrics["accuracy"] - single_metrics["accuracy"]) <= 0.05
    assert len((run / "history.csv").read_text().splitlines()) == epochs + 1


def test_record_batches_hold_one_recording_each_and_split_between_ranks():
    """With the recording of each training beat, every batch is one recording's beats, an epoch holds every
    beat once (plus batches dealt again so that ranks run as many), and no batch is a lone leftover beat."""
    recordings = np.repeat([0, 1, 2, 3], [21, 8, 17, 9])  # positions in the split -> recording
    y = np.zeros(len(recordings), dtype=np.int64)
    train_index = np.arange(500, 500 + len(y))
    batch_size = 8
    single = EpochBatches(y, train_index, "shuffle", batch_size, seed=5, groups=recordings)
    for epoch in (0, 1):
        single.set_epoch(epoch)
        batches = [index for index, _ in single]
        assert len(batches) == len(single) == 3 + 1 + 3 + 2  # each recording dealt into ceil(n / 8) batches
        assert all(len(set(recordings[index - 500])) == 1 for index in batches)
        assert min(len(index) for index in batches) >= 4  # 9 beats: 5 + 4, not 8 + 1
        assert sorted(np.concatenate(batches).tolist()) == train_index.tolist()
    ranks = [
        EpochBatches(y, train_index, "shuffle", batch_size, seed=5, rank=r, world_size=2, groups=recordings)
        for r in range(2)
    ]
    shares = [list(sampler) for sampler in ranks]
    assert len(shares[0]) == len(shares[1]) == len(ranks[0]) == 5  # 9 batches, one dealt again
    drawn = np.concatenate([index for share in shares for index, _ in share])
    assert set(drawn.tolist()) == set(train_index.tolist())
    seeds = [seed for share in shares for _, seed in share]
    assert len(set(seeds)) == len(seeds)  # the batch dealt again is augmented with a seed of its own
    # Fewer batches than ranks: each rank still runs one.
    few = [
        EpochBatches(y[:5], train_index[:5], "shuffle", 8, seed=5, rank=r, world_size=3, groups=recordings[:5])
        for r in range(3)
    ]
    assert [len(list(sampler)) for sampler in few] == [1, 1, 1]


def test_torchrun_cross_validation_keeps_one_process_group_for_every_fold(tmp_path):
    """``torchrun -m arrhythmia.cli crossval``: both ranks train each fold in one process group, rank 0 alone
    tests, writes and prints; run again, the finished folds are kept."""
    from conftest import write_wfdb_record

    from arrhythmia.data.splits import DS1

    database = tmp_path / "db"
    database.mkdir()
    for i, name in enumerate(DS1[:10]):
        write_wfdb_record(database, name, seconds=30.0, seed=i)
    launcher = (
        [shutil.which("torchrun")] if shutil.which("torchrun") else [sys.executable, "-m", "torch.distributed.run"]
    )
    command = [*launcher, "--standalone", "--nproc-per-node", "2", "-m", "arrhythmia.cli", "crossval"]
    command += ["--data", str(database), "--folds", "3", "--epochs", "1", "--model", "fast-cnn", "--device", "cpu"]
    command += ["--out", str(tmp_path / "cv")]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for attempt in ("trains", "keeps"):
        result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        assert result.stdout.count("cross-validation directory:") == 1  # rank 0 prints
        assert result.stdout.count("fold 3: records") == 1
        if attempt == "trains":
            assert "2 processes (gloo)" in result.stdout and result.stdout.count("fold 1: epoch   1/1") == 1
        else:
            assert result.stdout.count("finished before; kept") == 3
    saved = json.loads((tmp_path / "cv" / "crossval.json").read_text())
    assert sorted(r for g in saved["groups"] for r in g) == sorted(DS1[:10])


def test_an_interrupted_distributed_run_says_to_resume_under_torchrun_with_as_many_processes():
    """The Ctrl-C line of a torchrun run said `arrhythmia train --resume RUN`: one process, half the batch."""
    from arrhythmia.distributed import Context
    from arrhythmia.train import resume_hint

    assert resume_hint("runs/x") == "continue with `arrhythmia train --resume runs/x`"
    two = Context(world_size=2, local_world_size=2)
    assert resume_hint("runs/x", two) == (
        "continue under torchrun with 2 processes: `torchrun --standalone --nproc-per-node 2 -m arrhythmia train "
        "--resume runs/x`"
    )
    nodes = resume_hint("runs/x", Context(world_size=16, local_world_size=8))
    assert "16 processes" in nodes and "--nnodes 2 --nproc-per-node 8" in nodes


def test_a_resume_in_another_number_of_processes_warns_and_environment_json_records_it(tmp_path):
    """Resumed in one process, a run torchrun started in two trained on at half the batch per step without a
    word, and environment.json still said 2 processes."""
    from arrhythmia.data.synthetic import load_synthetic
    from arrhythmia.runs import Run
    from arrhythmia.train import TrainingInterrupted, train

    beats = load_synthetic(n_records=2, duration_s=30)
    config = TrainConfig(model="fast-cnn", epochs=2, batch_size=16, threads=1)

    def interrupt_after_epoch_1(line: str) -> None:
        if line.startswith("epoch   1/"):
            raise KeyboardInterrupt

    with pytest.raises(TrainingInterrupted):
        train(config, run_dir=tmp_path / "run", beats=beats, progress=False, log=interrupt_after_epoch_1)
    run = Run.open(tmp_path / "run")
    started = {**run.environment(), "distributed": {"world_size": 2, "backend": "gloo"}}  # as torchrun wrote it
    (run / "environment.json").write_text(json.dumps(started))
    lines: list[str] = []
    train(config, run_dir=run.path, resume=True, beats=beats, progress=False, log=lines.append)
    (warning,) = [line for line in lines if line.startswith("warning:")]
    assert warning == (
        f"warning: {run.path}: resumed in 1 process, trained in 2 before: 16 beats per step from here, 32 until "
        "now (resume under torchrun with 2 processes to go on as it trained)"
    )
    environment = run.environment()
    assert environment["distributed"]["world_size"] == 2  # what the run started with
    (resumed,) = environment["resumed"]
    assert resumed["distributed"] is None and resumed["device"] == "cpu" and resumed["started"]
    lines.clear()
    train(config, run_dir=run.path, resume=True, beats=beats, progress=False, log=lines.append)  # finished
    assert not any(line.startswith("warning:") for line in lines) and len(run.environment()["resumed"]) == 1
