"""The command line as a user meets it: tables on stdout, one-line errors on stderr, exit status."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import write_heartbeat_csvs

from arrhythmia.figures import share


def run_cli(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "arrhythmia.cli", *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=300
    )


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_help_lists_the_commands():
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("download", "data", "models", "train", "evaluate"):
        assert command in result.stdout


def test_version():
    from arrhythmia import __version__

    result = run_cli("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"arrhythmia {__version__}"


def test_models_lists_parameter_counts():
    result = run_cli("models")
    assert "seed-cnn" in result.stdout and "1,643,333" in result.stdout and "kachuee-resnet" in result.stdout
    # The shipped models, whole on an 80-column terminal (a captured run is 80 wide): the names --pretrained takes
    shipped = result.stdout[result.stdout.index("shipped models") :]
    assert "fast-cnn-ds1*" in shipped and "se-resnet-ds1" in shipped and "…" not in shipped


def test_data_summary_of_heartbeat_csvs(tmp_path):
    directory = write_heartbeat_csvs(tmp_path / "hb")
    result = run_cli("data", "summary", "--data", directory)
    assert result.returncode == 0, result.stderr
    assert "heartbeat-mitbih, kachuee window: 80 beats" in result.stdout
    assert "intra test" in result.stdout and "inter: " in result.stdout  # inter explained, not crashed


def test_data_summary_of_wfdb_database(wfdb_db):
    result = run_cli("data", "summary", "--data", wfdb_db)
    assert result.returncode == 0, result.stderr
    assert "annotated beats" in result.stdout and "extracted beats" in result.stdout


def test_data_summary_of_part_of_mitbih_says_why_there_is_no_inter_split(tmp_path):
    from conftest import write_wfdb_record

    for i, name in enumerate(("100", "101", "106", "200")):
        write_wfdb_record(tmp_path, name, seconds=20, seed=i)
    result = run_cli("data", "summary", "--data", tmp_path)
    assert result.returncode == 0, result.stderr
    assert "intra test" in result.stdout and "inter test" not in result.stdout
    assert "needs at least 5 of DS1's records" in result.stdout and "found 2 (101 106)" in result.stdout


@pytest.mark.parametrize(
    ("train_csv", "fragments"),
    [
        (None, ["missing: data directory does not exist"]),
        ("", ["mitbih_train.csv: file is empty"]),
        ("1,2,3\n", ["mitbih_train.csv: expected 188 columns"]),
    ],
)
def test_bad_data_gives_one_line(tmp_path, train_csv, fragments):
    (tmp_path / "mitbih_test.csv").write_text(",".join(["0.5"] * 187 + ["0"]) + "\n")
    if train_csv is None:
        target = tmp_path / "missing"
    else:
        (tmp_path / "mitbih_train.csv").write_text(train_csv)
        target = tmp_path
    assert_one_line_error(run_cli("data", "summary", "--data", target), *fragments)


def test_an_output_directory_that_is_a_file_gives_one_line(wfdb_db, tmp_path):
    taken = tmp_path / "taken"
    taken.write_text("not a directory\n")
    assert_one_line_error(run_cli("predict", wfdb_db / "r01", "--out", taken), str(taken), "File exists")
    result = run_cli("train", "--data", "synthetic", "--epochs", "1", "--run-dir", taken / "run")
    assert_one_line_error(result, str(taken / "run"), "Not a directory")
    assert taken.read_text() == "not a directory\n"


def test_truncated_record_gives_one_line(wfdb_db):
    dat = wfdb_db / "r01.dat"
    dat.write_bytes(dat.read_bytes()[:500])
    assert_one_line_error(run_cli("data", "summary", "--data", wfdb_db), "r01.dat", "truncated")


def test_train_then_evaluate_on_synthetic_data(tmp_path):
    config = tmp_path / "cfg.yaml"
    config.write_text("model: kachuee-resnet\nepochs: 2\nbatch_size: 64\nthreads: 1\n")
    run = tmp_path / "run"
    result = run_cli("train", "--data", "synthetic", "--config", config, "--epochs", "1", "--run-dir", run)
    assert result.returncode == 0, result.stderr
    assert f"run directory: {run}" in result.stdout.replace("\n", "")
    saved = json.loads((run / "config.json").read_text())
    assert saved["model"] == "kachuee-resnet" and saved["epochs"] == 1  # the command line wins over the file
    assert "SYNTHETIC" in result.stdout
    evaluated = run_cli("evaluate", run)
    assert evaluated.returncode == 0, evaluated.stderr
    assert "accuracy" in evaluated.stdout and "Se" in evaluated.stdout
    assert json.loads((run / "metrics.json").read_text())["classes"] == ["N", "S", "V", "F", "Q"]


def test_evaluate_on_another_source_with_the_same_classes(tmp_path):
    run = tmp_path / "run"
    trained = run_cli("train", "--data", "synthetic", "--model", "kachuee-resnet", "--epochs", "1", "--run-dir", run)
    assert trained.returncode == 0, trained.stderr
    heartbeat = write_heartbeat_csvs(tmp_path / "hb")
    result = run_cli("evaluate", run, "--data", heartbeat)
    assert result.returncode == 0, result.stderr
    metrics = json.loads((run / "metrics-heartbeat-mitbih.json").read_text())
    assert metrics["n_beats"] == 20 and metrics["data"]["source"] == "heartbeat-mitbih"


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["train", "--data", "synthetic", "--model", "nope"], ["unknown model 'nope'"]),
        (["train", "--data", "synthetic", "--protocol", "inter", "--test-records", "syn099"], ["no beats of test"]),
        (["train", "--resume", "does-not-exist"], ["does-not-exist: run directory does not exist"]),
        (["evaluate", "not-a-run"], ["not-a-run"]),
    ],
)
def test_bad_arguments_give_one_line(tmp_path, args, fragments):
    assert_one_line_error(run_cli(*args, cwd=tmp_path), *fragments)


@pytest.fixture(scope="module")
def synthetic_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("cli") / "run"
    result = run_cli("train", "--data", "synthetic", "--model", "kachuee-resnet", "--epochs", "2", "--run-dir", run)
    assert result.returncode == 0, result.stderr
    return run


def test_predict_a_wfdb_record_with_both_engines(synthetic_run, tmp_path):
    from conftest import write_wfdb_record

    rec = write_wfdb_record(tmp_path, "rec", seconds=60)
    outputs = {}
    for engine in ("torch", "onnx"):
        out = tmp_path / engine
        result = run_cli(
            "predict",
            tmp_path / "rec",
            "--run",
            synthetic_run,
            "--engine",
            engine,
            "--out",
            out,
            "--plot",
            "--start",
            "5",
            "--seconds",
            "10",
        )
        assert result.returncode == 0, result.stderr
        assert "heart rate" in result.stdout and "burden" in result.stdout
        assert "labels the adaptation changed" in result.stdout
        summary = json.loads((out / "summary.json").read_text())
        assert summary["beats"] == len(rec.r_peaks) and summary["fs"] == 360
        for cls, ectopy in summary["ectopy"].items():  # as the report says it: a share above nought is no "0.00%"
            assert share(ectopy["burden_percent"], 2) in result.stdout.split(f"{cls} burden", 1)[1].splitlines()[0]
        assert summary["adaptation"]["batchnorm"] is True  # either engine (a model without BatchNorm here)
        assert (out / "beats.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        outputs[engine] = (out / "beats.csv").read_text().splitlines()
    torch_labels = [line.split(",")[2] for line in outputs["torch"]]
    onnx_labels = [line.split(",")[2] for line in outputs["onnx"]]
    assert torch_labels == onnx_labels


def test_resume_names_the_options_it_leaves_aside_and_says_the_run_had_finished(synthetic_run, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(synthetic_run, run)
    result = run_cli("train", "--resume", run, "--epochs", "8", "--lr", "0.5", "--model", "kachuee-resnet")
    assert result.returncode == 0, result.stderr
    assert (
        f"warning: {run}: --resume continues the run with the settings it started with; left aside: "
        "--epochs 8 (the run's: 2), --lr 0.5 (the run's: 0.001)\n"
    ) in result.stderr  # --model is the run's own
    assert "finished before (2 epochs); nothing left to train" in result.stdout.replace("\n", "")


def test_export_both_formats(synthetic_run, tmp_path):
    for fmt, name in (("onnx", "m.onnx"), ("torchscript", "m.ts.pt")):
        result = run_cli("export", synthetic_run, "--format", fmt, "--out", tmp_path / name)
        assert result.returncode == 0, result.stderr
        assert (tmp_path / name).stat().st_size > 10_000


def test_export_takes_a_shipped_model_as_predict_does(tmp_path):
    result = run_cli("export", "--pretrained", "fast-cnn-ds1", "--out", tmp_path / "fast.onnx")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "fast.onnx").stat().st_size > 10_000
    assert_one_line_error(run_cli("export", tmp_path / "nothing"), "nothing: no such run directory or checkpoint")


@pytest.mark.parametrize(
    ("make", "extra", "fragments"),
    [
        (lambda d: np.save(d / "sig.npy", np.zeros(5000)) or d / "sig.npy", [], ["sig.npy", "pass --fs"]),
        (lambda d: (d / "sig.wav").write_bytes(b"RIFF") and d / "sig.wav", [], ["sig.wav", "unknown input format"]),
        (
            lambda d: np.save(d / "two.npy", np.zeros((5000, 2))) or d / "two.npy",
            ["--fs", "360", "--lead", "7"],
            ["lead index 7 does not exist"],
        ),
    ],
)
def test_predict_bad_inputs_give_one_line(synthetic_run, tmp_path, make, extra, fragments):
    path = make(tmp_path)
    assert_one_line_error(run_cli("predict", path, "--run", synthetic_run, *extra), *fragments)


def _predict_record_with(tmp_path, run, *settings) -> dict:
    """``predict`` a 90 s record into tmp_path/out with ``settings`` (options); its summary.json."""
    from conftest import write_wfdb_record

    write_wfdb_record(tmp_path, "rec", seconds=90)
    result = run_cli("predict", tmp_path / "rec", "--run", run, "--out", tmp_path / "out", *settings)
    assert result.returncode == 0, result.stderr
    return json.loads((tmp_path / "out" / "summary.json").read_text())


def test_predict_takes_adaptation_settings_and_saves_them(synthetic_run, tmp_path):
    settings = ["--adapt-setting", "fusion_families=false", "--adapt-setting", "premature_ratio=0.8"]
    saved = _predict_record_with(tmp_path, synthetic_run, *settings)["adaptation"]["settings"]
    assert saved["fusion_families"] is False and saved["premature_ratio"] == 0.8 and saved["runs"] is True
    wrong = (
        ("nope=1", "unknown adaptation setting(s): nope"),
        ("runs=maybe", "adaptation setting runs='maybe': expected bool"),
        ("runs", "expected KEY=VALUE"),
    )
    _bad_settings_write_nothing(tmp_path, synthetic_run, "--adapt-setting", wrong)
    off = run_cli("predict", tmp_path / "rec", "--run", synthetic_run, "--no-adapt", "--adapt-setting", "runs=false")
    assert_one_line_error(off, "the adaptation is off")


def _bad_settings_write_nothing(tmp_path, run, flag: str, wrong) -> None:
    """Each (setting, message) of ``wrong`` given to ``predict tmp_path/rec`` with ``flag`` is one error line
    containing the message, and nothing is written."""
    for bad, fragment in wrong:
        failed = run_cli("predict", tmp_path / "rec", "--run", run, "--out", tmp_path / "bad", flag, bad)
        assert_one_line_error(failed, fragment)
    assert not (tmp_path / "bad").exists()


def test_predict_takes_episode_thresholds_and_saves_them(synthetic_run, tmp_path):
    import pandas as pd

    settings = ["--episode-setting", "tachycardia_bpm=30", "--episode-setting", "sustained_s=20"]
    saved = _predict_record_with(tmp_path, synthetic_run, *settings)["episode_settings"]
    assert saved["tachycardia_bpm"] == 30 and saved["sustained_s"] == 20 and saved["pause_s"] == 2.0
    # every heart rate is above 30 bpm: the whole recording is one "tachycardia" at that threshold
    assert (pd.read_csv(tmp_path / "out" / "episodes.csv")["type"] == "tachycardia").sum() == 1
    wrong = (("nope=1", "unknown episode setting(s): nope"), ("pause_s=x", "pause_s='x': expected float"))
    _bad_settings_write_nothing(tmp_path, synthetic_run, "--episode-setting", wrong)


def test_predict_uses_the_shipped_model_by_default(tmp_path):
    from conftest import write_wfdb_record

    rec = write_wfdb_record(tmp_path, "rec", seconds=4, fs=250)
    header = tmp_path / "rec.hea"  # a start time in the header: the printed table says when it started
    first, *rest = header.read_text().splitlines()
    header.write_text("\n".join([f"{first} 08:15:00 28/11/2026", *rest]) + "\n")
    for engine in ("torch", "onnx"):
        result = run_cli("predict", tmp_path / "rec.hea", "--engine", engine, "--out", tmp_path / engine)
        assert result.returncode == 0, result.stderr
        summary = json.loads((tmp_path / engine / "summary.json").read_text())
        assert summary["model"] == "fast-cnn" and summary["beats"] == len(rec.r_peaks) and summary["fs"] == 250
        assert summary["start_time"] == "2026-11-28T08:15:00" and "2026-11-28 08:15:00" in result.stdout
        # 4 s is too few beats to adapt: one warning line naming the record, not our source line that warned
        warned = [line for line in result.stderr.splitlines() if "too few to adapt" in line]
        assert len(warned) == 1 and warned[0].startswith("warning: ") and "rec" in warned[0], result.stderr
        assert "predict.py" not in result.stderr and "adapt_labels(" not in result.stderr


def test_predict_an_edf_holter_file_with_patient_events(tmp_path):
    from datetime import datetime

    from conftest import write_edf_holter

    write_edf_holter(tmp_path / "holter.edf", datetime(2026, 11, 28, 23, 59, 30), [(45.0, "palpitations")], seed=6)
    # A long folder name with square brackets: each printed path whole on its line, never wrapped nor read as markup.
    out = tmp_path / "[site 1] holter labels of the night of the twenty-eighth of November" / "out"
    result = run_cli("predict", tmp_path / "holter.edf", "--out", out)
    assert result.returncode == 0, result.stderr
    assert "patient events (EDF+ annotations)" in result.stdout  # the summary table's row
    assert f"patient events, each with the rhythm around it: {out / 'events.csv'}" in result.stdout.splitlines()
    assert any(line.endswith(f"summary: {out / 'summary.json'}") for line in result.stdout.splitlines())
    events = (out / "events.csv").read_text().splitlines()
    assert events[0] == "time_s,clock,event,heart_rate_bpm,beats,episodes"
    assert events[1].startswith("45.0000,2026-11-29 00:00:15,palpitations,")  # past midnight, by the clock


def test_predict_a_beat_csv_labels_every_row(synthetic_run, tmp_path):
    rows = np.random.default_rng(0).random((12, 188))
    np.savetxt(tmp_path / "beats.csv", rows, delimiter=",")
    result = run_cli("predict", tmp_path / "beats.csv", "--run", synthetic_run, "--out", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    lines = (tmp_path / "out" / "beats.csv").read_text().splitlines()
    assert lines[0].startswith("row,label,confidence,p_N") and len(lines) == 13


def _main_meeting(monkeypatch, error: BaseException) -> int:
    """The exit status of ``cli.main`` when the command raises ``error``."""
    from arrhythmia import cli

    def command() -> None:
        raise error

    monkeypatch.setattr(cli, "app", command)
    with pytest.raises(SystemExit) as stopped:
        cli.main()
    return stopped.value.code


def test_ctrl_c_is_one_line_and_status_130(monkeypatch, capsys):
    from arrhythmia.errors import Interrupted

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert _main_meeting(monkeypatch, KeyboardInterrupt()) == 130
    said = capsys.readouterr().err.strip().splitlines()
    assert len(said) == 1 and said[0].startswith("interrupted: what was finished is kept; run the same command")
    assert _main_meeting(monkeypatch, Interrupted("runs/x: interrupted in epoch 2; continue with ...")) == 130
    # a stop is not a mistake: said as the command says it, without "error:", as the line above is
    assert capsys.readouterr().err == "\nruns/x: interrupted in epoch 2; continue with ...\n"

    # as a command meets it: typer turns the KeyboardInterrupt into a silent exit 130 of its own
    import typer

    from arrhythmia import cli

    stopped = typer.Typer()

    @stopped.command()
    def build() -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "app", stopped)
    monkeypatch.setattr(sys, "argv", ["arrhythmia"])
    with pytest.raises(SystemExit) as exited:
        cli.main()
    assert exited.value.code == 130 and capsys.readouterr().err.strip().startswith("interrupted: what was finished")


def test_under_torchrun_rank_0_alone_says_a_user_error_and_a_lost_peer_is_one_line(monkeypatch, capsys):
    from arrhythmia.errors import DataError

    monkeypatch.setenv("WORLD_SIZE", "2")
    for rank, said in (("0", "error: nowhere: data directory does not exist\n"), ("1", "")):
        monkeypatch.setenv("RANK", rank)
        assert _main_meeting(monkeypatch, DataError("nowhere: data directory does not exist")) == 1
        assert capsys.readouterr().err == said  # the same error on every rank: said once
    lost = RuntimeError("[../third_party/gloo/gloo/transport/tcp/pair.cc:534] Connection reset by peer\nmore")
    assert _main_meeting(monkeypatch, lost) == 1
    said = capsys.readouterr().err.strip().splitlines()
    assert len(said) == 1 and said[0].startswith("error: rank 1: another process of this torchrun run stopped")
    assert "resume under torchrun" in said[0]

    monkeypatch.delenv("WORLD_SIZE")  # a plain process: a RuntimeError is a bug, and its traceback stays
    with pytest.raises(RuntimeError):
        _main_meeting(monkeypatch, lost)


def test_training_stopped_by_ctrl_c_exits_130_as_every_command_does(monkeypatch, capsys):
    from arrhythmia.train import TrainingInterrupted

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    stopped = TrainingInterrupted("runs/x: interrupted in epoch 3; continue with `arrhythmia train --resume runs/x`")
    assert _main_meeting(monkeypatch, stopped) == 130  # was 1, as for a mistake of the user's
    assert capsys.readouterr().err == f"\n{stopped}\n"
