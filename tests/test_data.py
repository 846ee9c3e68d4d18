"""The data layer: segmentation, every loader, splits, cache, and clear errors for bad input."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import MITDB, _fake_mitdb_beats, needs_mitdb, write_wfdb_record

from arrhythmia.data import AAMI_CLASSES, load_beats, make_split
from arrhythmia.data.heartbeat import load_heartbeat, read_beat_csv
from arrhythmia.data.segmentation import LOST_FEW_BEATS, kachuee_segments
from arrhythmia.data.splits import DS1, DS2, PACED
from arrhythmia.data.synthetic import load_synthetic, synthetic_ecg
from arrhythmia.data.wfdb_source import choose_lead, load_wfdb_database
from arrhythmia.errors import DataError

# --- segmentation -------------------------------------------------------------------------------


def test_segments_start_at_r_peak_and_are_padded_to_1_2_rr():
    fs = 360.0
    rr = 0.8  # s
    peaks = (np.arange(1, 12) * rr * fs).astype(int)
    t = np.arange(int(10 * fs)) / fs
    signal = np.zeros_like(t)
    for p in peaks:
        signal += np.exp(-0.5 * ((t - p / fs) / 0.01) ** 2)
    seg = kachuee_segments(signal, fs, peaks[peaks < len(t)])
    assert seg.X.shape[1] == 187 and seg.X.dtype == np.float32
    assert seg.X.min() >= 0 and seg.X.max() <= 1
    # Each segment starts at its R peak (the window maximum) ...
    assert np.all(seg.X[:, 0] > 0.9)
    # ... and is 1.2 x 0.8 s x 125 Hz = 120 samples long, then zeros.
    assert np.all(seg.X[:-1, 121:] == 0) and np.all(seg.X[:-1, 110] > 0)


def test_window_with_a_single_beat_is_dropped_with_its_reason():
    fs = 125.0
    signal = np.sin(np.arange(int(25 * fs)) / 5.0)
    peaks = np.array([100, 200, 300, 1300, 2600, 2700])  # window 1 (10-20 s) holds one beat
    seg = kachuee_segments(signal, fs, peaks)
    assert seg.kept.tolist() == [True, True, True, False, True, True]
    assert seg.lost_reason[3] == LOST_FEW_BEATS


# --- synthetic ----------------------------------------------------------------------------------


def test_synthetic_beats_cover_all_classes_and_say_synthetic():
    beats = load_synthetic(n_records=3, duration_s=60)
    assert beats.synthetic and "SYNTHETIC" in beats.description
    assert beats.X.shape[1] == 187 and beats.classes == AAMI_CLASSES
    assert all(count > 0 for count in beats.class_counts().values())
    assert len(set(beats.record)) == 3


def test_synthetic_ecg_is_reproducible():
    a, b = synthetic_ecg(20, seed=3), synthetic_ecg(20, seed=3)
    assert np.array_equal(a.signal, b.signal) and np.array_equal(a.r_peaks, b.r_peaks)


# --- WFDB ---------------------------------------------------------------------------------------


def test_wfdb_loader_keeps_beats_and_drops_non_beat_annotations(wfdb_db):
    beats = load_wfdb_database(wfdb_db, source="testdb", progress=False)
    assert beats.X.shape[1] == 187 and beats.X.dtype == np.float32
    assert set(beats.record) == {"r01", "r02", "r03"}
    assert "+" not in set(beats.symbol)
    annotated = sum(beats.info["annotated"].values())
    lost = sum(sum(c.values()) for c in beats.info["lost"].values())
    assert len(beats) == annotated - lost
    assert beats.info["leads"]["r01"] == "MLII"
    # Metadata points at the annotated R peak at the record's own rate.
    assert beats.sample.min() > 5


def test_load_beats_detects_wfdb_directory_and_caches(wfdb_db, monkeypatch):
    first = load_beats(wfdb_db, progress=False)
    import arrhythmia.data.wfdb_source as ws

    monkeypatch.setattr(ws, "load_wfdb_database", lambda *a, **k: pytest.fail("cache not used"))
    second = load_beats(wfdb_db, progress=False)
    assert np.array_equal(first.X, second.X) and np.array_equal(first.record, second.record)


def test_cache_is_invalidated_when_a_source_file_changes(wfdb_db):
    first = load_beats(wfdb_db, progress=False)
    write_wfdb_record(wfdb_db, "r03", seed=99)
    second = load_beats(wfdb_db, progress=False)
    assert not np.array_equal(first.X, second.X)


def test_choose_lead_prefers_mlii_then_lead_ii_then_the_first_ecg_lead():
    assert choose_lead(["V5", "MLII"], None, "x") == 1
    assert choose_lead(["V1", "V2"], None, "x") == 0
    assert choose_lead(["I", "II", "III", "aVR", "V1"], None, "x") == 1  # a 12-lead record (INCART)
    assert choose_lead(["ECG I", "ECG Lead-II"], None, "x") == 1
    assert choose_lead(["ABP", "PLETH", "V", "RESP"], None, "x") == 2  # an ICU record: the ECG, not the pressure
    assert choose_lead(["ECG1", "ECG2"], None, "x") == 0
    assert choose_lead(["ch A", "ch B"], None, "x") == 0  # names that say nothing: the first
    assert choose_lead(["V2", "DII"], None, "x") == 1  # lead II in the European notation
    assert choose_lead(["time", "CM5", "D3"], None, "x") == 1  # Holter and European names are ECG leads
    assert choose_lead(["V1", "V2"], "V2", "x") == 1
    with pytest.raises(DataError, match="lead 'II' does not exist"):
        choose_lead(["V1", "V2"], "II", "rec.hea")


def test_a_right_precordial_lead_only_when_no_other_ecg_lead_is_there():
    assert choose_lead(["V1", "MLIII"], None, "x") == 1
    assert choose_lead(["CM1", "CM5"], None, "x") == 1
    assert choose_lead(["V2", "V5"], None, "x") == 1
    assert choose_lead(["MV1", "ML5"], None, "x") == 1
    assert choose_lead(["RESP", "V1", "V2"], None, "x") == 1  # no other ECG lead: the first of them
    assert choose_lead(["V5", "V2"], None, "x") == 0  # MIT-BIH's 102 and 104


def test_the_other_lead_is_the_one_beside_the_default():
    assert choose_lead(["V5", "MLII"], "other", "x") == 0
    assert choose_lead(["MLII", "V1", "V2"], "other", "x") == 1
    assert choose_lead(["RESP", "II", "PLETH", "V"], "other", "x") == 3
    with pytest.raises(DataError, match="rec.hea: has one lead \\(MLII\\), no other"):
        choose_lead(["MLII"], "other", "rec.hea")


def test_beats_of_the_other_lead_carry_the_same_annotations(wfdb_db, heartbeat_dir):
    first = load_beats(wfdb_db, progress=False, window="centred")
    other = load_beats(wfdb_db, progress=False, window="centred", lead="other")
    assert set(other.info["leads"].values()) == {"V5"} and set(first.info["leads"].values()) == {"MLII"}
    assert np.array_equal(other.y, first.y) and np.array_equal(other.record, first.record)
    assert (
        load_beats(wfdb_db, progress=False, window="centred", lead="other").info["cache_key"] != first.info["cache_key"]
    )
    with pytest.raises(DataError, match="one lead per record"):
        load_beats(heartbeat_dir, progress=False, lead="other")


def test_a_mixed_lead_is_a_mixture_of_the_two_at_an_angle_drawn_per_record_and_seed(wfdb_db, heartbeat_dir):
    from arrhythmia.data.wfdb_source import MIXED_ANGLES_DEG, mixed_lead, read_lead

    first, fs, _ = read_lead(wfdb_db / "r01")
    other, _, _ = read_lead(wfdb_db / "r01", "other")
    mixed, mixed_fs, name = read_lead(wfdb_db / "r01", mixed_lead(0))
    # the one (cos a, sin a) that gives the mixture: least squares over the two leads
    (a, b), *_ = np.linalg.lstsq(np.stack([first, other], axis=1), mixed, rcond=None)
    assert mixed_fs == fs and a**2 + b**2 == pytest.approx(1.0, abs=1e-6)
    low, high = np.deg2rad(MIXED_ANGLES_DEG)
    assert low <= np.arctan2(b, a) <= high
    assert name == f"{a:.2f} MLII + {b:.2f} V5"
    np.testing.assert_array_equal(read_lead(wfdb_db / "r01", mixed_lead(0))[0], mixed)  # the same again
    assert not np.allclose(read_lead(wfdb_db / "r01", mixed_lead(1))[0], mixed)  # another seed: another angle
    assert not np.allclose(read_lead(wfdb_db / "r02", mixed_lead(0))[0], read_lead(wfdb_db / "r02")[0])
    beats = load_beats(wfdb_db, progress=False, window="centred", lead=mixed_lead(0))
    assert np.array_equal(beats.y, load_beats(wfdb_db, progress=False, window="centred").y)
    with pytest.raises(DataError, match="needs an integer seed"):
        read_lead(wfdb_db / "r01", "mixed:x")


def test_other_lead_copies_join_the_training_split_only(wfdb_db):
    from arrhythmia.data.splits import with_other_lead

    beats = load_beats(wfdb_db, progress=False, window="centred")
    other = load_beats(wfdb_db, progress=False, window="centred", lead="other")
    other.sample = other.sample + 3  # each lead's annotations sit on its own R wave, a few samples apart
    split = make_split(beats, "intra")
    combined, extended = with_other_lead(beats, split, other)
    assert np.array_equal(extended.val, split.val) and np.array_equal(extended.test, split.test)
    added = extended.train[len(split.train) :]
    assert len(added) == len(split.train) and (added >= len(beats)).all()  # a copy of every training beat
    train = set(zip(beats.record[split.train], beats.sample[split.train]))
    for record, sample in zip(combined.record[added], combined.sample[added]):
        same = beats.sample[beats.record == record]
        assert (record, same[np.argmin(np.abs(same - sample))]) in train
    assert np.array_equal(combined.X[: len(beats)], beats.X)


def test_missing_directory(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_beats(tmp_path / "nope")


def test_missing_dat_file(wfdb_db):
    (wfdb_db / "r02.dat").unlink()
    with pytest.raises(DataError, match=r"r02\.dat: signal file is missing"):
        load_wfdb_database(wfdb_db, progress=False)


def test_truncated_dat_file(wfdb_db):
    dat = wfdb_db / "r02.dat"
    dat.write_bytes(dat.read_bytes()[:1000])
    with pytest.raises(DataError, match=r"r02\.dat: signal file is truncated"):
        load_wfdb_database(wfdb_db, progress=False)


def test_garbled_header(wfdb_db):
    (wfdb_db / "r01.hea").write_text("this is not a header\n\x00garbage\n")
    with pytest.raises(DataError, match=r"r01\.hea"):
        load_wfdb_database(wfdb_db, progress=False)


def test_missing_annotation_file(wfdb_db):
    (wfdb_db / "r03.atr").unlink()
    with pytest.raises(DataError, match=r"r03\.atr: annotation file is missing"):
        load_wfdb_database(wfdb_db, progress=False)


def test_directory_without_records(tmp_path):
    with pytest.raises(DataError, match="not a data directory this package reads"):
        load_beats(tmp_path)


# --- the beat set's own checks -------------------------------------------------------------------


def _beat_set(**changes):
    """A small valid beat set (12 beats of the AAMI classes, 187 samples, context) with ``changes``."""
    from arrhythmia.data import BeatSet

    n = 12
    values = {
        "X": np.random.default_rng(0).random((n, 187), dtype=np.float32),
        "y": np.arange(n) % 5,
        "classes": AAMI_CLASSES,
        "record": np.full(n, "100"),
        "sample": np.arange(n),
        "symbol": np.full(n, "N"),
        "source": "test",
        "context": np.ones((n, 9), dtype=np.float32),
        **changes,
    }
    return BeatSet(**values)


def test_a_valid_beat_set_passes_its_checks():
    assert len(_beat_set()) == 12
    assert len(_beat_set(y=np.zeros(12, dtype=np.int32), context=None)) == 12
    assert len(_beat_set().subset(np.zeros(12, dtype=bool))) == 0  # no beats (a record with none kept)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"X": np.zeros((12, 1, 187), np.float32)}, r"X has shape \(12, 1, 187\); it takes \(n_beats, 187\)"),
        ({"X": np.zeros((12, 100), np.float32)}, "beats of 100 samples, its 'kachuee' window cuts 187"),
        ({"X": np.zeros((12, 187)).astype(str)}, "X holds <U32 values; it takes numbers"),
        ({"y": np.array(list("NSVFQNSVFQNS"))}, "y holds <U1 values .* class indices"),
        ({"y": np.arange(12) % 5 + 0.0}, "y holds float64 values"),
        ({"y": np.r_[np.zeros(10, int), 7, -1]}, r"labels -1, 7 are not class indices of its 5 classes .*: 0..4"),
        ({"context": np.ones(12, np.float32)}, r"context has shape \(12,\); it takes \(n_beats, n_features\)"),
        ({"context": np.ones((12, 9)).astype(str)}, "context holds <U32 values"),
        ({"record": np.full(5, "100")}, "record has 5 entries, X has 12"),
    ],
)
def test_a_beat_set_of_arrays_that_do_not_fit_is_refused_in_one_line(changes, message):
    from arrhythmia.data.beats import BeatSetError

    with pytest.raises(BeatSetError, match=f"BeatSet of test: {message}") as error:
        _beat_set(**changes)
    assert isinstance(error.value, DataError) and isinstance(error.value, ValueError)
    assert "\n" not in str(error.value)


def test_a_beat_set_holding_nan_or_inf_is_refused_saying_how_many_beats():
    from arrhythmia.data.beats import BeatSetError

    X = np.random.default_rng(0).random((12, 187), dtype=np.float32)
    X[3, 10], X[8, 0] = np.nan, -np.inf
    with pytest.raises(BeatSetError, match=r"2 of 12 beats hold NaN or infinite values in X \(the first: beat 3\)"):
        _beat_set(X=X)
    context = np.ones((12, 9), dtype=np.float32)
    context[5, 2] = np.nan
    with pytest.raises(BeatSetError, match="1 of 12 beats hold NaN or infinite values in context"):
        _beat_set(context=context)


# --- Heartbeat CSVs -----------------------------------------------------------------------------


def test_heartbeat_mitbih_loader(heartbeat_dir):
    beats = load_heartbeat(heartbeat_dir)
    assert beats.X.shape == (80, 187) and beats.classes == AAMI_CLASSES
    assert beats.is_test.sum() == 20
    assert set(beats.record) == {"mitbih_train", "mitbih_test"}
    assert (beats.sample == -1).all()


def test_heartbeat_ptbdb_loader(heartbeat_dir):
    beats = load_heartbeat(heartbeat_dir, subset="ptbdb")
    assert beats.classes == ("normal", "abnormal")
    assert beats.class_counts() == {"normal": 20, "abnormal": 20}


def test_load_beats_detects_heartbeat_directory(heartbeat_dir):
    assert load_beats(heartbeat_dir).source == "heartbeat-mitbih"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "file is empty"),
        ("0.1,0.2,0.3,1\n", "expected 188 columns per row, found 4"),
        (",".join(["0.5"] * 187 + ["abc"]) + "\n", "not a finite number"),
        (",".join(["0.5"] * 186 + ["nan", "1"]) + "\n", "not a finite number"),
        (",".join(["0.5"] * 187 + ["7"]) + "\n", "unknown label 7"),
        (",".join(["0.5"] * 187 + ["1.5"]) + "\n", "unknown label 1.5"),
    ],
)
def test_bad_csv_gives_one_clear_line(tmp_path, content, message):
    path = tmp_path / "mitbih_train.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=message) as info:
        read_beat_csv(path, n_classes=5)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_missing_heartbeat_test_file(heartbeat_dir):
    (heartbeat_dir / "mitbih_test.csv").unlink()
    (heartbeat_dir / "ptbdb_normal.csv").unlink()
    with pytest.raises(DataError, match="does not exist"):
        load_beats(heartbeat_dir)


# --- splits -------------------------------------------------------------------------------------


def _assert_disjoint(split):
    parts = [set(split.train), set(split.val), set(split.test)]
    assert not (parts[0] & parts[1]) and not (parts[0] & parts[2]) and not (parts[1] & parts[2])


def test_intra_split_is_stratified_60_20_20_and_seeded():
    beats = _fake_mitdb_beats()
    split = make_split(beats, "intra")
    _assert_disjoint(split)
    n = len(beats)
    assert abs(len(split.train) - 0.6 * n) <= 5 and abs(len(split.test) - 0.2 * n) <= 5
    assert len(split.train) + len(split.val) + len(split.test) == n
    again = make_split(beats, "intra")
    assert np.array_equal(split.test, again.test)
    assert "patients appear in train and test" in split.note


def test_inter_split_follows_de_chazal_and_splits_validation_by_record():
    beats = _fake_mitdb_beats()
    split = make_split(beats, "inter")
    _assert_disjoint(split)
    rec = beats.record
    assert set(rec[split.test]) == set(DS2)
    assert set(rec[split.train]) | set(rec[split.val]) == set(DS1)
    assert not set(rec[split.train]) & set(rec[split.val])
    assert not set(PACED) & (set(rec[split.train]) | set(rec[split.val]) | set(rec[split.test]))
    assert len(set(rec[split.val])) >= 2


def test_inter_split_needs_patient_records(heartbeat_dir):
    with pytest.raises(DataError, match="Heartbeat CSVs carry no patient ids: use --protocol intra"):
        make_split(load_heartbeat(heartbeat_dir), "inter")


def test_inter_split_of_part_of_mitbih_names_the_records_it_lacks():
    """A folder with records 100, 101, 106 and 200: two DS1 records cannot make five validation groups (it was
    scikit-learn's 'Cannot have number of splits n_splits=5 greater than the number of groups: 2')."""
    beats = _fake_mitdb_beats()
    part = beats.subset(np.isin(beats.record, ["100", "101", "106", "200"]))
    missing = " ".join(r for r in DS1 if r not in ("101", "106"))
    with pytest.raises(
        DataError, match=f"needs at least 5 of DS1's records .*found 2 \\(101 106\\), missing {missing}$"
    ):
        make_split(part, "inter")
    most = beats.subset(~np.isin(beats.record, ["100", "103"]))  # DS1 whole, DS2 but two
    assert "20 of its 22 records (missing 100 103)" in make_split(most, "inter").note


@pytest.mark.parametrize(
    ("present", "missing"), [("mitbih_train.csv", "mitbih_test.csv"), ("ptbdb_normal.csv", "ptbdb_abnormal.csv")]
)
def test_a_heartbeat_folder_missing_one_of_a_pair_names_that_file(heartbeat_dir, tmp_path, present, missing):
    folder = tmp_path / "one"
    folder.mkdir()
    (folder / present).write_bytes((heartbeat_dir / present).read_bytes())
    with pytest.raises(DataError, match=f"^{folder / missing}: file does not exist$"):
        load_beats(folder, progress=False)


def test_heartbeat_split_keeps_its_own_test_file(heartbeat_dir):
    beats = load_heartbeat(heartbeat_dir)
    split = make_split(beats, "intra")
    assert set(beats.record[split.test]) == {"mitbih_test"}
    assert set(beats.record[split.val]) == {"mitbih_train"}


def test_split_of_a_cached_set_is_cached_and_equal(wfdb_db):
    beats = load_beats(wfdb_db, progress=False)
    first = make_split(beats, "intra")
    again = make_split(load_beats(wfdb_db, progress=False), "intra")
    assert np.array_equal(first.train, again.train) and np.array_equal(first.test, again.test)
    sub = beats.subset(np.arange(len(beats) // 2))
    assert "cache_key" not in sub.info
    assert len(make_split(sub, "intra").test) < len(first.test)


def test_unknown_protocol():
    with pytest.raises(DataError, match="unknown protocol"):
        make_split(_fake_mitdb_beats(), "cross")


# --- the real MIT-BIH database --------------------------------------------------------------------


@needs_mitdb
def test_mitdb_counts_per_class():
    beats = load_beats(MITDB, progress=False)
    assert beats.info["annotated"] == {"N": 90631, "S": 2781, "V": 7236, "F": 803, "Q": 8043}
    assert beats.class_counts() == {"N": 90629, "S": 2781, "V": 7236, "F": 803, "Q": 8043}
    assert beats.info["lost"] == {LOST_FEW_BEATS: {"N": 2}}
    inter = make_split(beats, "inter")
    assert set(beats.record[inter.test]) == set(DS2)
    assert not set(beats.record[inter.train]) & set(beats.record[inter.val])
    assert len(inter.test) == 49712


def test_atomic_write_leaves_no_temp_file_and_ordinary_permissions(tmp_path):
    import os

    from arrhythmia.data.cache import atomic_write_bytes

    target = tmp_path / "out.txt"
    atomic_write_bytes(target, lambda tmp: tmp.write_text("hello"))
    umask = os.umask(0)
    os.umask(umask)
    assert target.read_text() == "hello" and list(tmp_path.iterdir()) == [target]
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask

    def fail(tmp):
        tmp.write_text("half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        atomic_write_bytes(target, fail)
    assert target.read_text() == "hello" and list(tmp_path.iterdir()) == [target]


def test_an_atomic_write_that_fails_names_the_file_asked_for_not_its_temporary_file(tmp_path, monkeypatch):
    """It named '.out.txt.k3j2x1.tmp' ('/sys/.model.onnx._vzfsyyc.tmp: Permission denied')."""
    import tempfile

    from arrhythmia.files import atomic_write_bytes

    def full(tmp):
        raise OSError(28, "No space left on device", str(tmp))

    with pytest.raises(OSError, match="No space left") as error:
        atomic_write_bytes(tmp_path / "out.txt", full)
    assert error.value.filename == str(tmp_path / "out.txt") and list(tmp_path.iterdir()) == []

    def refused(dir, prefix, suffix):  # a folder the user may not write in (root here may write anywhere)
        raise PermissionError(13, "Permission denied", f"{dir}/{prefix}k3j2x1{suffix}")

    monkeypatch.setattr(tempfile, "mkstemp", refused)
    with pytest.raises(PermissionError) as error:
        atomic_write_bytes(tmp_path / "out.txt", lambda tmp: tmp.write_text("x"))
    assert error.value.filename == str(tmp_path / "out.txt")


def test_beats_relabelled_by_their_mitbih_symbols(wfdb_db):
    from arrhythmia.data.beats import by_symbol

    beats = load_beats(wfdb_db, progress=False, window="centred")
    counts = dict(zip(*np.unique(beats.symbol, return_counts=True)))
    relabelled = by_symbol(beats, min_beats=10)
    expected = tuple(s for s in ("N", "A", "V", "F", "/") if counts.get(s, 0) >= 10)
    assert relabelled.classes == expected and len(relabelled) == sum(counts[s] for s in expected)
    assert [relabelled.classes[y] for y in relabelled.y] == relabelled.symbol.tolist()
    assert sum(relabelled.info["dropped_symbols"].values()) == len(beats) - len(relabelled)
    only_r01 = by_symbol(beats, min_beats=10, records=["r01"])
    assert set(only_r01.classes) <= set(expected)
    with pytest.raises(DataError, match="no beat symbol has"):
        by_symbol(beats, min_beats=10**6)


def test_overlapping_intervals_and_stretches_as_their_definition_says():
    """``quality.overlapping`` (a binary search per interval) against its definition, pair by pair: closed
    intervals that touch, or with ``touching=False`` share some time; points; unsorted, nested, overlapping
    stretches; NaN never inside."""
    from arrhythmia.data.quality import overlapping

    rng = np.random.default_rng(7)
    for _ in range(500):
        starts = rng.integers(0, 30, rng.integers(0, 25)).astype(float)
        ends = starts + rng.integers(0, 4, len(starts)) * rng.integers(0, 2, len(starts))
        firsts = rng.integers(0, 30, rng.integers(0, 6)).astype(float)
        stretches = np.stack([firsts, firsts + rng.integers(0, 6, len(firsts))], axis=1)
        if len(starts):
            starts[0] = np.nan
        for touching in (True, False):
            expected = [
                any((s <= b and e >= a) if touching else (s < b and e > a) for a, b in stretches)
                for s, e in zip(starts, ends)
            ]
            assert overlapping(starts, ends, stretches, touching).tolist() == expected
    assert overlapping(np.arange(3.0), np.arange(3.0), np.zeros((0, 2))).tolist() == [False] * 3
