"""The patient's events beside the rhythm at their time: what a Holter reader checks a symptom against.

A Holter patient presses an event button or writes down when they felt palpitations or dizziness; the
recorder keeps those moments (an EDF+ file's annotations, ``Recording.events``). ``patient_events`` gives
each one the heart rate, the beat labels and the episodes around it, so that a symptom can be matched to
an arrhythmia, or to none.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from arrhythmia.data.clock import Start, clock_at

#: The stretch around an event that its row describes, s each side: a patient presses the button a few
#: seconds after the symptom began.
AROUND_S = 10.0
#: The columns of ``events.csv``.
EVENT_COLUMNS = ("time_s", "clock", "event", "heart_rate_bpm", "beats", "episodes")


def patient_events(
    events: tuple[tuple[float, str], ...] | list[tuple[float, str]],
    times: np.ndarray,
    labels: np.ndarray,
    episodes: pd.DataFrame,
    start: Start = None,
) -> pd.DataFrame:
    """One row per event (``(seconds from the start, text)``): ``time_s``, ``clock`` (its time of day where
    the recording's ``start`` is known, ``data.clock.clock_at``, else ""), ``event`` (its text),
    ``heart_rate_bpm`` (60 over the median RR interval within ``AROUND_S`` of it; NaN with fewer than two
    beats there), ``beats`` (the labels of the beats within ``AROUND_S``, counted: ``N 11, V 3``) and
    ``episodes`` (the types of the episodes that overlap that stretch, ``;`` between them; "" for none).
    times : (n_beats,) s of the labelled beats, ascending; labels : (n_beats,) str; episodes : the
    ``episodes.find_episodes`` table."""
    times = np.asarray(times, dtype=np.float64)
    labels = np.asarray(labels, dtype=str)
    at = np.array([float(time_s) for time_s, _ in events], dtype=np.float64)
    # each event's beats, by position: a file may mark thousands of moments
    first = np.searchsorted(times, at - AROUND_S, side="left")
    last = np.searchsorted(times, at + AROUND_S, side="right")
    starts, ends = episodes["start_s"].to_numpy(np.float64), episodes["end_s"].to_numpy(np.float64)
    kinds = episodes["type"].to_numpy(str)
    rows = []
    for (time_s, text), a, b in zip(events, first, last):
        rr = np.diff(times[a:b])
        names, counts = np.unique(labels[a:b], return_counts=True)
        order = np.argsort(-counts, kind="stable")
        overlapping = kinds[(starts <= time_s + AROUND_S) & (ends >= time_s - AROUND_S)]
        rows.append(
            {
                "time_s": float(time_s),
                "clock": clock_at(start, time_s),
                "event": text,
                "heart_rate_bpm": 60.0 / float(np.median(rr)) if len(rr) else np.nan,
                "beats": ", ".join(f"{names[i]} {counts[i]}" for i in order),
                "episodes": ";".join(dict.fromkeys(overlapping.tolist())),
            }
        )
    return pd.DataFrame(rows, columns=list(EVENT_COLUMNS))
