"""`arrhythmia compare`: runs tested on the same records, side by side, each difference with a paired interval."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from test_cli import run_cli

from arrhythmia import comparison
from arrhythmia.comparison import compare_runs, format_comparison, paired_difference_interval, record_counts
from arrhythmia.config import TrainConfig
from arrhythmia.errors import ArrhythmiaError
from arrhythmia.evaluation import compute_metrics
from arrhythmia.files import write_json

CLASSES = ("N", "S", "V", "F", "Q")


def labelled(seed: int, wrong: float, n_records: int = 8, beats: int = 300) -> tuple[np.ndarray, ...]:
    """Test beats of ``n_records`` records (their true classes the same whatever the seed) and labels of which
    about ``wrong`` are another class."""
    truth_rng, rng = np.random.default_rng(0), np.random.default_rng(seed)
    truth = truth_rng.choice(3, size=n_records * beats, p=[0.8, 0.1, 0.1])
    called = np.where(rng.random(len(truth)) < wrong, (truth + 1) % 3, truth)
    records = np.repeat([f"r{i:02d}" for i in range(n_records)], beats)
    return truth, called, records


def make_run(path, truth, called, records, seed: int = 42) -> str:
    """A run directory as `train` leaves it, as far as compare reads it: its config and test metrics."""
    path.mkdir(parents=True)
    write_json(path / "config.json", TrainConfig(protocol="inter", seed=seed).to_dict())
    write_json(path / "metrics.json", compute_metrics(truth, called, CLASSES, records=records))
    return str(path)


def test_each_figure_is_the_runs_pooled_figure_and_a_clear_gain_is_told_apart(tmp_path):
    truth, better, records = labelled(seed=1, wrong=0.02)
    _, worse, _ = labelled(seed=2, wrong=0.10)
    runs = [make_run(tmp_path / "a", truth, worse, records), make_run(tmp_path / "b", truth, better, records, 43)]
    comparison = compare_runs(runs)
    figures = {f["name"]: f for f in comparison["figures"]}
    for i, path in enumerate(runs):  # the pooled figures of metrics.json, counted again from the records
        metrics = json.loads((tmp_path / path / "metrics.json").read_text())
        assert figures["accuracy"]["values"][i] == pytest.approx(metrics["accuracy"])
        for name in ("N", "S", "V"):
            assert figures[f"{name} Se"]["values"][i] == pytest.approx(metrics["per_class"][name]["se"])
            assert figures[f"{name} +P"]["values"][i] == pytest.approx(metrics["per_class"][name]["ppv"])
    gain = figures["accuracy"]["differences"][1]
    assert gain["difference"] == pytest.approx(np.mean(better == truth) - np.mean(worse == truth))
    low, high = gain["interval"]
    assert 0 < low < gain["difference"] < high  # eight points better on every record: told apart
    text = format_comparison(comparison)
    assert "| accuracy |" in text and " *" in text.split("| accuracy |")[1].splitlines()[0]
    assert f"{comparison['runs'][1]['seed']}" == "43" and "8 test records" in text


def test_two_runs_that_differ_by_chance_are_not_told_apart(tmp_path):
    truth, first, records = labelled(seed=1, wrong=0.05)
    _, second, _ = labelled(seed=2, wrong=0.05)
    comparison = compare_runs(
        [make_run(tmp_path / "a", truth, first, records), make_run(tmp_path / "b", truth, second, records)]
    )
    low, high = next(f for f in comparison["figures"] if f["name"] == "accuracy")["differences"][1]["interval"]
    assert low < 0 < high
    # the same labels: a difference of 0 with no spread, not a failed bootstrap
    same = compare_runs([str(tmp_path / "a"), str(tmp_path / "a")])
    assert next(f for f in same["figures"] if f["name"] == "V Se")["differences"][1]["interval"] == [0.0, 0.0]
    assert "*" not in format_comparison(same).split("| accuracy |")[1].splitlines()[0]  # not told apart


def test_the_paired_interval_is_narrower_than_the_two_runs_apart():
    """Records hard for both runs move both alike: drawn together, the difference barely moves."""
    total = np.array([100.0, 100, 100, 100, 100, 100])
    a = (np.array([50.0, 90, 60, 95, 70, 99]), total)
    b = (a[0] + 3, total)  # three beats better on every record
    low, high = paired_difference_interval(a, b)
    assert low == pytest.approx(0.03) and high == pytest.approx(0.03)
    assert paired_difference_interval((a[0][:1], total[:1]), (b[0][:1], total[:1])) is None  # one record: none


def test_runs_tested_on_other_records_or_without_metrics_are_refused_naming_the_run(tmp_path):
    truth, called, records = labelled(seed=1, wrong=0.05)
    first = make_run(tmp_path / "a", truth, called, records)
    other = make_run(tmp_path / "b", truth, called, np.char.add(records, "x"))
    with pytest.raises(ArrhythmiaError, match=r"b: tested on other records .* a paired comparison needs the same"):
        compare_runs([first, other])
    (tmp_path / "c").mkdir()
    write_json(tmp_path / "c" / "config.json", TrainConfig().to_dict())
    with pytest.raises(ArrhythmiaError, match=r"c/metrics.json.*arrhythmia evaluate") as missing:
        compare_runs([first, str(tmp_path / "c")])
    assert str(missing.value).count(str(tmp_path / "c")) == 1  # the file named once, not after its folder
    with pytest.raises(ArrhythmiaError, match="two runs or more"):
        compare_runs([first])
    assert record_counts(json.loads((tmp_path / "a" / "metrics.json").read_text()))[0][0] == "r00"


def test_runs_tested_on_other_beats_of_the_same_records_are_refused(tmp_path):
    """Two intra-patient runs of seeds 42 and 43 test other beats of the same records (the split is drawn with
    the seed: 70 of 336 beats in common on the synthetic data); compare paired them record by record and told
    them apart, a difference of the test beats as much as of the models."""
    truth, called, records = labelled(seed=1, wrong=0.05)
    first = make_run(tmp_path / "a", truth, called, records)
    other_truth = truth.copy()
    other_truth[np.flatnonzero(records == "r05")[:40]] = 1  # other beats of r05: more S beats
    other = make_run(tmp_path / "b", other_truth, called, records, seed=43)
    with pytest.raises(ArrhythmiaError, match=r"b: tested on other beats than .*a \(record r05 holds .* a paired"):
        compare_runs([first, other])
    refused = run_cli("compare", first, other)
    assert refused.returncode == 1 and len(refused.stderr.strip().splitlines()) == 1, refused.stderr


def test_compare_data_finds_the_figures_evaluate_data_wrote_for_the_same_directory(tmp_path, monkeypatch):
    """`evaluate RUN --data ../data/mydb` writes metrics-<source>.json, named after the beats' source; `compare
    A B --data ../data/mydb` looked for 'metrics-../data/mydb.json' and said it did not exist."""
    truth, first, records = labelled(seed=1, wrong=0.05)
    _, second, _ = labelled(seed=2, wrong=0.02)
    a, b = make_run(tmp_path / "a", truth, first, records), make_run(tmp_path / "b", truth, second, records)
    (tmp_path / "data" / "mydb").mkdir(parents=True)
    (tmp_path / "data" / "csvs").mkdir()
    for run, called in ((a, first), (b, second)):
        # a WFDB folder's beats are named after it; the Heartbeat CSVs' folder's are 'heartbeat'
        write_json(f"{run}/metrics-mydb.json", compute_metrics(truth, called, CLASSES, records=records))
        metrics = compute_metrics(truth, called, CLASSES, records=records)
        metrics["data"] = {"source": "heartbeat", "origin": str((tmp_path / "data" / "csvs").resolve())}
        write_json(f"{run}/metrics-heartbeat.json", metrics)
    monkeypatch.chdir(tmp_path / "data")
    assert compare_runs([a, b], source="../data/mydb")["records"][0] == "r00"
    assert compare_runs([a, b], source="mydb")["records"][0] == "r00"
    assert compare_runs([a, b], source="./csvs/")["runs"][1]["beats"] == len(truth)
    with pytest.raises(ArrhythmiaError, match=r"a/metrics-elsewhere.json: no test metrics \(run `arrhythmia evaluate "
                       r"--data elsewhere` on the run first\)"):  # fmt: skip
        compare_runs([a, b], source="elsewhere")


