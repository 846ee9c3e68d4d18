"""Rhythm episodes through `arrhythmia predict`, scored against MIT-BIH's rhythm annotations.

    python benchmarks/rhythm.py [--records ds2|ds1|all|100,101,...] [--set key=value ...] [--per-record]
    python benchmarks/rhythm.py --records ds1 --grid      # choose the AF thresholds (DS1 only)
    python benchmarks/rhythm.py --records ds1 --afl-grid  # choose the AFL threshold (DS1 only)
    python benchmarks/rhythm.py --records ds1 --pause-grid  # choose the pause settings (DS1 only)
    python benchmarks/rhythm.py --records ds1 --vf-grid     # choose the VF thresholds (DS1 only)
    python benchmarks/rhythm.py --records ds1 --hrv-grid    # HRV's NN editing (DS1 only)
    python benchmarks/rhythm.py --records ds1 --folds DIR --noise burst6 --vt-grid  # VT runs of noise (DS1)
    python benchmarks/rhythm.py --records ds1 --folds DIR --noise burst6 --af-noise-grid  # AF in noise (DS1)
    python benchmarks/rhythm.py --hours 24                # seconds and memory of the rhythm steps
    python benchmarks/rhythm.py --records ds1 --folds runs/adaptive-cv-v6/RUN [--no-adapt]
    python benchmarks/rhythm.py --records ds2 --lead other  # the second lead (V1, V2, V4 or V5)

Each record's MLII signal is labelled by ``label_recording`` with the shipped default model (what users
get), and ``find_episodes`` lists its episodes (``--set`` overrides ``EpisodeConfig``). The shipped model
was trained on DS1, so on DS1 its labels are in-sample: ``--folds DIR`` labels each record instead with
the cross-validation fold model of ``DIR`` (an ``arrhythmia crossval`` directory, as
``benchmarks/adaptive.py --cv`` makes: ``DIR/fold-K`` with its test records) that did not see it, for
choices made on DS1's episodes. ``--no-adapt`` labels without
adapting to the recording. The reference is the rhythm notes of the record's ``atr`` file: ``(AFIB`` for AF,
``(AFL`` for AFL, ``(VT`` for VT, ``(VFL`` (ventricular flutter) for VF, ``(SVTA`` for SVT, ``(B`` for
bigeminy and ``(T`` for trigeminy; each note holds until the next. Pauses are not annotated; they are taken
from the reference beats: an interval of ``pause_s`` (2 s) or more between two annotated beats, unless the
annotators marked inside it a change of signal quality (``~``: noise, not a heart that paused) or
ventricular flutter (``[``, ``!``, ``]``: a heart that did not stop). Bradycardia and tachycardia are not
scored.

The HRV (``hourly.hrv``: SDNN, RMSSD, pNN50) is scored against that of the annotated beats: their NN
intervals (two consecutive beats of AAMI class N) outside the reference's AF, AFL, VF and pauses, edited as
predict's are (``hourly.NN_MAX_CHANGE``); ``--hrv-grid`` scores it without editing and at 10, 20 and 30%.
The S and V isolated beats, couplets and runs (``predict.summarise``) are counted from the labels and from the
annotated beats.

Per type, pooled over the records (EC57's episode and duration statistics, as PhysioNet's ``epicmp`` reports them,
with "detected" meaning any overlap): episode Se = reference episodes overlapped by a detected one /
reference episodes; episode +P = detected episodes overlapping a reference one / detected episodes;
duration Se = overlapped reference time / reference time; duration +P = overlapped detected time /
detected time. Under the table, each figure's 95% interval over the records (``evaluation.ratio_interval``:
the records with reference (detected) episodes of the type drawn again with replacement).

``--grid`` scores AF over a grid of ``af_irregularity``, ``af_beats``, ``af_p_wave_below``, ``af_min_s``
and ``af_bridge_s`` on the given records (choose on DS1 only) and prints the table sorted by duration F1.
``--afl-grid`` prints the percentiles of the atrial activity's organisation index (``data.atrial``) over
the beats outside the reference's atrial fibrillation and flutter, the border ``afl_organisation`` is
placed by, and scores AFL and AF over a range of ``afl_organisation``. ``--pause-grid`` scores pauses over
the recovering amplifier's thresholds (``data.quality.recovering_amplifier``; every long interval a pause),
then lists the ``gap_activity`` of the true and false pauses and scores them over ``pause_quiet_below``.
``--vt-grid`` scores VT over ``vt_unalike_below`` and ``vt_noise_above`` (first row: every run listed),
``--af-noise-grid`` AF over ``af_unalike_below`` and ``af_noise_above`` (first row: no interval left out), best
with ``--noise`` (``motionDB``, ``muscleDB``, ``burstDB``: synthetic noise added at DB decibels, as
``benchmarks/adaptive.py --variant`` adds it), where runs of noise are.
"""

