"""The inter-patient protocol and cross-validation on a database other than MIT-BIH: its patients apart.

Before, both asked for MIT-BIH's DS1 and DS2 records, so a researcher with INCART, SVDB or their own annotated
database could only split beats at random (``--protocol intra``), patients in train and test alike.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import _fake_mitdb_beats, beats_of_records
from test_cli import assert_one_line_error, run_cli

from arrhythmia.config import TrainConfig
from arrhythmia.crossval import fold_records
from arrhythmia.data import BeatSet, make_split
from arrhythmia.data.splits import DS1, DS2, inter_patient_split, read_patients, record_groups
from arrhythmia.errors import ArrhythmiaError, DataError
from arrhythmia.evaluation import _other_data_split
from arrhythmia.files import write_json
from arrhythmia.runs import Run

#: An INCART-like database: 24 records, two per patient (I01 and I02 are P01's, ...).
RECORDS = [f"I{i:02d}" for i in range(1, 25)]
PATIENTS = {name: f"P{(i + 1) // 2:02d}" for i, name in enumerate(RECORDS, 1)}


def _database_beats(records=RECORDS, per_record: int = 30) -> BeatSet:
    return beats_of_records(records, per_record, "incartdb")


def _patients_of(split, beats, part: str) -> set[str]:
    return {PATIENTS[r] for r in beats.record[getattr(split, part)]}


def test_another_database_is_split_by_patient_a_third_of_them_tested():
    beats = _database_beats()
    split = make_split(beats, "inter", patients=PATIENTS)
    parts = [_patients_of(split, beats, part) for part in ("train", "val", "test")]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    assert len(split.train) + len(split.val) + len(split.test) == len(beats)
    assert len(parts[2]) == 4  # a third of 12 patients
    assert split.protocol == "inter" and "patients apart" in split.note
    assert "drawn with seed 42; 4 patients)" in split.note
    n_val = len(parts[1])
    assert f"({n_val} patient{'s' if n_val > 1 else ''}); trained on {len(parts[0])} patients" in split.note
    assert set(beats.record[split.test]) == {r for r in RECORDS if PATIENTS[r] in parts[2]}
    # Another seed draws other test patients; the same seed the same ones.
    assert _patients_of(make_split(beats, "inter", seed=7, patients=PATIENTS), beats, "test") != parts[2]
    assert np.array_equal(make_split(beats, "inter", patients=PATIENTS).test, split.test)


def test_without_patients_each_record_is_a_patient():
    beats = _database_beats()
    split = make_split(beats, "inter")
    tested = set(beats.record[split.test])
    assert len(tested) == 8 and not tested & set(beats.record[split.train])
    # With the file, I01 and I02 go together; without it, they are apart in some seed's split.
    assert any(len({"I01", "I02"} & set(beats.record[make_split(beats, "inter", seed=s).test])) == 1 for s in range(10))


def test_test_records_of_another_database_must_be_whole_patients():
    beats = _database_beats()
    split = make_split(beats, "inter", test_records=["I01", "I02", "I07", "I08"], patients=PATIENTS)
    assert set(beats.record[split.test]) == {"I01", "I02", "I07", "I08"}
    assert "the test records given" in split.note
    with pytest.raises(DataError, match="record.s. I02 are of a test record's patient"):
        make_split(beats, "inter", test_records=["I01"], patients=PATIENTS)
    with pytest.raises(DataError, match="no beats of test record.s. I99"):
        make_split(beats, "inter", test_records=["I99"])
    # Excel's "1" for "I01": the message shows how the records are named.
    with pytest.raises(
        DataError, match=r"no beats of test record.s. 1 2 \(its records are named like I01, I02, I03\)$"
    ):
        make_split(beats, "inter", test_records=["1", "2"])


@pytest.mark.filterwarnings("ignore:the patients given")  # PATIENTS names records these lack
def test_a_small_database_validates_on_fewer_groups_and_too_few_patients_is_one_line():
    small = _database_beats(RECORDS[:6])  # 3 patients: one each to train, validate and test on
    split = make_split(small, "inter", patients=PATIENTS)
    assert [len(_patients_of(split, small, part)) for part in ("train", "val", "test")] == [1, 1, 1]
    with pytest.raises(DataError, match="needs at least 3 patients .* found 2"):
        make_split(_database_beats(RECORDS[:4]), "inter", patients=PATIENTS)
    with pytest.raises(DataError, match="needs at least 2 patients besides the test records' .* they leave 1"):
        make_split(_database_beats(RECORDS[:5]), "inter", test_records=RECORDS[:4])


def test_mitbih_is_still_split_by_de_chazal_and_a_patients_file_keeps_201_with_202():
    beats = _fake_mitdb_beats()
    split = make_split(beats, "inter")
    assert set(beats.record[split.test]) == set(DS2)
    assert set(beats.record[split.train]) | set(beats.record[split.val]) == set(DS1)
    same = inter_patient_split(beats, patients={"201": "201+202", "202": "201+202"})
    assert set(beats.record[same.test]) == set(DS2)
    with pytest.raises(DataError, match="needs DS2 records to test on"):
        make_split(beats.subset(np.isin(beats.record, DS1)), "inter")


def test_patients_are_for_the_inter_patient_protocol():
    with pytest.raises(DataError, match="patients are for the inter-patient protocol"):
        make_split(_database_beats(), "intra", patients=PATIENTS)
    with pytest.raises(ArrhythmiaError, match="patients are for the inter-patient protocol"):
        TrainConfig(protocol="intra", patients="patients.csv").validate()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("record,patient\nI01,P01\nI02,P01\n", None),
        ("Record, Patient\n I01 , P01 \n", None),
        ("record,subject\nI01,P01\n", "needs columns record and patient, has record, subject"),
        ("record,patient\nI01,P01\nI01,P02\n", "record I01 is given two patients"),
        ("record,patient\nI01,\n", "row 2 has an empty record or patient"),
        ("", "cannot read it as a CSV of record,patient"),
        # Excel's exports: a byte-order mark and Windows line endings; semicolons where commas are decimal points.
        ("\ufeffrecord,patient\r\nI01,P01\r\nI02,P01\r\n", None),
        ("\ufeffRecord;Patient\r\nI01;P01\r\n", None),
        ("record\tpatient\nI01\tP01\n", None),
        # A header alone named no record, and every record was then a patient of its own, as without the file.
        ("record,patient\r\n", "names no record"),
    ],
)
def test_a_patients_file_is_read_or_refused_naming_it(tmp_path, text, message):
    path = tmp_path / "patients.csv"
    path.write_text(text, encoding="utf-8")
    if message is None:
        assert read_patients(path)["I01"] == "P01"
    else:
        with pytest.raises(DataError, match=f"patients.csv: {message}"):
            read_patients(path)


def test_cross_validation_deals_another_databases_patients_and_mitbihs_ds1_records_as_before():
    records, groups = fold_records(_database_beats(), 4, seed=0, patients=PATIENTS)
    assert records == RECORDS and sorted(r for g in groups for r in g) == RECORDS
    for group in groups:  # a patient's two records in one group
        assert all(f"I{int(r[1:]) + (1 if int(r[1:]) % 2 else -1):02d}" in group for r in group)
    assert [len(g) for g in groups] == [6, 6, 6, 6]
    with pytest.raises(ArrhythmiaError, match="needs 2 to 12 folds over its patients, not 13"):
        fold_records(_database_beats(), 13, patients=PATIENTS)
    records, groups = fold_records(_fake_mitdb_beats(), 5)
    assert records == DS1 and groups == record_groups(DS1, 5, 0)
    # 3 patients in 2 folds: the fold testing two of them failed at its split, after the other fold had trained.
    with pytest.raises(
        ArrhythmiaError, match="over 3 patients leaves a fold 1 to train and validate on, not 2: use --folds 3"
    ):
        fold_records(_database_beats(RECORDS[:6]), 2, patients={r: PATIENTS[r] for r in RECORDS[:6]})
    assert len(fold_records(_database_beats(RECORDS[:6]), 3, patients={r: PATIENTS[r] for r in RECORDS[:6]})[1]) == 3
    with pytest.raises(ArrhythmiaError, match="over 2 patients leaves a fold 1 .* it needs 3 patients or more"):
        fold_records(_database_beats(RECORDS[:2]), 2)
    # A database of one record was told it "needs MIT-BIH's DS1 records (found 1 of 22)".
    with pytest.raises(ArrhythmiaError, match="incartdb: cross-validation needs 2 records or more; it has I01$"):
        fold_records(_database_beats(RECORDS[:1]), 2)


def test_crossval_and_train_on_another_database_from_the_command_line(tmp_path):
    """The synthetic recordings stand for another database's patients (they were refused as 'no patient ids')."""
    patients = tmp_path / "patients.csv"
    patients.write_text("record,patient\nsyn000,A\nsyn001,A\n")
    out = tmp_path / "cv"
    settings = ("--data", "synthetic", "--model", "fast-cnn", "--window", "centred", "--epochs", "1")
    result = run_cli("crossval", *settings, "--folds", "2", "--patients", patients, "--out", out)
    assert result.returncode == 0, result.stderr
    assert "cross-validation over 12 records: 2 folds" in result.stdout and "DS2" not in result.stdout
    groups = json.loads((out / "crossval.json").read_text())["groups"]
    assert sorted(r for g in groups for r in g) == [f"syn{i:03d}" for i in range(12)]
    assert any({"syn000", "syn001"} <= set(g) for g in groups)
    fold = json.loads((out / "fold-1" / "data.json").read_text())["split_note"]
    assert fold.startswith("synthetic, patients apart -> test records") and "(the test records given; " in fold
    assert_one_line_error(
        run_cli("crossval", *settings, "--patients", tmp_path / "nowhere.csv", "--out", tmp_path / "cv2"),
        "nowhere.csv",
    )
    assert not (tmp_path / "cv2").exists()


