"""Hostile archive inputs: a list with a line of 100k characters, a glob over a tree whose links lead back up.
Each is one ``ArrhythmiaError`` line, found in seconds, never a traceback or a walk without end."""

from __future__ import annotations

import os

import pytest

from arrhythmia.archive import find_recordings
from arrhythmia.errors import ArrhythmiaError


def test_a_list_line_longer_than_any_path_names_its_line_in_a_few_words(tmp_path):
    # OSError: [Errno 36] File name too long, with the whole line as the message (100 kB on the terminal)
    (tmp_path / "a.csv").write_text("ECG\n0.1\n", encoding="utf-8")
    listing = tmp_path / "list.txt"
    listing.write_text("a.csv\n" + "x" * 100_000 + "\n", encoding="utf-8")
    with pytest.raises(ArrhythmiaError, match=r"list\.txt: line 2: 'xxxx.*100,000 characters.*too long") as caught:
        find_recordings([listing])
    assert len(str(caught.value)) < 300


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symbolic links on this system")
def test_a_glob_over_links_back_up_the_tree_finds_each_file_once_and_ends(tmp_path):
    # glob.glob's ** follows links to folders: two links to the tree's top made its walk double at each level,
    # without end (over a minute, then paths too long to open)
    (tmp_path / "top" / "sub").mkdir(parents=True)
    (tmp_path / "top" / "x.csv").write_text("ECG\n0.1\n", encoding="utf-8")
    (tmp_path / "top" / "sub" / "y.csv").write_text("ECG\n0.1\n", encoding="utf-8")
    (tmp_path / "top" / ".hidden.csv").write_text("ECG\n0.1\n", encoding="utf-8")
    os.symlink("../..", tmp_path / "top" / "sub" / "back1")
    os.symlink("../..", tmp_path / "top" / "sub" / "back2")
    found = find_recordings([str(tmp_path / "top" / "**" / "*.csv")])
    assert sorted(p.relative_to(tmp_path / "top").as_posix() for p in found) == ["sub/y.csv", "x.csv"]


def test_a_folder_that_cannot_be_read_is_said_not_left_out_silently(tmp_path, monkeypatch):
    # os.walk passes over a folder it may not list (another ward's, on a shared drive) without a word, and its
    # recordings were missing from the cohort
    (tmp_path / "open").mkdir()
    (tmp_path / "closed").mkdir()
    (tmp_path / "open" / "a.csv").write_text("ECG\n0.1\n", encoding="utf-8")
    (tmp_path / "closed" / "b.csv").write_text("ECG\n0.1\n", encoding="utf-8")
    scandir = os.scandir

    def refusing(path="."):
        if os.path.basename(os.fspath(path)) == "closed":
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return scandir(path)

    monkeypatch.setattr(os, "scandir", refusing)
    with pytest.warns(UserWarning, match=r"closed: .*cannot be read \(permission denied\).*left out"):
        found = find_recordings([tmp_path])
    assert [p.name for p in found] == ["a.csv"]
