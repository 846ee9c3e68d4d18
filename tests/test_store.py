"""The sharded beat store: the same beats as the in-memory loader, indexed like one array, resumable."""

from __future__ import annotations

import json
import pickle
import re

import numpy as np
import pytest
from conftest import MITDB, needs_mitdb, write_wfdb_record

from arrhythmia.data import WINDOWS, load_beats, make_split
from arrhythmia.data.store import ShardedArray, build_store, open_store, read_manifest, store_bytes
from arrhythmia.data.wfdb_source import load_wfdb_database
from arrhythmia.errors import DataError


def assert_same_beats(store, reference) -> None:
    assert isinstance(store.X, ShardedArray)
    assert store.X.shape == reference.X.shape and store.X.dtype == reference.X.dtype == np.float32
    assert np.array_equal(np.asarray(store.X), reference.X)
    for name in ("y", "record", "sample", "symbol", "context"):
        assert np.array_equal(getattr(store, name), getattr(reference, name)), name
    assert store.y.dtype == np.int64 and store.sample.dtype == np.int64 and store.context.dtype == np.float32
    assert store.classes == reference.classes and store.window == reference.window
    assert store.source == reference.source


@pytest.mark.parametrize("window", ["kachuee", "centred"])
def test_store_holds_the_beats_of_the_database_loader(wfdb_db, tmp_path, window):
    out = build_store(wfdb_db, tmp_path / "store", window=window, workers=2, progress=False)
    beats = open_store(out)
    reference = load_wfdb_database(wfdb_db, source=wfdb_db.name, progress=False, window=WINDOWS[window])
    assert_same_beats(beats, reference)
    assert beats.info == {**reference.info, "store": str(out)}
    manifest = read_manifest(out)
    assert manifest["format"] == "arrhythmia-store/1" and manifest["n"] == len(reference)
    assert [s["name"] for s in manifest["shards"]] == ["r01", "r02", "r03"]
    assert sum(s["counts"]["V"] for s in manifest["shards"]) == reference.class_counts()["V"]
    shard = out / "shards" / "r01"
    assert sorted(p.name for p in shard.iterdir()) == sorted(
        ["X.npy", "y.npy", "context.npy", "sample.npy", "symbol.npy", "done.json"]
    )
    assert np.load(shard / "symbol.npy").dtype.kind == "U"  # plain arrays: no pickle needed to read them
    assert store_bytes(out) > reference.X.nbytes


@pytest.fixture
def shards(tmp_path):
    """A ShardedArray over five .npy files (one empty) and the array they concatenate to."""
    rng = np.random.default_rng(0)
    parts = [rng.random((n, 7), dtype=np.float32) for n in (5, 0, 12, 1, 9)]
    paths = []
    for i, part in enumerate(parts):
        paths.append(tmp_path / f"s{i}.npy")
        np.save(paths[-1], part)
    return ShardedArray(paths, [len(p) for p in parts], (7,), max_open=2), np.concatenate(parts)


def test_sharded_array_indexes_like_the_concatenated_array(shards):
    X, full = shards
    assert len(X) == len(full) and X.shape == full.shape and X.ndim == 2 and X.dtype == np.float32
    rng = np.random.default_rng(1)
    keys = [
        rng.integers(0, len(full), 40),  # unsorted, with repeats
        rng.integers(-len(full), 0, 10),  # negative
        np.array([], dtype=np.int64),
        rng.random(len(full)) < 0.4,  # boolean mask
        np.zeros(len(full), dtype=bool),
        slice(None),
        slice(3, 20, 4),
        slice(None, None, -3),
        slice(100, 200),
        [4, 5, 6],
        rng.integers(0, len(full), (3, 4)),
        (np.array([2, 0, 18]), slice(1, 3)),
        (slice(4, 9), 0),
    ]
    for key in keys:
        got = X[key]
        assert type(got) is np.ndarray and np.array_equal(got, full[key]), key
    for i in (0, 5, 17, -1, np.int64(9)):
        assert np.array_equal(X[i], full[i])
    assert np.array_equal(np.asarray(X), full)
    assert np.array_equal(pickle.loads(pickle.dumps(X))[[1, 20, 3]], full[[1, 20, 3]])


