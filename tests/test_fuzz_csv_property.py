"""Property: whatever text a .csv file holds, ``read_input`` gives a signal of float64 (NaN where a sample is
missing) or one ``DataError`` line naming the file, never another exception."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from arrhythmia.data.recording import BeatRows, Recording, read_input  # noqa: E402
from arrhythmia.errors import DataError  # noqa: E402

CELLS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(10**20), 10**20).map(str),
    st.sampled_from(
        [
            "",
            " ",
            "1e999",
            "-1e999",
            "0x1F",
            "--5",
            "+-3",
            "1,5",
            "1.2.3",
            "nan",
            "NaN",
            "#N/A",
            "#DIV/0!",
            '"',
            '"1"',
            "'ECG'",
            "time",
            "ECG",
            "MLII",
            "mV",
            "\x00",
            "\ufeff",
            "\u00b5V",
            "é",
            "1e",
            ".",
            "-",
            "00:00:01",
            "2024-01-01T00:00:00",
            "1:2:3",
            "# comment",
            "Sampling Rate: 500 Hz",
            "fs: 0",
        ]
    ),  # fmt: skip
)
SEPARATORS = st.sampled_from([",", ";", "\t", " ", ",,"])
LINES = st.lists(st.tuples(st.lists(CELLS, min_size=0, max_size=5), SEPARATORS), min_size=0, max_size=40)
ENDINGS = st.sampled_from(["\n", "\r\n", "\r", ""])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=LINES, ending=ENDINGS, fs=st.sampled_from([None, 250.0]))
def test_any_csv_text_reads_as_a_signal_or_one_data_error(tmp_path, lines, ending, fs):
    path = tmp_path / "fuzz.csv"
    text = (
        ending.join(separator.join(cells) for cells, separator in lines)
        if ending
        else "\n".join(separator.join(cells) for cells, separator in lines)
    )
    path.write_bytes(text.encode("utf-8", errors="surrogatepass"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            got = read_input(path, fs=fs)
        except DataError as exc:
            message = str(exc)
            assert message.startswith(str(path)), message
            assert "\n" not in message.strip() and len(message) < 1000, message
            return
    if isinstance(got, BeatRows):
        assert got.X.ndim == 2
        return
    assert isinstance(got, Recording)
    assert got.signal.dtype == np.float64 and got.signal.ndim == 1
    assert not np.isinf(got.signal).any()
    assert np.isfinite(got.fs) and got.fs > 0


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=3000), suffix=st.sampled_from([".csv", ".npy", ".edf", ".bdf", ".hea"]))
def test_any_bytes_under_any_suffix_read_as_a_signal_or_one_data_error(tmp_path, data, suffix):
    path = tmp_path / f"fuzz{suffix}"
    path.write_bytes(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            got = read_input(path, fs=250.0)
        except DataError as exc:
            assert "\n" not in str(exc).strip() and len(str(exc)) < 1000, str(exc)
            return
    assert isinstance(got, (Recording, BeatRows))
