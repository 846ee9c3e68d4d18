"""Beat representations of issue 6: RR features from R-peak positions and windows centred on the R peak."""

from __future__ import annotations

import numpy as np
import pytest

from arrhythmia.data import get_window, load_beats
from arrhythmia.data.context import (
    CONTEXT_FEATURES,
    GLOBAL_S,
    LOCAL_BEATS,
    RR_FEATURES,
    TEMPLATE_BLOCK_S,
    closed_gaps,
    rr_features,
    template_features,
)
from arrhythmia.data.pipeline import cut_beats
from arrhythmia.data.segmentation import centred_segments, segment
from arrhythmia.data.synthetic import load_synthetic, synthetic_ecg
from arrhythmia.errors import DataError

FS = 100.0


def test_rr_features_of_hand_made_peaks():
    # RR (s): 1.0, 1.0, 0.6 (premature beat 3), 1.4 (compensatory pause), 1.0
    peaks = np.array([0, 100, 200, 260, 400, 500])
    rr = rr_features(peaks, FS)
    assert rr.shape == (6, len(RR_FEATURES)) and rr.dtype == np.float32
    pre, post, ratio = rr[:, 0], rr[:, 1], rr[:, 2]
    np.testing.assert_allclose(pre, [1.0, 1.0, 1.0, 0.6, 1.4, 1.0], rtol=1e-6)  # first beat: its post RR
    np.testing.assert_allclose(post, [1.0, 1.0, 0.6, 1.4, 1.0, 1.0], rtol=1e-6)  # last beat: its pre RR
    np.testing.assert_allclose(ratio[3], 0.6 / 1.4, rtol=1e-6)
    # Local mean of beat 3: pre RR of beats 0..3 = (1 + 1 + 1 + 0.6) / 4.
    np.testing.assert_allclose(rr[3, 3], 0.6 / 0.9, rtol=1e-6)
    np.testing.assert_allclose(rr[3, 4], 1.4 / 0.9, rtol=1e-6)
    # All beats lie within GLOBAL_S / 2 of each other: one global mean of all pre RR.
    np.testing.assert_allclose(rr[:, 5], pre / pre.mean(), rtol=1e-6)


def test_an_interval_across_lost_signal_is_closed_up_for_the_rhythm_features():
    # Beats every 0.8 s, a premature one, and 20 s of a lead-off between two of them: read as it is, the beat
    # after the gap comes 20 s late and the next ten look early against a local mean the gap inflated.
    rr = [0.8] * 12 + [0.5, 1.1] + [0.8] * 4 + [20.8] + [0.8] * 12
    peaks = np.round(np.concatenate([[0.0], np.cumsum(rr)]) * FS).astype(np.int64)
    gap = np.array([[peaks[18] + 0.2 * FS, peaks[19] - 0.2 * FS]])
    closed = closed_gaps(peaks, gap)
    assert np.diff(closed)[18] == 80 and (np.diff(closed)[:18] == np.diff(peaks)[:18]).all()
    assert (np.diff(closed)[19:] == np.diff(peaks)[19:]).all()  # the beats after move, their intervals stay
    pre_over_local = rr_features(closed, FS)[:, RR_FEATURES.index("pre_local_ratio")]
    assert pre_over_local[13] < 0.7 and np.all(np.abs(pre_over_local[19:] - 1) < 0.05)
    assert (rr_features(peaks, FS)[20:, RR_FEATURES.index("pre_local_ratio")] < 0.8).any()  # not closed: "early"
    # No lost stretch, or one that no interval spans (before the first beat): the peaks as they are.
    assert (closed_gaps(peaks, np.zeros((0, 2))) == peaks).all()
    assert (closed_gaps(peaks, np.array([[-500, -100]])) == peaks).all()


def test_local_mean_spans_the_last_ten_beats():
    peaks = np.concatenate([np.arange(0, 20 * 100, 100), 1900 + np.arange(1, 21) * 50])  # 1 s, then 0.5 s
    rr = rr_features(peaks, FS)
    assert LOCAL_BEATS == 10
    # Beat 21: the pre RR of beats 12..21 are eight of 1 s and two of 0.5 s.
    assert rr[21, 3] == pytest.approx(0.5 / ((8 * 1.0 + 2 * 0.5) / 10))
    # Ten beats into the fast stretch, all of them are 0.5 s.
    assert rr[29, 3] == pytest.approx(1.0)