def test_sharded_array_rejects_bad_indices(shards):
    X, full = shards
    for key in ([len(full)], [-len(full) - 1], np.ones(3, dtype=bool), [0.5]):
        with pytest.raises(IndexError):
            X[key]


def test_interrupted_build_redoes_only_the_unfinished_shard(wfdb_db, tmp_path):
    out = build_store(wfdb_db, tmp_path / "store", workers=2, progress=False)
    shards = out / "shards"
    (shards / "r02" / "done.json").unlink()
    with (shards / "r02" / "X.npy").open("r+b") as fh:
        # A half-written shard. (Truncating a file in place that a process has mapped would crash that
        # process with SIGBUS; the build never does: it replaces files by rename.)
        fh.truncate(200)
    (shards / "r02" / ".X.npy.abc.tmp").write_bytes(b"left over")
    kept = {p: p.stat().st_mtime_ns for name in ("r01", "r03") for p in (shards / name).iterdir()}
    build_store(wfdb_db, out, workers=2, progress=False)
    assert {p: p.stat().st_mtime_ns for p in kept} == kept
    assert (shards / "r02" / "done.json").is_file() and not (shards / "r02" / ".X.npy.abc.tmp").exists()
    assert_same_beats(open_store(out), load_wfdb_database(wfdb_db, source=wfdb_db.name, progress=False))


def test_ctrl_c_while_rebuilding_leaves_an_unfinished_store_that_a_rerun_finishes(wfdb_db, tmp_path, monkeypatch):
    from arrhythmia.data import store

    out = build_store(wfdb_db, tmp_path / "store", workers=1, progress=False)
    write_wfdb_record(wfdb_db, "r02", seed=7)
    write_wfdb_record(wfdb_db, "r03", seed=8)

    def interrupted(futures, as_completed=store.as_completed):  # Ctrl-C after the first shard is rebuilt
        yield next(iter(as_completed(futures)))
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(store, "as_completed", interrupted)
        with pytest.raises(KeyboardInterrupt):
            build_store(wfdb_db, out, workers=1, progress=False)
    # No store.json listing the shards of the records before they changed: the store is unfinished.
    assert not (out / "store.json").exists()
    with pytest.raises(DataError, match="unfinished beat store: run `arrhythmia data build"):
        open_store(out)
    build_store(wfdb_db, out, workers=1, progress=False)
    assert_same_beats(open_store(out), load_wfdb_database(wfdb_db, source=wfdb_db.name, progress=False))


def test_shard_of_a_changed_record_is_rebuilt(wfdb_db, tmp_path):
    out = build_store(wfdb_db, tmp_path / "store", workers=1, progress=False)
    kept = (out / "shards" / "r01" / "X.npy").stat().st_mtime_ns
    write_wfdb_record(wfdb_db, "r03", seed=7)
    build_store(wfdb_db, out, workers=1, progress=False)
    assert (out / "shards" / "r01" / "X.npy").stat().st_mtime_ns == kept
    assert_same_beats(open_store(out), load_wfdb_database(wfdb_db, source=wfdb_db.name, progress=False))


def test_repeat_copies_every_record_under_its_own_name(wfdb_db, tmp_path):
    beats = open_store(build_store(wfdb_db, tmp_path / "store", workers=2, progress=False, repeat=2))
    once = load_wfdb_database(wfdb_db, source=wfdb_db.name, progress=False)
    assert len(beats) == 2 * len(once)
    assert set(beats.records()) == {"r01", "r02", "r03", "r01~1", "r02~1", "r03~1"}
    copy = beats.record == "r02~1"
    assert np.array_equal(beats.X[copy], once.X[once.record == "r02"])


