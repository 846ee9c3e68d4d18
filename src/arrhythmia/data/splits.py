"""Train / validation / test splits: intra-patient (random) and inter-patient (de Chazal et al. 2004 on
MIT-BIH; another database's patients apart), and the record groups of a cross-validation over records."""

from __future__ import annotations

import contextlib
import hashlib
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from arrhythmia.data.beats import BeatSet, concatenate
from arrhythmia.data.cache import SPLIT_VERSION, cache_dir
from arrhythmia.data.heartbeat import records_are_files
from arrhythmia.errors import DataError, warnings_ignored
from arrhythmia.files import atomic_write_bytes

PROTOCOLS = ("intra", "inter")

# de Chazal, O'Dwyer & Reilly 2004, IEEE TBME 51(7): paced records 102, 104, 107, 217 are in neither set.
DS1 = [
    "101",
    "106",
    "108",
    "109",
    "112",
    "114",
    "115",
    "116",
    "118",
    "119",
    "122",
    "124",
    "201",
    "203",
    "205",
    "207",
    "208",
    "209",
    "215",
    "220",
    "223",
    "230",
]
DS2 = [
    "100",
    "103",
    "105",
    "111",
    "113",
    "117",
    "121",
    "123",
    "200",
    "202",
    "210",
    "212",
    "213",
    "214",
    "219",
    "221",
    "222",
    "228",
    "231",
    "232",
    "233",
    "234",
]
PACED = ("102", "104", "107", "217")
#: A beat set whose records are all among these is MIT-BIH, split by DS1 and DS2.
MITDB_RECORDS = frozenset(DS1) | frozenset(DS2) | frozenset(PACED)
# Classes rarer than this in the training records are not weighed when the validation fold is chosen.
MIN_BEATS_TO_BALANCE = 50


