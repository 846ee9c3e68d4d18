"""Cross-validation over DS1's records: the groups, each fold's split, and the runs that make it."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import _fake_mitdb_beats, write_wfdb_record
from test_cli import assert_one_line_error, run_cli

from arrhythmia.config import TrainConfig
from arrhythmia.crossval import cross_validate, format_cross_validation
from arrhythmia.data import make_split
from arrhythmia.data.splits import DS1, DS2, record_groups
from arrhythmia.errors import ArrhythmiaError, DataError
from arrhythmia.evaluation import evaluate_run
from arrhythmia.runs import Run


def test_record_groups_deal_every_record_once_and_alike_every_time():
    groups = record_groups(DS1, 5, seed=0)
    assert sorted(r for g in groups for r in g) == sorted(DS1)
    assert {len(g) for g in groups} == {4, 5}
    assert groups == record_groups(DS1, 5, seed=0) and groups != record_groups(DS1, 5, seed=1)
    assert all(g == sorted(g) for g in groups)
    for k in (1, len(DS1) + 1):
        with pytest.raises(DataError, match="needs 2 to 22 folds"):
            record_groups(DS1, k)


def test_a_fold_tests_on_its_records_and_never_trains_validates_or_reads_ds2():
    beats = _fake_mitdb_beats()
    held_out = ["101", "203", "230"]
    split = make_split(beats, "inter", test_records=held_out)
    record = beats.record
    assert set(record[split.test]) == set(held_out)
    seen = set(record[split.train]) | set(record[split.val])
    assert seen == set(DS1) - set(held_out) and not seen & set(DS2)
    assert "DS1 records 101 203 230 (cross-validation)" in split.note
    assert set(record[make_split(beats, "inter").test]) == set(DS2)  # without test records: DS2 as before


@pytest.mark.parametrize(
    ("protocol", "records", "message"),
    [
        ("inter", ["100"], "100 are not DS1 records"),
        ("intra", ["101"], "inter-patient protocol"),
    ],
)
def test_test_records_outside_ds1_or_the_inter_protocol_are_refused(protocol, records, message):
    with pytest.raises(DataError, match=message):
        make_split(_fake_mitdb_beats(), protocol, test_records=records)
    if protocol == "intra":
        with pytest.raises(ArrhythmiaError, match=message):
            TrainConfig(protocol="intra", test_records=records).validate()


def test_test_records_that_leave_too_few_ds1_records_to_train_on_are_named_as_the_reason():
    # Every DS1 record is in the data: the message named none "missing" and said nothing of the test records.
    held_out = DS1[:19]
    with pytest.raises(DataError, match="needs at least 5 of DS1's records") as refused:
        make_split(_fake_mitdb_beats(), "inter", test_records=held_out)
    assert str(refused.value).endswith(
        f"found 3 ({' '.join(DS1[19:])}), the test records hold out {' '.join(sorted(held_out))}"
    )
    assert "missing" not in str(refused.value)


@pytest.fixture(scope="module")
def cross_validation(tmp_path_factory):
    config = TrainConfig(model="fast-cnn", protocol="inter", epochs=1, batch_size=64, threads=1)
    out = tmp_path_factory.mktemp("cv") / "cv"
    logged: list[str] = []
    cv = cross_validate(config, k=3, out_dir=out, beats=_fake_mitdb_beats(), progress=False, log=logged.append)
    return config, cv, logged


def test_each_ds1_beat_is_labelled_once_by_the_fold_that_never_saw_its_patient(cross_validation):
    _, cv, _ = cross_validation
    beats = _fake_mitdb_beats()
    assert sorted(r for g in cv.groups for r in g) == sorted(DS1)
    assert cv.metrics["n_beats"] == int(np.isin(beats.record, DS1).sum())
    for run, group in zip(cv.runs, cv.groups):
        split = run.split()
        assert set(beats.record[split.test]) == set(group)
        assert not set(group) & (set(beats.record[split.train]) | set(beats.record[split.val]))
        assert run.config.test_records == group
    assert sorted(cv.records["record"]) == sorted(DS1)
    assert cv.records["beats"].sum() == cv.metrics["n_beats"]
    pooled_correct = sum(np.trace(np.asarray(f["metrics"]["confusion"])) for f in cv.folds)
    assert cv.metrics["accuracy"] == pytest.approx(pooled_correct / cv.metrics["n_beats"])


def test_every_held_out_beat_s_labels_are_written_and_count_the_pooled_figures_again(cross_validation):
    """A paper's own statistics (McNemar's test, a subgroup) need each beat's labels: the runs kept figures."""
    import pandas as pd

    _, cv, _ = cross_validation
    held_out = pd.read_csv(cv.path / "predictions.csv", dtype={"record": str})
    assert list(held_out.columns[:6]) == ["fold", "record", "sample", "symbol", "true", "called"]
    assert len(held_out) == cv.metrics["n_beats"] and sorted(set(held_out["record"])) == sorted(DS1)
    assert (held_out["true"] == held_out["called"]).mean() == pytest.approx(cv.metrics["accuracy"])
    probabilities = held_out[[f"p_{c}" for c in cv.metrics["classes"]]].to_numpy()
    assert (np.asarray(cv.metrics["classes"])[probabilities.argmax(1)] == held_out["called"]).all()
    for fold, (run, group) in enumerate(zip(cv.runs, cv.groups), 1):
        own = pd.read_csv(run.predictions_path(), dtype={"record": str})
        assert set(own["record"]) == set(group) and len(own) == (held_out["fold"] == fold).sum()
        assert run.metrics()["accuracy"] == pytest.approx((own["true"] == own["called"]).mean())


