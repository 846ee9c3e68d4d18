"""align_to_r_wave: annotated beats placed on the R wave with the rule that places detected peaks."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import MITDB, needs_mitdb

from arrhythmia.data.detection import R_WAVE_SEARCH_S, _on_r_wave, align_to_r_wave, bandpass
from arrhythmia.errors import ArrhythmiaError


def _spikes(fs: float, seconds: float = 20.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A wandering baseline with narrow Gaussian spikes (every third inverted), each followed 50 ms
    later by a deeper opposite wave. Returns (signal, spike positions, deep-wave positions)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * fs)) / fs
    x = 0.2 * np.sin(2 * np.pi * 0.3 * t) + 0.01 * rng.standard_normal(len(t))
    centres = np.arange(1.0, seconds - 1.0, 0.8) + rng.uniform(-0.1, 0.1, size=len(np.arange(1.0, seconds - 1.0, 0.8)))
    spikes, deep = [], []
    for k, c in enumerate(centres):
        sign = -1.0 if k % 3 == 2 else 1.0
        x += sign * 1.0 * np.exp(-0.5 * ((t - c) / 0.008) ** 2)
        spikes.append(round(c * fs))
        if k % 2:  # every other beat: an S wave larger than the R wave, 50 ms later
            x -= sign * 1.6 * np.exp(-0.5 * ((t - c - 0.05) / 0.008) ** 2)
            deep.append(len(spikes) - 1)
    return x, np.array(spikes), np.array(deep)


@pytest.mark.parametrize("fs", [128.0, 360.0])
def test_marks_before_spikes_land_on_the_largest_deflection(fs):
    x, spikes, deep = _spikes(fs)
    y = np.abs(bandpass(x, fs))
    # Where each beat's largest |deflection| is: the spike, or the deep wave after it.
    expected = spikes.copy()
    expected[deep] = spikes[deep] + round(0.05 * fs)
    expected = np.array([e - 2 + np.argmax(y[e - 2 : e + 3]) for e in expected])  # filter may shift it 1 sample
    assert np.all(np.abs(expected - spikes - np.isin(np.arange(len(spikes)), deep) * round(0.05 * fs)) <= 1)

    on_r = align_to_r_wave(x, fs, spikes)
    np.testing.assert_array_equal(on_r, expected)
    for ms in (30, 60):  # marks 30 and 60 ms early, as other databases place them
        np.testing.assert_array_equal(align_to_r_wave(x, fs, spikes - round(ms / 1000 * fs)), expected)
    np.testing.assert_array_equal(align_to_r_wave(x, fs, spikes + round(0.02 * fs)), expected)
    # One 80 ms search from 60 ms early stops on the spike before a deeper S wave; the climb does not.
    single = _on_r_wave(bandpass(x, fs), fs, spikes[deep] - round(0.06 * fs))
    assert np.any(single != expected[deep])


def test_order_length_and_duplicates_are_kept():
    fs = 360.0
    x, spikes, _ = _spikes(fs)
    marks = np.array([spikes[5], spikes[2] - 10, spikes[2] + 3, spikes[0]])  # unsorted; two on one beat
    out = align_to_r_wave(x, fs, marks)
    assert out.dtype == np.int64 and out.shape == (4,)
    assert out[1] == out[2]  # no dedup: both annotations keep their place (and label)
    np.testing.assert_array_equal(out[[0, 1, 3]], align_to_r_wave(x, fs, spikes[[5, 2, 0]]))
    assert align_to_r_wave(x, fs, marks.tolist()).tolist() == out.tolist()  # a list is fine


def test_edge_cases():
    fs = 360.0
    x, spikes, _ = _spikes(fs)
    empty = align_to_r_wave(x, fs, np.array([], dtype=np.int64))
    assert empty.dtype == np.int64 and empty.shape == (0,)
    assert align_to_r_wave(np.zeros(5), fs, []).shape == (0,)  # nothing to align, nothing filtered
    with pytest.raises(ArrhythmiaError, match="too short to filter"):
        align_to_r_wave(np.zeros(10), fs, [3])
    with pytest.raises(ArrhythmiaError, match="outside the signal"):
        align_to_r_wave(x, fs, [len(x)])
    with pytest.raises(ArrhythmiaError, match="integer"):
        align_to_r_wave(x, fs, [10.5])
    with pytest.raises(ArrhythmiaError, match="sampling rate"):
        align_to_r_wave(x, 0.0, [10])
    # Flat or all-NaN: nothing to climb, positions stay.
    assert align_to_r_wave(np.full(1000, np.nan), fs, [100, 500]).tolist() == [100, 500]
    assert align_to_r_wave(np.ones(1000), fs, [100, 500]).tolist() == [100, 500]
    # NaN samples elsewhere do not disturb the beats; a NaN stretch without a beat moves nothing into it.
    gap = x.copy()
    gap[spikes[3] + 100 : spikes[3] + 150] = np.nan
    np.testing.assert_array_equal(align_to_r_wave(gap, fs, spikes), align_to_r_wave(x, fs, spikes))


@needs_mitdb
@pytest.mark.parametrize("record", ["119", "208"])  # bigeminal PVCs; PVCs and fusion beats
def test_mitdb_annotations_moved_earlier_align_as_the_originals(record):
    import wfdb

    from arrhythmia.data.beats import SYMBOL_TO_AAMI

    header = wfdb.rdheader(str(MITDB / record))
    stop = int(300 * header.fs)  # first 5 minutes
    channel = header.sig_name.index("MLII") if "MLII" in header.sig_name else 0
    x = wfdb.rdrecord(str(MITDB / record), channels=[channel], sampto=stop).p_signal[:, 0]
    ann = wfdb.rdann(str(MITDB / record), "atr", sampto=stop)
    samples = np.asarray(ann.sample, dtype=np.int64)[np.isin(ann.symbol, list(SYMBOL_TO_AAMI))]
    fs = float(header.fs)

    original = align_to_r_wave(x, fs, samples)
    assert len(original) == len(samples) > 300
    # MIT-BIH annotations sit on the R peak already: most move a sample or none (the filter's peak),
    # wide PVCs a few samples more, and none leaves its QRS complex.
    moved = np.abs(original - samples)
    assert np.median(moved) <= 1 and moved.max() <= round(R_WAVE_SEARCH_S * fs), f"moves up to {moved.max()}"
    # The aligned positions are where predict's rule (one 80 ms move) leaves a detection.
    np.testing.assert_array_equal(_on_r_wave(bandpass(x, fs), fs, original), np.unique(original))
    for ms in (20, 40, 60):
        shifted = np.clip(samples - round(ms / 1000 * fs), 0, None)
        aligned = align_to_r_wave(x, fs, shifted)
        same = np.mean(aligned == original)
        assert same >= 0.995, f"{ms} ms earlier: {same:.2%} identical"
        assert np.all(np.abs(aligned - original) <= 1), (
            f"{ms} ms earlier: off by up to {np.abs(aligned - original).max()}"
        )


@needs_mitdb
def test_training_beats_of_a_database_marking_beats_early_are_those_of_mitdb(tmp_path):
    """Record 208 (N, V and F beats) with every annotation moved 20-60 ms earlier, as another database
    might mark them: the extracted training beats (labels, windows, context features) are MIT-BIH's own."""
    import shutil

    import wfdb

    from arrhythmia.data import get_window
    from arrhythmia.data.wfdb_source import load_record_beats

    for suffix in (".hea", ".dat"):
        shutil.copy(MITDB / f"208{suffix}", tmp_path / f"208{suffix}")
    ann = wfdb.rdann(str(MITDB / "208"), "atr")
    rng = np.random.default_rng(0)
    early = np.round(rng.uniform(0.020, 0.060, len(ann.sample)) * ann.fs).astype(np.int64)
    shifted = np.clip(np.asarray(ann.sample) - early, 0, None)
    wfdb.wrann("208", "atr", shifted, symbol=list(ann.symbol), aux_note=list(ann.aux_note), write_dir=str(tmp_path))

    window = get_window("centred")
    original = load_record_beats(MITDB / "208", window).beats
    moved = load_record_beats(tmp_path / "208", window).beats
    assert len(moved) == len(original) > 2900
    np.testing.assert_array_equal(moved.y, original.y)
    same = np.all(moved.X == original.X, axis=1)
    assert same.mean() >= 0.995, f"{same.mean():.2%} of windows identical"
    # RR features are exact but around the few beats placed otherwise; the likeness to the minute's
    # median beat moves a little where one window of that minute differs.
    rr_same = np.all(moved.context[:, :6] == original.context[:, :6], axis=1)
    template_gap = np.abs(moved.context[same, 6:] - original.context[same, 6:]).max(axis=1)
    assert rr_same.mean() >= 0.99 and template_gap.max() < 0.05
