"""The review server's API (arrhythmia.serve) and its store (arrhythmia.review), with FastAPI's test client."""

from __future__ import annotations

import io
import json
import shutil
import time
import zipfile
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import wfdb
from conftest import write_edf_holter, write_multisegment_record, write_wfdb_record
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from arrhythmia.cli import app as cli_app
from arrhythmia.data.synthetic import synthetic_ecg
from arrhythmia.export import load_classifier
from arrhythmia.review import SIDECAR, ReviewStore
from arrhythmia.serve import create_app

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def analysed(tmp_path_factory) -> Path:
    """A folder with one 2-minute WFDB record, analysed once with the shipped default model."""
    folder = tmp_path_factory.mktemp("analysed")
    write_wfdb_record(folder, "r01", seconds=120, seed=1)
    ReviewStore(folder, "r01").analyse(load_classifier())
    return folder


@pytest.fixture
def folder(analysed, tmp_path) -> Path:
    """A copy of the analysed folder, for a test to change."""
    return Path(shutil.copytree(analysed, tmp_path / "recordings", symlinks=True))


@pytest.fixture
def client(folder):
    with TestClient(create_app(folder)) as test_client:
        yield test_client


def wait_done(client, name: str, headers=None, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        about = client.get(f"/api/recordings/{name}", headers=headers).json()
        if about["status"] in ("done", "failed"):
            return about
        time.sleep(0.1)
    raise AssertionError(f"{name}: still {about['status']} after {timeout} s")


def test_list_recording_beats_and_summary(client):
    listed = client.get("/api/recordings").json()
    assert [(r["name"], r["status"]) for r in listed] == [("r01", "done")]
    about = client.get("/api/recordings/r01")
    assert about.status_code == 200 and about.headers["etag"] == '"0"'
    body = about.json()
    assert body["status"] == "done" and body["version"] == 0
    assert body["summary"]["beats"] == sum(body["summary"]["per_class"].values()) > 100
    # how much the adaptation changed the labels, listed so that a reviewer can start where it changed most
    changed = listed[0]["adaptation_changed_percent"]
    assert 0 <= changed <= 100 and listed[0]["review_recommended"] is (changed > 8.0)
    assert listed[0]["review_above_percent"] == 8.0  # the threshold it was analysed with, for the page to say
    beats = client.get("/api/recordings/r01/beats").json()
    assert len(beats) == body["summary"]["beats"] and {"sample", "label"} <= set(beats[0])
    some = client.get("/api/recordings/r01/beats", params={"start_s": 10, "end_s": 20}).json()
    assert some and all(10 <= b["time_s"] <= 20 for b in some) and len(some) < len(beats)


def test_analyse_in_background_then_summary(folder):
    write_wfdb_record(folder, "r02", seconds=60, seed=2)
    with TestClient(create_app(folder)) as client:
        assert {r["name"]: r["status"] for r in client.get("/api/recordings").json()}["r02"] == "new"
        assert client.get("/api/recordings/r02").json()["status"] == "new"
        assert client.post("/api/recordings/r02/analyse").status_code == 202
        about = wait_done(client, "r02")
        assert about["status"] == "done" and about["summary"]["beats"] > 50
        sidecar = folder / ".arrhythmia" / "r02"
        written = {p.name for p in next(sidecar.glob("analysis-*")).iterdir()}
        assert {"beats.csv", "summary.json", "episodes.csv", "hourly.csv", "families.csv", "report.html"} <= written
    assert sorted(p.name for p in folder.glob("r02*")) == ["r02.atr", "r02.dat", "r02.hea"]  # source untouched


def test_a_multi_segment_record_is_listed_once_analysed_and_kept_inside_the_folder(folder):
    write_multisegment_record(folder, "mimic", synthetic_ecg(duration_s=90, fs=360, seed=3).signal)
    write_multisegment_record(folder, "leaky", np.zeros(3600))
    write_wfdb_record(folder.parent, "outside", seconds=20)
    (folder / "leaky_1.hea").unlink()
    (folder / "leaky_1.hea").symlink_to(folder.parent / "outside.hea")  # a segment that links out of the folder
    with TestClient(create_app(folder)) as client:
        names = [r["name"] for r in client.get("/api/recordings").json()]
        assert "mimic" in names and not [n for n in names if n.startswith(("mimic_", "leaky"))]
        assert client.post("/api/recordings/mimic/analyse").status_code == 202
        about = wait_done(client, "mimic")
        assert about["status"] == "done" and about["summary"]["beats"] > 50
        assert client.get("/api/recordings/leaky").status_code == 404  # a segment names a file outside


def test_relabel_beat_list_family_and_undo_with_versions(client):
    beats = client.get("/api/recordings/r01/beats").json()
    counts = client.get("/api/recordings/r01").json()["summary"]["per_class"]
    beat = next(b for b in beats if b["label"] == "N")
    done = client.patch("/api/recordings/r01/beats", json={"sample": beat["sample"], "label": "V", "version": 0})
    assert done.status_code == 200 and done.json()["version"] == 1 and done.headers["etag"] == '"1"'
    assert done.json()["per_class"]["V"] == counts["V"] + 1 and done.json()["per_class"]["N"] == counts["N"] - 1
    # a second tab still at version 0 is refused, by body or by If-Match, and nothing changes
    stale = client.patch("/api/recordings/r01/beats", json={"sample": beat["sample"], "label": "S", "version": 0})
    assert stale.status_code == 409 and stale.json()["version"] == 1
    stale = client.patch(
        "/api/recordings/r01/beats", json={"sample": beat["sample"], "label": "S"}, headers={"If-Match": '"0"'}
    )
    assert stale.status_code == 409
    summary = client.get("/api/recordings/r01").json()["summary"]
    assert summary["per_class"]["V"] == counts["V"] + 1 and summary["reviewed"]["labels_changed"] == 1
    # a list of beats, then a whole family
    two = [{"sample": b["sample"], "label": "S"} for b in beats[5:7]]
    assert client.patch("/api/recordings/r01/beats", json=two, headers={"If-Match": '"1"'}).json()["version"] == 2
    family = client.get("/api/recordings/r01/families").json()[0]
    assert family["beats"] > 10 and len(family["template"]) > 50
    done = client.patch("/api/recordings/r01/beats", json={"family": family["family"], "label": "Q", "version": 2})
    assert done.json()["changed"] == family["beats"]
    assert client.get("/api/recordings/r01/families").json()[0]["counts"] == {"Q": family["beats"]}
    # undo goes back one correction at a time, and says which (it may have been made in another tab)
    undone = client.post("/api/recordings/r01/undo", json={"version": 3}).json()
    assert undone["version"] == 4 and undone["undone"] == f"family {family['family']} relabelled Q (version 3)"
    assert client.get("/api/recordings/r01/families").json()[0]["counts"] != {"Q": family["beats"]}
    assert client.post("/api/recordings/r01/undo").json()["undone"] == "2 beats relabelled S (version 2)"
    client.post("/api/recordings/r01/undo")
    after = client.get("/api/recordings/r01")
    assert after.json()["summary"]["per_class"] == counts and after.json()["version"] == 6
    assert client.post("/api/recordings/r01/undo").status_code == 422  # nothing left to undo


@pytest.mark.parametrize(
    "body",
    [
        {"sample": 12345678, "label": "N"},
        {"sample": "x", "label": "N"},
        {"sample": None, "label": "N"},
        {"label": "N"},
        {"family": 0, "label": "X"},
        {"family": 999, "label": "N"},
        [],
        {"sample": 0, "label": "N", "version": "abc"},
        {"sample": 99999999999999999999999, "label": "V"},  # past int64: a 422, not an OverflowError's 500
        {"sample": -1, "label": "V"},
        {"sample": True, "label": "V"},
        [{"sample": 0, "label": "V"}, {"sample": 0, "label": "N"}],  # the same beat twice: which would stand?
        {"family": 0, "sample": 0, "label": "V"},  # one or the other, never one silently ignored
        {"beats": [{"sample": 0, "label": "V"}], "sample": 0, "label": "V"},
        {"sample": 0, "label": "V", "colour": "red"},
        [{"sample": 0, "label": "V", "family": 0}],
    ],
)
def test_bad_corrections_are_refused_with_one_line(client, body):
    first = client.get("/api/recordings/r01/beats").json()[0]["sample"]
    for item in body if isinstance(body, list) else [body, *body.get("beats", [])]:
        if item.get("sample") == 0:
            item["sample"] = first
    answer = client.patch("/api/recordings/r01/beats", json=body)
    assert answer.status_code == 422 and "\n" not in answer.json()["detail"], answer.text
    assert client.get("/api/recordings/r01").json()["version"] == 0


def test_next_beat_of_a_label_that_is_not_a_class_is_refused(client):
    answer = client.get("/api/recordings/r01/beats/next", params={"after_s": 0, "label": "X"})
    assert answer.status_code == 422 and "'X'" in answer.json()["detail"]
    assert client.get("/api/recordings/r01/beats/next", params={"after_s": 0, "label": "N"}).status_code == 200


def test_bad_label_names_the_classes(client):
    sample = client.get("/api/recordings/r01/beats").json()[0]["sample"]
    answer = client.patch("/api/recordings/r01/beats", json={"sample": sample, "label": "Z"})
    assert answer.status_code == 422 and "'Z'" in answer.json()["detail"] and "N, S, V, F, Q" in answer.json()["detail"]


@pytest.mark.parametrize("version", ["1e400", "0.5", "1.5", "true", "-1", '"0.0"', "[0]"])
def test_a_version_that_is_not_a_whole_number_is_refused_and_nothing_is_written(client, version):
    """1e400 (an infinity once parsed) was a 500 with a traceback; 0.5 and true were taken for 0 and 1."""
    sample = client.get("/api/recordings/r01/beats").json()[0]["sample"]
    body = f'{{"sample": {sample}, "label": "V", "version": {version}}}'
    json_type = {"Content-Type": "application/json"}
    answer = client.patch("/api/recordings/r01/beats", content=body, headers=json_type)
    assert answer.status_code == 422 and "is not a version number" in answer.json()["detail"], answer.text
    undo = client.post("/api/recordings/r01/undo", content=f'{{"version": {version}}}', headers=json_type)
    assert undo.status_code == 422 and "is not a version number" in undo.json()["detail"], undo.text
    assert client.get("/api/recordings/r01").json()["version"] == 0
    assert client.patch("/api/recordings/r01/beats", json={"sample": sample, "label": "V", "version": 0}).is_success


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b'{"sample": 1, "label"', "the request body is not valid JSON"),
        (b"null", "the request body: "),
        (b"5", "the request body: "),
        (None, "the request needs a JSON body"),
    ],
)
def test_a_body_that_is_not_a_change_is_said_of_the_body(client, body, detail):
    """Not pydantic's names for the body ('1: JSON decode error', 'dict[any,any]: ...')."""
    answer = client.patch("/api/recordings/r01/beats", content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 422 and answer.json()["detail"].startswith(detail), answer.text
    assert "dict[" not in answer.json()["detail"]
    assert client.get("/api/recordings/r01").json()["version"] == 0


@pytest.mark.parametrize(
    "path", ["overview?bin_s=inf", "signal?start_s=0&end_s=inf", "signal?start_s=inf", "beats?start_s=inf"]
)
def test_an_infinite_time_is_refused(client, path):
    answer = client.get(f"/api/recordings/r01/{path}")
    assert answer.status_code == 422 and "\n" not in answer.json()["detail"], answer.text


def test_the_beats_of_no_family_are_not_a_family_to_relabel(client):
    """An analysis not adapted gives every beat family -1 (none): {"family": -1} relabelled every beat at once."""
    assert client.post("/api/recordings/r01/analyse", json={"adapt": False}).status_code == 202
    assert wait_done(client, "r01")["status"] == "done"
    assert {beat["family"] for beat in client.get("/api/recordings/r01/beats").json()} == {-1}
    version = client.get("/api/recordings/r01").json()["version"]
    answer = client.patch("/api/recordings/r01/beats", json={"family": -1, "label": "V"})
    assert answer.status_code == 422 and "no family -1" in answer.json()["detail"]
    assert client.get("/api/recordings/r01").json()["version"] == version
    assert not any(beat["reviewed"] for beat in client.get("/api/recordings/r01/beats").json())


def test_corrections_survive_a_restart_and_a_torn_last_line(folder):
    with TestClient(create_app(folder)) as client:
        beats = client.get("/api/recordings/r01/beats").json()
        client.patch("/api/recordings/r01/beats", json={"sample": beats[3]["sample"], "label": "F"})
    journal = folder / ".arrhythmia" / "r01" / "corrections.jsonl"
    with open(journal, "a", encoding="utf-8") as handle:  # a kill -9 in the middle of the next write
        handle.write('{"version": 2, "action": "relabel", "samples": [')
    with TestClient(create_app(folder)) as client:
        about = client.get("/api/recordings/r01").json()
        assert about["version"] == 1
        assert client.get("/api/recordings/r01/beats").json()[3]["label"] == "F"
        done = client.patch(
            "/api/recordings/r01/beats", json={"sample": beats[4]["sample"], "label": "F", "version": 1}
        )
        assert done.status_code == 200
    lines = journal.read_text().splitlines()
    assert [json.loads(line)["version"] for line in lines] == [1, 2]
    with TestClient(create_app(folder)) as client:  # a correction read back from the journal says what it was
        assert client.post("/api/recordings/r01/undo").json()["undone"] == "1 beat relabelled F (version 2)"


def test_annotations_and_exports_follow_the_reviewed_labels(client, folder, tmp_path):
    beats = client.get("/api/recordings/r01/beats").json()
    target = next(b for b in beats if b["label"] == "N")
    client.patch("/api/recordings/r01/beats", json={"sample": target["sample"], "label": "V"})
    answer = client.get("/api/recordings/r01/annotations")
    assert answer.status_code == 200 and "r01.rev" in answer.headers["content-disposition"]
    (tmp_path / "r01.rev").write_bytes(answer.content)
    read = wfdb.rdann(str(tmp_path / "r01"), "rev")
    assert len(read.sample) == len(beats)
    reviewed = {b["sample"]: b["label"] for b in client.get("/api/recordings/r01/beats").json()}
    assert dict(zip(read.sample.tolist(), read.symbol)) == {s: label or "Q" for s, label in reviewed.items()}
    assert dict(zip(read.sample.tolist(), read.symbol))[target["sample"]] == "V"
    table = pd.read_csv(io.StringIO(client.get("/api/recordings/r01/export/beats.csv").text), keep_default_na=False)
    row = table[table["sample"] == target["sample"]].iloc[0]
    assert (row["label"], row["model_label"], row["reviewed"]) == ("V", "N", 1)
    reviewed = folder / ".arrhythmia" / "r01" / "reviewed"
    assert not (reviewed / "report.html").exists()  # a table asked for does not wait for the report's figures
    report = client.get("/api/recordings/r01/export/report.html")
    assert report.status_code == 200 and "<html" in report.text.lower()
    # the report says a person reviewed it, and how much (it said every label was a proposal to review)
    assert "<strong>Reviewed</strong>: a person looked at 1 beat and changed 1 label" in report.text
    assert "every label is a proposal" not in report.text
    summary = client.get("/api/recordings/r01/export/summary.json").json()
    assert summary["per_class"] == client.get("/api/recordings/r01").json()["summary"]["per_class"]
    assert client.get("/api/recordings/r01/export/secrets.txt").status_code == 404
    missing = client.get("/api/recordings/r01/export/daily.csv")  # a recording of a day or less has none
    assert missing.status_code == 404 and "no daily.csv" in missing.json()["detail"]
    assert (reviewed / "report.html").exists()  # the same version's tables came with the report kept
    client.patch("/api/recordings/r01/beats", json={"sample": target["sample"], "label": "S"})
    assert client.get("/api/recordings/r01/export/hourly.csv").status_code == 200
    assert not (reviewed / "report.html").exists()  # the last version's report is not left beside this one's tables
    assert "<html" in client.get("/api/recordings/r01/export/report.html").text.lower()


def test_a_record_with_a_start_time_is_reviewed_by_the_clock(folder):
    """The header's start time travels with the analysis: the hourly rows, recomputed after a correction, are
    clock hours, and the exported summary and report give the start."""
    write_wfdb_record(folder, "r03", seconds=90, seed=3)
    header = folder / "r03.hea"
    first, *rest = header.read_text().splitlines()
    header.write_text("\n".join([f"{first} 10:59:30 28/11/2026", *rest]) + "\n")
    ReviewStore(folder, "r03").analyse(load_classifier())
    with TestClient(create_app(folder)) as client:
        assert client.get("/api/recordings/r03").json()["summary"]["start_time"] == "2026-11-28T10:59:30"
        beat = client.get("/api/recordings/r03/beats").json()[5]
        assert (
            client.patch("/api/recordings/r03/beats", json={"sample": beat["sample"], "label": "V"}).status_code == 200
        )
        summary = client.get("/api/recordings/r03/export/summary.json").json()
        assert summary["start_time"] == "2026-11-28T10:59:30"
        report = client.get("/api/recordings/r03/export/report.html").text
        assert "started 2026-11-28 10:59:30" in report and "<td>10:59-11:00</td>" in report


def test_the_minutes_filtered_for_muscle_noise_survive_a_correction(folder):
    """The stretches predict low-passed for muscle noise travel with the analysis: the hourly table the
    review recomputes after a correction still gives their minutes."""
    from io import StringIO

    from scipy import signal as sps

    ecg = synthetic_ecg(duration_s=90, fs=360.0, seed=5).signal.astype(np.float64)
    band = sps.butter(4, [10.0, 100.0], btype="band", fs=360.0, output="sos")
    noise = sps.sosfiltfilt(band, np.random.default_rng(0).standard_normal(len(ecg)))
    ecg[30 * 360 : 60 * 360] += (0.2 * noise / noise.std())[30 * 360 : 60 * 360]
    pd.DataFrame({"time": np.arange(len(ecg)) / 360.0, "ECG": ecg}).to_csv(folder / "noisy.csv", index=False)
    ReviewStore(folder, "noisy.csv").analyse(load_classifier())
    with TestClient(create_app(folder)) as client:
        beat = client.get("/api/recordings/noisy.csv/beats").json()[5]
        assert (
            client.patch("/api/recordings/noisy.csv/beats", json={"sample": beat["sample"], "label": "V"}).status_code
            == 200
        )
        hourly = client.get("/api/recordings/noisy.csv/export/hourly.csv").text
        summary = client.get("/api/recordings/noisy.csv/export/summary.json").json()
    assert pd.read_csv(StringIO(hourly))["muscle_filtered_min"].tolist() == [0.5]
    assert summary["muscle_filtered_s"] == 30.0  # the reviewed summary says so, as predict's does


def test_the_patient_events_of_an_edf_file_reach_the_reviewed_report(folder):
    write_edf_holter(folder / "holter.edf", datetime(2026, 11, 28, 14, 0, 0), [(40.0, "palpitations")], seed=4)
    ReviewStore(folder, "holter.edf").analyse(load_classifier())
    with TestClient(create_app(folder)) as client:
        about = client.get("/api/recordings/holter.edf").json()
        assert about["events"] == [{"time_s": 40.0, "text": "palpitations"}]  # listed on the review page
        report = client.get("/api/recordings/holter.edf/export/report.html").text
        assert "<h2>Patient events</h2>" in report and "palpitations" in report and "14:00:40" in report
        exported = client.get("/api/recordings/holter.edf/export/events.csv")  # downloadable as the tables are
    assert exported.status_code == 200 and "holter.edf-reviewed-events.csv" in exported.headers["content-disposition"]
    events = pd.read_csv(folder / ".arrhythmia" / "holter.edf" / "reviewed" / "events.csv", keep_default_na=False)
    assert events["event"].tolist() == ["palpitations"] and events["clock"].tolist() == ["2026-11-28 14:00:40"]
    assert pd.read_csv(io.StringIO(exported.text), keep_default_na=False).equals(events)


def test_the_reviewed_report_says_whose_recording_it_is_as_the_file_does(folder):
    """The analysis's copy of the signal kept the recording's start and events but not the header's notes:
    the reviewed summary.json and report said nothing of whose recording it was, where predict's did."""
    write_wfdb_record(folder, "c01", seconds=90, seed=2)
    header = folder / "c01.hea"
    header.write_text(header.read_text() + "# 61 F 1085 1629 x1\n# Digoxin\n")
    store = ReviewStore(folder, "c01")
    store.analyse(load_classifier())
    assert store.signal().notes == ("61 F 1085 1629 x1", "Digoxin")
    with TestClient(create_app(folder)) as client:
        report = client.get("/api/recordings/c01/export/report.html").text
    assert "Notes: 61 F 1085 1629 x1 / Digoxin" in report
    summary = json.loads((folder / SIDECAR / "c01" / "reviewed" / "summary.json").read_text())
    assert summary["recording"]["notes"] == ["61 F 1085 1629 x1", "Digoxin"]


def test_signal_overview_episodes_and_navigation(client):
    strip = client.get("/api/recordings/r01/signal", params={"start_s": 5, "end_s": 15}).json()
    assert strip["fs"] == 360 and len(strip["values"]) == 3600 and strip["start_s"] == pytest.approx(5.0)
    wide = client.get("/api/recordings/r01/signal", params={"start_s": 0, "end_s": 60, "points": 1000}).json()
    assert len(wide["values"]) <= 1000 and wide["step_s"] > 1 / 360
    assert client.get("/api/recordings/r01/signal", params={"start_s": 0, "end_s": 61}).status_code == 422
    overview = client.get("/api/recordings/r01/overview").json()
    assert overview["bin_s"] == 10 and len(overview["heart_rate_bpm"]) == 12
    n_beats = len(client.get("/api/recordings/r01/beats").json())
    assert sum(sum(v) for v in overview["counts"].values()) == n_beats
    assert isinstance(client.get("/api/recordings/r01/episodes").json(), list)
    v_beat = client.get("/api/recordings/r01/beats/next", params={"after_s": 0, "label": "V"}).json()
    assert v_beat["label"] == "V"
    back = client.get("/api/recordings/r01/beats/next", params={"after_s": v_beat["time_s"], "backwards": True}).json()
    assert back["time_s"] < v_beat["time_s"]


def test_next_unsure_beat_skips_confident_and_reviewed_beats(folder):
    path = ReviewStore(folder, "r01").analysis() / "beats.csv"
    beats = pd.read_csv(path, keep_default_na=False)
    beats["confidence"] = 0.99
    beats.loc[[3, 8], "confidence"] = 0.2  # two beats the network was unsure of
    beats.to_csv(path, index=False)
    unsure = beats.loc[[3, 8], "time_s"].tolist()
    with TestClient(create_app(folder)) as client:
        ask = lambda after_s, **more: client.get(  # noqa: E731
            "/api/recordings/r01/beats/next", params={"after_s": after_s, "unsure": True, **more}
        )
        assert ask(0).json()["time_s"] == pytest.approx(unsure[0], abs=1e-3)
        assert ask(unsure[0]).json()["time_s"] == pytest.approx(unsure[1], abs=1e-3)
        assert ask(unsure[1], backwards=True).json()["time_s"] == pytest.approx(unsure[0], abs=1e-3)
        assert client.get("/api/recordings/r01", params={"summary": False}).json()["unsure_left"] == 2
        sample = int(beats.loc[8, "sample"])
        done = client.patch("/api/recordings/r01/beats", json={"sample": sample, "label": "V"})
        assert done.status_code == 200 and done.json()["unsure_left"] == 1
        gone = ask(unsure[0])  # reviewed: no longer unsure
        assert gone.status_code == 404 and gone.json()["detail"] == "r01: no later unsure beat"


def test_token_is_required_for_the_api_only(folder):
    with TestClient(create_app(folder, token=TOKEN)) as client:
        assert client.get("/api/recordings").status_code == 401
        assert client.get("/api/recordings", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert client.get("/api/recordings/r01/annotations").status_code == 401
        assert client.patch("/api/recordings/r01/beats", json={"family": 0, "label": "V"}).status_code == 401
        assert client.get("/api/recordings", headers=AUTH).status_code == 200
        # the pages hold no data: they load, then ask for the token
        assert client.get("/").status_code == 200 and client.get("/recordings/r01").status_code == 200
        assert client.get("/static/review.js").status_code == 200
        assert client.get("/openapi.json").status_code == 200


def test_the_api_docs_load_nothing_from_the_network(client):
    """/docs is an offline tool's page: Swagger UI's script, style and icon come from this server."""
    import re

    docs = client.get("/docs")
    assert docs.status_code == 200 and "/docs-assets/swagger-ui-bundle.js" in docs.text
    assert not re.search(r"https?://", docs.text)  # no CDN, nothing external
    for asset in re.findall(r"['\"](/docs-assets/[^'\"]+)['\"]", docs.text):
        assert client.get(asset).status_code == 200, asset
    assert client.get("/redoc").status_code == 404  # ReDoc only loads from a CDN: not offered


def test_changes_from_other_sites_and_other_host_names_are_refused(folder):
    with TestClient(create_app(folder)) as client:
        evil = {"Origin": "http://evil.example"}
        assert client.post("/api/recordings/r01/analyse", headers=evil).status_code == 403
        assert (
            client.patch("/api/recordings/r01/beats", json={"family": 0, "label": "V"}, headers=evil).status_code == 403
        )
        assert client.get("/api/recordings/r01").json()["version"] == 0
        assert client.post("/api/recordings/r01/undo", headers={"Origin": "http://testserver"}).status_code == 422
    app = create_app(folder, allowed_hosts=["127.0.0.1", "localhost"])
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        assert client.get("/api/recordings").status_code == 200
        assert client.get("/api/recordings", headers={"Host": "rebound.example:8000"}).status_code == 400


@pytest.mark.parametrize(
    "path",
    [
        "/api/recordings/..",
        "/api/recordings/%2e%2e",
        "/api/recordings/..%2Fsecret",
        "/api/recordings/%2Fetc%2Fpasswd",
        "/api/recordings/r01%2F..%2F..%2Fsecret",
        "/api/recordings/.arrhythmia",
        "/api/recordings/outside",
        "/api/recordings/linked",
        "/api/recordings/escapes",
        "/api/recordings/nothere/beats",
    ],
)
def test_names_cannot_reach_outside_the_folder(folder, path):
    secret = folder.parent / "secret"
    write_wfdb_record(folder.parent, "outside", seconds=20)
    (folder / "linked.hea").symlink_to(folder.parent / "outside.hea")  # a link out of the folder
    (folder / "escapes.hea").write_text("escapes 1 360 7200\n../outside.dat 212 200 11 1024 0 0 0 MLII\n")
    secret.write_text("secret")
    with TestClient(create_app(folder)) as client:
        answer = client.get(path)
        assert answer.status_code in (404, 405, 422) and "secret" not in answer.text  # 422: unreadable header
        assert client.post(path.split("/beats")[0] + "/analyse").status_code in (404, 405, 422)
        names = [r["name"] for r in client.get("/api/recordings").json()]
        assert "linked" not in names and "outside" not in names


def test_upload_csv_zip_and_bad_uploads(folder, tmp_path):
    ecg = synthetic_ecg(duration_s=70, fs=250, seed=4).signal
    csv = "ECG\n" + "\n".join(f"{v:.4f}" for v in ecg)
    with TestClient(create_app(folder, max_upload_mb=1)) as client:
        done = client.post(
            "/api/recordings", files={"files": ("holter.csv", csv)}, data={"fs": "250", "analyse": "true"}
        )
        assert done.status_code == 201 and done.json()["name"] == "holter.csv"
        assert (folder / "holter.csv").read_text() == csv
        assert wait_done(client, "holter.csv")["status"] == "done"
        again = client.post("/api/recordings", files={"files": ("holter.csv", csv)}, data={"fs": "250"})
        assert again.status_code == 409
        # a WFDB record in a zip, unpacked with the safe extraction
        write_wfdb_record(tmp_path, "z01", seconds=20)
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w") as z:
            for part in ("z01.hea", "z01.dat"):
                z.write(tmp_path / part, f"inner/{part}")
        done = client.post("/api/recordings", files={"files": ("z.zip", archive.getvalue())})
        assert done.status_code == 201 and done.json()["names"] == ["z01"]
        assert (folder / "z01.hea").is_file() and not (folder / "z.zip").exists()
        # traversal in a file name or an archive member, other file types, too large: refused, nothing kept
        assert client.post(
            "/api/recordings", files={"files": ("../evil.csv", csv)}, data={"fs": "250"}
        ).status_code in (
            400,
            422,
        )
        evil = io.BytesIO()
        with zipfile.ZipFile(evil, "w") as z:
            z.writestr("../../evil.csv", csv)
        assert client.post("/api/recordings", files={"files": ("e.zip", evil.getvalue())}).status_code == 422
        assert client.post("/api/recordings", files={"files": ("run.sh", "rm -rf /")}).status_code == 422
        big = client.post("/api/recordings", files={"files": ("big.csv", "0\n" * 600_000)}, data={"fs": "250"})
        assert big.status_code == 413 and big.json()["detail"].endswith(
            "takes: 1 MB (`arrhythmia serve --max-upload-mb` sets it)"
        )
        assert client.post("/api/recordings", files={"files": ("notes.txt", "x")}).status_code == 422
    assert not list(folder.parent.glob("evil*")) and not (folder / "big.csv").exists()
    assert not (folder / "run.sh").exists() and not list((folder / ".arrhythmia" / ".uploads").iterdir())


@pytest.mark.parametrize(
    "parts",
    [
        {"bad2.hea": "zzz\n"},  # not a WFDB header
        {"ok3.hea": "ok3 1 360 7200\nok3.dat 212 200 11 1024 0 0 0 MLII\n", "ok3.csv": "ECG\n1\n2\n", "x.hea": "zzz"},
        {"up.hea": "up 1 360 7200\n../../../up.dat 212 200 11 1024 0 0 0 MLII\n"},  # signal file outside
        {"abs.hea": "abs 1 360 7200\n/etc/abs.dat 212 200 11 1024 0 0 0 MLII\n"},
    ],
)
def test_a_refused_upload_leaves_nothing_behind(folder, parts):
    """All or nothing per request: a file the server could not serve refuses the whole upload, the good
    files sent with it too, and the same upload put right is then taken (no 409 for files it left)."""
    before = sorted(p.name for p in folder.iterdir())
    with TestClient(create_app(folder)) as client:
        files = [("files", (name, text)) for name, text in parts.items()]
        answer = client.post("/api/recordings", files=files, data={"fs": "250"})
        assert answer.status_code == 422, answer.text
        detail = answer.json()["detail"]
        assert ".uploads" not in detail and "\n" not in detail  # said of the file, in one line
        assert sorted(p.name for p in folder.iterdir()) == before
        assert [r["name"] for r in client.get("/api/recordings").json()] == ["r01"]
        assert not list((folder / SIDECAR / ".uploads").iterdir())
        good = client.post("/api/recordings", files=[("files", ("ok3.csv", "ECG\n1\n2\n"))], data={"fs": "250"})
        assert good.status_code == 201 and (folder / "ok3.csv").is_file()


def test_corrupt_recording_fails_with_one_line_and_the_server_keeps_running(folder):
    write_wfdb_record(folder, "bad", seconds=30)
    data = (folder / "bad.dat").read_bytes()
    (folder / "bad.dat").write_bytes(data[: len(data) // 3])  # truncated signal file
    np.save(folder / "nofs.npy", np.zeros(1000))
    with TestClient(create_app(folder)) as client:
        assert client.post("/api/recordings/bad/analyse").status_code == 202
        about = wait_done(client, "bad")
        assert about["status"] == "failed" and "bad" in about["error"] and "\n" not in about["error"]
        assert client.get("/api/recordings/bad/beats").status_code == 404  # not analysed
        client.post("/api/recordings/nofs.npy/analyse")
        about = wait_done(client, "nofs.npy")
        assert about["status"] == "failed" and "sampling rate" in about["error"]
        assert client.get("/api/recordings/r01").json()["status"] == "done"


def test_relabel_with_corrections_feeds_the_assisted_mode(client):
    beats = client.get("/api/recordings/r01/beats").json()
    chosen = [b for b in beats if b["label"] == "N"][10]
    client.patch("/api/recordings/r01/beats", json={"sample": chosen["sample"], "label": "S", "version": 0})
    assert client.post("/api/recordings/r01/analyse", json={"use_corrections": True}).status_code == 202
    about = wait_done(client, "r01")
    assert about["status"] == "done" and about["version"] == 2  # the re-analysis is a version of its own
    assert about["relabelled"]["corrections"] == 1 and about["relabelled"]["changed"] >= 0  # for the page to say
    after = {b["sample"]: b for b in client.get("/api/recordings/r01/beats").json()}
    assert after[chosen["sample"]]["label"] == "S" and after[chosen["sample"]]["model_label"] == "S"
    assert after[chosen["sample"]]["reviewed"] is True
    assert client.post("/api/recordings/r01/analyse", json={"colour": "red"}).status_code == 422


@pytest.mark.parametrize(
    "settings, problem",
    [
        ({"lead": 99}, "lead index 99 does not exist"),
        ({"lead": "V9"}, "lead 'V9' does not exist"),
        ({"lead": ["MLII"]}, "not a lead's name or index"),
        ({"pretrained": "../../etc/passwd"}, "no shipped model"),
        ({"adapt": {"bogus": 1}}, "bogus"),
        ({"adapt": "yes"}, "adapt is true, false"),
        ({"fs": 0}, "fs 0 is not a sampling rate"),
        ({"fs": True}, "is not a sampling rate"),
        ({"use_corrections": "yes"}, "use_corrections"),
        ({"ask": 1.5}, "ask must be"),
    ],
)
def test_analysis_settings_are_checked_before_anything_is_kept(client, folder, settings, problem):
    options = folder / SIDECAR / "r01" / "options.json"
    before = options.read_text() if options.exists() else None
    answer = client.post("/api/recordings/r01/analyse", json=settings)
    assert answer.status_code == 422 and problem in answer.json()["detail"], answer.text
    assert (options.read_text() if options.exists() else None) == before
    assert client.get("/api/recordings/r01").json()["status"] == "done"  # nothing queued


def test_settings_are_kept_only_once_an_analysis_succeeds(folder):
    """A setting only the analysis can check (a CSV's column) fails that analysis and is not kept: the next
    analysis, from the page's plain "analyse again", reads the recording as before."""
    ecg = synthetic_ecg(duration_s=40, fs=250, seed=6).signal
    pd.DataFrame({"time": np.arange(len(ecg)) / 250, "ECG": ecg}).to_csv(folder / "timed.csv", index=False)
    with TestClient(create_app(folder)) as client:
        assert client.post("/api/recordings/timed.csv/analyse", json={"lead": "nope"}).status_code == 202
        about = wait_done(client, "timed.csv")
        assert about["status"] == "failed" and "nope" in about["error"]
        assert not (folder / SIDECAR / "timed.csv" / "options.json").exists()
        assert client.post("/api/recordings/timed.csv/analyse").status_code == 202
        assert wait_done(client, "timed.csv")["status"] == "done"
        assert json.loads((folder / SIDECAR / "timed.csv" / "options.json").read_text())["lead"] is None


def test_a_file_without_its_sampling_rate_is_given_it_in_the_page_s_words(folder):
    """A CSV without a time column uploaded without fs: its analysis says, in words for the page and the API
    (not the command line's --fs), that it needs the rate, and marks it (needs: fs) for the page to ask;
    analysing with fs then works and keeps it. A .npy file, which never says its rate, is refused at once."""
    ecg = synthetic_ecg(duration_s=40, fs=250, seed=7).signal
    csv = "ECG\n" + "\n".join(f"{v:.4f}" for v in ecg)
    with TestClient(create_app(folder)) as client:
        done = client.post("/api/recordings", files={"files": ("plain.csv", csv)}, data={"analyse": "true"})
        assert done.status_code == 201
        about = wait_done(client, "plain.csv")
        assert about["status"] == "failed" and about["needs"] == "fs"
        assert "--fs" not in about["error"] and "give it (fs, Hz)" in about["error"]
        listed = {r["name"]: r for r in client.get("/api/recordings").json()}
        assert listed["plain.csv"]["needs"] == "fs"
        assert client.post("/api/recordings/plain.csv/analyse", json={"fs": 250}).status_code == 202
        about = wait_done(client, "plain.csv")
        assert about["status"] == "done" and about["fs"] == 250 and "needs" not in about
        assert json.loads((folder / SIDECAR / "plain.csv" / "options.json").read_text())["fs"] == 250  # kept
        array = io.BytesIO()
        np.save(array, ecg)
        refused = client.post("/api/recordings", files={"files": ("plain.npy", array.getvalue())})
        assert refused.status_code == 422 and "sampling rate" in refused.json()["detail"]
        assert not (folder / "plain.npy").exists()


def test_corrections_follow_their_beats_through_a_re_analysis_that_moves_them(client, folder):
    """A re-analysis that detects the beats a few samples away (another lead: 7 samples, 19 ms) carries each
    correction to the nearest beat within 150 ms; one whose beat it did not detect is kept, applies to
    nothing, and is counted where the reviewer sees it (the API, the summary)."""
    beats = client.get("/api/recordings/r01/beats").json()
    moved, gone = beats[10], beats[20]
    client.patch("/api/recordings/r01/beats", json={"sample": moved["sample"], "label": "V"})
    client.patch("/api/recordings/r01/beats", json={"sample": gone["sample"], "label": "S"})
    # what analyse does, with the beats found 7 samples later and the second corrected one not found at all
    store = ReviewStore(folder, "r01")
    old, generation = store.analysis(), store.generation() + 1
    new = shutil.copytree(old, old.parent / f"analysis-{generation}")
    table = pd.read_csv(new / "beats.csv", keep_default_na=False)
    table = table[table["sample"] != gone["sample"]].assign(sample=lambda t: t["sample"] + 7)
    table.to_csv(new / "beats.csv", index=False)
    (folder / SIDECAR / "r01" / "current.json").write_text(json.dumps({"generation": generation}))
    with open(folder / SIDECAR / "r01" / "corrections.jsonl", "a", encoding="utf-8") as journal:
        journal.write(json.dumps({"version": 3, "action": "reanalysed", "generation": generation}) + "\n")
    with TestClient(create_app(folder)) as fresh:
        after = {b["sample"]: b for b in fresh.get("/api/recordings/r01/beats").json()}
        assert after[moved["sample"] + 7]["label"] == "V" and after[moved["sample"] + 7]["reviewed"] is True
        about = fresh.get("/api/recordings/r01").json()
        assert about["corrections_unmatched"] == 1
        assert about["summary"]["reviewed"]["beats_reviewed"] == 1
        assert about["summary"]["reviewed"]["corrections_unmatched"] == 1
        exported = pd.read_csv(io.StringIO(fresh.get("/api/recordings/r01/export/beats.csv").text))
        assert exported.loc[exported["sample"] == moved["sample"] + 7, "reviewed"].tolist() == [1]


def test_the_beats_to_review_are_listed_and_marked_once_answered(client):
    asked = client.get("/api/recordings/r01/questions").json()
    assert 0 < len(asked) <= 12 and len({q["sample"] for q in asked}) == len(asked)
    assert all(q["reason"] and not q["reviewed"] for q in asked)
    beats = {b["sample"]: b for b in client.get("/api/recordings/r01/beats").json()}
    assert all(q["label"] == beats[q["sample"]]["label"] for q in asked)  # the questions are detected beats
    first = asked[0]
    answer = "V" if first["label"] != "V" else "N"
    client.patch("/api/recordings/r01/beats", json={"sample": first["sample"], "label": answer, "version": 0})
    now = client.get("/api/recordings/r01/questions").json()[0]
    assert now["sample"] == first["sample"] and now["label"] == answer and now["reviewed"] is True
    # how many to ask is an analysis setting, kept for later; 0 asks nothing
    assert client.post("/api/recordings/r01/analyse", json={"ask": -1}).status_code == 422
    assert client.post("/api/recordings/r01/analyse", json={"ask": 0}).status_code == 202
    assert wait_done(client, "r01")["status"] == "done"
    assert client.get("/api/recordings/r01/questions").json() == []


def test_cli_refuses_an_open_host_without_token(folder):
    done = CliRunner().invoke(cli_app, ["serve", str(folder), "--host", "0.0.0.0"])
    assert done.exit_code != 0 and "--token" in str(done.exception) + done.output


def test_a_second_server_on_the_same_folder_is_refused(folder, monkeypatch):
    """Two servers would each count versions and overwrite each other's corrections: while one holds the
    folder, another is one error line and never starts."""
    import uvicorn
    from filelock import FileLock

    from arrhythmia.serve import SERVER_LOCK

    started = []
    monkeypatch.setattr(uvicorn.Server, "run", lambda server, sockets: started.append(sockets[0].getsockname()))
    (folder / SIDECAR).mkdir(exist_ok=True)
    port = free_port()
    with FileLock(folder / SIDECAR / SERVER_LOCK):  # the first server
        done = CliRunner().invoke(cli_app, ["serve", str(folder), "--port", str(port)])
    assert done.exit_code != 0 and "another `arrhythmia serve` is serving this folder" in str(done.exception)
    assert not started
    done = CliRunner().invoke(cli_app, ["serve", str(folder), "--port", str(port)])  # the first one has stopped
    assert done.exit_code == 0 and started == [("127.0.0.1", port)]
    assert f"reviewing {folder} at http://127.0.0.1:{port}/ (API docs at /docs)" in done.output.splitlines()  # one line


def test_a_busy_port_is_one_line_and_nothing_is_announced(folder, monkeypatch):
    """The port is bound before the server says where it is: on a port another program holds, the error is
    the only line (it used to announce the address, then fail)."""
    import socket

    import uvicorn

    monkeypatch.setattr(uvicorn.Server, "run", lambda server, sockets: pytest.fail("served on a busy port"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = CliRunner().invoke(cli_app, ["serve", str(folder), "--port", str(port)])
    assert done.exit_code != 0 and "reviewing" not in done.output
    message = str(done.exception)
    assert f"cannot serve on 127.0.0.1:{port}" in message and "another program is using it" in message


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_lead_without_a_description_is_named_as_predict_names_it(folder):
    """A WFDB signal line may leave out its description: predict names it 'signal N'; the server's check of
    an analysis's lead read the name as 'None' and refused 'signal 1'."""
    write_wfdb_record(folder, "nameless", seconds=60, seed=4)
    header = folder / "nameless.hea"
    record, *signals = header.read_text().splitlines()
    # a signal line is 'file format gain(baseline)/units adc_res adc_zero init checksum block description'
    header.write_text("\n".join([record, *(" ".join(line.split()[:8]) for line in signals if line.strip())]) + "\n")
    import wfdb

    assert wfdb.rdheader(str(folder / "nameless")).sig_name[0] is None
    with TestClient(create_app(folder)) as client:
        answer = client.post("/api/recordings/nameless/analyse", json={"lead": "signal 0"})
        assert answer.status_code == 202, answer.text
        assert wait_done(client, "nameless")["status"] == "done"


def test_the_export_says_which_beats_the_review_labelled_and_what_the_model_said(client, folder):
    """The exported beats.csv marks the beats a reviewer labelled by hand and those a re-labelling with the
    corrections carried an answer to (``reviewed_how``: hand / carried, as the page marks them "*" and "+"),
    with the model's label before the review (``label_before``): after re-labelling, ``model_label`` of a
    corrected beat is the reviewer's own, so the CSV could not tell reviewed beats from the model's. Predict's
    columns stay as they were, in order, and predict --labels and score --predictions read it as before."""
    from arrhythmia.predict import read_reviewed
    from arrhythmia.scoring import score_predictions

    exemplar = next(q for q in client.get("/api/recordings/r01/questions").json() if "exemplar" in q["reason"])
    answer = "F" if exemplar["label"] != "F" else "V"
    client.patch("/api/recordings/r01/beats", json={"sample": exemplar["sample"], "label": answer})
    assert client.post("/api/recordings/r01/analyse", json={"use_corrections": True}).status_code == 202
    assert wait_done(client, "r01")["relabelled"]["changed"] > 0
    beats = client.get("/api/recordings/r01/beats").json()
    carried = {b["sample"]: b["relabelled_from"] for b in beats if "relabelled_from" in b and not b["reviewed"]}
    assert carried
    text = client.get("/api/recordings/r01/export/beats.csv").text
    table = pd.read_csv(io.StringIO(text), keep_default_na=False)
    analysed = pd.read_csv(ReviewStore(folder, "r01").analysis() / "beats.csv", nrows=0).columns.tolist()
    new = ["model_label", "reviewed", "reviewed_how", "label_before"]
    assert table.columns.tolist() == analysed + new  # predict's columns as predict wrote them, then the review's
    hand = table[table["sample"] == exemplar["sample"]].iloc[0]
    assert (hand["label"], hand["model_label"], hand["reviewed"]) == (answer, answer, 1)
    assert (hand["reviewed_how"], hand["label_before"]) == ("hand", exemplar["model_label"])
    marked = table[table["reviewed_how"] == "carried"]
    assert dict(zip(marked["sample"], marked["label_before"])) == carried
    assert (marked["label"] == answer).all() and (marked["reviewed"] == 0).all()
    rest = table[table["reviewed_how"] == ""]
    assert (rest["label_before"] == "").all() and (rest["label"] == rest["model_label"]).all()
    # the API's beats and the summary say the same (it said the reviewer had changed 0 labels)
    rows = {b["sample"]: b for b in beats}
    assert dict(zip(table["sample"], table["label_before"])) == {s: b["label_before"] or "" for s, b in rows.items()}
    reviewed_summary = client.get("/api/recordings/r01").json()["summary"]["reviewed"]
    assert (reviewed_summary["labels_changed"], reviewed_summary["labels_carried"]) == (1, len(carried))
    # what read it before reads it as before: the reviewer's beat alone is a given label, the rows the scores
    reviewed = folder / SIDECAR / "r01" / "reviewed"
    assert read_reviewed(reviewed / "beats.csv", ("N", "S", "V", "F", "Q")) == {exemplar["sample"]: answer}
    assert score_predictions(folder / "r01", reviewed).n_detected > 100  # the reviewed labels, scored
    # an answer carried in an earlier re-labelling stays marked through the next one
    assert client.post("/api/recordings/r01/analyse", json={"use_corrections": True}).status_code == 202
    assert wait_done(client, "r01")["status"] == "done"
    again = pd.read_csv(io.StringIO(client.get("/api/recordings/r01/export/beats.csv").text), keep_default_na=False)
    assert dict(zip(again["sample"], again["reviewed_how"])) == dict(zip(table["sample"], table["reviewed_how"]))
    assert (again["label_before"] == table["label_before"]).all()
    # an export an older version wrote (without these columns) is written again, not handed out as this one's
    version_file = reviewed / "version.json"
    written = json.loads(version_file.read_text())
    version_file.write_text(json.dumps({k: v for k, v in written.items() if k != "format"}))
    (reviewed / "beats.csv").write_text("sample,label\n")
    assert "reviewed_how" in client.get("/api/recordings/r01/export/beats.csv").text.splitlines()[0]


def test_analysing_a_recording_twice_at_once_queues_one_analysis(folder, monkeypatch):
    """Re-label with my corrections pressed twice quickly: the two requests both found the recording idle
    and queued two analyses of it, one after the other. The status is now checked and set at once: the
    second request, asking the same, joins the first (202, ``joined``); one asking otherwise gets 409."""
    import threading

    import arrhythmia.serve as serve

    checked = serve._check_options

    def slow_check(*args):  # the two requests both past the status check before either queues
        checked(*args)
        time.sleep(0.3)

    runs, release = [], threading.Event()

    def analyse(self, model, use_corrections=False, stage=None, options=None):
        runs.append(use_corrections)
        release.wait(30)  # running until the test has asked all it asks
        return {"beats": 0}

    monkeypatch.setattr(serve, "_check_options", slow_check)
    monkeypatch.setattr(ReviewStore, "analyse", analyse)
    with TestClient(create_app(folder)) as client:
        answers = []

        def press() -> None:
            answers.append(client.post("/api/recordings/r01/analyse", json={"use_corrections": True}))

        pressed = [threading.Thread(target=press) for _ in range(2)]
        for thread in pressed:
            thread.start()
        for thread in pressed:
            thread.join()
        assert sorted(a.status_code for a in answers) == [202, 202]
        assert [a.json().get("joined", False) for a in answers].count(True) == 1
        other = client.post("/api/recordings/r01/analyse", json={"ask": 3})  # another analysis: refused
        assert other.status_code == 409 and "already" in other.json()["detail"]
        release.set()
        assert wait_done(client, "r01")["status"] == "done"
        time.sleep(0.3)
    assert runs == [True]


def test_an_export_made_while_another_analysis_became_current_is_not_taken_for_its_export(folder, monkeypatch):
    """An export snapshots the reviewed labels, then writes for seconds; an analysis that became current meanwhile
    (a re-labelling finishing) was recorded in version.json as the one exported, so its labels were never
    exported: the next download handed out the older analysis's files as current."""
    import arrhythmia.review as review

    store = ReviewStore(folder, "r01")
    old = store.analysis()
    save = review.save_recording

    def saving_while_an_analysis_finishes(*args, **kwargs):
        shutil.copytree(old, old.parent / "analysis-2")
        (store.folder / "current.json").write_text(json.dumps({"generation": 2}))
        return save(*args, **kwargs)

    monkeypatch.setattr(review, "save_recording", saving_while_an_analysis_finishes)
    store.export(report=False)
    assert store.exported(report=False) is None  # the export is of analysis 1, not of the current one


def test_an_export_reads_its_own_analysis_though_another_becomes_current_as_it_writes(folder):
    """An export took its snapshot under the store's lock but read the analysis's families, templates and
    signal after it, from whichever analysis was current then: a re-analysis finishing in that moment (it
    deletes the older folder) gave the export the new analysis's families, or no files at all."""
    store = ReviewStore(folder, "r01")
    old = store.analysis()
    families_before = pd.read_csv(old / "families.csv", keep_default_na=False)

    class ReanalysedOnRelease:
        """The store's lock; the first time it is let go, a re-analysis becomes current, as another thread's would."""

        def __init__(self, lock):
            self.lock, self.depth, self.done = lock, 0, False

        def __enter__(self):
            self.depth += 1
            return self.lock.__enter__()

        def __exit__(self, *exc):
            self.lock.__exit__(*exc)
            self.depth -= 1
            if self.depth == 0 and not self.done:  # let go by its holder, not a nested hold
                self.done = True
                new = old.parent / "analysis-2"
                shutil.copytree(old, new)
                families = pd.read_csv(new / "families.csv", keep_default_na=False)
                pd.concat([families, families.tail(1).assign(family=len(families))]).to_csv(
                    new / "families.csv", index=False
                )
                (store.folder / "current.json").write_text(json.dumps({"generation": 2}))
                shutil.rmtree(old)

    store.lock = ReanalysedOnRelease(store.lock)
    files = store.export(report=False)
    exported = pd.read_csv(store.folder / "reviewed" / "families.csv", keep_default_na=False)
    assert exported["family"].tolist() == families_before["family"].tolist()
    assert files["annotations"].exists()