def test_global_mean_forgets_beats_beyond_its_window():
    slow = np.arange(0, 400 * FS, 2 * FS)  # RR 2 s for 400 s
    fast = slow[-1] + np.arange(1, 400) * FS  # then RR 1 s
    rr = rr_features(np.concatenate([slow, fast]).astype(np.int64), FS)
    # The last beat is > GLOBAL_S / 2 after the slow stretch ended: only 1 s intervals count.
    assert GLOBAL_S / 2 < 399 and rr[-1, 5] == pytest.approx(1.0)


def test_rr_intervals_are_clipped_and_short_inputs_are_defined():
    rr = rr_features(np.array([0, 10_000, 10_100]), FS)  # a 100 s gap: a missing stretch, not a heartbeat
    assert rr[:, :2].max() == pytest.approx(3.0)
    assert rr_features(np.array([5]), FS).tolist() == [[1.0] * 6]
    assert rr_features(np.zeros(0, dtype=np.int64), FS).shape == (0, 6)


def test_centred_window_puts_the_r_peak_at_before_s():
    rec = synthetic_ecg(duration_s=30, fs=360, seed=4)
    window = get_window("centred")
    segments = centred_segments(rec.signal, rec.fs, rec.r_peaks, window)
    assert segments.X.shape == (len(rec.r_peaks), window.length) and segments.kept.all()
    r_index = int(round(window.before_s * window.fs))
    peaks_at = np.abs(segments.X - np.median(segments.X, axis=1, keepdims=True)).argmax(axis=1)
    assert np.median(np.abs(peaks_at - r_index)) <= 1


def test_centred_window_drops_beats_in_invalid_stretches():
    rec = synthetic_ecg(duration_s=30, fs=360, seed=5)
    signal = rec.signal.copy()
    signal[360 * 12 : 360 * 14] = np.nan  # inside the 10-20 s scaling window
    segments = segment(signal, rec.fs, rec.r_peaks, get_window("centred"))
    in_bad_window = (rec.r_peaks >= 360 * 10) & (rec.r_peaks < 360 * 20)
    assert not segments.kept[in_bad_window].any() and segments.kept[~in_bad_window].all()
    assert np.isfinite(segments.X).all()


def test_beat_sets_carry_rr_features_and_their_window(wfdb_db):
    beats = load_beats(wfdb_db, progress=False, window="centred")
    assert beats.window == get_window("centred") and beats.X.shape[1] == beats.window.length
    assert beats.context.shape == (len(beats), len(CONTEXT_FEATURES))
    subset = beats.subset(np.arange(3))
    assert subset.context.shape == (3, len(CONTEXT_FEATURES))
    synthetic = load_synthetic(n_records=2, duration_s=30)
    assert synthetic.context is not None and synthetic.window == get_window("kachuee")


def test_heartbeat_csvs_have_no_centred_window(heartbeat_dir):
    with pytest.raises(DataError, match="ready-cut Kachuee beats"):
        load_beats(heartbeat_dir, progress=False, window="centred")


def test_template_features_compare_each_beat_with_its_blocks_typical_beat():
    t = np.linspace(0, 1, 50)
    normal = np.exp(-(((t - 0.4) / 0.03) ** 2))
    wide = 1.6 * np.exp(-(((t - 0.5) / 0.12) ** 2))  # a broad, tall ectopic beat
    X = np.tile(normal, (20, 1))
    X[7] = wide
    peaks = np.arange(20) * 100
    features = template_features(X, peaks, FS)  # 20 beats in one 60 s block
    corr, rms, amplitude = features.T
    assert corr[0] == pytest.approx(1.0, abs=1e-5) and rms[0] == pytest.approx(0.0, abs=1e-5)
    assert amplitude[0] == pytest.approx(1.0, abs=1e-5)
    assert corr[7] < 0.8 and rms[7] > 1.0 and amplitude[7] == pytest.approx(np.ptp(wide) / np.ptp(normal), rel=1e-4)