def test_a_stopped_cross_validation_and_folds_from_before_predictions_give_every_held_out_beat_again(
    cross_validation,
):
    """Run again after a fold stopped before its test, with folds finished by a version that wrote no
    predictions.csv: the gathered file holds every held-out beat, each fold's the same as before."""
    config, cv, _ = cross_validation
    before = pd.read_csv(cv.path / "predictions.csv", dtype={"record": str})
    for name in ("predictions.csv", "fold-1/predictions.csv", "fold-2/predictions.csv", "fold-2/metrics.json"):
        (cv.path / name).unlink()
    again = cross_validate(config, k=3, out_dir=cv.path, beats=_fake_mitdb_beats(), progress=False, log=lambda _: None)
    after = again.runs[0].predictions()  # a fold's, read back as written
    assert after["record"].tolist() == before.loc[before["fold"] == 1, "record"].tolist()
    pooled = pd.read_csv(cv.path / "predictions.csv", dtype={"record": str})
    pd.testing.assert_frame_equal(pooled, before)
    assert len(pooled) == again.metrics["n_beats"] and sorted(set(pooled["record"])) == sorted(DS1)


def test_the_cross_validation_is_written_and_printed(cross_validation):
    _, cv, _ = cross_validation
    saved = json.loads((cv.path / "crossval.json").read_text())
    assert saved["k"] == 3 and saved["groups"] == cv.groups and saved["pooled"]["n_beats"] == cv.metrics["n_beats"]
    assert "test_records" not in saved["config"] and len(saved["folds"]) == 3
    assert sorted(row["record"] for row in saved["pooled"]["per_record"]) == sorted(DS1)
    assert set(saved["pooled"]["record_average"]) == set(cv.metrics["classes"])
    assert set(saved["spread"]["accuracy"]) == {"mean", "sd", "folds"}
    assert (cv.path / "records.csv").read_text().startswith("record,fold,beats,accuracy,N_beats,N_se,N_ppv")
    assert (cv.path / "figures" / "confusion.png").stat().st_size > 0
    assert (cv.path / "figures" / "ec57.png").stat().st_size > 0
    text = format_cross_validation(cv)
    assert "3 folds" in text and "DS2 not used" in text and " ".join(cv.groups[0]) in text
    assert "EC57 as bxb counts it" in text and set(saved["pooled"]["ec57"]) == {"V", "S"}


def test_run_again_it_keeps_finished_folds_resumes_a_stopped_one_and_refuses_other_settings(cross_validation):
    config, cv, _ = cross_validation
    models = [run.model_path.stat().st_mtime_ns for run in cv.runs]
    (cv.path / "fold-2" / "metrics.json").unlink()  # stopped after training, before its test
    logged: list[str] = []
    again = cross_validate(config, k=3, out_dir=cv.path, beats=_fake_mitdb_beats(), progress=False, log=logged.append)
    assert "fold 1: finished before; kept" in logged and "fold 2: resuming from its last epoch" in logged
    assert [run.model_path.stat().st_mtime_ns for run in again.runs] == models
    assert again.metrics["confusion"] == cv.metrics["confusion"]
    other = TrainConfig(**{**config.to_dict(), "lr": 0.01})
    with pytest.raises(ArrhythmiaError, match="fold-1: trained with other settings \\(lr\\)"):
        cross_validate(other, k=3, out_dir=cv.path, beats=_fake_mitdb_beats(), progress=False, log=lambda _: None)


