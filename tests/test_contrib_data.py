"""A database of one's own, as a contributor brings one: WFDB records at another rate, named otherwise,
annotated with symbols of their own. Beat annotations whose symbols the toolkit cannot class are said
(which symbols, how many, in which records), not silently dropped."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import write_wfdb_record

from arrhythmia.data import load_beats
from arrhythmia.data.wfdb_source import NON_BEAT_SYMBOLS, load_record_beats


def relabel(directory: Path, name: str, every: int, symbol: str, custom: pd.DataFrame | None = None) -> int:
    """Rewrite record ``name``'s annotations with every ``every``-th beat given ``symbol``, as a hospital's
    own annotation software writes its beats; a ``~`` and a ``+`` stay, which are no beats. The count given
    the symbol."""
    import wfdb

    ann = wfdb.rdann(str(directory / name), "atr")
    symbols = np.array(ann.symbol, dtype=object)
    beats = np.flatnonzero(~np.isin(symbols, list(NON_BEAT_SYMBOLS)))
    chosen = beats[::every]
    symbols[chosen] = symbol
    samples = np.append(ann.sample, ann.sample[-1] + 10)
    symbols = np.append(symbols, "~")
    notes = [*(ann.aux_note or [""] * len(ann.sample)), ""]
    wfdb.wrann(
        name, "atr", samples, symbol=list(symbols), aux_note=notes, custom_labels=custom, write_dir=str(directory)
    )
    return len(chosen)


@pytest.fixture
def hospital(tmp_path) -> tuple[Path, dict[str, dict[str, int]]]:
    """Three records at 250 Hz named as a hospital names them: '?' (WFDB's 'learning' beat, no AAMI class)
    in two, a custom symbol 'X' in one."""
    directory = tmp_path / "hospdb"
    directory.mkdir()
    names = ["ward3_001", "ward3_002", "ward3_003"]
    for seed, name in enumerate(names):
        write_wfdb_record(directory, name, seconds=40.0, seed=seed, fs=250.0)
    custom = pd.DataFrame({"label_store": [42], "symbol": ["X"], "description": ["hospital's own beat"]})
    counts = {
        "?": {
            "ward3_001": relabel(directory, "ward3_001", 7, "?"),
            "ward3_003": relabel(directory, "ward3_003", 9, "?"),
        },
        "X": {"ward3_002": relabel(directory, "ward3_002", 5, "X", custom)},
    }
    (directory / "RECORDS").write_text("\n".join(names) + "\n")
    return directory, counts


def test_beat_annotations_of_unknown_symbols_are_counted_and_said_in_one_warning(hospital):
    directory, counts = hospital
    with pytest.warns(UserWarning) as caught:
        beats = load_beats(directory, progress=False)
    said = [str(w.message) for w in caught if "left out" in str(w.message)]
    assert len(said) == 1, [str(w.message) for w in caught]
    line = said[0]
    assert "\n" not in line and str(directory) in line
    n_unknown, n_custom = sum(counts["?"].values()), sum(counts["X"].values())
    assert f"{n_unknown + n_custom} beat annotations left out" in line
    assert f"'?' {n_unknown} (ward3_001, ward3_003)" in line and f"'X' {n_custom} (ward3_002)" in line
    assert "'~'" not in line and "'+'" not in line  # no beats: dropped as MIT-BIH's are, without a word
    assert beats.info["unknown_symbols"] == counts
    assert not set(beats.symbol) & {"?", "X"}
    # Said again from the beat cache, which holds the counts: a second command is told too.
    with pytest.warns(UserWarning, match="beat annotations left out"):
        again = load_beats(directory, progress=False)
    assert "cache_key" in again.info and again.info["unknown_symbols"] == beats.info["unknown_symbols"]


def test_a_record_of_known_symbols_only_says_nothing(tmp_path):
    write_wfdb_record(tmp_path, "rec1", seconds=30.0, fs=250.0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        record = load_record_beats(tmp_path / "rec1")
        load_beats(tmp_path, progress=False)
    assert not [w for w in caught if "left out" in str(w.message)]
    assert record.unknown == {} and len(record.beats) > 0