def test_store_with_other_settings_is_refused(wfdb_db, tmp_path):
    out = build_store(wfdb_db, tmp_path / "store", workers=1, progress=False)
    with pytest.raises(DataError, match=r"store was built with other settings \(window kachuee, asked for centred\)"):
        build_store(wfdb_db, out, window="centred", workers=1, progress=False)
    with pytest.raises(DataError, match="'kachuee' window, not 'centred'"):
        load_beats(out, window="centred")
    with pytest.raises(DataError, match="holds no beat store"):
        build_store(wfdb_db, wfdb_db, workers=1, progress=False)  # never write into the database itself


def test_half_built_store_with_other_settings_is_refused(wfdb_db, tmp_path):
    out = build_store(wfdb_db, tmp_path / "store", workers=1, progress=False)
    (out / "store.json").unlink()
    with pytest.raises(DataError, match=r"r01/done.json: shard was built with other settings"):
        build_store(wfdb_db, out, window="centred", workers=1, progress=False)


def test_bad_record_gives_one_line_naming_the_file(wfdb_db, tmp_path):
    dat = wfdb_db / "r02.dat"
    dat.write_bytes(dat.read_bytes()[:500])
    with pytest.raises(DataError, match=r"r02\.dat: signal file is truncated") as caught:
        build_store(wfdb_db, tmp_path / "store", workers=2, progress=False)
    assert caught.value.__cause__ is None  # not the worker's traceback
    assert len(str(caught.value).splitlines()) == 1


def test_damaged_store_gives_one_line(wfdb_db, tmp_path):
    out = build_store(wfdb_db, tmp_path / "store", workers=1, progress=False)
    with (out / "shards" / "r03" / "X.npy").open("r+b") as fh:
        fh.truncate(300)
    with pytest.raises(DataError, match=r"r03/X.npy: cannot read shard"):
        open_store(out)
    (out / "shards" / "r01" / "y.npy").unlink()
    with pytest.raises(DataError, match=r"r01/y.npy: shard file is missing"):
        open_store(out)
    with pytest.raises(DataError, match="no beat store here"):
        open_store(tmp_path)


def test_build_again_rebuilds_a_damaged_shard_and_reading_one_says_so(wfdb_db, tmp_path):
    out = build_store(wfdb_db, tmp_path / "store", window="centred", workers=1, progress=False)
    shards = out / "shards"
    with (shards / "r02" / "X.npy").open("r+b") as fh:
        fh.truncate(1000)  # a shard cut short after its build: done.json still says it is complete
    command = f"arrhythmia data build --data {wfdb_db.resolve()} --out {out} --window centred"
    with pytest.raises(DataError, match=r"r02/X.npy: cannot read shard \(file is truncated: 1000 bytes\)") as caught:
        open_store(out)
    assert str(caught.value).endswith(f"; run `{command}` again to rebuild it")
    (shards / "r03" / "y.npy").unlink()
    with pytest.raises(DataError, match=r"r03/y.npy: shard file is missing; run `arrhythmia data build --data "):
        open_store(out)
    kept = (shards / "r01" / "X.npy").stat().st_mtime_ns
    with pytest.warns(UserWarning) as warned:
        build_store(wfdb_db, out, window="centred", workers=1, progress=False)
    said = [str(w.message) for w in warned]
    assert len(said) == 2 and said[1].endswith("r03: y.npy is missing; rebuilding the shard"), said
    assert re.search(r"r02: X.npy is 1,000 bytes, its header says [\d,]+; rebuilding the shard$", said[0])
    assert (shards / "r01" / "X.npy").stat().st_mtime_ns == kept  # the whole shards are left alone
    reference = load_wfdb_database(wfdb_db, source=wfdb_db.name, progress=False, window=WINDOWS["centred"])
    assert_same_beats(open_store(out), reference)