from __future__ import annotations

import argparse
import itertools
import json
import resource
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
from common import (
    fold_models,
    in_fresh_process,
    long_recording,
    noise_variant,
    record_list,
    resampled,
    with_noise,
)
from machine import noted_machine

from arrhythmia.data.beats import SYMBOL_TO_AAMI
from arrhythmia.data.quality import overlapping, unanalysable
from arrhythmia.data.recording import read_input
from arrhythmia.data.ventricular import flutter_stretches, flutter_windows, ventricular_flutter
from arrhythmia.data.wfdb_source import read_annotations
from arrhythmia.episodes import EpisodeConfig, find_episodes
from arrhythmia.errors import ArrhythmiaError
from arrhythmia.evaluation import interval_text
from arrhythmia.export import load_classifier
from arrhythmia.hourly import (
    HRV_EDITED_OUT_ABOVE,
    NN_MAX_CHANGE,
    hourly_table,
    hrv,
    hrv_excluded,
    nn_intervals,
    rate_intervals,
    readable_rate_range,
    recording_hrv,
)
from arrhythmia.predict import (
    ECTOPIC_CLASSES,
    atrial_of,
    beat_noise_of,
    label_recording,
    save_recording,
    summarise,
)
from arrhythmia.recording_report import write_recording_report
from arrhythmia.scoring import SCORED_EPISODES, episode_scores, overlap
from arrhythmia.scoring import reference_episodes as scoring_reference

#: The reference's stretches whose intervals are no NN intervals (as ``hourly.HRV_EXCLUDES``; MIT-BIH
#: marks no noise episodes, and its annotators placed the beats in noise).
REFERENCE_HRV_EXCLUDES = ("AF", "AFL", "VF", "pause")
DURATION_HEADER = ("duration Se", "duration +P", "reference min", "detected min")