def test_a_patients_file_naming_records_the_database_lacks_is_said_and_one_naming_none_refused(tmp_path):
    """Both were left aside without a word: a file written for the records as 1, 2, ... (Excel drops
    leading zeros) split INCART as if there were no file, each record a patient, its patients in two parts."""
    beats = _database_beats()
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("record,patient\n1,P01\n2,P01\n")
    with pytest.raises(
        DataError,
        match=r"wrong.csv: names none of incartdb's records \(it names 1 2; its records are named like I01, I02",
    ):
        make_split(beats, "inter", patients=read_patients(wrong))
    with pytest.raises(DataError, match="wrong.csv: names none of incartdb's records"):
        fold_records(beats, 4, patients=read_patients(wrong))
    partial = tmp_path / "partial.csv"
    partial.write_text("record,patient\n" + "".join(f"{r},{p}\n" for r, p in PATIENTS.items()) + "I99,P77\n1,P01\n")
    with pytest.warns(
        UserWarning, match=r"partial.csv: 2 of the records it names are not in incartdb, left aside: 1 I99"
    ):
        split = make_split(beats, "inter", patients=read_patients(partial))
    assert np.array_equal(split.test, make_split(beats, "inter", patients=PATIENTS).test)  # the rest is used


def _run_on(tmp_path, name: str, source: str, note: str, test_records=(), patients=None) -> Run:
    """A run's directory as training leaves it for evaluate --data: its settings and data.json."""
    config = TrainConfig(protocol="inter", test_records=list(test_records), patients=patients)
    run = Run.create(config, tmp_path / name)
    write_json(run.path / Run.DATA, {"source": source, "data": f"/data/{source}", "split_note": note})
    return run