def test_an_unfinished_store_says_how_to_finish_it(wfdb_db, tmp_path):
    from typer.testing import CliRunner

    from arrhythmia.cli import app

    out = build_store(wfdb_db, tmp_path / "store", window="centred", workers=1, progress=False)
    (out / "store.json").unlink()  # as a build interrupted before its last step leaves it
    (out / "shards" / "r03" / "done.json").unlink()
    finish = f"{out}: unfinished beat store: run `arrhythmia data build --data {wfdb_db.resolve()} --out {out} "
    for attempt in (lambda: load_beats(out, progress=False), lambda: open_store(out)):
        with pytest.raises(DataError) as caught:
            attempt()
        assert str(caught.value) == finish + "--window centred` again to finish it"
    summary = CliRunner().invoke(app, ["data", "summary", "--data", str(out)])
    assert isinstance(summary.exception, DataError) and str(summary.exception).startswith(finish)
    with pytest.raises(DataError, match="not a data directory"):  # an empty folder is no store
        load_beats(tmp_path / "store" / "shards" / "r03", progress=False)
    build_store(wfdb_db, out, window="centred", workers=1, progress=False)  # as the message says
    assert len(open_store(out)) == len(load_wfdb_database(wfdb_db, progress=False, window=WINDOWS["centred"]))


def test_load_beats_opens_a_store_and_it_splits(wfdb_db, tmp_path):
    out = build_store(wfdb_db, tmp_path / "store", workers=1, progress=False)
    beats = load_beats(out, progress=False)
    assert isinstance(beats.X, ShardedArray) and beats.info["store"] == str(out)
    assert "cache_key" not in beats.info
    split = make_split(beats, "intra")
    test = beats.subset(split.test)
    assert type(test.X) is np.ndarray and len(test) == len(split.test)


def test_training_reads_a_store(wfdb_db, tmp_path):
    from arrhythmia.config import TrainConfig
    from arrhythmia.experiment import run_experiment

    beats = open_store(build_store(wfdb_db, tmp_path / "store", workers=1, progress=False))
    config = TrainConfig(model="seed-cnn", epochs=1, threads=1)
    run = run_experiment(
        config, run_dir=tmp_path / "run", beats=beats, log=lambda _: None, progress=False, report=False
    )
    assert (run / "model.pt").is_file() and (run / "metrics.json").is_file()


def test_cli_builds_a_store(wfdb_db, tmp_path):
    from typer.testing import CliRunner

    from arrhythmia.cli import app

    out = tmp_path / "store"
    args = ["data", "build", "--data", str(wfdb_db), "--out", str(out), "--window", "centred", "--workers", "1"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    n = len(load_wfdb_database(wfdb_db, progress=False))
    assert f"{n:,} beats in 3 shards" in result.output and "MiB on disk" in result.output
    assert json.loads((out / "store.json").read_text())["window"]["kind"] == "centred"
    again = CliRunner().invoke(app, [*args[:-4], "--window", "kachuee"])
    assert isinstance(again.exception, DataError)  # main() turns it into one line on stderr
    # As the README says, --data STORE then works for every command: data summary reads the store's window.
    summary = CliRunner().invoke(app, ["data", "summary", "--data", str(out)], terminal_width=200)
    assert summary.exit_code == 0, summary.output
    assert f"centred window: {n:,} beats" in summary.output and "intra test" in summary.output
    other = CliRunner().invoke(app, ["data", "summary", "--data", str(out), "--window", "kachuee"])
    assert "use --window centred" in str(other.exception)


@needs_mitdb
def test_store_of_three_mitdb_records(tmp_path):
    subset = tmp_path / "mitdb"
    subset.mkdir()
    names = ["100", "119", "208"]
    for name in names:
        for suffix in (".hea", ".dat", ".atr"):
            (subset / f"{name}{suffix}").symlink_to(MITDB / f"{name}{suffix}")
    (subset / "RECORDS").write_text("\n".join(names) + "\n")
    beats = open_store(build_store(subset, tmp_path / "store", workers=2, progress=False))
    assert_same_beats(beats, load_wfdb_database(subset, progress=False))
    assert beats.records() == names
