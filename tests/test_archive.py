"""Labelling an archive: finding recordings, the cohort table, failures, resuming, and Dask clusters."""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import write_multisegment_record, write_wfdb_record
from test_cli import run_cli

from arrhythmia.archive import MARKER, ModelChoice, find_recordings, label_archive, record_names
from arrhythmia.errors import ArrhythmiaError

GOOD = {"good1": 0, "good2": 1}


def _outputs(folder: Path) -> dict[str, bytes]:
    """Every file a recording's folder holds but the marker (which records the worker and its timing)."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name != MARKER}


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> tuple[Path, dict]:
    """Two good 60 s records (enough beats to adapt to), a 4-s one (labelled, with a warning: too few beats
    to adapt to), one whose signal file is truncated, one whose header names a missing signal file."""
    folder = tmp_path_factory.mktemp("archive") / "in"
    folder.mkdir()
    peaks = {name: len(write_wfdb_record(folder, name, seconds=60, seed=seed).r_peaks) for name, seed in GOOD.items()}
    write_wfdb_record(folder, "short", seconds=4, seed=4)
    write_wfdb_record(folder, "truncated", seconds=40, seed=2)
    dat = folder / "truncated.dat"
    dat.write_bytes(dat.read_bytes()[:500])
    write_wfdb_record(folder, "orphan", seconds=40, seed=3)
    header = folder / "orphan.hea"
    header.write_text(header.read_text().replace("orphan.dat", "gone.dat"))
    (folder / "orphan.dat").unlink()
    return folder, peaks


@pytest.fixture(scope="module")
def local_run(archive, tmp_path_factory):
    """`arrhythmia predict FOLDER --workers 2` (Dask's embedded LocalCluster), run once for the module."""
    folder, _ = archive
    out = tmp_path_factory.mktemp("local") / "out"
    result = run_cli("predict", folder, "--out", out, "--workers", "2")
    return out, result


@pytest.fixture(scope="module")
def cluster():
    """A Dask LocalCluster of two worker processes, standing in for a cluster started elsewhere."""
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as running:
        yield running


@pytest.fixture(scope="module")
def client(cluster):
    """One Dask client of ``cluster`` for the module, as a notebook holds one (a client started per call,
    as ``scheduler=`` does, is tried in test_a_dask_cluster_gives_the_same_outputs_as_local_workers)."""
    from dask.distributed import Client

    with Client(cluster.scheduler_address) as running:
        yield running


def test_a_signal_saved_as_text_is_no_list_of_recordings(tmp_path):
    # A tab-separated signal saved as .txt was read as a list: each of its 21,600 lines a missing "recording",
    # minutes of failed rows and no output. A list of which nothing exists is refused at once, saying why.
    signal = tmp_path / "signal.txt"
    signal.write_text("".join(f"{0.01 * i:.3f}\t{-0.02 * i:.3f}\n" for i in range(21_600)))
    with pytest.raises(ArrhythmiaError, match=r"signal.txt: none of the 21,600 recordings it lists exists; .*a signal"):
        find_recordings([signal])
    (tmp_path / "typos.txt").write_text("recs/100\nrecs/101\n")
    with pytest.raises(ArrhythmiaError, match=r"typos.txt: none of the 2 recordings it lists exists$"):
        find_recordings([tmp_path / "typos.txt"])


def test_find_recordings_in_folders_globs_and_lists(tmp_path):
    for site in ("a", "b"):
        (tmp_path / site / "deep").mkdir(parents=True)
        for name in ("100", "101"):
            (tmp_path / site / f"{name}.hea").write_text("x")
            (tmp_path / site / f"{name}.dat").write_bytes(b"")
        (tmp_path / site / "deep" / "p1.edf").write_bytes(b"")
    (tmp_path / "a" / "notes.md").write_text("not a recording")
    (tmp_path / "list.txt").write_text("# one site\nb/100\n\nb/101.hea  # its header\nmissing/7\n")

    found = find_recordings([tmp_path / "a"])
    assert [p.relative_to(tmp_path).as_posix() for p in found] == ["a/100.hea", "a/101.hea", "a/deep/p1.edf"]
    listed = find_recordings([tmp_path / "list.txt"])
    assert [p.relative_to(tmp_path).as_posix() for p in listed] == ["b/100", "b/101.hea", "missing/7"]
    matched = find_recordings([str(tmp_path / "*" / "10*.hea"), tmp_path / "a"])  # a/ found twice, kept once
    assert len(matched) == 5 and len(set(matched)) == 5

    names = record_names(matched)
    assert names == ["a__100", "a__101", "b__100", "b__101", "p1"]  # clashing names take their folder's
    # One folder's recordings of one name in two formats keep their suffixes, not the folders above them.
    same = [tmp_path / "same" / "rec.csv", tmp_path / "same" / "rec.npy", tmp_path / "a" / "rec.csv"]
    assert record_names(same) == ["rec.csv", "rec.npy", "rec"]
    twice = [*same[:2], tmp_path / "b" / "rec.csv", tmp_path / "b" / "rec.npy"]
    assert record_names(twice) == ["same__rec.csv", "same__rec.npy", "b__rec.csv", "b__rec.npy"]
    with pytest.raises(ArrhythmiaError, match="nothing-here: no such file or folder"):
        find_recordings([tmp_path / "nothing-here"])
    with pytest.raises(ArrhythmiaError, match="no file matches"):
        find_recordings([str(tmp_path / "*.nope")])


def test_a_multi_segment_record_is_one_recording_not_its_segments(tmp_path):
    (tmp_path / "mimic").mkdir()
    write_multisegment_record(tmp_path / "mimic", "p000020", np.zeros(3600))
    (tmp_path / "mimic" / "100.hea").write_text("x")
    found = find_recordings([tmp_path / "mimic"])
    assert [p.name for p in found] == ["100.hea", "p000020.hea"]


def test_an_archive_gives_cohort_rows_failures_and_exit_status(archive, local_run, tmp_path):
    folder, peaks = archive
    out, result = local_run
    assert result.returncode == 1, result.stderr
    assert "5 recordings: 3 labelled, 0 skipped (complete), 2 failed, 1 with warnings" in result.stdout
    assert "Traceback" not in result.stderr and "too few" not in result.stderr  # warnings are the row's

    cohort = pd.read_csv(out / "cohort.csv", keep_default_na=False)
    assert cohort["record"].tolist() == ["good1", "good2", "orphan", "short", "truncated"]
    rows = cohort.set_index("record")
    warned = rows.loc["short", "warnings"]
    assert rows.loc["short", "status"] == "ok" and "short" in warned and "too few to adapt" in warned
    assert "\n" not in warned and (rows.loc[list(GOOD), "warnings"] == "").all()
    assert rows.loc["truncated", "status"] == "failed" and "truncated.dat" in rows.loc["truncated", "error"]
    assert "truncated" in rows.loc["truncated", "error"]
    assert rows.loc["orphan", "status"] == "failed" and "gone.dat" in rows.loc["orphan", "error"]
    assert all("\n" not in error and "Traceback" not in error for error in cohort["error"])
    for name, n_peaks in peaks.items():
        row = rows.loc[name]
        assert row["status"] == "ok" and row["error"] == ""
        assert int(row["beats"]) == n_peaks == sum(int(row[c]) for c in "NSVFQ")
        assert float(row["duration_s"]) == pytest.approx(60.0, abs=0.01)
        assert 30 < float(row["hr_mean_bpm"]) < 200 and float(row["analysable_percent"]) > 90
        summary = json.loads((out / name / "summary.json").read_text())
        assert float(row["V_burden_percent"]) == pytest.approx(summary["ectopy"]["V"]["burden_percent"], rel=1e-5)
        adaptation = summary["adaptation"]
        assert float(row["adaptation_changed_percent"]) == pytest.approx(adaptation["changed_percent"], rel=1e-5)
        assert row["review_recommended"] == str(adaptation["review_recommended"])
        assert int(row["unsure_beats"]) == summary["unsure_beats"]
    assert not (out / "truncated" / MARKER).exists() and not (out / "orphan" / MARKER).exists()

    # Each recording exactly as a single predict labels it.
    single = run_cli("predict", folder / "good2.hea", "--out", tmp_path / "single")
    assert single.returncode == 0, single.stderr
    ours, theirs = _outputs(out / "good2"), _outputs(tmp_path / "single")
    assert ours.keys() == theirs.keys() >= {"beats.csv", "episodes.csv", "hourly.csv", "families.csv"}
    for name in ("beats.csv", "episodes.csv", "hourly.csv", "families.csv"):
        assert ours[name] == theirs[name]


def test_a_rerun_skips_complete_recordings_and_force_redoes_them(archive, local_run, client, tmp_path):
    from arrhythmia.labelling import PredictOptions

    folder, _ = archive
    out = tmp_path / "out"
    shutil.copytree(local_run[0], out)  # copy2: the markers keep their times
    markers = {name: (out / name / MARKER).stat().st_mtime_ns for name in GOOD}
    cohort = (out / "cohort.csv").read_text()
    rerun = run_cli("predict", folder, "--out", out, "--workers", "2")
    assert rerun.returncode == 1  # the two broken recordings are tried again, and fail again
    assert "0 labelled, 3 skipped (complete), 2 failed, 1 with warnings" in rerun.stdout
    assert {name: (out / name / MARKER).stat().st_mtime_ns for name in GOOD} == markers
    assert (out / "cohort.csv").read_text() == cohort

    # Other options make the outputs incomplete: labelled again; --force labels complete ones again.
    good = [folder / f"{name}.hea" for name in GOOD]
    plotted = PredictOptions(plot=True)
    again = label_archive(good, out, plotted, client=client, progress=False)
    assert (again.labelled, again.skipped) == (2, 0) and (out / "good1" / "beats.png").is_file()
    assert label_archive(good, out, plotted, client=client, progress=False).skipped == 2
    forced = label_archive(good, out, plotted, client=client, force=True, progress=False)
    assert (forced.labelled, forced.skipped) == (2, 0)


def test_a_dask_cluster_gives_the_same_outputs_as_local_workers(archive, local_run, cluster, tmp_path):
    folder, _ = archive
    local_out, _ = local_run
    recordings = find_recordings([folder])
    result = label_archive(recordings, tmp_path / "out", scheduler=cluster.scheduler_address, progress=False)
    assert (result.labelled, result.skipped, result.failed, result.warned) == (3, 0, 2, 1)
    for name in GOOD:
        assert _outputs(tmp_path / "out" / name) == _outputs(local_out / name)
    assert (tmp_path / "out" / "cohort.csv").read_bytes() == (local_out / "cohort.csv").read_bytes()


def test_a_killed_worker_is_replaced_and_its_recording_labelled(client, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for seed in range(6):
        write_wfdb_record(folder, f"r{seed}", seconds=40, seed=seed)
    pids = list(client.run(os.getpid).values())
    outcome = {}
    worker = threading.Thread(
        target=lambda: outcome.setdefault(
            "result",
            label_archive(
                find_recordings([folder]),
                tmp_path / "out",
                model=ModelChoice(),
                client=client,
                progress=False,
            ),
        )
    )
    worker.start()
    deadline = time.monotonic() + 120
    while worker.is_alive() and not list((tmp_path / "out").glob(f"*/{MARKER}")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert worker.is_alive() and len(list((tmp_path / "out").glob(f"*/{MARKER}"))) < 6
    os.kill(pids[0], signal.SIGKILL)  # mid-run: both workers are busy with the next recordings
    worker.join(timeout=240)
    result = outcome["result"]
    assert (result.labelled, result.failed) == (6, 0), result.failures
    now = set(client.run(os.getpid).values())  # the caller's client is left open
    assert pids[0] not in now  # the nanny started a new worker process


def test_a_scheduler_that_does_not_answer_is_one_line(tmp_path):
    with pytest.raises(ArrhythmiaError, match="foo://x: no Dask scheduler answers there"):
        label_archive([tmp_path / "r.hea"], tmp_path / "out", scheduler="foo://x", progress=False)
    with pytest.raises(ArrhythmiaError, match="a Dask scheduler's address or a client, not both"):
        label_archive([tmp_path / "r.hea"], tmp_path / "out", scheduler="tcp://x:1", client=object(), progress=False)


@pytest.fixture(scope="module")
def sites(tmp_path_factory) -> Path:
    """siteA/100 and siteA/101, siteB/100 and siteC/100: three different recordings named 100; siteD/100's
    header names a signal file that is not there."""
    root = tmp_path_factory.mktemp("sites")
    for site, seeds in {"siteA": {"100": 0, "101": 1}, "siteB": {"100": 2}, "siteC": {"100": 3}}.items():
        (root / site).mkdir()
        for name, seed in seeds.items():
            write_wfdb_record(root / site, name, seconds=30, seed=seed)
    (root / "siteD").mkdir()
    write_wfdb_record(root / "siteD", "100", seconds=30, seed=5)
    (root / "siteD" / "100.dat").unlink()
    return root


def _source_of(folder: Path) -> str:
    return json.loads((folder / MARKER).read_text())["settings"]["source"]


def test_a_second_batch_never_labels_over_another_recordings_folder(sites, client, tmp_path):
    out = tmp_path / "out"
    first = label_archive(find_recordings([sites / "siteA"]), out, client=client, progress=False)
    assert (first.labelled, first.failed) == (2, 0)
    beats = (out / "100" / "beats.csv").read_bytes()

    with pytest.warns(UserWarning, match=r"holds the labels of .*siteA.*100.*labelled into .*siteC__100"):
        second = label_archive(find_recordings([sites / "siteC"]), out, client=client, progress=False)
    assert (second.labelled, second.failed, second.earlier) == (1, 0, 2)
    assert (out / "100" / "beats.csv").read_bytes() == beats and "siteA" in _source_of(out / "100")
    assert "siteC" in _source_of(out / "siteC__100")
    cohort = pd.read_csv(out / "cohort.csv", keep_default_na=False)
    assert cohort["record"].tolist() == ["100", "101", "siteC__100"]  # both batches
    assert (cohort["status"] == "ok").all() and cohort["source"].str.contains("siteA").sum() == 2

    # The same recording keeps its folder from run to run, whatever the other recordings of the run.
    third = label_archive(find_recordings([sites / "siteA", sites / "siteB"]), out, client=client, progress=False)
    assert (third.labelled, third.skipped, third.failed) == (1, 2, 0)
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["100", "101", "siteB__100", "siteC__100"]
    assert (out / "100" / "beats.csv").read_bytes() == beats
    cohort = pd.read_csv(out / "cohort.csv", keep_default_na=False)
    assert cohort["record"].tolist() == ["100", "101", "siteB__100", "siteC__100"]


def test_a_failed_recording_never_removes_another_recordings_labels(sites, client, tmp_path):
    from arrhythmia.archive import Task, label_one
    from arrhythmia.labelling import PredictOptions

    out = tmp_path / "out"
    label_archive(find_recordings([sites / "siteA"]), out, client=client, progress=False)
    before = _outputs(out / "100")
    with pytest.warns(UserWarning, match="siteD__100"):
        failing = label_archive(find_recordings([sites / "siteD"]), out, client=client, progress=False)
    assert failing.failed == 1 and "missing" in failing.failures["siteD__100"]
    assert _outputs(out / "100") == before and "siteA" in _source_of(out / "100")

    # Even told to label into that folder, a recording leaves another's labels alone.
    row = label_one(Task(str(sites / "siteD" / "100.hea"), str(out / "100"), PredictOptions(), ModelChoice()))
    assert row["status"] == "failed" and "another recording" in row["error"]
    assert _outputs(out / "100") == before and (out / "100" / MARKER).is_file()


def test_a_walk_leaves_out_the_folders_of_earlier_outputs(tmp_path):
    nest = tmp_path / "nest"
    for name in ("100", "101"):
        (nest / f"{name}.hea").parent.mkdir(parents=True, exist_ok=True)
        (nest / f"{name}.hea").write_text("x")
    labels = nest / "labels"  # `predict nest --out nest/labels`
    (labels / "100").mkdir(parents=True)
    (labels / "cohort.csv").write_text("record,status,error,warnings,source\n100,ok,,,nest/100.hea\n")
    for name in ("beats.csv", "episodes.csv", "hourly.csv", "families.csv"):
        (labels / "100" / name).write_text("sample,label\n")
    (labels / "100" / MARKER).write_text("{}")
    single = nest / "one"  # `predict nest/100.hea --out nest/one`
    single.mkdir()
    (single / "summary.json").write_text("{}")
    (single / "beats.csv").write_text("sample,label\n")
    study = nest / "study"  # a cohort.csv of the user's own is no output of ours
    study.mkdir()
    (study / "cohort.csv").write_text("patient,age\n")
    (study / "p1.csv").write_text("ecg\n0.1\n")

    found = find_recordings([nest])
    assert [p.relative_to(nest).as_posix() for p in found] == ["100.hea", "101.hea", "study/cohort.csv", "study/p1.csv"]
    globbed = find_recordings([str(nest / "**" / "*.csv")])
    assert [p.relative_to(nest).as_posix() for p in globbed] == ["study/cohort.csv", "study/p1.csv"]


def test_a_changed_source_or_a_missing_output_is_labelled_again(client, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    write_wfdb_record(folder, "100", seconds=30, seed=0)
    out = tmp_path / "out"

    def run():
        return label_archive([folder / "100.hea"], out, client=client, progress=False)

    assert run().labelled == 1
    marker = json.loads((out / "100" / MARKER).read_text())
    assert sorted(Path(name).name for name in marker["inputs"]) == ["100.dat", "100.hea"]
    assert run().skipped == 1
    beats = (out / "100" / "beats.csv").read_bytes()

    # Rewritten with another recording of the same size: its time differs, so it is labelled again.
    write_wfdb_record(folder, "100", seconds=30, seed=7)
    stat = (folder / "100.dat").stat()
    os.utime(folder / "100.dat", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    again = run()
    assert (again.labelled, again.skipped) == (1, 0) and (out / "100" / "beats.csv").read_bytes() != beats
    assert run().skipped == 1

    # A file done.json lists that is gone: incomplete, labelled again.
    (out / "100" / "beats.csv").unlink()
    assert run().labelled == 1 and (out / "100" / "beats.csv").is_file()


def test_the_cohort_table_has_the_same_columns_when_every_recording_fails(archive, local_run, client, tmp_path):
    folder, _ = archive
    failing = [folder / "truncated.hea", folder / "orphan.hea"]
    result = label_archive(failing, tmp_path / "out", client=client, progress=False)
    assert result.failed == 2
    columns = (tmp_path / "out" / "cohort.csv").read_text().splitlines()[0]
    assert columns == (local_run[0] / "cohort.csv").read_text().splitlines()[0]
    assert ",beats,N,S,V,F,Q," in columns


def test_one_record_named_in_other_ways_is_one_source(client, tmp_path):
    folder = tmp_path / "src"
    folder.mkdir()
    write_wfdb_record(folder, "100", seconds=30, seed=0)
    (tmp_path / "link").symlink_to(folder)
    out = tmp_path / "out"
    first = label_archive([folder / "100"], out, client=client, progress=False)
    assert first.labelled == 1
    for named in (folder / "100.hea", folder / "100.dat", tmp_path / "link" / "100.hea"):
        again = label_archive([named], out, client=client, progress=False)
        assert (again.labelled, again.skipped) == (0, 1), named
    assert len(find_recordings([folder / "100", folder / "100.dat", tmp_path / "link" / "100.hea"])) == 1


def test_the_cohort_table_counts_ventricular_and_supraventricular_runs(local_run):
    out, _ = local_run
    rows = pd.read_csv(out / "cohort.csv", keep_default_na=False).set_index("record")
    for name in GOOD:
        summary = json.loads((out / name / "summary.json").read_text())
        episodes = pd.read_csv(out / name / "episodes.csv")
        for cls in ("S", "V"):
            for pattern in ("couplets", "runs"):
                assert int(rows.loc[name, f"{cls}_{pattern}"]) == summary["ectopy"][cls][pattern]
        assert int(rows.loc[name, "vt_episodes"]) == (episodes["type"] == "VT").sum()
        assert int(rows.loc[name, "svt_episodes"]) == (episodes["type"] == "SVT").sum()
    assert rows.loc["truncated", "vt_episodes"] == ""  # a failed recording has none


def test_a_cohort_row_counts_vt_and_svt_episodes_couplets_and_runs(tmp_path):
    from arrhythmia.archive import cohort_row

    ectopy = {
        cls: {"isolated": 5, "couplets": n, "runs": n + 1, "burden_percent": 1.0} for cls, n in (("S", 2), ("V", 3))
    }
    (tmp_path / "summary.json").write_text(json.dumps({"beats": 100, "per_class": {"N": 100}, "ectopy": ectopy}))
    (tmp_path / "hourly.csv").write_text("start_s,end_s,analysable_min\n0,60,1.0\n")
    (tmp_path / "episodes.csv").write_text(
        "type,start_s,end_s,beats,max_hr_bpm,mean_hr_bpm\nVT,1,3,4,150,140\nVT,10,12,3,150,140\nSVT,20,24,6,160,150\n"
    )
    row = cohort_row(tmp_path)
    assert (row["vt_episodes"], row["svt_episodes"]) == (2, 1)
    assert row["patient"] == ""  # the file gave none
    assert (row["S_couplets"], row["S_runs"], row["V_couplets"], row["V_runs"]) == (2, 3, 3, 4)


def test_ctrl_c_stops_an_archive_with_one_line_and_a_rerun_resumes(client, tmp_path):
    import subprocess
    import sys

    folder = tmp_path / "in"
    folder.mkdir()
    for seed in range(8):
        write_wfdb_record(folder, f"r{seed}", seconds=300, seed=seed)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "arrhythmia.cli", "predict", str(folder), "--out", str(out), "--workers", "2"]
    # Its own process group, as a terminal's foreground job: Ctrl-C reaches the command and its workers.
    running = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    deadline = time.monotonic() + 120
    while not list(out.glob(f"*/{MARKER}")) and time.monotonic() < deadline and running.poll() is None:
        time.sleep(0.02)
    os.killpg(running.pid, signal.SIGINT)
    _, stderr = running.communicate(timeout=120)
    assert running.returncode == 130, stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
    last = stderr.replace("\r", "\n").strip().splitlines()[-1]
    assert last.startswith("interrupted:") and "run the same command again to resume" in last
    finished = len(list(out.glob(f"*/{MARKER}")))
    assert 1 <= finished < 8

    rerun = label_archive(find_recordings([folder]), out, client=client, progress=False)
    assert (rerun.labelled, rerun.skipped, rerun.failed) == (8 - finished, finished, 0)


def test_a_cohort_row_carries_the_patient_field_the_file_gives(tmp_path):
    """An EDF header's patient field is what joins a cohort's rows to its clinical data; a formula in it is
    written as text, never run by a spreadsheet."""
    from arrhythmia.archive import LEADING_COLUMNS, OUTSIDE_TEXT, cohort_row, cohort_table
    from arrhythmia.files import spreadsheet_columns

    recording = {"name": "h1", "patient": "=HYPERLINK(1) MCH-0234567 F", "notes": []}
    (tmp_path / "summary.json").write_text(json.dumps({"beats": 1, "per_class": {"N": 1}, "recording": recording}))
    row = cohort_row(tmp_path)
    assert row["patient"] == "=HYPERLINK(1) MCH-0234567 F"
    table = cohort_table([{"record": "h1", **row}])
    assert list(table.columns[: len(LEADING_COLUMNS)]) == LEADING_COLUMNS
    assert spreadsheet_columns(table, OUTSIDE_TEXT)["patient"][0] == "'=HYPERLINK(1) MCH-0234567 F"


def test_cohort_percentages_are_rounded_and_never_above_100(tmp_path):
    from arrhythmia.archive import cohort_row

    (tmp_path / "summary.json").write_text(json.dumps({"beats": 10, "per_class": {"N": 10}, "muscle_filtered_s": 1}))
    # hourly.csv's analysable minutes, rounded as written, sum to a hair more than the recording
    (tmp_path / "hourly.csv").write_text("start_s,end_s,analysable_min\n0,3600,60.0000133\n3600,3900,5\n")
    (tmp_path / "episodes.csv").write_text("type,start_s,end_s,beats,max_hr_bpm,mean_hr_bpm\nAF,0,1300,1500,120,100\n")
    row = cohort_row(tmp_path)
    assert row["analysable_percent"] == 100.0
    assert row["af_burden_percent"] == 33.333 and row["muscle_filtered_percent"] == 0.026
    assert json.loads(json.dumps(row))["analysable_percent"] == 100.0


def test_one_recording_to_label_is_labelled_here_as_a_worker_labels_it(archive, local_run, tmp_path):
    folder, _ = archive
    local_out, _ = local_run
    result = label_archive([folder / "good2.hea"], tmp_path / "out", progress=False)
    assert (result.labelled, result.failed) == (1, 0)
    assert json.loads((tmp_path / "out" / "good2" / MARKER).read_text())["worker"]["pid"] == os.getpid()
    assert _outputs(tmp_path / "out" / "good2") == _outputs(local_out / "good2")
    failing = label_archive([folder / "orphan.hea"], tmp_path / "out", progress=False)
    assert failing.failed == 1 and "gone.dat" in failing.failures["orphan"]


def test_one_fs_for_an_archive_is_not_blamed_for_a_file_that_gives_its_own_rate():
    """An archive's --fs is for its CSV and NumPy signals; a WFDB or EDF file read at its header's rate (the --fs
    left aside) whose heart rate reads implausibly is not said to be "at --fs" a rate the user never gave."""
    from types import SimpleNamespace

    from arrhythmia.data.recording import Recording
    from arrhythmia.labelling import rate_warning

    beats = SimpleNamespace(beats=pd.DataFrame({"time_s": np.arange(0.0, 60.0, 4.0)}))  # 15 bpm
    own_rate = Recording(np.zeros(500 * 60), 500.0, "II", "holter.edf")
    assert rate_warning(own_rate, beats, fs=250.0) is None  # the header's 500 Hz was read, not the 250 given
    given_rate = Recording(np.zeros(250 * 60), 250.0, "signal", "patch.npy")
    assert rate_warning(given_rate, beats, fs=250.0).startswith("patch.npy: at --fs 250 Hz its median heart rate is 15")
    assert rate_warning(given_rate, beats, fs=None) is None