def test_evaluation_on_other_data_tests_the_patients_a_run_never_trained_on_and_says_so(tmp_path):
    """A run on another database evaluated on MIT-BIH was said to be split 'DS1 -> DS2 (de Chazal 2004);
    validation records: ...' (it trained on no DS1 record), and read its patients file for it; one holding
    out test records (a crossval fold) was tested on a random 20% of MIT-BIH's beats under 'intra'; and one
    evaluated on its own database (--data the same folder) on a random 20% of its beats, patients it
    trained on among them, where its own split holds a third of them out."""
    mitdb, incart = _fake_mitdb_beats(), _database_beats()
    (tmp_path / "gone.csv").write_text("record,patient\nI01,P01\nI02,P01\n")
    drawn = _run_on(
        tmp_path, "drawn", "incartdb", "incartdb, patients apart -> ...", patients=str(tmp_path / "gone.csv")
    )
    (tmp_path / "gone.csv").unlink()  # moved since: the run's own copy is what it reads
    fold = _run_on(tmp_path, "fold", "incartdb", "incartdb, patients apart -> ...", test_records=["I01", "I02"])
    for run in (drawn, fold):
        split = _other_data_split(run, mitdb)
        assert set(mitdb.record[split.test]) == set(DS2) and len(split.train) == len(split.val) == 0
        assert split.protocol == "inter" and split.note.startswith("DS2 of mitdb (de Chazal 2004's test records)")
        assert "DS1" not in split.note and "validation" not in split.note
    own = _other_data_split(fold, incart)
    assert set(incart.record[own.test]) == {"I01", "I02"} and len(own.train)
    # its own database's split reads its patients (the run's copy); MIT-BIH's above did not need them
    together = {"I01": "P01", "I02": "P01"}
    assert np.array_equal(_other_data_split(drawn, incart).test, make_split(incart, "inter", patients=together).test)
    svdb = BeatSet(**{**incart.__dict__, "record": np.char.replace(incart.record, "I", "8"), "source": "svdb"})
    assert len(_other_data_split(drawn, svdb).test) == len(svdb)
    # A run on MIT-BIH: DS1 -> DS2 on MIT-BIH, every beat of another database, as before.
    mit = _run_on(tmp_path, "mit", "mitdb", "DS1 -> DS2 (de Chazal 2004); validation records: 101")
    split = _other_data_split(mit, mitdb)
    assert set(mitdb.record[split.test]) == set(DS2) and split.note.startswith("DS1 -> DS2") and len(split.train)
    assert _other_data_split(mit, incart).note.startswith("every beat of incartdb")
    # A database in a folder named DS1-something is not MIT-BIH: on itself, its own split.
    named = _run_on(tmp_path, "named", "DS1-ward", "DS1-ward, patients apart -> ...")
    ward = BeatSet(**{**incart.__dict__, "source": "DS1-ward"})
    assert np.array_equal(_other_data_split(named, ward).test, make_split(ward, "inter").test)