def test_run_again_with_other_threads_workers_or_device_it_keeps_its_folds(cross_validation):
    """Where and how fast a fold runs are not other settings: rerun with only --threads 2 changed, a
    cross-validation was refused ("fold-1: trained with other settings (threads)"). Mixed precision is one."""
    config, cv, _ = cross_validation
    logged: list[str] = []
    elsewhere = TrainConfig(**{**config.to_dict(), "threads": 2, "workers": 0, "device": "cpu"})
    again = cross_validate(
        elsewhere, k=3, out_dir=cv.path, beats=_fake_mitdb_beats(), progress=False, log=logged.append
    )
    assert all(f"fold {i}: finished before; kept" in logged for i in (1, 2, 3))
    assert again.metrics["confusion"] == cv.metrics["confusion"]
    with pytest.raises(ArrhythmiaError, match="fold-1: trained with other settings \\(amp\\)"):
        cross_validate(
            TrainConfig(**{**elsewhere.to_dict(), "amp": True}),
            k=3,
            out_dir=cv.path,
            beats=_fake_mitdb_beats(),
            progress=False,
            log=lambda _: None,
        )


def test_ctrl_c_in_a_fold_says_to_run_the_same_crossval_again_which_finishes_it(tmp_path):
    """Ctrl-C in a fold said `continue with arrhythmia train --resume cv/fold-1`, which resumes that fold alone
    and leaves the other folds and the pooled figures undone."""
    from arrhythmia.train import TrainingInterrupted

    config = TrainConfig(model="fast-cnn", protocol="inter", epochs=2, batch_size=64, threads=1)

    def interrupt_after_epoch_1(line: str) -> None:
        if line.startswith("fold 1: epoch   1/"):
            raise KeyboardInterrupt

    out = tmp_path / "cv"
    with pytest.raises(TrainingInterrupted) as stopped:
        cross_validate(config, k=2, out_dir=out, beats=_fake_mitdb_beats(), progress=False, log=interrupt_after_epoch_1)
    assert str(stopped.value) == (
        f"{out / 'fold-1'}: interrupted in epoch {stopped.value.epoch}; the finished folds and what this one saved "
        f"are kept: run the same `arrhythmia crossval` command again with `--out {out}`, which resumes this fold "
        "and trains and tests the rest"
    )
    # the stopped fold evaluated as it stands (`arrhythmia evaluate cv/fold-1`): it was then kept, half trained
    stopped_fold = Run.open(out / "fold-1")
    evaluate_run(stopped_fold, beats=stopped_fold.use_beats(_fake_mitdb_beats()), log=lambda _: None)
    logged: list[str] = []
    cv = cross_validate(config, k=2, out_dir=out, beats=_fake_mitdb_beats(), progress=False, log=logged.append)
    assert "fold 1: resuming from its last epoch" in logged and len(cv.folds) == 2
    assert [len(run.history()) for run in cv.runs] == [2, 2] and cv.runs[0].unfinished() is None


def test_a_figure_a_fold_does_not_define_is_a_dash_not_zero(tmp_path):
    """A fold without Q beats, where nothing is called Q: its Q Se and +P are undefined, shown "-" in the fold
    table, the report's per-class table and the EC57 figure, and left out of the spread over folds (they were
    0.0, 'Q 0.0/0.0', and pulled the mean down)."""
    from arrhythmia.crossval import CrossValidation, _spread
    from arrhythmia.evaluation import compute_metrics
    from arrhythmia.figures import plot_ec57
    from arrhythmia.report import _per_class_table

    classes = ("N", "S", "V", "F", "Q")
    truth = [np.array([0, 0, 1, 2, 3]), np.array([0, 4, 1, 2])]
    called = [np.array([0, 0, 1, 2, 0]), np.array([0, 4, 1, 2])]
    folds = [
        {"test_records": [r], "split_note": "", "metrics": compute_metrics(t, c, classes)}
        for r, t, c in zip(("101", "106"), truth, called)
    ]
    spread = _spread(folds, classes)
    assert spread["Q_se"] == {"mean": 1.0, "sd": 0.0, "folds": 1} and spread["V_se"]["folds"] == 2
    record = np.repeat(["101", "106"], [5, 4])
    pooled = compute_metrics(np.concatenate(truth), np.concatenate(called), classes, records=record)
    cv = CrossValidation(tmp_path, [["101"], ["106"]], [], pooled, folds, spread, pd.DataFrame())
    first_fold = next(line for line in format_cross_validation(cv).splitlines() if line.startswith("1 "))
    assert first_fold.split()[-2] == "-/-" and "0.0/0.0" not in first_fold
    table = _per_class_table(folds[0]["metrics"])
    assert table.count("&ndash;") == 4 and "n/a" not in table  # Q's Se, +P and F1; F's +P (never called F)
    assert plot_ec57(folds[0]["metrics"]["per_class"], classes, tmp_path / "ec57.png").stat().st_size > 0