def test_compare_on_the_command_line_prints_the_table_and_writes_json(tmp_path):
    truth, first, records = labelled(seed=1, wrong=0.05)
    _, second, _ = labelled(seed=2, wrong=0.02)
    a, b = make_run(tmp_path / "a", truth, first, records), make_run(tmp_path / "b", truth, second, records)
    result = run_cli("compare", a, b, "--out", tmp_path / "cmp.json")
    assert result.returncode == 0, result.stderr
    assert "| figure, % | A | B | B - A (95% interval) |" in result.stdout
    assert json.loads((tmp_path / "cmp.json").read_text())["records"][0] == "r00"
    refused = run_cli("compare", a, tmp_path / "missing")
    assert refused.returncode == 1 and refused.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'missing'}: run directory does not exist"
    ]


def test_two_cross_validations_over_the_same_records_compare_as_runs(tmp_path):
    """A setting is chosen on DS1 by cross-validation: two crossval directories compare on their pooled
    held-out labels, record by record."""
    truth, first, records = labelled(seed=1, wrong=0.10)
    _, second, _ = labelled(seed=2, wrong=0.02)
    for name, called in (("cv-a", first), ("cv-b", second)):
        (tmp_path / name).mkdir()
        summary = {
            "config": TrainConfig(protocol="inter").to_dict(),
            "pooled": compute_metrics(truth, called, CLASSES, records=records),
        }
        write_json(tmp_path / name / "crossval.json", summary)
    comparison = compare_runs([tmp_path / "cv-a", tmp_path / "cv-b"])
    assert comparison["records"] == sorted(set(records)) and comparison["runs"][0]["protocol"] == "inter"
    assert next(f for f in comparison["figures"] if f["name"] == "accuracy")["differences"][1]["interval"][0] > 0
    with pytest.raises(ArrhythmiaError, match="cv-a: a cross-validation is tested on its held-out records alone"):
        compare_runs([tmp_path / "cv-a", tmp_path / "cv-b"], source="heartbeat")