def test_template_is_taken_per_block_so_a_changing_morphology_is_followed():
    t = np.linspace(0, 1, 50)
    first, second = np.exp(-(((t - 0.4) / 0.03) ** 2)), -np.exp(-(((t - 0.4) / 0.05) ** 2))
    block = int(TEMPLATE_BLOCK_S * FS)
    X = np.vstack([np.tile(first, (10, 1)), np.tile(second, (10, 1))])
    peaks = np.r_[np.arange(10) * 100, block + np.arange(10) * 100]
    assert np.allclose(template_features(X, peaks, FS)[:, 0], 1.0, atol=1e-5)  # each beat like its block


def test_cut_beats_joins_rr_of_all_peaks_with_templates_of_kept_beats():
    rec = synthetic_ecg(duration_s=60, fs=360, seed=9)
    cut = cut_beats(rec.signal, rec.fs, rec.r_peaks, get_window("centred"))
    assert cut.context.shape == (cut.kept.sum(), len(CONTEXT_FEATURES))
    # RR features come from all peaks (a beat that could not be cut still defines its neighbours' RR).
    np.testing.assert_allclose(cut.context[:, :6], rr_features(rec.r_peaks, rec.fs)[cut.kept])
    np.testing.assert_allclose(cut.context[:, 6:], template_features(cut.X, rec.r_peaks[cut.kept], rec.fs))
    # Given the RR features of a longer stretch, a part of the signal gives those beats' features.
    start = 20 * 360
    part = cut_beats(
        rec.signal[start:],
        rec.fs,
        rec.r_peaks[rec.r_peaks >= start + 720],
        get_window("centred"),
        rr=rr_features(rec.r_peaks, rec.fs)[rec.r_peaks >= start + 720],
        start=start,
    )
    np.testing.assert_allclose(
        part.context[:, :6], rr_features(rec.r_peaks, rec.fs)[rec.r_peaks >= start + 720][part.kept]
    )


def test_local_rhythm_measures_prematurity_against_the_neighbours_and_irregularity():
    from arrhythmia.data.context import local_rhythm

    fs = 250.0
    rr = np.full(120, 0.8)
    rr[60] = 0.56  # one beat 30 % early, then a compensatory pause
    rr[61] = 1.04
    peaks = np.concatenate([[0], np.cumsum(np.round(rr * fs))]).astype(np.int64)
    prematurity, irregularity = local_rhythm(peaks, fs)
    assert prematurity.shape == irregularity.shape == (len(peaks),)
    assert prematurity[61] == pytest.approx(0.7, abs=0.01)  # peak 61 ends interval 60
    assert np.delete(prematurity, [61, 62]) == pytest.approx(1.0, abs=0.01)
    assert irregularity.max() < 0.01  # one early beat is no irregular rhythm

    # Atrial fibrillation: every interval drawn at random.
    rng = np.random.default_rng(0)
    chaotic = np.concatenate([[0], np.cumsum(np.round(rng.uniform(0.4, 1.0, 120) * fs))]).astype(np.int64)
    assert np.median(local_rhythm(chaotic, fs)[1]) > 0.15
    assert [len(a) for a in local_rhythm(np.array([5]), fs)] == [1, 1]


def test_a_rhythm_that_repeats_every_second_or_third_beat_is_regular_at_its_lag():
    """Bigeminy and trigeminy change interval at every beat (beat to beat as irregular as atrial
    fibrillation) but repeat at lag 2 or 3; atrial fibrillation repeats at no lag."""
    from arrhythmia.data.context import local_rhythm, pattern_irregularity

    fs = 360.0

    def peaks_of(rr):
        return np.concatenate([[0], np.cumsum(np.round(np.asarray(rr) * fs))]).astype(np.int64)

    bigeminy, trigeminy = peaks_of(np.tile([0.55, 1.0], 60)), peaks_of(np.tile([0.8, 0.55, 1.05], 40))
    for peaks in (bigeminy, trigeminy):
        assert np.median(local_rhythm(peaks, fs)[1]) > 0.3  # beat to beat: irregular
        assert pattern_irregularity(peaks, fs, lags=3).max() < 0.01
        assert pattern_irregularity(peaks, fs, lags=3).shape == (len(peaks),)
    assert np.median(pattern_irregularity(trigeminy, fs, lags=2)) > 0.3  # lag 2 does not repeat trigeminy
    rng = np.random.default_rng(0)
    fibrillation = peaks_of(rng.uniform(0.4, 1.0, 120))
    assert np.median(pattern_irregularity(fibrillation, fs, lags=3)) > 0.15
    np.testing.assert_array_equal(pattern_irregularity(fibrillation, fs, lags=1), local_rhythm(fibrillation, fs)[1])
    assert pattern_irregularity(np.array([5]), fs).tolist() == [0.0]