def test_every_rank_does_with_a_fold_folder_what_rank_0_found_there(tmp_path, monkeypatch):
    """Under torchrun rank 0 may have started a fold's folder when another rank looks: that rank trains it
    anew with rank 0 (were it to resume, their process group would wait forever)."""
    from arrhythmia import crossval, distributed
    from arrhythmia.runs import Run

    config = TrainConfig(protocol="inter", test_records=["101"])
    Run.create(config, tmp_path / "fold-1")  # rank 0 has just started it
    resumed: list[bool] = []
    monkeypatch.setattr(crossval, "train", lambda config, run_dir, resume=False, **_: resumed.append(resume))
    monkeypatch.setattr(distributed, "broadcast_object", lambda value, ctx: value if ctx.is_main else ("new", ""))
    rank_1 = distributed.Context(rank=1, world_size=2)
    crossval._fold_run(tmp_path / "fold-1", config, None, lambda _: None, False, rank_1)
    assert resumed == [False]
    crossval._fold_run(tmp_path / "fold-1", config, None, lambda _: None, False)  # alone: it resumes its folder
    assert resumed == [False, True]


def test_cross_validation_needs_the_inter_protocol_and_patients_records(tmp_path):
    from conftest import write_heartbeat_csvs

    with pytest.raises(ArrhythmiaError, match="protocol inter, not 'intra'"):
        cross_validate(TrainConfig(protocol="intra"), out_dir=tmp_path, beats=_fake_mitdb_beats(), log=lambda _: None)
    ds2 = _fake_mitdb_beats().subset(np.isin(_fake_mitdb_beats().record, DS2))
    with pytest.raises(ArrhythmiaError, match="needs MIT-BIH's DS1 records .found 0 of 22"):
        cross_validate(TrainConfig(protocol="inter"), out_dir=tmp_path / "cv", beats=ds2, log=lambda _: None)
    heartbeat = write_heartbeat_csvs(tmp_path / "hb")
    assert_one_line_error(
        run_cli("crossval", "--data", heartbeat, "--out", tmp_path / "cv"), "heartbeat-mitbih", "carry no patient ids"
    )
    assert not (tmp_path / "cv").exists()


@pytest.mark.parametrize(
    ("setting", "message"), [({"epochs": 0}, "epochs must be at least 1"), ({"model": "nope"}, "unknown model 'nope'")]
)
def test_a_bad_setting_is_refused_before_the_cross_validation_starts_or_makes_its_directory(tmp_path, setting, message):
    logged: list[str] = []
    config = TrainConfig(protocol="inter", **setting)
    with pytest.raises(ArrhythmiaError, match=message):
        cross_validate(config, out_dir=tmp_path / "cv", beats=_fake_mitdb_beats(), log=logged.append)
    # It said "cross-validation over 22 DS1 records ... in cv" and left the empty folder behind.
    assert logged == [] and not (tmp_path / "cv").exists()


def test_crossval_command_on_a_wfdb_database(tmp_path):
    database = tmp_path / "db"
    database.mkdir()
    for i, name in enumerate(DS1[:10]):
        write_wfdb_record(database, name, seconds=40.0, seed=i)
    out = tmp_path / "cv"
    args = ("--data", database, "--folds", "2", "--epochs", "1", "--model", "fast-cnn", "--threads", "1", "--out", out)
    result = run_cli("crossval", *args)
    assert result.returncode == 0, result.stderr
    assert "pooled accuracy" in result.stdout and f"cross-validation directory: {out}" in result.stdout.replace(
        "\n", ""
    )
    saved = json.loads((out / "crossval.json").read_text())
    assert sorted(r for g in saved["groups"] for r in g) == sorted(DS1[:10])
    assert saved["config"]["protocol"] == "inter" and saved["config"]["model"] == "fast-cnn"


def test_a_fold_trained_with_other_settings_says_their_values(cross_validation):
    """Run again without one of its options (`--epochs 2` forgotten), a cross-validation said only 'trained
    with other settings (epochs)': not what the folds were trained with, to run the command as it was."""
    config, cv, _ = cross_validation
    other = TrainConfig(**{**config.to_dict(), "lr": 0.01, "epochs": config.epochs + 5})
    with pytest.raises(ArrhythmiaError) as refused:
        cross_validate(other, k=3, out_dir=cv.path, beats=_fake_mitdb_beats(), progress=False, log=lambda _: None)
    assert (
        f"fold-1: trained with other settings (epochs, lr): epochs={config.epochs} lr={config.lr:g} there, "
        f"epochs={config.epochs + 5} lr=0.01 in this command" in str(refused.value)
    )