@dataclass
class Split:
    """Beat indices into one BeatSet: train, val, test: (n,) int64 each, pairwise disjoint."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    protocol: str
    note: str = ""

    def class_counts(self, beats: BeatSet) -> dict[str, dict[str, int]]:
        """Beats per class in each part: ``{"train": {"N": ..., ...}, "val": {...}, "test": {...}}``."""
        counts = {}
        for part in ("train", "val", "test"):
            # Labels only: subset() would read every waveform of a beat store to count them.
            per_class = np.bincount(beats.y[getattr(self, part)], minlength=len(beats.classes))
            counts[part] = {name: int(n) for name, n in zip(beats.classes, per_class)}
        return counts


def _stratify(y: np.ndarray) -> np.ndarray | None:
    # train_test_split refuses to stratify a class with a single member; fall back to a plain shuffle.
    return y if np.bincount(y).max() > 1 and (np.bincount(y)[np.bincount(y) > 0] >= 2).all() else None


def intra_patient_split(beats: BeatSet, seed: int = 42) -> Split:
    """Stratified random 60/20/20 split of beats (the classic notebook protocol).

    Beats of one patient land in train and test alike, so the test score overstates how the model does
    on a new patient. Sources with their own test partition (``beats.is_test``) keep it as the test set
    and draw validation (20 %) from the rest.
    """
    from sklearn.model_selection import train_test_split  # imported on use: a second of start-up

    index = np.arange(len(beats))
    if beats.is_test is not None:
        test, rest = index[beats.is_test], index[~beats.is_test]
        train, val = train_test_split(rest, test_size=0.2, random_state=seed, stratify=_stratify(beats.y[rest]))
        note = "test = the source's own test file; validation = 20% of its training file"
    else:
        rest, test = train_test_split(index, test_size=0.2, random_state=seed, stratify=_stratify(beats.y))
        train, val = train_test_split(rest, test_size=0.25, random_state=seed, stratify=_stratify(beats.y[rest]))
        note = "random 60/20/20 by beat: patients appear in train and test (intra-patient)"
    return Split(np.sort(train), np.sort(val), np.sort(test), "intra", note)


def inter_patient_split(
    beats: BeatSet,
    seed: int = 42,
    n_folds: int = 5,
    test_records: Sequence[str] = (),
    patients: Mapping[str, str] | None = None,
) -> Split:
    """No patient in two parts: on MIT-BIH, de Chazal et al. 2004 (train and validate on DS1 records, test
    on DS2; paced records excluded); on another database, its patients split (``database_split``). De
    Chazal's DS1 -> DS2 is kept as published, whatever ``patients`` says: records 201 (DS1) and 202 (DS2)
    are one patient, so on MIT-BIH ``patients`` groups the validation fold alone.

    Validation is one fold of a stratified group k-fold over the training *patients* (``patients``:
    ``{record: patient}``; a record not in it is a patient of its own), so no patient is in both training
    and validation. Of the k candidate folds, the one that leaves training the largest share of its
    scarcest class is taken: rare classes sit in few records, and a fold that holds one of them whole
    would leave the model without examples to learn from.

    ``test_records``: on MIT-BIH, DS1 records to test on instead of DS2 (one fold of a cross-validation
    over DS1's records, ``record_groups``); they are neither trained nor validated on, and DS2 is not
    used at all. On another database, the records to test on.
    """
    record = beats.record.astype(str)
    if records_are_files(beats):
        raise DataError(
            f"{beats.source}: the inter-patient protocol needs beats with their patients' records (a WFDB "
            "database or a store built from one); the Heartbeat CSVs carry no patient ids: use --protocol intra"
        )
    group = patient_of(record, patients)
    if not set(record) <= MITDB_RECORDS:
        return database_split(beats, group, seed, n_folds, test_records)
    held_out = sorted(set(map(str, test_records)))
    outside_ds1 = [r for r in held_out if r not in DS1]
    if outside_ds1:
        raise DataError(
            f"{beats.source}: test record(s) {' '.join(outside_ds1)} are not DS1 records (cross-validation "
            "holds out DS1 records; DS2 stays the inter-patient test set)"
        )
    missing = [r for r in held_out if r not in set(record)]
    if missing:
        raise DataError(f"{beats.source}: no beats of test record(s) {' '.join(missing)}")
    pool = [r for r in DS1 if r not in held_out]
    if not np.isin(record, pool).any() or not (held_out or np.isin(record, DS2).any()):
        lacking = "DS1 records to train on" if not np.isin(record, pool).any() else "DS2 records to test on"
        raise DataError(f"{beats.source}: the inter-patient protocol on MIT-BIH records needs {lacking}; it has none")
    ds1 = np.flatnonzero(np.isin(record, pool))
    test = np.flatnonzero(np.isin(record, held_out or DS2))
    present = set(record)
    if len(set(record[ds1])) < n_folds:  # part of MIT-BIH: too few records to hold validation ones out by record
        found = [r for r in pool if r in present]
        # Why so few: records missing from the data, or held out as test records (or both), named as such.
        why = [f"missing {' '.join(r for r in pool if r not in present)}"] if len(found) < len(pool) else []
        why += [f"the test records hold out {' '.join(held_out)}"] if held_out else []
        raise DataError(
            f"{beats.source}: the inter-patient protocol needs at least {n_folds} of DS1's records to train and "
            f"validate on (its validation records are one of {n_folds} groups of them); found {len(found)} "
            f"({' '.join(found)}), {', '.join(why)}"
        )
    train, val = _validation_fold(beats, ds1, group, seed, n_folds)
    val_records = sorted(set(record[val]))
    tested = f"DS1 records {' '.join(held_out)} (cross-validation)" if held_out else "DS2 (de Chazal 2004)"
    missing_ds2 = [r for r in DS2 if r not in present]
    if not held_out and missing_ds2:  # a test set that is not DS2's whole: not comparable with published figures
        tested += f", {len(DS2) - len(missing_ds2)} of its {len(DS2)} records (missing {' '.join(missing_ds2)})"
    note = f"DS1 -> {tested}; validation records: {' '.join(val_records)}"
    return Split(np.sort(train), np.sort(val), np.sort(test), "inter", note)


def database_split(
    beats: BeatSet, group: np.ndarray, seed: int = 42, n_folds: int = 5, test_records: Sequence[str] = ()
) -> Split:
    """The inter-patient split of a database other than MIT-BIH (no DS1 / DS2 of its own): ``test_records``
    (whole patients) are tested on, or else a third of its patients drawn with ``seed`` (``record_groups``);
    the others' records are trained and validated on as ``inter_patient_split`` says.

    group : (n_beats,) str, each beat's patient (``patient_of``).
    """
    record = beats.record.astype(str)
    patient_of_record = dict(set(zip(record.tolist(), group.tolist())))  # a record is one patient's
    patient_records: dict[str, set[str]] = {}
    for name, patient in patient_of_record.items():
        patient_records.setdefault(patient, set()).add(name)
    held_out = sorted(set(map(str, test_records)))
    if held_out:
        missing = [r for r in held_out if r not in patient_of_record]
        if missing:  # its records' names beside them: "1" for "I01" is told at a glance
            like = _named_like(patient_of_record)
            raise DataError(f"{beats.source}: no beats of test record(s) {' '.join(missing)} ({like})")
        test_patients = sorted({patient_of_record[r] for r in held_out})
        split_up = sorted(set().union(*(patient_records[p] for p in test_patients)) - set(held_out))
        if split_up:
            raise DataError(
                f"{beats.source}: test records must hold out whole patients: record(s) {' '.join(split_up)} are "
                "of a test record's patient (--patients); add them to the test records"
            )
        how = "the test records given"
    else:
        if len(patient_records) < 3:
            raise DataError(
                f"{beats.source}: the inter-patient protocol needs at least 3 patients (to train, validate and test "
                f"on, one or more each); found {len(patient_records)}"
            )
        test_patients = record_groups(sorted(patient_records), 3, seed)[0]
        how = f"a third of its {len(patient_records)} patients, drawn with seed {seed}"
    test = np.flatnonzero(np.isin(group, test_patients))
    pool = np.flatnonzero(~np.isin(group, test_patients))
    left = len(set(group[pool]))
    if left < 2:
        raise DataError(
            f"{beats.source}: the inter-patient protocol needs at least 2 patients besides the test records' to "
            f"train and validate on; they leave {left}"
        )
    # A small database: as many validation groups as it has training patients, up to n_folds.
    train, val = _validation_fold(beats, pool, group, seed, min(n_folds, left))

    def patients_in(part: np.ndarray) -> str:  # a paper gives patients per part, not only records
        n = len(set(group[part]))
        return f"{n} patient{'s' if n != 1 else ''}"

    note = (
        f"{beats.source}, patients apart -> test records {' '.join(sorted(set(record[test])))} ({how}; "
        f"{patients_in(test)}); validation records: {' '.join(sorted(set(record[val])))} ({patients_in(val)}); "
        f"trained on {patients_in(train)}"
    )
    return Split(np.sort(train), np.sort(val), np.sort(test), "inter", note)


def _validation_fold(
    beats: BeatSet, pool: np.ndarray, group: np.ndarray, seed: int, n_folds: int
) -> tuple[np.ndarray, np.ndarray]:
    """``pool`` (beat indices) split into training and validation beats, no patient (``group``) in both: the
    fold of a stratified group k-fold that leaves training the largest share of its scarcest class."""
    from sklearn.model_selection import StratifiedGroupKFold

    folds = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    y = beats.y[pool]
    totals = np.bincount(y, minlength=len(beats.classes))
    considered = totals >= MIN_BEATS_TO_BALANCE

    def train_share_of_scarcest(fold: tuple[np.ndarray, np.ndarray]) -> float:
        kept = np.bincount(y[fold[0]], minlength=len(totals))
        return float((kept[considered] / totals[considered]).min()) if considered.any() else 1.0

    # DS1's 8 Q beats: too few to stratify, and not weighed (MIN_BEATS_TO_BALANCE)
    with warnings_ignored(UserWarning, "The least populated class"):
        candidates = list(folds.split(pool, y, groups=group[pool]))
    train_pos, val_pos = max(candidates, key=train_share_of_scarcest)
    return pool[train_pos], pool[val_pos]


def patient_of(record: np.ndarray, patients: Mapping[str, str] | None) -> np.ndarray:
    """Each beat's patient: (n_beats,) str, ``patients[record]`` where given, else the record itself."""
    record = record.astype(str)
    if not patients:
        return record
    names, inverse = np.unique(record, return_inverse=True)
    return np.array([patients.get(name, name) for name in names], dtype=str)[inverse]


#: The patients files' warnings said so far (``check_patients``).
_PATIENTS_WARNED: set[str] = set()


class Patients(dict):
    """``{record: patient}`` as ``read_patients`` read it, with the file it came from (``path``) for messages."""

    path: Path | None = None


def read_patients(path: str | Path) -> Patients:
    """``{record: patient}`` from a CSV file with columns ``record`` and ``patient`` (a patient's records are
    kept together by the inter-patient protocol and cross-validation); DataError (one line) naming the file
    where it cannot be read as such, or names no record. A byte-order mark and Windows line endings (Excel's
    exports) are read as they mean, and so is a file separated by semicolons or tabs (Excel's CSV where the
    decimal separator is a comma)."""
    import pandas as pd

    path = Path(path)
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
        header = str(table.columns[0]) if len(table.columns) == 1 else ""
        separator = next((s for s in (";", "\t") if s in header), None)
        if separator:
            table = pd.read_csv(path, dtype=str, keep_default_na=False, sep=separator)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise DataError(f"{path}: cannot read it as a CSV of record,patient ({error})") from None
    table.columns = [str(c).strip().lower() for c in table.columns]
    if not {"record", "patient"} <= set(table.columns):
        raise DataError(f"{path}: needs columns record and patient, has {', '.join(table.columns) or 'none'}")
    if table.empty:  # a header alone: every record would be a patient of its own, as without the file
        raise DataError(f"{path}: names no record (a header and no rows)")
    table = table.assign(record=table["record"].str.strip(), patient=table["patient"].str.strip())
    blank = table.index[(table["record"] == "") | (table["patient"] == "")]
    if len(blank):
        raise DataError(f"{path}: row {blank[0] + 2} has an empty record or patient")
    twice = table.loc[table["record"].duplicated(keep=False)]
    conflicting = twice.groupby("record")["patient"].nunique()
    if (conflicting > 1).any():
        raise DataError(f"{path}: record {conflicting[conflicting > 1].index[0]} is given two patients")
    patients = Patients(zip(table["record"], table["patient"]))
    patients.path = path
    return patients


def check_patients(patients: Mapping[str, str] | None, records: Iterable[str], source: str) -> None:
    """Whether ``patients`` (``{record: patient}``) fits the database whose records are ``records``: a
    DataError (one line) where it names none of them (another database's file, or its names spelt otherwise:
    ``1`` for ``I01``), a warning naming those it names that the database does not hold (left aside)."""
    if not patients:
        return
    present = sorted(set(map(str, records)))
    unknown = sorted(set(patients) - set(present))
    if not unknown:
        return
    where = getattr(patients, "path", None) or "the patients given"
    named = f"{' '.join(unknown[:10])}{' ...' if len(unknown) > 10 else ''}"
    like = _named_like(present)
    if len(unknown) == len(patients):
        raise DataError(f"{where}: names none of {source}'s records (it names {named}; {like})")
    message = f"{where}: {len(unknown)} of the records it names are not in {source}, left aside: {named} ({like})"
    # Said once a process, however many splits (a cross-validation's folds, evaluate, report) read the file:
    # warnings' own once-only registry is reset by every catch_warnings, which training enters.
    if message not in _PATIENTS_WARNED:
        _PATIENTS_WARNED.add(message)
        warnings.warn(message, stacklevel=2)


def _named_like(records: Iterable[str]) -> str:
    """How a database's records are named, for an error about names it lacks: its first three names."""
    names = sorted(set(map(str, records)))
    return f"its records are named like {', '.join(names[:3])}" if names else "it holds no record"


def record_groups(records: Sequence[str], k: int, seed: int = 0) -> list[list[str]]:
    """The folds of a cross-validation over records: ``records`` shuffled with ``seed`` and dealt in turn
    into ``k`` groups (sizes differ by one at most), each sorted. The same records, ``k`` and ``seed`` give
    the same groups everywhere (``arrhythmia crossval``, ``benchmarks/adaptive.py --cv``). Patients are dealt
    the same way: ``crossval.fold_records`` deals a database's patients, and ``database_split`` draws its test
    third as the first of 3 groups."""
    records = [str(r) for r in records]
    if not 2 <= k <= len(records):
        raise DataError(f"cross-validation needs 2 to {len(records)} folds over {len(records)} records, not {k}")
    order = np.random.default_rng(seed).permutation(records).tolist()
    return [sorted(order[i::k]) for i in range(k)]


def make_split(
    beats: BeatSet,
    protocol: str = "intra",
    seed: int = 42,
    test_records: Sequence[str] = (),
    patients: Mapping[str, str] | None = None,
) -> Split:
    """The split of ``beats`` for ``protocol`` (``"intra"`` or ``"inter"``; with ``test_records``, the
    records tested on instead of DS2, or instead of a drawn third of another database's patients; with
    ``patients``, ``{record: patient}``, a patient's records kept together: ``inter_patient_split``).

    Splits of a cached beat set are cached beside it: they depend only on the beats, the protocol, the
    seed, the test records and the patients, and computing them costs more start-up time than reading them.
    """
    if protocol not in PROTOCOLS:
        raise DataError(f"unknown protocol {protocol!r} (choose from {', '.join(PROTOCOLS)})")
    held_out = sorted(set(map(str, test_records)))
    if protocol == "intra":
        if held_out or patients:
            what = "test records" if held_out else "patients"
            raise DataError(f"{what} are for the inter-patient protocol (--protocol inter)")
        return _cached_split(beats, protocol, protocol, seed, lambda: intra_patient_split(beats, seed))
    if patients and not records_are_files(beats):  # before the cache: a cached split says nothing of the file
        check_patients(patients, np.unique(beats.record.astype(str)), beats.source)
    # A split with test records or patients is cached under a name of its own: they decide it too.
    keyed = " ".join(held_out) + ("|" + " ".join(f"{r}={p}" for r, p in sorted(patients.items())) if patients else "")
    name = f"inter-test-{hashlib.sha1(keyed.encode()).hexdigest()[:12]}" if keyed else protocol
    return _cached_split(
        beats, protocol, name, seed, lambda: inter_patient_split(beats, seed, test_records=held_out, patients=patients)
    )


def _cached_split(beats: BeatSet, protocol: str, name: str, seed: int, build: Callable):
    """The split of a cached beat set, from the cache (file ``name``) when present; others are always built."""
    key = beats.info.get("cache_key")
    if key is None:
        return build()
    path = cache_dir() / f"split-{key}-{SPLIT_VERSION}-{name}-{seed}.npz"
    try:
        with np.load(path, allow_pickle=False) as z:
            return Split(z["train"], z["val"], z["test"], protocol, str(z["note"]))
    except (OSError, ValueError, KeyError):
        pass
    split = build()

    def write(tmp: Path) -> None:
        with tmp.open("wb") as fh:
            np.savez(fh, train=split.train, val=split.val, test=split.test, note=np.array(split.note))

    with contextlib.suppress(OSError):
        atomic_write_bytes(path, write)
    return split


def with_other_lead(beats: BeatSet, split: Split, other: BeatSet, tolerance: int = 18) -> tuple[BeatSet, Split]:
    """``beats`` followed by the beats of ``other`` (the same records' beats cut from another lead) that
    are copies of training beats, added to the training split only; validation and test are unchanged.

    A beat of ``other`` is a copy of the beat of the same record at the nearest ``sample`` (each lead's
    annotations are placed on its own R wave, a few samples apart), within ``tolerance`` samples; it is
    kept when that beat is in ``split.train``, so no beat of a validation or test patient, and under the
    intra-patient protocol no copy of a validation or test beat, is trained on. Returns the combined
    beats and the split whose ``train`` also holds the kept copies.
    """
    in_train = np.zeros(len(beats), dtype=bool)
    in_train[split.train] = True
    keep = np.zeros(len(other), dtype=bool)
    for record in np.unique(other.record):
        mine = np.flatnonzero(beats.record == record)
        theirs = np.flatnonzero(other.record == record)
        if len(mine) == 0:
            continue
        order = mine[np.argsort(beats.sample[mine], kind="stable")]
        samples = beats.sample[order]
        right = np.clip(np.searchsorted(samples, other.sample[theirs]), 0, len(samples) - 1)
        left = np.maximum(right - 1, 0)
        nearest = np.where(
            np.abs(samples[left] - other.sample[theirs]) <= np.abs(samples[right] - other.sample[theirs]), left, right
        )
        close = np.abs(samples[nearest] - other.sample[theirs]) <= tolerance
        keep[theirs] = close & in_train[order[nearest]]
    added = other.subset(keep)
    combined = concatenate([beats, added], source=beats.source, info=beats.info)
    train = np.concatenate([split.train, len(beats) + np.arange(len(added))])
    return combined, replace(split, train=train)