def test_data_summary_splits_another_database_by_its_patients_file(tmp_path, wfdb_db):
    """data summary had no --patients: its inter rows split a patient's records apart, unlike train."""
    patients = tmp_path / "patients.csv"
    patients.write_text("record,patient\nr01,A\nr02,A\n")
    result = run_cli("data", "summary", "--data", wfdb_db, "--patients", patients)
    assert result.returncode == 0, result.stderr
    assert "inter: db: the inter-patient protocol needs at least 3 patients" in result.stdout.replace("\n", " ")


def test_a_run_keeps_its_own_copy_of_the_patients_file(tmp_path):
    """A run kept only the file's path: moved, evaluate and report failed; edited, the split changed silently."""
    beats = _database_beats()
    patients = tmp_path / "patients.csv"
    patients.write_text("record,patient\n" + "".join(f"{r},{p}\n" for r, p in PATIENTS.items()))
    run = Run.create(TrainConfig(protocol="inter", patients=str(patients)), tmp_path / "run")
    patients.write_text("record,patient\nI01,someone else\n")  # edited after the run started
    assert Run.open(run.path).patients() == PATIENTS
    patients.unlink()
    assert Run.open(run.path).split(beats).note == make_split(beats, "inter", patients=PATIENTS).note
    assert run.remove_unstarted() and not (tmp_path / "run").exists()  # the copy goes with an unstarted run


def test_mitbih_symbols_as_classes_on_another_database_are_counted_over_its_records(tmp_path):
    """'svdb: no beat symbol has 100 beats': the symbols were counted in DS1's records alone, which another
    database does not have."""
    beats = _database_beats(per_record=30)
    beats = BeatSet(**{**beats.__dict__, "symbol": np.where(beats.y == 2, "V", np.where(beats.y == 1, "A", "N"))})
    run = Run.create(TrainConfig(protocol="inter", labels="mitdb"), tmp_path / "run")
    assert run.labelled(beats).classes == ("N", "A", "V")