def annotated_beats(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The record's annotated beats: times (n,) s and AAMI classes (n,) str."""
    import wfdb

    annotation = wfdb.rdann(str(path), "atr")
    symbols = np.asarray(annotation.symbol)
    is_beat = np.isin(symbols, list(SYMBOL_TO_AAMI))
    classes = np.array([SYMBOL_TO_AAMI[s] for s in symbols[is_beat]], dtype=str)
    return annotation.sample[is_beat] / wfdb.rdheader(str(path)).fs, classes


def reference_episodes(path: Path, pause_s: float = EpisodeConfig.pause_s) -> dict[str, list]:
    """The record's rhythm episodes from its ``atr`` rhythm notes, and its pauses from its beats
    (``scoring.reference_episodes``): ``{type: [(start_s, end_s), ...]}``."""
    import wfdb

    header = wfdb.rdheader(str(path))
    samples_notes = read_annotations(path, fs=header.fs)  # counted in frames, as header.fs and sig_len are
    return scoring_reference(*samples_notes, header.fs, header.sig_len / header.fs, pause_s)


def pct(x: float) -> str:
    return "–" if x != x else f"{100 * x:.1f}"


def row(*cells) -> None:
    print("| " + " | ".join(str(c) for c in cells) + " |")


def durations(s: dict) -> list[str]:
    """Duration Se and +P, with the reference and detected minutes: the cells every table shows."""
    return [pct(s["duration_se"]), pct(s["duration_ppv"]), f"{s['reference_min']:.1f}", f"{s['detected_min']:.1f}"]


def f1(a: float, b: float) -> float:
    return 2 * a * b / (a + b) if a == a and b == b and a + b > 0 else float("nan")


@dataclass
class Labelled:
    """One record as predict labelled it, and its reference: what ``find_episodes`` is run on again.

    samples, labels : the labelled beats (samples between samples: ``beats.csv``'s ``time_s * fs``); fs : Hz;
    unanalysable, ventricular : (k, 2) samples, the stretches predict found (``RecordingLabels``); reference :
    ``reference_episodes``; reference_beats : ``annotated_beats``; p_wave, atrial, gap, beat_noise : the beats'
    ``p_wave``, ``(atrial_hz, atrial_organisation, atrial_mv)``, ``gap_activity`` and ``(likeness, noise_level)``.
    """

    samples: np.ndarray
    labels: np.ndarray
    fs: float
    unanalysable: np.ndarray
    ventricular: np.ndarray
    reference: dict[str, list[tuple[float, float]]]
    reference_beats: tuple[np.ndarray, np.ndarray]
    p_wave: np.ndarray
    atrial: tuple[np.ndarray, ...] | None
    gap: np.ndarray
    beat_noise: tuple[np.ndarray, np.ndarray] | None

    def episodes(self, config: EpisodeConfig):
        """``find_episodes`` of this record with ``config``."""
        rhythm_of = self.p_wave, self.atrial, self.gap, self.ventricular, self.beat_noise
        return find_episodes(self.samples, self.labels, self.fs, self.unanalysable, config, *rhythm_of)


def label_records(
    data: Path,
    names: list[str],
    folds: Path | None = None,
    adapt: bool = True,
    pause_s: float = EpisodeConfig.pause_s,
    lead: str | None = None,
    rate_hz: float | None = None,
    noise: str | None = None,
) -> dict[str, Labelled]:
    """Each record labelled by predict (on ``lead``, ``read_input``'s; None: MLII); with ``folds``, by the
    fold model that held it out; with ``rate_hz``, resampled to that rate first (a device recording at it);
    with ``noise`` (``motionDB``, ``muscleDB``, ``burstDB``), synthetic noise added at that SNR first
    (``common.with_noise``, each record's own seed, as ``benchmarks/adaptive.py --variant`` adds it)."""
    held_out = fold_models(folds) if folds is not None else {}
    missing = [name for name in names if folds is not None and name not in held_out]
    if missing:
        raise SystemExit(f"--folds {folds}: no fold held out {', '.join(missing)}")
    models = {}
    out = {}
    for name in names:
        source = held_out.get(name)
        if source not in models:
            models[source] = load_classifier(source, "torch", None, device="cpu")
        recording = read_input(data / name, lead=lead)
        if rate_hz is not None:
            recording = resampled(recording, rate_hz)[0]
        if noise is not None:
            beats_at = np.round(annotated_beats(data / name)[0] * recording.fs).astype(np.int64)
            recording = with_noise(recording, beats_at, noise, name)
        result = label_recording(recording, models[source], adapt=adapt)
        table = result.beats
        labelled = table[table["label"].astype(str) != ""]
        out[name] = Labelled(
            samples=labelled["time_s"].to_numpy() * recording.fs,  # what predict's episodes and HRV read
            labels=labelled["label"].to_numpy(str),
            fs=recording.fs,
            unanalysable=result.unanalysable,
            ventricular=result.ventricular,
            reference=reference_episodes(data / name, pause_s),
            reference_beats=annotated_beats(data / name),
            p_wave=labelled["p_wave"].to_numpy(),
            atrial=atrial_of(labelled),
            gap=labelled["gap_activity"].to_numpy(),
            beat_noise=beat_noise_of(labelled),
        )
        print(f"  {name}: {len(labelled)} beats", file=sys.stderr)
    return out


def episodes_of(labelled: dict[str, Labelled], config: EpisodeConfig) -> dict[str, dict[str, list]]:
    detected = {}
    for name, record in labelled.items():
        table = record.episodes(config)
        detected[name] = {kind: list(zip(rows.start_s, rows.end_s)) for kind, rows in table.groupby("type")}
    return detected


def print_scores(labelled: dict, config: EpisodeConfig, per_record: bool) -> list[dict]:
    detected = episodes_of(labelled, config)
    row("type", "reference episodes", "detected", "episode Se", "episode +P", *DURATION_HEADER)
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    results = []
    for kind in SCORED_EPISODES:
        s = episode_scores([(labelled[n].reference[kind], detected[n].get(kind, [])) for n in labelled], intervals=True)
        results.append({"type": kind, **s})
        row(kind, s["reference"], s["detected"], *map(pct, (s["episode_se"], s["episode_ppv"])), *durations(s))
    print("\n95% intervals over the records (bootstrap, `evaluation.ratio_interval`; types found and detected):\n")
    row("type", "episode Se", "episode +P", "duration Se", "duration +P")
    print("|---|---:|---:|---:|---:|")
    for r in results:
        if r["reference"] and r["detected"]:
            keys = ("episode_se", "episode_ppv", "duration_se", "duration_ppv")
            row(r["type"], *(interval_text(r["intervals"][k], True) for k in keys))
    for kind in ("AF", "AFL", "pause") if per_record else ():
        print(f"\n{kind} per record (records with reference or detected {kind}):\n")
        row("record", *DURATION_HEADER)
        print("|---|---:|---:|---:|---:|")
        for n in labelled:
            s = episode_scores([(labelled[n].reference[kind], detected[n].get(kind, []))])
            if s["reference"] or s["detected"]:
                row(n, *durations(s))
    return results


def hrv_pairs(labelled: dict[str, Labelled], config: EpisodeConfig, max_change: float | None) -> dict:
    """``{record: (reference HRV, predict's HRV)}``: ``hourly.hrv`` of the NN intervals of the annotated
    beats (leaving out the reference's AF, AFL, VF and pauses) and of predict's beats (leaving out its
    ``HRV_EXCLUDES`` episodes), both edited by ``max_change`` (``hourly.nn_intervals``)."""
    pairs = {}
    for name, record in labelled.items():
        ours = nn_intervals(
            record.samples / record.fs, record.labels, hrv_excluded(record.episodes(config)), max_change
        )
        times, classes = record.reference_beats
        stretches = [stretch for kind in REFERENCE_HRV_EXCLUDES for stretch in record.reference[kind]]
        excluded = np.array(stretches, dtype=np.float64).reshape(-1, 2)
        pairs[name] = (hrv(nn_intervals(times, classes, excluded, max_change)), hrv(ours))
    return pairs


def hrv_agreement(pairs: dict) -> list[str]:
    """Table cells: the records where both sides have HRV, and where one side alone has it (predict's HRV of a
    record whose annotated rhythm is all AF, or none where the reference has some); the median error of SDNN
    and RMSSD (% of the reference's) and of pNN50 (points), and the records off by more than 25% (SDNN,
    RMSSD) or 10 points."""
    has = [(np.isfinite(r["sdnn_ms"]), np.isfinite(o["sdnn_ms"])) for r, o in pairs.values()]
    both = [(r, o) for (r, o), (a, b) in zip(pairs.values(), has) if a and b]
    cells = [str(len(both)), str(sum(a != b for a, b in has))]
    if not both:
        return cells + ["–"] * 6
    for key in ("sdnn_ms", "rmssd_ms"):
        error = np.array([abs(o[key] - r[key]) / r[key] for r, o in both if r[key] > 0])
        cells += [f"{100 * np.median(error):.1f}", str(int((error > 0.25).sum()))]
    points = np.array([abs(o["pnn50"] - r["pnn50"]) for r, o in both])
    return cells + [f"{np.median(points):.1f}", str(int((points > 10).sum()))]


HRV_HEADER = (
    "records with HRV",
    "HRV on one side only",
    "SDNN median error %",
    "SDNN off > 25%",
    "RMSSD median error %",
    "RMSSD off > 25%",
    "pNN50 median error (points)",
    "pNN50 off > 10 points",
)


def print_hrv(labelled: dict, config: EpisodeConfig, per_record: bool) -> None:
    pairs = hrv_pairs(labelled, config, NN_MAX_CHANGE)
    print(f"\nHRV against the annotated beats' (NN intervals edited alike: NN_MAX_CHANGE {NN_MAX_CHANGE}):\n")
    row(*HRV_HEADER)
    print("|" + "---:|" * len(HRV_HEADER))
    row(*hrv_agreement(pairs))
    edited = {
        name: recording_hrv(record.samples / record.fs, record.labels, record.episodes(config))["edited_out_percent"]
        for name, record in labelled.items()
    }
    marked = [f"{name} ({share:.1f}%)" for name, share in edited.items() if share > HRV_EDITED_OUT_ABOVE]
    print(
        f"\nHRV marked unreliable (over {HRV_EDITED_OUT_ABOVE:g}% of NN intervals edited out):",
        ", ".join(marked) or "none",
    )
    if per_record:
        print()
        row("record", "SDNN ms (reference / predict)", "RMSSD ms", "pNN50 %", "edited out %")
        print("|---|---:|---:|---:|---:|")
        for name, (r, o) in pairs.items():
            row(
                name,
                *(f"{r[k]:.0f} / {o[k]:.0f}" for k in ("sdnn_ms", "rmssd_ms")),
                f"{r['pnn50']:.1f} / {o['pnn50']:.1f}",
                f"{edited[name]:.1f}",
            )


def slowest_fastest(times: np.ndarray, readable: np.ndarray) -> tuple[float, float]:
    """The slowest and fastest heart rate (bpm) of beats at ``times`` (s), read as ``predict.summarise`` reads
    them, from the ``readable`` intervals only."""
    slowest, _, fastest = readable_rate_range(times, readable)
    return slowest, fastest


def rate_pairs(labelled: dict[str, Labelled], config: EpisodeConfig) -> dict:
    """``{record: ((reference slowest, fastest), (predict's slowest, fastest))}``: the annotated beats' heart
    rate outside the reference's ventricular flutter, and predict's outside its ``RATE_EXCLUDES`` episodes."""
    pairs = {}
    for name, record in labelled.items():
        times = record.reference_beats[0]
        flutter = np.array(record.reference["VF"], dtype=np.float64).reshape(-1, 2)
        reference = slowest_fastest(times, ~overlapping(times[:-1], times[1:], flutter, touching=False))
        ours = record.samples / record.fs
        pairs[name] = (reference, slowest_fastest(ours, rate_intervals(ours, record.episodes(config))))
    return pairs


RATE_HEADER = ("slowest: median error bpm", "slowest off > 10 bpm", "fastest: median error bpm", "fastest off > 10 bpm")


def rate_agreement(pairs: dict) -> list[str]:
    """Table cells: the median error of the slowest and fastest heart rate against the annotated beats', and
    the records off by more than 10 bpm."""
    cells = []
    for side in (0, 1):
        error = np.array([abs(ours[side] - reference[side]) for reference, ours in pairs.values()])
        error = error[np.isfinite(error)]
        cells += [f"{np.median(error):.1f}", str(int((error > 10).sum()))]
    return cells


def print_heart_rate(labelled: dict, config: EpisodeConfig, per_record: bool) -> None:
    pairs = rate_pairs(labelled, config)
    print("\nSlowest and fastest heart rate against the annotated beats' (running median of 8 intervals):\n")
    row(*RATE_HEADER)
    print("|" + "---:|" * len(RATE_HEADER))
    row(*rate_agreement(pairs))
    if per_record:
        print()
        row("record", "slowest bpm (reference / predict)", "fastest bpm (reference / predict)")
        print("|---|---:|---:|")
        for name, (reference, ours) in pairs.items():
            row(name, *(f"{reference[k]:.0f} / {ours[k]:.0f}" for k in (0, 1)))


def rate_noise_grid(labelled: dict, base: EpisodeConfig) -> None:
    """Over ``rate_noise_above`` and ``rate_noise_times_median`` (the beats in noise whose intervals give no
    heart rate or HRV): how much is left out so, and the heart rate's extremes and HRV against the annotated
    beats'."""
    row("rate_noise_above", "times median", "noisy min", *RATE_HEADER, *HRV_HEADER[2:6])
    print("|---:|---:|---:|" + "---:|" * (len(RATE_HEADER) + 4))
    settings = [(None, base.rate_noise_times_median)]
    settings += list(itertools.product((0.03, 0.05, 0.07), (1.5, 2.0, 3.0)))
    for above, times_median in settings:
        config = replace(base, rate_noise_above=above, rate_noise_times_median=times_median)
        detected = episodes_of(labelled, config)
        minutes = sum(e - s for n in labelled for s, e in detected[n].get("noisy", [])) / 60.0
        cells = ["off" if above is None else above, "–" if above is None else times_median, f"{minutes:.1f}"]
        cells += rate_agreement(rate_pairs(labelled, config))
        row(*cells, *hrv_agreement(hrv_pairs(labelled, config, NN_MAX_CHANGE))[2:6])


def print_ectopy(labelled: dict[str, Labelled], per_record: bool, config: EpisodeConfig) -> None:
    """S and V isolated beats, couplets and runs (``predict.summarise`` with the beats' times and the episodes
    found with ``config``: what ``summary.json`` and the report give, a run parted at a lead-off) against those
    of the annotated beats, pooled, with the sum over the records of each count's error."""
    counts = {}
    for name, record in labelled.items():
        table = pd.DataFrame({"time_s": record.samples / record.fs, "label": record.labels})
        ours = summarise(table, episodes=record.episodes(config))["ectopy"]
        reference = summarise(pd.DataFrame({"label": record.reference_beats[1]}))["ectopy"]
        counts[name] = (reference, ours)
    kinds = ("isolated", "couplets", "runs")
    print("\nEctopy counts against the annotated beats' (reference / predict; error: summed over records):\n")
    row("class", *(f"{kind}: reference / predict" for kind in kinds), *(f"{kind} error" for kind in kinds))
    print("|---|" + "---:|" * 2 * len(kinds))
    for cls in ECTOPIC_CLASSES:
        cells = [
            f"{sum(r[cls][k] for r, _ in counts.values())} / {sum(o[cls][k] for _, o in counts.values())}"
            for k in kinds
        ]
        errors = [str(sum(abs(r[cls][k] - o[cls][k]) for r, o in counts.values())) for k in kinds]
        row(cls, *cells, *errors)
    if per_record:
        print()
        row("record", *(f"{cls} {kind}" for cls in ECTOPIC_CLASSES for kind in kinds))
        print("|---|" + "---:|" * len(ECTOPIC_CLASSES) * len(kinds))
        for name, (r, o) in counts.items():
            row(name, *(f"{r[cls][k]} / {o[cls][k]}" for cls in ECTOPIC_CLASSES for k in kinds))


def hrv_grid(labelled: dict, config: EpisodeConfig) -> None:
    """HRV's agreement with the annotated beats' without editing and with NN intervals that change by more
    than 10, 20 or 30% from the one before left out (each side edited alike)."""
    row("NN_MAX_CHANGE", *HRV_HEADER)
    print("|" + "---:|" * (len(HRV_HEADER) + 1))
    for max_change in (None, 0.1, 0.2, 0.3):
        row("none" if max_change is None else max_change, *hrv_agreement(hrv_pairs(labelled, config, max_change)))


def grid(labelled: dict, base: EpisodeConfig) -> None:
    rows = []
    irregularities, windows = (0.04, 0.06, 0.08, 0.10, 0.12, 0.15, 0.20), (10, 20, 30)
    p_waves, minimums, bridges = (None, 0.5, 0.6, 0.7, 0.8, 0.9), (30.0, 60.0), (0.0, 10.0)
    for irregular, beats, p_wave, minimum, bridge in itertools.product(
        irregularities, windows, p_waves, minimums, bridges
    ):
        config = replace(
            base,
            af_irregularity=irregular,
            af_beats=beats,
            af_p_wave_below=p_wave,
            af_min_s=minimum,
            af_bridge_s=bridge,
        )
        detected = episodes_of(labelled, config)
        s = episode_scores([(labelled[n].reference["AF"], detected[n].get("AF", [])) for n in labelled])
        cells = (irregular, beats, "–" if p_wave is None else p_wave, f"{minimum:g}", f"{bridge:g}")
        rows.append((f1(s["duration_se"], s["duration_ppv"]), cells, s))
    header = ("af_irregularity", "af_beats", "af_p_wave_below", "af_min_s", "af_bridge_s", *DURATION_HEADER)
    row(*header, "duration F1", "episode Se", "episode +P")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for score_f1, cells, s in sorted(rows, key=lambda r: -np.nan_to_num(r[0])):
        row(*cells, *durations(s), pct(score_f1), pct(s["episode_se"]), pct(s["episode_ppv"]))


#: ``noise_grid``'s noise thresholds, per episode type: the setting each type reads.
NOISE_SETTINGS = {
    "VT": ("vt_unalike_below", "vt_noise_above", (0.02, 0.025, 0.03, 0.04, 0.05)),
    "AF": ("af_unalike_below", "af_noise_above", (0.03, 0.04, 0.05, 0.06, 0.08)),
}


def noise_grid(labelled: dict, base: EpisodeConfig, kind: str) -> None:
    """``kind`` (VT or AF) episodes over that type's likeness and noise thresholds (``NOISE_SETTINGS``: the beats
    that look like noise, left out); the first row with none left out."""
    likeness, setting, thresholds = NOISE_SETTINGS[kind]
    rates = ("episode Se", "episode +P", "episode F1", *DURATION_HEADER[:2], "duration F1")
    row(likeness, setting, "detected", *rates)
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for unalike, noisy in [(None, getattr(base, setting))] + list(
        itertools.product((0.3, 0.4, 0.5, 0.6, 0.7), thresholds)
    ):
        config = replace(base, **{likeness: unalike, setting: noisy})
        detected = episodes_of(labelled, config)
        s = episode_scores([(labelled[n].reference[kind], detected[n].get(kind, [])) for n in labelled])
        found = sum(len(detected[n].get(kind, [])) for n in labelled)
        cells = ("–" if unalike is None else unalike, "–" if unalike is None else noisy, found)
        rates = (pct(s["episode_se"]), pct(s["episode_ppv"]), pct(f1(s["episode_se"], s["episode_ppv"])))
        row(*cells, *rates, *durations(s)[:2], pct(f1(s["duration_se"], s["duration_ppv"])))


def afl_grid(labelled: dict, base: EpisodeConfig) -> None:
    outside = []  # organisation of the beats outside reference AF and AFL
    for record in labelled.values():
        times = record.samples / record.fs
        reference = record.reference["AF"] + record.reference["AFL"]
        outside.append(record.atrial[1][~overlapping(times, times, reference)])
    values = np.concatenate(outside)
    values = values[np.isfinite(values)]
    percentiles = (50, 90, 95, 99, 99.9)
    print("organisation index of the beats outside reference AF and AFL (each beat: its 10 s window):\n")
    row("beats", *(f"{p:g}th percentile" for p in percentiles))
    print("|---:|" + "---:|" * len(percentiles))
    row(len(values), *(f"{np.percentile(values, p):.3f}" if len(values) else "–" for p in percentiles))
    print()
    row("afl_organisation", "AFL episodes", "AFL episode +P", *DURATION_HEADER, "AF duration Se", "AF duration +P")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for border in (0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7):
        detected = episodes_of(labelled, replace(base, afl_organisation=border))
        afl = episode_scores([(labelled[n].reference["AFL"], detected[n].get("AFL", [])) for n in labelled])
        af = episode_scores([(labelled[n].reference["AF"], detected[n].get("AF", [])) for n in labelled])
        cells = (afl["detected"], pct(afl["episode_ppv"]), *durations(afl))
        row(border, *cells, pct(af["duration_se"]), pct(af["duration_ppv"]))


def pause_grid(labelled: dict, base: EpisodeConfig, data: Path, lead: str | None = None) -> None:
    """The pause settings, in the order they act: the recovering amplifier's two thresholds (the
    unanalysable stretches found again with each, every long interval a pause), then, with the shipped
    ones, ``pause_quiet_below`` over the detected pauses' ``gap_activity``."""
    loud = replace(base, pause_quiet_below=None)
    signals = {n: read_input(data / n, lead=lead).signal for n in labelled}
    print("### the recovering amplifier (data.quality.recovering_amplifier), every long interval a pause\n")
    row("collapse_share", "sweep_mv", "pauses detected", "episode Se", "episode +P", "unanalysable min")
    print("|---:|---:|---:|---:|---:|---:|")
    settings = [(None, None)] + list(itertools.product((0.1, 0.15, 0.2, 0.25), (0.3, 0.5, 0.75, 1.0)))
    for share, sweep in settings:
        found = {
            n: replace(
                record, unanalysable=unanalysable(signals[n], record.fs, collapse_share=share or 0.0, sweep_mv=sweep)
            )
            for n, record in labelled.items()
        }
        detected = episodes_of(found, loud)
        s = episode_scores([(found[n].reference["pause"], detected[n].get("pause", [])) for n in found])
        minutes = sum(float(np.sum(np.diff(r.unanalysable, axis=1))) / r.fs for r in found.values()) / 60
        row(
            share or "off", sweep or "off", s["detected"], pct(s["episode_se"]), pct(s["episode_ppv"]), f"{minutes:.2f}"
        )
    print("\n### gap_activity of the detected pauses (shipped unanalysable stretches)\n")
    detected = episodes_of(labelled, loud)
    activity = {True: [], False: []}
    for n, record in labelled.items():
        times = record.samples / record.fs
        for start, end in detected[n].get("pause", []):
            true = any(overlap((start, end), r) > 0 for r in record.reference["pause"])
            activity[true].append(float(record.gap[np.argmin(np.abs(times - start))]))
    for true in (True, False):
        values = np.sort(activity[true])
        print(f"{'true' if true else 'false'} pauses ({len(values)}): {', '.join(f'{v:.3f}' for v in values)}")
    print()
    row("pause_quiet_below", "pauses detected", "episode Se", "episode +P", *DURATION_HEADER)
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for border in (None, 0.4, 0.3, 0.25, 0.22, 0.2, 0.15):
        detected = episodes_of(labelled, replace(base, pause_quiet_below=border))
        s = episode_scores([(labelled[n].reference["pause"], detected[n].get("pause", [])) for n in labelled])
        row(border or "off", s["detected"], pct(s["episode_se"]), pct(s["episode_ppv"]), *durations(s))


def vf_grid(labelled: dict, base: EpisodeConfig, data: Path, lead: str | None = None) -> None:
    """VF episodes over the flutter thresholds of ``data.ventricular`` and ``vf_min_s``; sorted by false VF
    episodes, then VF duration Se."""
    signals = {n: read_input(data / n, lead=lead).signal for n in labelled}
    windows = {n: flutter_windows(signals[n], labelled[n].fs) for n in labelled}
    rows = []
    grid = itertools.product((0.4, 0.5, 0.6), (0.4, 0.5, 0.6), (0.05, 0.1), (2.0, 4.0, 6.0, 8.0, 10.0))
    for concentration, above, high, min_s in grid:
        config = replace(base, vf_min_s=min_s)
        found = {
            n: replace(
                record,
                ventricular=flutter_stretches(windows[n], record.fs, len(signals[n]), concentration, above, high),
            )
            for n, record in labelled.items()
        }
        detected = episodes_of(found, config)
        s = episode_scores([(found[n].reference["VF"], detected[n].get("VF", [])) for n in found])
        false = s["detected"] - round(s["episode_ppv"] * s["detected"]) if s["detected"] else 0
        rows.append((false, -s["duration_se"], (concentration, above, high, min_s), s))
    row(
        "min_concentration",
        "min_time_above",
        "max_high_share",
        "vf_min_s",
        "detected",
        "false",
        "episode Se",
        "episode +P",
        *DURATION_HEADER,
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for false, _, settings, s in sorted(rows, key=lambda r: (r[0], r[1])):
        row(*settings, s["detected"], false, pct(s["episode_se"]), pct(s["episode_ppv"]), *durations(s))


def timing(data: Path, hours: float) -> dict:
    """Seconds of the rhythm steps alone (unanalysable stretches, find_episodes, the hourly table and the
    whole recording's HRV) on an H-hour signal labelled by predict, and the process's peak memory."""
    recording = long_recording(data, hours)
    model = load_classifier(None, "torch", None, device="cpu")
    began = time.perf_counter()
    result = label_recording(recording, model)
    labelling = time.perf_counter() - began
    table = result.beats
    labelled = table[table["label"].astype(str) != ""]
    began = time.perf_counter()
    bad = unanalysable(recording.signal, recording.fs)
    samples, labels, fs = labelled["time_s"].to_numpy() * recording.fs, labelled["label"].to_numpy(str), recording.fs
    ventricular = ventricular_flutter(recording.signal, fs)
    rhythm_of = labelled["p_wave"].to_numpy(), atrial_of(labelled), labelled["gap_activity"].to_numpy(), ventricular
    episodes = find_episodes(samples, labels, fs, bad, None, *rhythm_of, beat_noise_of(labelled))
    hourly_table(samples / fs, labels, len(recording.signal) / fs, episodes)
    recording_hrv(samples / fs, labels, episodes)
    seconds = time.perf_counter() - began
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        summary = save_recording(result, Path(out), {"model": model.model_name}, model.classes)
        write_recording_report(recording, result, summary, model.window, Path(out))
    report_s = time.perf_counter() - began
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "labelling_s": labelling,
        "episodes_s": seconds,
        "report_s": report_s,
        "episodes": len(episodes),
        "peak_mb": peak_mb,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/mitdb")
    parser.add_argument("--records", default="ds2")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="an EpisodeConfig setting")
    parser.add_argument("--grid", action="store_true", help="score AF over a grid of its thresholds")
    parser.add_argument("--afl-grid", action="store_true", help="score AFL over a range of afl_organisation")
    parser.add_argument("--pause-grid", action="store_true", help="score pauses over their settings")
    parser.add_argument("--vf-grid", action="store_true", help="score VF over its thresholds")
    parser.add_argument("--hrv-grid", action="store_true", help="HRV's agreement over NN_MAX_CHANGE")
    parser.add_argument("--vt-grid", action="store_true", help="score VT over the settings that leave noise out")
    parser.add_argument("--af-noise-grid", action="store_true", help="score AF over the settings that leave noise out")
    parser.add_argument("--rate-noise-grid", action="store_true", help="heart rate, HRV over rate_noise_*")
    parser.add_argument("--per-record", action="store_true")
    parser.add_argument("--hours", type=float, default=0.0)
    parser.add_argument(
        "--folds", type=Path, default=None, help="label each record by the CV fold model that held it out"
    )
    parser.add_argument("--no-adapt", action="store_true", help="label without adapting to the recording")
    parser.add_argument("--lead", default=None, help="the lead to label: a name, or 'other' (the second lead)")
    parser.add_argument("--rate", type=float, default=None, help="resample each record to this rate first, Hz")
    parser.add_argument("--noise", default=None, help="add synthetic noise first: motionDB, muscleDB or burstDB")
    args = parser.parse_args()
    if (args.rate is not None or args.noise) and (args.pause_grid or args.vf_grid or args.hours):
        raise SystemExit("--rate, --noise: not with --pause-grid, --vf-grid or --hours (they read records as stored)")
    if args.noise:
        try:
            noise_variant(args.noise)
        except ValueError as exc:
            raise SystemExit(f"--noise: {exc}") from None
    settings = {}
    for item in args.set:
        key, _, value = item.partition("=")
        settings[key] = json.loads(value)
    try:
        config = EpisodeConfig.from_value(settings)
    except ArrhythmiaError as exc:
        raise SystemExit(f"--set: {exc}") from None
    if args.hours:
        t = in_fresh_process(timing, args.data, args.hours)
        row("hours", "labelling s (predict)", "episodes + hourly + HRV s", "files + report s", "episodes", "peak MB")
        print("|---:|---:|---:|---:|---:|---:|")
        cells = [f"{args.hours:g}", f"{t['labelling_s']:.1f}", f"{t['episodes_s']:.2f}", f"{t['report_s']:.1f}"]
        row(*cells, t["episodes"], f"{t['peak_mb']:.0f}")
        return
    names = record_list(args.records, args.data, paced=True)
    labelled = label_records(
        args.data, names, args.folds, not args.no_adapt, config.pause_s, args.lead, args.rate, args.noise
    )
    model = f"fold models of {args.folds}" if args.folds else "the shipped default model"
    adapted = ", not adapted" if args.no_adapt else ""
    rate = f", resampled to {args.rate:g} Hz" if args.rate else ""
    rate += f", with {args.noise} noise" if args.noise else ""
    print(f"records: {args.records} ({len(names)}), lead {args.lead or 'MLII'}{rate}, labelled by {model}{adapted}")
    print(f"episode settings: {config}\n")
    if args.grid:
        grid(labelled, config)
    elif args.afl_grid:
        afl_grid(labelled, config)
    elif args.pause_grid:
        pause_grid(labelled, config, args.data, args.lead)
    elif args.vf_grid:
        vf_grid(labelled, config, args.data, args.lead)
    elif args.hrv_grid:
        hrv_grid(labelled, config)
    elif args.vt_grid or args.af_noise_grid:
        noise_grid(labelled, config, "VT" if args.vt_grid else "AF")
    elif args.rate_noise_grid:
        rate_noise_grid(labelled, config)
    else:
        print_scores(labelled, config, args.per_record)
        print_hrv(labelled, config, args.per_record)
        print_heart_rate(labelled, config, args.per_record)
        print_ectopy(labelled, args.per_record, config)


if __name__ == "__main__":
    with noted_machine():
        main()