def test_a_patients_records_are_drawn_together_in_compare_and_in_a_runs_intervals(tmp_path):
    """Two or three records of one patient (INCART) were drawn as independent: the intervals came out too
    narrow (helper C: compare told apart runs on 7 test records of 3 patients). With the run's patients they
    are the intervals of the patients' pooled records."""
    from arrhythmia.evaluation import record_intervals

    truth, first, records = labelled(seed=1, wrong=0.05)
    _, second, _ = labelled(seed=2, wrong=0.08)
    patients = {f"r{i:02d}": f"p{i // 2}" for i in range(8)}  # r00 and r01 are p0's, ...
    as_patients = np.array([patients[r] for r in records])
    drawn = record_intervals(truth, first, records, CLASSES, patients=patients)
    alone = record_intervals(truth, first, as_patients, CLASSES)
    assert drawn["accuracy"] == alone["accuracy"] and drawn["S"] == alone["S"]
    assert (drawn["records"], drawn["patients"]) == (8, 4) and "patients" not in alone

    runs = [make_run(tmp_path / name, truth, called, records) for name, called in (("a", first), ("b", second))]
    for run in runs:
        (tmp_path / run / "patients.csv").write_text(
            "record,patient\n" + "".join(f"{r},{p}\n" for r, p in patients.items())
        )
    paired = compare_runs(runs)
    together = {f["name"]: f["differences"][1]["interval"] for f in paired["figures"] if f["differences"][1]}
    counted = [record_counts(json.loads((tmp_path / run / "metrics.json").read_text()))[1] for run in runs]
    grouped = [comparison.by_patient(sorted(patients), counts, patients) for counts in counted]
    expected = paired_difference_interval(grouped[0]["accuracy"], grouped[1]["accuracy"])
    assert paired["patients"] == 4 and together["accuracy"] == expected
    assert "4 patients' records (a patient's together)" in format_comparison(paired)


def test_the_table_says_which_settings_each_run_trained_with_other_than_the_first(tmp_path):
    """Two cross-validations of the fast preset, one with --other-lead --record-batches, read as the same
    training in compare's table (model, protocol, preset, seed alike): what tells them apart was nowhere."""
    truth, first, records = labelled(seed=1, wrong=0.10)
    _, second, _ = labelled(seed=2, wrong=0.02)
    fast = TrainConfig.from_preset("fast", "inter")
    configs = {
        "a": fast,
        "b": replace(fast, other_lead=True, record_batches=True, augment=["scale", "shift"], threads=1),
        "c": replace(fast, epochs=5, workers=2),
    }
    for name, config in configs.items():
        (tmp_path / name).mkdir()
        summary = {"config": config.to_dict(), "pooled": compute_metrics(truth, second, CLASSES, records=records)}
        write_json(tmp_path / name / "crossval.json", summary)
    comparison = compare_runs([tmp_path / name for name in configs])
    assert [run["settings"] for run in comparison["runs"]] == [
        {},
        {"other_lead": True, "record_batches": True, "augment": ["scale", "shift"]},
        {},  # epochs has a column of its own; threads and workers change how fast, not what is trained
    ]
    text = format_comparison(comparison)
    assert "| run | model | protocol | preset | seed | epochs (max) | other settings than A |" in text
    rows = {line.split(":")[0].strip("| "): line for line in text.splitlines() if line.startswith("| ")}
    assert "| augment=scale,shift other_lead=true record_batches=true |" in rows["B"]
    assert "| - |" in rows["A"] and "| - |" in rows["C"]