def test_a_recording_that_ends_inside_a_fast_run_still_finds_the_run_early():
    """The reference rhythm near the end is the beats there are, not the last interval repeated: a run of
    fast beats that the recording ends in is early against the rhythm before it."""
    from arrhythmia.data.context import local_rhythm, running_median

    fs = 360.0
    rr = np.concatenate([np.full(300, 0.9), np.full(100, 0.5)])  # 67 bpm, then 120 bpm to the end
    peaks = np.concatenate([[0], np.cumsum(np.round(rr * fs))]).astype(np.int64)
    long_prematurity = local_rhythm(peaks, fs, beats=200)[0]
    assert np.all(long_prematurity[-100:] < 0.7)  # 0.5 / 0.9, wherever in the run
    np.testing.assert_allclose(running_median(np.arange(7.0), 2), [1, 1.5, 2, 3, 4, 4.5, 5])


def test_p_waves_are_consistent_from_beat_to_beat_and_fibrillatory_waves_are_not():
    from conftest import irregular_ecg

    from arrhythmia.data.context import p_wave_consistency, p_wave_stretches
    from arrhythmia.data.detection import bandpass

    consistency = {}
    for p_waves in (True, False):
        signal, fs, peaks = irregular_ecg(p_waves)
        stretches = p_wave_stretches(bandpass(signal, fs), fs, peaks)
        consistency[p_waves] = p_wave_consistency(stretches)
        assert stretches.shape[0] == len(peaks) and consistency[p_waves].shape == (len(peaks),)
    assert np.nanmedian(consistency[True]) > 0.9
    assert np.nanmedian(consistency[False]) < 0.6


def test_p_wave_stretches_outside_the_signal_are_nan_and_their_consistency_too():
    from arrhythmia.data.context import P_WAVE_S, p_wave_consistency, p_wave_stretches

    fs = 100.0
    filtered = np.sin(np.arange(1000) / 5.0)
    peaks = np.array([10, 300, 600, 990])  # the first peak's P stretch starts before the signal
    stretches = p_wave_stretches(filtered, fs, peaks)
    assert stretches.shape == (4, int(round(P_WAVE_S[0] * fs)) - int(round(P_WAVE_S[1] * fs)))
    assert np.isnan(stretches[0]).all() and np.isfinite(stretches[1:]).all()
    # a stretch of a later part of the recording: samples are the recording's, ``start`` where it begins
    np.testing.assert_array_equal(p_wave_stretches(filtered[200:], fs, peaks[1:], start=200), stretches[1:])
    consistency = p_wave_consistency(stretches)
    assert np.isnan(consistency[0]) and np.isfinite(consistency[1:]).all()
    assert p_wave_consistency(np.zeros((0, 20))).shape == (0,)


def test_an_infinite_sample_is_a_gap_to_cut_beats_as_a_nan_is():
    """With a NaN anywhere in the lead, one inf sample lost every beat (nan_to_num made it 1.8e308, which the
    high-pass spread over the whole signal); now both are filled with the median of the other samples."""
    rec = synthetic_ecg(duration_s=60, fs=360, seed=9)
    signal = rec.signal.copy()
    signal[5000:5100] = np.nan
    with_nan = cut_beats(signal, rec.fs, rec.r_peaks, get_window("centred"))
    signal[1000], signal[9000] = np.inf, -np.inf
    filled = signal.copy()
    filled[~np.isfinite(filled)] = np.median(signal[np.isfinite(signal)])
    cut = cut_beats(signal, rec.fs, rec.r_peaks, get_window("centred"))
    assert cut.kept.all() and with_nan.kept.all()
    np.testing.assert_array_equal(cut.X, cut_beats(filled, rec.fs, rec.r_peaks, get_window("centred")).X)
