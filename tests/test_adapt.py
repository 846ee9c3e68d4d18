"""Patient-adaptive labelling: morphology families, re-estimated normalisation, family consensus, and a
reviewer's labels carried through a recording."""

from __future__ import annotations

import warnings
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from arrhythmia.adapt import (
    AdaptConfig,
    apply_s_border,
    family_consensus,
    morphology_families,
    questions,
    reviewed_s_border,
)
from arrhythmia.config import TrainConfig
from arrhythmia.data import get_window
from arrhythmia.data.recording import Recording
from arrhythmia.data.synthetic import load_synthetic, synthetic_ecg
from arrhythmia.errors import ArrhythmiaError, DataError
from arrhythmia.experiment import run_experiment
from arrhythmia.inference import softmax_batches
from arrhythmia.predict import label_recording, read_reviewed

CLASSES = ("N", "S", "V", "F", "Q")


def constant_model(probs) -> SimpleNamespace:
    """A model for ``predict`` that gives every beat the probabilities ``probs`` (n_classes,)."""
    probs = np.asarray(probs, np.float32)
    return SimpleNamespace(
        classes=CLASSES,
        window=get_window("centred"),
        takes_context=False,
        predict_proba=lambda X, context: np.tile(probs, (len(X), 1)),
    )


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    beats = load_synthetic(n_records=4, duration_s=60, window=get_window("centred"))
    config = TrainConfig(model="fast-cnn", window="centred", context_features=True, epochs=4, batch_size=64)
    run = run_experiment(
        config, run_dir=tmp_path_factory.mktemp("adapt") / "run", beats=beats, log=lambda _: None, report=False
    )
    return run.classifier(device="cpu")


def test_families_separate_the_morphologies_of_a_recording():
    beats = load_synthetic(n_records=1, duration_s=240, seed=3, window=get_window("centred"))
    families = morphology_families(beats.X, beats.window)
    assert families.family.shape == (len(beats),) and families.family.min() == 0
    assert np.all(np.diff(families.sizes) <= 0)  # numbered by size, the largest first
    # The largest family is the patient's usual beat; V and paced (Q) beats never share a family with it.
    usual = beats.symbol[families.family == 0]
    assert pd.Series(usual).value_counts().index[0] == "N"
    assert not np.isin(usual, ["V", "Q"]).any()
    # Wide complexes (V, and the paced Q beats, whose pacing spike is lost at 125 Hz) and narrow ones
    # (N, S) never share a family of more than a couple of beats.
    for f in range(len(families.templates)):
        members = beats.symbol[families.family == f]
        wide, narrow = np.isin(members, ["V", "Q"]), np.isin(members, ["N", "S"])
        assert min(wide.sum(), narrow.sum()) <= 2, f"family {f} mixes {pd.Series(members).value_counts().to_dict()}"


def test_family_consensus_gives_a_family_one_morphology_and_keeps_n_or_s_per_beat():
    probs = np.array(
        [[0.1, 0.0, 0.9, 0.0, 0.0]] * 8 + [[0.6, 0.0, 0.4, 0.0, 0.0]] * 2  # a V family, two beats called N
        + [[0.7, 0.3, 0.0, 0.0, 0.0]] * 5 + [[0.2, 0.7, 0.1, 0.0, 0.0]] * 5,  # a supraventricular family
        dtype=np.float32,
    )  # fmt: skip
    family = np.repeat([0, 1], 10)
    out = family_consensus(probs, family, CLASSES, min_family_beats=5)
    assert (out[:10].argmax(1) == 2).all()
    assert out[10:].argmax(1).tolist() == [0] * 5 + [1] * 5
    np.testing.assert_allclose(out.sum(1), 1.0, atol=1e-6)
    # Too small to vote: left alone, unless a reviewer labelled one of its beats.
    assert (family_consensus(probs, family, CLASSES, min_family_beats=11) == probs).all()
    reviewed = family_consensus(probs, family, CLASSES, min_family_beats=11, reviewed={8: 0})
    assert (reviewed[:10].argmax(1) == 0).all()


def test_reviewed_n_and_s_beats_place_the_recordings_border():
    probs = np.array([[1 - p, p, 0, 0, 0] for p in np.linspace(0.05, 0.95, 19)], dtype=np.float32)
    border = reviewed_s_border(probs, CLASSES, {12: 0, 15: 1})  # beat 12 (p_S 0.65) is N, 15 (0.8) is S
    labels = apply_s_border(probs, CLASSES, border).argmax(1)
    assert labels[:13].tolist() == [0] * 13 and labels[15:].tolist() == [1] * 4
    assert reviewed_s_border(probs, CLASSES, {}) == 0.0
    assert reviewed_s_border(probs, CLASSES, {15: 0, 12: 1}) == 0.0  # contradicting: the model's border


def test_the_reviewed_border_moves_no_further_than_the_answers_need():
    probs = np.array([[1 - p, p, 0, 0, 0] for p in np.linspace(0.05, 0.95, 19)], dtype=np.float32)
    # beat 6 (p_S 0.35) answered S, beat 1 (0.10) N: the border goes just below beat 6, not halfway to beat 1
    labels = apply_s_border(probs, CLASSES, reviewed_s_border(probs, CLASSES, {1: 0, 6: 1})).argmax(1)
    assert labels[:6].tolist() == [0] * 6 and labels[6:].tolist() == [1] * 13
    # the model's border (p_S 0.5, beat 9) already parts an N answer below it from an S answer above it
    assert reviewed_s_border(probs, CLASSES, {3: 0, 16: 1}) == 0.0


def test_reviewed_labels_adapt_a_recording_whose_classes_have_no_s():
    from arrhythmia.adapt import adapt

    # A model trained with labels: mitdb calls atrial premature beats A; answers about its beats raised
    # ValueError ('S' not in the classes) while placing the N/S border.
    beats = load_synthetic(n_records=1, duration_s=60, seed=4, window=get_window("centred"))
    classes = ("N", "L", "A", "V")
    probs = np.tile(np.array([0.7, 0.1, 0.1, 0.1], np.float32), (len(beats.X), 1))
    model = SimpleNamespace(classes=classes, window=beats.window)
    adapted = adapt(model, beats.X, beats.context, probs, AdaptConfig(), reviewed={0: 2, 1: 3})
    assert adapted.probs.argmax(1)[:2].tolist() == [2, 3] and adapted.steps["s_border"] == 0.0
    assert reviewed_s_border(probs, classes, {0: 2}) == 0.0


def test_renormalised_takes_the_statistics_of_the_given_beats_and_keeps_the_weights(classifier):
    beats = load_synthetic(n_records=1, duration_s=60, seed=7, window=get_window("centred"))
    shifted = beats.X * 1.5 + 0.2  # another device's gain and offset
    adapted = classifier.renormalised(shifted, beats.context)
    norms = [m for m in adapted.model.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    originals = [m for m in classifier.model.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    first = norms[0]
    x = torch.from_numpy(classifier.scaling.beats(shifted)).unsqueeze(1)
    conv = adapted.model.features[0][0]
    expected_mean = conv(x).mean(dim=(0, 2))
    torch.testing.assert_close(first.running_mean, expected_mean.detach(), atol=1e-4, rtol=1e-4)
    assert not torch.allclose(first.running_mean, originals[0].running_mean)
    for a, b in zip(adapted.model.state_dict().items(), classifier.model.state_dict().items()):
        if "running" not in a[0] and "num_batches" not in a[0]:
            assert torch.equal(a[1], b[1]), a[0]
    assert not adapted.model.training
    classifier.predict_proba(beats.X, beats.context)  # the original's folded network made first
    labelled = adapted.predict_proba(shifted, beats.context)  # must run on the new statistics, folded anew
    direct = softmax_batches(adapted.model, shifted, adapted.device, context=beats.context, scaling=adapted.scaling)
    np.testing.assert_allclose(labelled, direct, atol=1e-5)


def test_predict_adapts_by_default_and_writes_families(classifier):
    rec = synthetic_ecg(duration_s=180, fs=360, seed=5)
    result = label_recording(Recording(rec.signal, 360.0, "MLII", "r"), classifier)
    assert result.adaptation["adapted"] and result.adaptation["batchnorm"] is True
    assert "family" in result.beats and (result.beats["family"] >= 0).all()
    assert result.families["beats"].sum() == len(result.beats)
    assert result.templates.shape == (len(result.families), classifier.input_length)
    plain = label_recording(Recording(rec.signal, 360.0, "MLII", "r"), classifier, adapt=False)
    assert plain.families is None and (plain.beats["family"] == -1).all() and plain.adaptation == {}
    assert list(plain.beats.columns) == list(result.beats.columns)  # the same table whatever the recording
    nothing = label_recording(Recording(np.zeros(3600), 360.0, "MLII", "flat"), classifier)
    assert nothing.beats.empty and list(nothing.beats.columns) == list(result.beats.columns)


def test_too_few_beats_fall_back_to_the_models_labels_with_a_warning(classifier):
    rec = synthetic_ecg(duration_s=4, fs=360, seed=2)
    recording = Recording(rec.signal, 360.0, "MLII", "short")
    with pytest.warns(UserWarning, match="too few to adapt"):
        adapted = label_recording(recording, classifier)
    plain = label_recording(recording, classifier, adapt=False)
    assert adapted.adaptation["adapted"] is False
    assert adapted.beats["label"].tolist() == plain.beats["label"].tolist()


def test_a_strip_under_a_minute_is_adapted_by_shape_and_timing_without_renormalising(classifier):
    """A 30-s strip (under ``batchnorm_min_beats`` beats) is adapted, families and timing, but its few dozen
    beats' statistics do not renormalise the network (they cost V beats: docs/choosing-the-adaptation.md)."""
    rec = synthetic_ecg(duration_s=30, fs=360, seed=2)
    recording = Recording(rec.signal, 360.0, "MLII", "short")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "too few to adapt" warning
        adapted = label_recording(recording, classifier)
    assert adapted.adaptation["adapted"] is True and adapted.families is not None
    assert adapted.adaptation["batchnorm"] == "skipped: fewer than 60 beats"
    without = label_recording(recording, classifier, adapt={"batchnorm": False})
    pd.testing.assert_frame_equal(adapted.beats, without.beats)
    renormalised = label_recording(recording, classifier, adapt={"batchnorm_min_beats": 6})
    assert renormalised.adaptation["batchnorm"] is True


def test_reviewed_labels_are_kept_and_bad_ones_are_one_line_errors(classifier, tmp_path):
    rec = synthetic_ecg(duration_s=180, fs=360, seed=5)
    recording = Recording(rec.signal, 360.0, "MLII", "r")
    asked = label_recording(recording, classifier, ask=4).questions
    assert len(asked) == 4 and asked["sample"].is_unique
    given = {int(s): "V" for s in asked["sample"][:2]}
    result = label_recording(recording, classifier, reviewed=given)
    labelled = result.beats.set_index("sample").loc[list(given), "label"]
    assert (labelled == "V").all() and result.adaptation["reviewed_beats"] == 2
    with pytest.raises(DataError, match="not classes of the model"):
        label_recording(recording, classifier, reviewed={int(asked["sample"][0]): "X"})
    with pytest.raises(DataError, match="sample 5 is not a detected beat"):
        label_recording(recording, classifier, reviewed={5: "N"})
    (tmp_path / "bad.csv").write_text("sample,label\nabc,N\n")
    with pytest.raises(DataError, match="bad.csv: row 2"):
        read_reviewed(tmp_path / "bad.csv")
    (tmp_path / "cols.csv").write_text("time,label\n1,N\n")
    with pytest.raises(DataError, match="needs columns sample and label"):
        read_reviewed(tmp_path / "cols.csv")
    (tmp_path / "twice.csv").write_text("sample,label\n1200,V\n2400,N\n1200,V\n1200,N\n")
    with pytest.raises(DataError, match=r"twice.csv: row 5: sample 1200 is labelled twice \(V, N\)"):
        read_reviewed(tmp_path / "twice.csv")  # the same label twice is the same answer; two differ
    # review.csv as a spreadsheet saves it again: a byte-order mark, semicolons, decimal commas, CRLF.
    excel = "\ufeffsample;time_s;label;family;reason\r\n1200;3,333;V;2;family\r\n2400;6,667; S ;0;timing\r\n"
    (tmp_path / "excel.csv").write_bytes(excel.encode("utf-8"))
    assert read_reviewed(tmp_path / "excel.csv") == {1200: "V", 2400: "S"}
    # The review app's exported beats.csv: every beat, the reviewer's marked 1; the others are the model's.
    exported = "sample,time_s,label,model_label,reviewed\n900,2.5,N,N,0\n1200,3.333,V,N,1\n1500,4.2,S,S,0\n"
    (tmp_path / "exported.csv").write_text(exported + "1800,5,N,N,0\n2400,6.667,S,N,1\n2400,6.667,N,N,1\n")
    with pytest.raises(DataError, match=r"exported.csv: row 7: sample 2400 is labelled twice \(S, N\)"):
        read_reviewed(tmp_path / "exported.csv")  # the row of the file, not of the reviewer's rows
    (tmp_path / "exported.csv").write_text(exported)
    assert read_reviewed(tmp_path / "exported.csv") == {1200: "V"}
    (tmp_path / "marks.csv").write_text("sample,label,reviewed\n1200,V,yes\n")
    with pytest.raises(DataError, match="marks.csv: its reviewed column holds 'yes'"):
        read_reviewed(tmp_path / "marks.csv")


def test_questions_pick_distinct_beats_on_both_sides_of_the_border():
    probs = np.array([[1 - p, p, 0, 0, 0] for p in np.linspace(0.05, 0.95, 19)], dtype=np.float32)
    asked = questions(probs, CLASSES, None, 4)
    chosen = [i for i, _ in asked]
    assert len(set(chosen)) == 4
    assert sorted(chosen) == [7, 8, 9, 10]  # the four nearest p_S = 0.5 (beat 9), two on each side


def test_unknown_or_mistyped_adaptation_setting_is_an_error():
    with pytest.raises(ArrhythmiaError, match="unknown adaptation setting"):
        AdaptConfig.from_value({"nope": 1})
    assert AdaptConfig.from_value(False) is None and AdaptConfig.from_value({"families": False}).families is False
    for wrong in ({"premature_ratio": "abc"}, {"runs": 1}, {"min_family_beats": 2.5}, {"qrs_s": [0.1]}):
        with pytest.raises(ArrhythmiaError, match=f"adaptation setting {next(iter(wrong))}=.*: expected"):
            AdaptConfig.from_value(wrong)
    fine = {"premature_ratio": 1, "keep_v_above": None, "qrs_s": [0.08, 0.12], "group_voters_from": 20}
    assert AdaptConfig.from_value(fine).premature_ratio == 1


def test_a_reversed_lead_is_labelled_as_the_upright_one(classifier):
    rec = synthetic_ecg(duration_s=120, fs=360, seed=8)
    upright = label_recording(Recording(rec.signal, 360.0, "MLII", "up"), classifier)
    reversed_ = label_recording(Recording(-rec.signal, 360.0, "MLII", "down"), classifier)
    assert not upright.inverted and reversed_.inverted
    pd.testing.assert_frame_equal(upright.beats, reversed_.beats)


def test_review_round_trip_through_the_command_line(tmp_path):
    from conftest import write_wfdb_record
    from test_cli import assert_one_line_error, run_cli

    write_wfdb_record(tmp_path, "rec", seconds=120)
    out = tmp_path / "out"
    result = run_cli("predict", tmp_path / "rec", "--ask", "3", "--out", out)
    assert result.returncode == 0, result.stderr
    assert (out / "families.csv").is_file() and (out / "families.png").stat().st_size > 5_000
    sheet = pd.read_csv(out / "review.csv")
    assert len(sheet) == 3 and (out / "review.png").stat().st_size > 5_000
    sheet["label"] = "V"  # the reviewer's answers, in the sheet itself, labelled again into the same folder
    sheet.to_csv(out / "review.csv", index=False)
    result = run_cli("predict", tmp_path / "rec", "--labels", out / "review.csv", "--out", out)
    assert result.returncode == 0, result.stderr
    beats = pd.read_csv(out / "beats.csv", keep_default_na=False).set_index("sample")
    assert (beats.loc[sheet["sample"], "label"] == "V").all()
    # The answered sheet is the reviewer's, kept as they left it, and no longer offered as this run's sheet.
    pd.testing.assert_frame_equal(pd.read_csv(out / "review.csv"), sheet)
    assert "review sheet" not in result.stdout
    # Asking again into that folder would write the new questions over the answers: one line, nothing written.
    again = run_cli("predict", tmp_path / "rec", "--ask", "3", "--labels", out / "review.csv", "--out", out)
    assert_one_line_error(again, "review.csv: asking again would write the new review sheet over these answers")
    pd.testing.assert_frame_equal(pd.read_csv(out / "review.csv"), sheet)
    # The sheet keeps its picture (the strips a reviewer answers from); without the adaptation the families go.
    assert (out / "review.png").stat().st_size > 5_000 and (out / "families.csv").is_file()
    plain = run_cli("predict", tmp_path / "rec", "--no-adapt", "--out", out)
    assert plain.returncode == 0, plain.stderr
    assert not (out / "families.csv").exists() and not (out / "families.png").exists()
    assert (out / "review.csv").is_file() and "families.csv, families.png" in " ".join(plain.stdout.split())
    # A label the model does not know, or a sample that is no beat: one line, and nothing written.
    (tmp_path / "bad.csv").write_text(f"sample,label\n{sheet['sample'][0]},X\n")
    bad = run_cli("predict", tmp_path / "rec", "--labels", tmp_path / "bad.csv", "--out", tmp_path / "bad")
    assert_one_line_error(bad, "bad.csv: labels 'X' are not classes of the model")
    (tmp_path / "far.csv").write_text("sample,label\n3,N\n")
    far = run_cli("predict", tmp_path / "rec", "--labels", tmp_path / "far.csv", "--out", tmp_path / "far")
    assert_one_line_error(far, f"far.csv: in {tmp_path / 'rec'}, sample 3 is not a detected beat")
    assert not (tmp_path / "bad").exists() and not (tmp_path / "far").exists()


def test_normalisation_takes_the_statistics_of_the_patients_usual_beat(classifier):
    from arrhythmia.adapt import adapt

    beats = load_synthetic(n_records=1, duration_s=180, seed=4, window=get_window("centred"))
    probs = classifier.predict_proba(beats.X, beats.context)
    config = AdaptConfig(families=False, keep_v_above=None)  # normalisation alone, on the usual beat's
    adapted = adapt(classifier, beats.X, beats.context, probs, config)
    usual = morphology_families(beats.X, beats.window).family == 0
    expected = classifier.renormalised(beats.X[usual], beats.context[usual]).predict_proba(beats.X, beats.context)
    np.testing.assert_allclose(adapted.probs, expected, atol=1e-6)
    every_config = AdaptConfig(families=False, batchnorm_on="all", keep_v_above=None)
    every = adapt(classifier, beats.X, beats.context, probs, every_config)
    assert not np.allclose(every.probs, adapted.probs)


def test_a_family_called_v_with_confidence_keeps_its_labels_through_the_normalisation(classifier):
    from arrhythmia.adapt import adapt

    beats = load_synthetic(n_records=1, duration_s=180, seed=4, window=get_window("centred"))
    family = morphology_families(beats.X, beats.window).family
    assert family.max() >= 1
    # before: the second family is V for sure, the rest N; after the re-estimated normalisation all is N
    before = np.tile(np.array([0.9, 0.1, 0, 0, 0], np.float32), (len(family), 1))
    before[family == 1] = [0.05, 0, 0.95, 0, 0]
    all_n = np.tile(np.array([0.95, 0.05, 0, 0, 0], np.float32), (len(family), 1))
    renormalised = SimpleNamespace(predict_proba=lambda X, context: all_n)
    model = SimpleNamespace(classes=CLASSES, window=beats.window, renormalised=lambda X, context: renormalised)
    config = AdaptConfig(families=False, rhythm=False)
    adapted = adapt(model, beats.X, beats.context, before, config)
    np.testing.assert_array_equal(adapted.probs.argmax(1), np.where(family == 1, 2, 0))
    assert adapted.steps["v_families_kept"] == (family == 1).sum()
    off = adapt(model, beats.X, beats.context, before, AdaptConfig(families=False, rhythm=False, keep_v_above=None))
    assert (off.probs.argmax(1) == 0).all()


def test_a_largest_family_called_v_that_comes_early_keeps_its_labels_through_the_normalisation():
    from arrhythmia.adapt import Timing, adapt

    beats = load_synthetic(n_records=1, duration_s=180, seed=4, window=get_window("centred"))
    family = morphology_families(beats.X, beats.window).family
    assert (family == 0).sum() > (family == 1).sum() >= AdaptConfig().min_beats // 2
    # 208's second lead: more V beats of one shape (the largest family) than normal beats of any one shape,
    # called V, but not confidently enough to keep their labels; normalised on themselves they look usual.
    before = np.tile(np.array([0.9, 0.1, 0, 0, 0], np.float32), (len(family), 1))
    before[family == 0] = [0.4, 0, 0.6, 0, 0]
    all_n = np.tile(np.array([0.95, 0.05, 0, 0, 0], np.float32), (len(family), 1))
    renormalised = SimpleNamespace(predict_proba=lambda X, context: all_n)
    model = SimpleNamespace(classes=CLASSES, window=beats.window, renormalised=lambda X, context: renormalised)

    def labels_with(prematurity_of_largest: float, **settings):
        prematurity = np.where(family == 0, prematurity_of_largest, 1.2)  # the beats after the V beats: late
        config = AdaptConfig(families=False, rhythm=False, **settings)
        timing = Timing(prematurity, np.zeros(len(family)))
        adapted = adapt(model, beats.X, beats.context, before, config, rhythm=timing)
        return adapted.probs.argmax(1), adapted.steps["usual_v_kept"]

    labels, kept = labels_with(0.85)
    assert kept and (labels == np.where(family == 0, 2, 0)).all()
    # A usual beat the network calls V that comes on time (a bundle-branch block) is normalised as usual.
    labels, kept = labels_with(1.15)
    assert not kept and (labels == 0).all()
    assert (labels_with(0.85, keep_usual_v_share=None)[0] == 0).all()


def test_a_recording_whose_labels_the_adaptation_changed_much_is_marked_for_review():
    from arrhythmia.adapt import adapt

    beats = load_synthetic(n_records=1, duration_s=180, seed=4, window=get_window("centred"))
    family = morphology_families(beats.X, beats.window).family
    # before: the second family V, but not surely; after the re-estimated normalisation every beat N
    before = np.tile(np.array([0.9, 0.1, 0, 0, 0], np.float32), (len(family), 1))
    before[family == 1] = [0.4, 0, 0.6, 0, 0]
    all_n = np.tile(np.array([0.95, 0.05, 0, 0, 0], np.float32), (len(family), 1))
    renormalised = SimpleNamespace(predict_proba=lambda X, context: all_n)
    model = SimpleNamespace(classes=CLASSES, window=beats.window, renormalised=lambda X, context: renormalised)
    changed = 100.0 * np.mean(family == 1)
    for above, marked in ((changed - 1, True), (changed + 1, False), (None, False)):
        config = AdaptConfig(families=False, rhythm=False, review_above_percent=above)
        steps = adapt(model, beats.X, beats.context, before, config).steps
        assert steps["changed_percent"] == pytest.approx(changed)
        assert steps["review_recommended"] is marked
    # a reviewer's labels are not the adaptation's changes
    config = AdaptConfig(families=False, rhythm=False)
    reviewed = {int(i): 2 for i in np.flatnonzero(family == 0)[:5]}
    assert adapt(model, beats.X, beats.context, before, config, reviewed=reviewed).steps["changed_percent"] == (
        pytest.approx(changed)
    )


def test_a_family_the_normalisation_alone_made_v_keeps_its_labels(classifier):
    from arrhythmia.adapt import adapt

    beats = load_synthetic(n_records=1, duration_s=180, seed=4, window=get_window("centred"))
    family = morphology_families(beats.X, beats.window).family
    # before: every family N; after the re-estimated normalisation the second family is V, a third of
    # the third family's beats too (its mean V stays under one half)
    before = np.tile(np.array([0.9, 0.08, 0.02, 0, 0], np.float32), (len(family), 1))
    after = before.copy()
    after[family == 1] = [0.1, 0, 0.9, 0, 0]
    third = np.flatnonzero(family == 2)[::3]
    after[third] = [0.1, 0, 0.9, 0, 0]
    renormalised = SimpleNamespace(predict_proba=lambda X, context: after)
    model = SimpleNamespace(classes=CLASSES, window=beats.window, renormalised=lambda X, context: renormalised)
    adapted = adapt(model, beats.X, beats.context, before, AdaptConfig(families=False, rhythm=False))
    labels = adapted.probs.argmax(1)
    assert (labels[family == 1] == 0).all() and (labels[third] == 2).all()
    assert adapted.steps["made_families_kept"] == (family == 1).sum()
    off = AdaptConfig.from_value({"families": False, "rhythm": False, "keep_not_v_below": None})  # its old name
    assert off == AdaptConfig(families=False, rhythm=False, keep_if_made_below=None)
    assert (adapt(model, beats.X, beats.context, before, off).probs.argmax(1)[family == 1] == 2).all()


def test_a_second_family_of_the_usual_beat_the_normalisation_alone_made_q_keeps_its_labels():
    from arrhythmia.adapt import adapt

    beats = load_synthetic(n_records=1, duration_s=180, seed=4, window=get_window("centred"))
    family = morphology_families(beats.X, beats.window).family
    # 124's second lead: normalised on the first family of its normal beats, the second turned unclassifiable
    before = np.tile(np.array([0.9, 0.05, 0.02, 0.01, 0.02], np.float32), (len(family), 1))
    after = before.copy()
    after[family == 1] = [0.2, 0, 0.1, 0, 0.7]
    renormalised = SimpleNamespace(predict_proba=lambda X, context: after)
    model = SimpleNamespace(classes=CLASSES, window=beats.window, renormalised=lambda X, context: renormalised)
    config = AdaptConfig(families=False, rhythm=False)
    adapted = adapt(model, beats.X, beats.context, before, config)
    assert (adapted.probs.argmax(1)[family == 1] == 0).all()
    assert adapted.steps["made_families_kept"] == (family == 1).sum()
    only_v = AdaptConfig(families=False, rhythm=False, keep_if_made=("V",))
    assert (adapt(model, beats.X, beats.context, before, only_v).probs.argmax(1)[family == 1] == 4).all()


def test_beats_with_a_flat_qrs_form_a_family_of_their_own():
    beats = load_synthetic(n_records=1, duration_s=60, seed=3, window=get_window("centred"))
    X = beats.X.copy()
    X[:4] = 0.5  # four beats cut from a saturated stretch: no shape at all
    family = morphology_families(X, beats.window).family
    assert len(set(family[:4])) == 1 and family[0] not in set(family[4:])


def test_each_patient_places_its_own_border_between_early_and_on_time():
    from arrhythmia.adapt import Timing, patient_premature_ratio

    rng = np.random.default_rng(0)

    def border(spread_of_rhythm: float, irregularity: float = 0.02, n: int = 400) -> float:
        timing = Timing(1.0 + spread_of_rhythm * rng.standard_normal(n), np.full(n, irregularity))
        return patient_premature_ratio(timing, 3.0, (0.80, 0.92), 0.12, 0.86)

    assert border(0.005) == 0.92  # a steady rhythm: a beat 8% early already stands out
    assert border(0.04) == pytest.approx(0.88, abs=0.01)  # 1 - 3 x 0.04
    assert border(0.2) == 0.80  # sinus arrhythmia or worse: no lower than the bound
    assert border(0.005, irregularity=0.3) == 0.86  # no regular rhythm to measure: the default
    assert border(0.005, n=20) == 0.86  # too few beats


def test_a_beat_a_little_early_in_a_steady_rhythm_is_s_with_the_patients_own_border():
    from arrhythmia.adapt import Timing, adapt

    n = 200
    prematurity = 1.0 + 0.005 * np.random.default_rng(1).standard_normal(n)
    prematurity[100] = 0.89  # 11% early: past the patient's border (0.92), not the fixed one (0.86)
    rhythm = Timing(prematurity, np.full(n, 0.02))
    probs = np.tile(np.array([0.6, 0.4, 0, 0, 0], np.float32), (n, 1))  # the network: N, not sure
    model = SimpleNamespace(classes=CLASSES, window=get_window("centred"))
    X = np.zeros((n, model.window.length), np.float32)  # no families, no normalisation: timing alone
    steps = dict(batchnorm=False, families=False, runs=False, previous_ratio=None)
    own = adapt(model, X, None, probs, AdaptConfig(**steps), rhythm=rhythm)
    assert own.probs.argmax(1)[100] == 1 and own.steps["premature_ratio"] == 0.92
    fixed = adapt(model, X, None, probs, AdaptConfig(**steps, premature_spread=None), rhythm=rhythm)
    assert fixed.probs.argmax(1)[100] == 0 and "premature_ratio" not in fixed.steps
    assert (own.probs.argmax(1)[np.arange(n) != 100] == 0).all()


def test_rhythm_border_calls_early_beats_s_and_none_in_an_irregular_rhythm():
    from arrhythmia.adapt import rhythm_border

    probs = np.array(
        [[0.9, 0.1, 0, 0, 0], [0.9, 0.1, 0, 0, 0], [0.3, 0.7, 0, 0, 0], [0.3, 0.7, 0, 0, 0], [0.2, 0.2, 0.6, 0, 0]],
        dtype=np.float32,
    )
    prematurity = np.array([1.0, 0.7, 1.0, 1.0, 0.6])
    irregularity = np.array([0.02, 0.02, 0.02, 0.3, 0.02])
    out = rhythm_border(probs, CLASSES, prematurity, irregularity, premature_ratio=0.86, irregular_above=0.12)
    # on time: the model's N; early: S; the model's S in a regular rhythm stays, in an irregular one is N;
    # a V beat is left alone
    assert out.argmax(1).tolist() == [0, 1, 1, 0, 2]
    np.testing.assert_allclose(out.sum(1), probs.sum(1), atol=1e-6)
    assert out[1, 1] == pytest.approx(0.9) and out[3, 0] == pytest.approx(0.7)


def test_supraventricular_as_n_turns_the_given_s_beats_to_n_and_leaves_the_rest():
    from arrhythmia.adapt import supraventricular_as_n

    probs = np.array([[0.3, 0.7, 0, 0, 0], [0.3, 0.7, 0, 0, 0], [0.8, 0.2, 0, 0, 0], [0.1, 0.3, 0.6, 0, 0]], np.float32)
    rows = np.array([True, False, True, True])
    out = supraventricular_as_n(probs, CLASSES, rows)
    # the S beat among the rows is N, with the larger probability; the S beat outside them, the N beat and
    # the V beat keep their calls
    assert out.argmax(1).tolist() == [0, 1, 0, 2]
    assert out[0, 0] == pytest.approx(0.7) and out[0, 1] == pytest.approx(0.3)
    np.testing.assert_array_equal(out[1:], probs[1:])
    symbols = ("N", "L", "A", "V")  # a model of MIT-BIH symbols has no S class: left alone
    np.testing.assert_array_equal(supraventricular_as_n(probs[:, :4], symbols, rows), probs[:, :4])


def test_beats_called_s_inside_atrial_fibrillation_are_n_and_elsewhere_keep_their_call():
    from conftest import irregular_ecg

    always_s = np.array([0.3, 0.6, 0.1, 0, 0], np.float32)
    model = constant_model(always_s)
    # the rhythm step calls irregular beats N on its own; this step is tested apart from it
    no_rhythm_step = {"rhythm": False, "af_as_n": True}
    for p_waves in (False, True):
        signal, fs, _ = irregular_ecg(p_waves)
        recording = Recording(signal, fs, "MLII", "irregular")
        result = label_recording(recording, model, adapt=no_rhythm_step)
        af = result.episodes[result.episodes["type"] == "AF"]
        beats = result.beats
        if p_waves:  # irregular with P waves: no AF, every beat keeps the model's S
            assert af.empty and (beats["label"] == "S").all()
            assert result.adaptation["af_as_n"] == {"relabelled": 0}
            continue
        assert len(af) == 1
        inside = beats["time_s"].between(af["start_s"].iloc[0], af["end_s"].iloc[0])
        assert inside.sum() > 100 and (beats.loc[inside, "label"] == "N").all()
        assert (beats.loc[~inside, "label"] == "S").all()
        assert result.adaptation["af_as_n"] == {"relabelled": int(inside.sum())}
        kept = label_recording(recording, model, adapt={**no_rhythm_step, "af_as_n": False})
        assert (kept.beats["label"] == "S").all() and "af_as_n" not in kept.adaptation
        by_default = label_recording(recording, model, adapt={"rhythm": False})  # off unless asked for
        assert (by_default.beats["label"] == "S").all()
        # the hourly counts and runs are taken from the labels after this step
        assert result.hourly[["S", "s_runs"]].sum().tolist() == [0, 0]
        assert kept.hourly["S"].sum() == len(kept.beats) and kept.hourly["s_runs"].sum() > 0


def test_confidence_is_the_networks_own_probability_for_the_final_label():
    from conftest import irregular_ecg

    always_s = np.array([0.3, 0.6, 0.1, 0, 0], np.float32)
    model = constant_model(always_s)
    adapt = {"rhythm": False, "af_as_n": True}
    for p_waves, label, confidence in [(False, "N", 0.3), (True, "S", 0.6)]:
        signal, fs, _ = irregular_ecg(p_waves)
        recording = Recording(signal, fs, "MLII", "irregular")
        beats = label_recording(recording, model, adapt=adapt).beats
        # in AF the adaptation makes the beats N against the network; with P waves they keep its S
        assert (beats["label"] == label).all() and np.allclose(beats["confidence"], confidence)
        assert (beats[f"p_{label}"] > 0.5).all()
    # a reviewer's label is certain
    sample = int(beats["sample"].iloc[len(beats) // 2])
    reviewed = label_recording(recording, model, adapt={"rhythm": False}, reviewed={sample: "V"}).beats
    assert reviewed.set_index("sample").loc[sample, ["label", "confidence"]].tolist() == ["V", 1.0]


def test_the_beats_of_a_supraventricular_run_after_an_s_beat_are_s():
    from arrhythmia.adapt import Timing, supraventricular_runs

    n_like, s_like, v_like = [0.8, 0.2, 0, 0, 0], [0.3, 0.7, 0, 0, 0], [0.1, 0.1, 0.8, 0, 0]
    # sinus at 0.8 s; an early beat (S) then three at its rate (0.45-0.5 s); sinus; a second run broken
    # by a V beat; an early S beat followed by a pause; a fast stretch with no S beat ahead of it
    rr = [0.8, 0.8, 0.45, 0.46, 0.5, 0.47, 0.8, 0.8, 0.45, 0.45, 0.45, 0.8, 0.45, 0.9, 0.8, 0.5, 0.5, 0.8]
    calls = [n_like, n_like, s_like, n_like, n_like, n_like, n_like, n_like]
    calls += [s_like, v_like, n_like, n_like, s_like, n_like, n_like, n_like, n_like, n_like]
    probs = np.array(calls, dtype=np.float32)
    rr_s = np.array(rr)
    timing = Timing(
        prematurity=np.ones(len(rr)),
        irregularity=np.full(len(rr), 0.02),
        long_prematurity=rr_s / 0.8,
        rr_s=rr_s,
    )
    out = supraventricular_runs(probs, CLASSES, timing)
    is_s = out.argmax(axis=1) == 1
    assert np.flatnonzero(is_s).tolist() == [2, 3, 4, 5, 8, 12]
    assert out[3, 1] == pytest.approx(0.8) and out[3, 0] == pytest.approx(0.2)  # the larger probability goes to S
    assert out[9].tolist() == probs[9].tolist()  # other classes are left alone
    # below the rate, beside a long pause, in an irregular rhythm, or unmeasured: nothing carries on
    assert not supraventricular_runs(probs, CLASSES, timing, above_bpm=140)[3:6].argmax(1).any()
    irregular = Timing(timing.prematurity, np.full(len(rr), 0.3), timing.long_prematurity, rr_s)
    assert (supraventricular_runs(probs, CLASSES, irregular).argmax(1) == probs.argmax(1)).all()
    unmeasured = Timing(timing.prematurity, timing.irregularity, timing.long_prematurity)
    assert supraventricular_runs(probs, CLASSES, unmeasured) is probs
    # a fast beat called N that is early against the 20 intervals before it starts a run of its own
    rr_s = np.array([np.inf] + [0.8] * 24 + [0.45] * 5 + [0.8] * 3)
    all_n = np.tile(np.array(n_like, np.float32), (len(rr_s), 1))
    ones = np.ones(len(rr_s))
    timing = Timing(ones, np.full(len(rr_s), 0.02), np.minimum(rr_s / 0.8, 1.0), rr_s)
    started = supraventricular_runs(all_n, CLASSES, timing).argmax(axis=1) == 1
    assert np.flatnonzero(started).tolist() == [25, 26, 27, 28, 29]
    assert not supraventricular_runs(all_n, CLASSES, timing, premature_ratio=0.5).argmax(axis=1).any()


def test_on_time_beats_called_s_in_an_on_time_family_are_n():
    from arrhythmia.adapt import Timing, on_time_families_as_n

    n_like, s_like = [0.8, 0.2, 0, 0, 0], [0.3, 0.7, 0, 0, 0]
    # family 0 (usual beat); family 1 on time and mostly called N (pre-excited beats); family 2 early
    # (aberrated atrial beats); family 3 on time but too small to count; family 4 on time but mostly
    # called S (atrial premature beats of their own shape that do not come early)
    family = np.array([0] * 6 + [1] * 8 + [2] * 6 + [3] * 2 + [4] * 6)
    prematurity = np.ones(len(family))
    prematurity[[12, 14, 15, 16, 17, 18]] = 0.7
    long_prematurity = np.ones(len(family))
    long_prematurity[13] = 0.7  # in a fast stretch: a run's beat stays S
    calls = [s_like, n_like, s_like, s_like, s_like, s_like] + [n_like] * 5 + [s_like] * 3
    calls += [s_like] * 6 + [s_like] * 2 + [s_like] * 5 + [n_like]
    probs = np.array(calls, dtype=np.float32)
    timing = Timing(prematurity, np.full(len(family), 0.02), long_prematurity)
    out = on_time_families_as_n(probs, CLASSES, family, timing)
    labels = out.argmax(axis=1)
    # family 0 keeps the model's calls; family 1's on-time S beat becomes N, its early one and the one in
    # a fast stretch stay S; families 2, 3 and 4 keep theirs
    assert labels[:6].tolist() == [1, 0, 1, 1, 1, 1]
    assert labels[6:14].tolist() == [0] * 5 + [0, 1, 1]
    assert (labels[14:] == probs[14:].argmax(axis=1)).all()
    assert out[11, 0] == pytest.approx(0.7) and out[11, 1] == pytest.approx(0.3)
    unmeasured = Timing(prematurity, timing.irregularity)  # no long reference: no fast stretch
    assert on_time_families_as_n(probs, CLASSES, family, unmeasured).argmax(1)[11:14].tolist() == [0, 1, 0]


def test_s_calls_that_are_not_early_against_the_interval_before_become_n():
    from arrhythmia.adapt import late_against_previous_as_n

    n_like, s_like, v_like = [0.8, 0.2, 0, 0, 0], [0.3, 0.7, 0, 0, 0], [0.2, 0.1, 0.7, 0, 0]
    rr = np.array([np.inf, 1.0, 0.97, 0.94, 0.91, 1.0, 0.6, 0.6, 1.4, 1.0, 0.95, 0.6, 0.62, 1.3, 1.0, 0.6])
    calls = [n_like, n_like, s_like, s_like, s_like, n_like]  # sinus arrhythmia: each a little earlier
    calls += [s_like, s_like, n_like]  # an early couplet
    calls += [n_like, s_like, s_like, s_like, n_like]  # an S stretch whose first beat is not early
    calls += [n_like, v_like]  # an early V beat is not this rule's
    probs = np.array(calls, dtype=np.float32)
    out = late_against_previous_as_n(probs, CLASSES, rr, previous_ratio=0.9)
    labels = out.argmax(axis=1)
    assert labels[2:5].tolist() == [0, 0, 0]
    assert labels[6:8].tolist() == [1, 1]
    assert labels[10:13].tolist() == [0, 1, 1]
    assert labels[15] == 2
    others = np.setdiff1d(np.arange(len(rr)), [2, 3, 4, 10])
    assert (labels[others] == probs[others].argmax(axis=1)).all()
    assert out[2, 0] == pytest.approx(0.7) and out[2, 1] == pytest.approx(0.3)
    # with a looser ratio the stretch's first beat (0.97 after 1.0) is early, and the stretch keeps its S
    assert late_against_previous_as_n(probs, CLASSES, rr, previous_ratio=0.98).argmax(1)[2:5].tolist() == [1, 1, 1]


def test_early_families_of_their_own_shape_in_a_regular_rhythm_are_v():
    from arrhythmia.adapt import Timing, early_families_as_v

    n_like, s_like, v_like = [0.8, 0.2, 0, 0, 0], [0.3, 0.7, 0, 0, 0], [0.2, 0, 0.8, 0, 0]
    # family 0 (usual beat) early; family 1 early, called N and S (a ventricular focus the network calls
    # supraventricular); family 2 early but in an irregular rhythm; family 3 early but too small;
    # family 4 on time; family 5 early but mostly called V already; family 6 early, answered by a reviewer
    family = np.repeat([0, 1, 2, 3, 4, 5, 6], [6, 6, 6, 2, 6, 6, 6])
    prematurity = np.where(np.isin(family, [4]), 1.0, 0.7)
    prematurity[7] = 1.0  # one beat of family 1 on time: the family's median is still early
    irregularity = np.where(family == 2, 0.3, 0.02)
    calls = [n_like] * 6 + [n_like, n_like, s_like, s_like, n_like, v_like] + [s_like] * 6 + [s_like] * 2
    calls += [n_like] * 6 + [v_like] * 4 + [s_like] * 2 + [s_like] * 6
    probs = np.array(calls, dtype=np.float32)
    answered = np.zeros(7, dtype=bool)
    answered[6] = True
    out = early_families_as_v(probs, CLASSES, family, Timing(prematurity, irregularity), answered=answered)
    labels = out.argmax(axis=1)
    assert (labels[family == 1] == 2).all()  # every beat of it, the on-time one too
    assert out[8, 2] == pytest.approx(0.7) and out[8, 1] == pytest.approx(0.0)  # S's probability went to V
    others = family != 1
    assert (labels[others] == probs[others].argmax(axis=1)).all()
    # without a reviewer's answer, family 6 is V too
    assert (
        early_families_as_v(probs, CLASSES, family, Timing(prematurity, irregularity)).argmax(1)[family == 6] == 2
    ).all()
    # family 2's rhythm changes at every beat but repeats every second or third one (bigeminy): regular there
    pattern = Timing(prematurity, irregularity, pattern_irregularity=np.full(len(family), 0.02))
    assert (early_families_as_v(probs, CLASSES, family, pattern).argmax(1)[family == 2] == 2).all()


def test_early_families_count_as_regular_where_the_usual_beats_come_regularly():
    from arrhythmia.adapt import Timing, early_families_as_v
    from arrhythmia.data.context import local_rhythm, pattern_irregularity

    # MIT-BIH 233: ectopic beats of one shape after two to five usual beats, at no fixed pattern, make the
    # rhythm irregular at every lag; between the usual beats themselves it is steady (every 0.8 s)
    rng = np.random.default_rng(0)
    family, times, t = [], [], 0.0
    while len(family) < 300:
        for _ in range(rng.integers(2, 6)):
            t += 0.8
            family.append(0), times.append(t)
        family.append(1), times.append(t + 0.5)  # 0.5 s after the usual beat, the next one on its time
    family, times = np.array(family), np.array(times)
    peaks = np.round(times * 360).astype(np.int64)
    prematurity, irregularity = local_rhythm(peaks, 360.0)
    timing = Timing(prematurity, irregularity, pattern_irregularity=pattern_irregularity(peaks, 360.0))
    assert np.median(timing.pattern_irregularity[family == 1]) > 0.12  # irregular by the intervals alone
    probs = np.tile(np.array([[0.3, 0.7, 0, 0, 0]], dtype=np.float32), (len(family), 1))  # all called S
    probs[family == 0] = [0.9, 0.1, 0, 0, 0]
    timed = Timing(prematurity, irregularity, pattern_irregularity=timing.pattern_irregularity, times_s=times)
    assert (early_families_as_v(probs, CLASSES, family, timed).argmax(1)[family == 1] == 2).all()
    assert (early_families_as_v(probs, CLASSES, family, timing).argmax(1)[family == 1] == 1).all()  # no times
    off = early_families_as_v(probs, CLASSES, family, timed, usual_rhythm=False)
    assert (off.argmax(1)[family == 1] == 1).all()
    # atrial fibrillation: the usual beats come irregularly too, and its early beats stay as they were called
    fibrillating = times + rng.uniform(-0.25, 0.25, len(times)) * (family == 0)
    order = np.argsort(fibrillating)
    irregular = Timing(
        prematurity, irregularity, pattern_irregularity=timing.pattern_irregularity, times_s=fibrillating[order]
    )
    kept = early_families_as_v(probs[order], CLASSES, family[order], irregular).argmax(1)
    assert (kept == probs[order].argmax(1)).all()


def test_early_beats_of_the_usual_family_unlike_its_on_time_beats_are_v():
    from arrhythmia.adapt import Timing, unlike_early_beats_as_v

    # MIT-BIH 214: a bundle-branch-block usual beat, and ventricular beats wide enough to join its family
    rng = np.random.default_rng(1)
    n = 200
    family = np.zeros(n, dtype=np.int64)
    family[190:] = 1  # another family: never touched
    likeness = np.clip(0.99 + rng.normal(0, 0.003, n), -1, 1)  # the usual beats' own spread: about 0.003
    prematurity = np.ones(n)
    early = [10, 20, 30, 40, 50, 191]
    prematurity[early] = 0.7
    likeness[[10, 20, 191]] = 0.90  # early and unlike the usual beats: ventricular
    likeness[60] = 0.90  # unlike but on time: a noisy usual beat, left alone
    probs = np.tile(np.array([[0.8, 0.2, 0, 0, 0]], dtype=np.float32), (n, 1))
    probs[[20, 40]] = [0.3, 0.7, 0, 0, 0]  # called S: 20 unlike (V), 40 as like as the rest (an atrial beat)
    timing = Timing(prematurity, np.zeros(n))
    labels = unlike_early_beats_as_v(probs, CLASSES, family, likeness, timing).argmax(axis=1)
    assert labels[[10, 20]].tolist() == [2, 2]
    others = np.setdiff1d(np.arange(n), [10, 20])
    assert (labels[others] == probs[others].argmax(axis=1)).all()
    # a reviewed beat keeps its label; without enough on-time beats to measure the spread, nothing moves
    reviewed = unlike_early_beats_as_v(probs, CLASSES, family, likeness, timing, reviewed={10: 0}).argmax(axis=1)
    assert reviewed[10] == 0 and reviewed[20] == 2
    few = Timing(np.where(np.arange(n) < 180, 0.7, 1.0), np.zeros(n))
    assert (unlike_early_beats_as_v(probs, CLASSES, family, likeness, few) == probs).all()


def test_lone_beats_called_v_f_or_q_that_come_on_time_are_n():
    from arrhythmia.adapt import Timing, lone_on_time_beats_as_n

    n_like, v_like, f_like, q_like = [0.9, 0.1, 0, 0, 0], [0.1, 0, 0.9, 0, 0], [0.3, 0, 0, 0.7, 0], [0.2, 0, 0, 0, 0.8]
    # beats 0-9 the usual family; 10 a lone V on time (noise), 11 a lone F on time, 12 a lone Q on time;
    # 13 a lone V that comes early (a PVC); 14 a lone V on time against its neighbours but early against the
    # beat before it; 15 a lone V on time in an irregular rhythm; 16-20 a family of five V beats on time
    # (an idioventricular rhythm); 21 a lone V on time that a reviewer labelled V
    family = np.array([0] * 10 + [1, 2, 3, 4, 5, 6] + [7] * 5 + [8])
    n = len(family)
    prematurity = np.ones(n)
    prematurity[13] = 0.7
    rr_s = np.full(n, 0.8)
    rr_s[14] = 0.7  # 0.7 s after an interval of 0.8 s: early against it
    rr_s[0] = np.inf
    irregularity = np.full(n, 0.02)
    irregularity[15] = 0.3
    probs = np.array([n_like] * 10 + [v_like, f_like, q_like] + [v_like] * 9, dtype=np.float32)
    out = lone_on_time_beats_as_n(
        probs, CLASSES, family, Timing(prematurity, irregularity, None, rr_s), reviewed={21: 2}
    )
    labels = out.argmax(axis=1)
    assert labels[10:13].tolist() == [0, 0, 0]
    assert out[10, 0] == pytest.approx(0.9) and out[10, 2] == pytest.approx(0.1)  # V's probability went to N
    assert labels[13:].tolist() == [2] * 9
    assert (labels[:10] == 0).all()
    # without the interval before each beat, nothing changes
    unmeasured = Timing(prematurity, irregularity)
    assert np.array_equal(lone_on_time_beats_as_n(probs, CLASSES, family, unmeasured), probs)


def test_an_s_call_after_a_lone_early_beat_that_split_the_usual_interval_is_n():
    from arrhythmia.adapt import Timing, split_intervals_as_n

    n_like, s_like = [0.6, 0.4, 0, 0, 0], [0.3, 0.7, 0, 0, 0]
    # A steady rhythm at 1 s. Beat 5 is a false detection 0.4 s after beat 4 (a shape of its own); beat 6
    # comes 0.6 s after it, when the next usual beat was due: called S for coming early, it is N. Beat 11
    # is a true atrial premature beat 0.7 s after a usual beat (the usual family before it): it stays S.
    # Beat 14 comes 0.5 s after a lone beat 13 that came 0.3 s after beat 12: together 0.8 s, early: S.
    times = np.array([0, 1, 2, 3, 4, 4.4, 5, 6, 7, 8, 9, 9.7, 10.7, 11.0, 11.5, 12.5, 13.5])
    family = np.zeros(len(times), dtype=np.int64)
    family[[5, 13]] = [1, 2]
    rr_s = np.diff(times, prepend=-np.inf)
    prematurity = rr_s / 1.0  # the neighbours' median interval: 1 s
    irregularity = np.full(len(times), 0.02)
    probs = np.array([n_like] * len(times), dtype=np.float32)
    probs[[6, 11, 14]] = s_like
    timing = Timing(prematurity, irregularity, None, rr_s)
    out = split_intervals_as_n(probs, CLASSES, family, timing, premature_ratio=0.86, within=(0.85, 1.2))
    labels = out.argmax(axis=1)
    assert labels[6] == 0 and out[6, 0] == pytest.approx(0.7) and out[6, 1] == pytest.approx(0.3)
    assert labels[11] == 1 and labels[14] == 1
    assert (np.delete(labels, [6, 11, 14]) == 0).all()
    # in the usual family, the beat before beat 6 is the patient's own beat: beat 6 stays S
    same = split_intervals_as_n(probs, CLASSES, np.zeros_like(family), timing, 0.86, (0.85, 1.2))
    assert same.argmax(axis=1)[6] == 1
    # without the interval before each beat, nothing changes
    assert np.array_equal(split_intervals_as_n(probs, CLASSES, family, Timing(prematurity, irregularity)), probs)


def test_predict_labels_every_beat_of_a_long_supraventricular_run_s():
    fs = 250.0
    # sinus rhythm at 75 bpm, a run of 31 beats at 133 bpm, sinus again
    intervals = [0.8] * 120 + [0.45] * 31 + [0.8] * 80
    peaks_s = 1.0 + np.concatenate([[0.0], np.cumsum(intervals)])
    time = np.arange(int((peaks_s[-1] + 1.0) * fs)) / fs
    signal = 0.01 * np.random.default_rng(0).standard_normal(len(time))
    for r in peaks_s:
        signal += np.exp(-0.5 * ((time - r) / 0.012) ** 2) + 0.15 * np.exp(-0.5 * ((time - r + 0.16) / 0.025) ** 2)
    run = slice(121, 152)  # the run's 31 beats
    mostly_n = np.array([0.7, 0.3, 0, 0, 0], np.float32)
    model = constant_model(mostly_n)
    recording = Recording(signal, fs, "MLII", "svt")
    with_runs = label_recording(recording, model)
    beats = with_runs.beats
    assert len(beats) == len(peaks_s)
    assert (beats["label"].iloc[run] == "S").all()
    assert (beats["label"].drop(beats.index[run]) == "N").all()
    assert with_runs.adaptation["rhythm"] == {
        "relabelled": 31,
        "lone_on_time": 0,
        "early_families": 0,
        "unlike_early": 0,
        "in_runs": 31,
        "on_time_families": 0,
        "late_against_previous": 0,
        "split_intervals": 0,
    }
    # Without the step every beat of the run is on time against its neighbours (the run fills half of the
    # 41 beats around each, its first included): N
    without = label_recording(recording, model, adapt={"runs": False}).beats
    assert (without["label"] == "N").all()


def test_timing_groups_split_supraventricular_beats_by_how_the_rules_called_them():
    from arrhythmia.adapt import Timing, describe_group, timing_groups

    n_like, s_like, v_like = [0.8, 0.2, 0, 0, 0], [0.3, 0.7, 0, 0, 0], [0.1, 0.1, 0.8, 0, 0]
    probs = np.array([s_like, s_like, n_like, n_like, n_like, v_like, s_like], dtype=np.float32)
    family = np.array([0, 0, 0, 0, 0, 1, 1])
    timing = Timing(
        prematurity=np.array([0.7, 1.0, 1.0, 1.0, 0.7, 0.7, 0.7]),
        irregularity=np.array([0.02, 0.02, 0.02, 0.02, 0.3, 0.02, 0.02]),
        long_prematurity=np.array([0.6, 1.0, 0.7, 1.0, 0.6, 0.6, 0.6]),
    )
    groups = timing_groups(probs, CLASSES, family, timing, premature_ratio=0.86, irregular_above=0.12)
    # early S, on-time S, N in a fast stretch, plain N (none), early N in an irregular rhythm, V (none),
    # and an early S of the second family: kind * n_families + family
    assert groups.tolist() == [0, 2, 4, -1, 6, -1, 1]
    assert describe_group(4, family) == "beats of a fast stretch called N in family 0"
    unmeasured = Timing(timing.prematurity, timing.irregularity)  # no long reference: no fast stretch
    assert timing_groups(probs, CLASSES, family, unmeasured)[2] == -1


def test_a_groups_answer_carries_through_it_and_only_its_representative_speaks_for_it():
    from arrhythmia.adapt import representatives, reviewed_timing

    probs = np.tile(np.array([0.3, 0.7, 0, 0, 0], np.float32), (6, 1))
    groups = np.array([0, 0, 0, 1, 1, -1])
    out = reviewed_timing(probs, groups, {0: 0})  # group 0 is N
    assert out.argmax(1).tolist() == [0, 0, 0, 1, 1, 1]
    assert out[0, 0] == pytest.approx(0.7) and out[0, 1] == pytest.approx(0.3)
    v_group = reviewed_timing(probs, groups, {1: 2})  # group 1 is V
    assert v_group.argmax(1).tolist() == [1, 1, 1, 2, 2, 1] and v_group[3, 2] == pytest.approx(0.7)
    prematurity = np.array([0.5, 0.7, 0.9, 1.0, 1.1, 0.8])
    assert representatives(groups, prematurity, exclude=np.array([], int)) == {0: [1], 1: [3]}
    assert representatives(groups, prematurity, exclude=np.array([1])) == {0: [0], 1: [3]}


def test_a_large_groups_answer_is_what_most_of_its_three_beats_were_answered():
    from arrhythmia.adapt import group_answers, representatives

    groups = np.array([0] * 9 + [1] * 3)
    prematurity = np.concatenate([np.linspace(0.5, 0.9, 9), [0.7, 0.8, 0.9]])
    standing = representatives(groups, prematurity, exclude=np.array([], int), voters_from=5)
    # the median beat, then those at the quartiles; the small group has only its median beat
    assert standing == {0: [4, 2, 6], 1: [10]}
    assert representatives(groups, prematurity, np.array([], int), voters_from=None)[0] == [4]
    # an atypical median beat is outvoted; a tie goes to the median beat; unanswered beats do not vote
    assert group_answers(standing, {4: 0, 2: 1, 6: 1, 10: 2}) == {0: 1, 1: 2}
    assert group_answers(standing, {4: 0, 2: 1}) == {0: 0}
    assert group_answers(standing, {6: 1}) == {0: 1}
    assert group_answers(standing, {3: 1}) == {}  # a correction of another beat speaks only for itself


def test_only_a_familys_exemplar_carries_it_and_only_a_reviewer_makes_a_family_fusion():
    probs = np.tile(np.array([0.9, 0.1, 0, 0, 0], np.float32), (10, 1))
    family = np.zeros(10, dtype=np.int64)
    exemplar = np.array([4])  # the most typical beat of family 0
    odd = family_consensus(probs, family, CLASSES, reviewed={3: 2}, exemplar=exemplar)  # a correction: itself
    assert (odd.argmax(1) == 0).all()
    typical = family_consensus(probs, family, CLASSES, reviewed={4: 2}, exemplar=exemplar)
    assert (typical.argmax(1) == 2).all()
    # the usual beat's family (family 0) is never fusion; a reviewer may make another one so
    fusion = family_consensus(probs, family, CLASSES, reviewed={4: 3}, exemplar=exemplar)
    assert (fusion.argmax(1) == 0).all()
    fusion_family = family_consensus(probs, family + 1, CLASSES, reviewed={4: 3}, exemplar=np.array([0, 4]))
    assert (fusion_family.argmax(1) == 3).all()
    # the network's vote may, but not for a family it may not make fusion (a late one): that family then
    # takes the morphology it looks most like after fusion
    called_fusion = np.tile(np.array([0.1, 0.0, 0.3, 0.6, 0.0], np.float32), (10, 1))
    assert (family_consensus(called_fusion, family + 1, CLASSES).argmax(1) == 3).all()
    late = np.array([False, True])
    assert (family_consensus(called_fusion, family + 1, CLASSES, no_fusion=late).argmax(1) == 2).all()
    banned = family_consensus(probs, family + 1, CLASSES, reviewed={4: 3}, exemplar=np.array([0, 4]), no_fusion=late)
    assert (banned.argmax(1) == 3).all()  # a reviewer's answer still carries it


def test_late_or_large_families_and_every_family_without_fusion_families_may_not_be_voted_fusion():
    from arrhythmia.adapt import Timing
    from arrhythmia.adapt.pipeline import _no_fusion

    # the usual beat, two small families (one of them late) and one that holds over a fifth of the beats
    family = np.repeat([0, 1, 2, 3], [60, 4, 4, 24])
    prematurity = np.concatenate([[1.0] * 60, [0.98, 1.0, 1.02, 0.9], [1.3, 1.2, 1.25, 1.0], [0.95] * 24])
    timing = Timing(prematurity, np.zeros(len(family)))
    assert _no_fusion(family, timing, AdaptConfig()).tolist() == [True, False, True, True]
    assert _no_fusion(family, timing, AdaptConfig(fusion_share_below=None)).tolist() == [False, False, True, False]
    assert _no_fusion(family, timing, AdaptConfig(fusion_families=False)).tolist() == [True] * 4
    assert _no_fusion(family, None, AdaptConfig()).tolist() == [True, False, False, True]  # no timing: size alone
    assert _no_fusion(family, timing, AdaptConfig(fusion_late_above=None, fusion_share_below=None)) is None


def test_a_family_whose_exemplar_is_s_is_all_s_but_the_usual_beats():
    from arrhythmia.adapt import Families, exemplars, reviewed_s_families

    probs = np.tile(np.array([0.8, 0.2, 0, 0, 0], np.float32), (9, 1))
    probs[8] = [0.1, 0.1, 0.8, 0, 0]  # a V beat in the family answered S keeps its V
    family = np.array([0, 0, 0, 1, 1, 1, 2, 2, 1])
    likeness = np.array([0.9, 0.99, 0.9, 0.9, 0.99, 0.9, 0.99, 0.9, 0.5], np.float32)
    families = Families(family, np.zeros((3, 4), np.float32), likeness)
    assert exemplars(families).tolist() == [1, 4, 6]
    out = reviewed_s_families(probs, CLASSES, family, exemplars(families), {4: 1, 6: 0, 1: 1})  # 1, 0 S; 2 N
    assert out.argmax(1).tolist() == [0, 0, 0, 1, 1, 1, 0, 0, 2]  # the usual beat's family is not carried
    assert out[3, 1] == pytest.approx(0.8)


def test_a_family_answered_s_that_comes_on_time_keeps_each_beats_call():
    from arrhythmia.adapt import Families, exemplars, reviewed_s_families

    # family 1 comes early (aberrant atrial premature beats), family 2 on time (another supraventricular shape)
    probs = np.tile(np.array([0.8, 0.2, 0, 0, 0], np.float32), (9, 1))
    family = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2])
    likeness = np.array([0.9, 0.99, 0.9, 0.9, 0.99, 0.9, 0.9, 0.99, 0.9], np.float32)
    families = Families(family, np.zeros((3, 4), np.float32), likeness)
    prematurity = np.array([1.0, 1.0, 1.0, 0.5, 0.55, 0.6, 0.95, 1.0, 0.7])
    reviewed = {4: 1, 7: 1}  # both exemplars answered S
    out = reviewed_s_families(probs, CLASSES, family, exemplars(families), reviewed, prematurity, 0.86)
    assert out.argmax(1).tolist() == [0, 0, 0, 1, 1, 1, 0, 0, 0]
    # without timing, every family answered S is carried, as before
    out = reviewed_s_families(probs, CLASSES, family, exemplars(families), reviewed)
    assert out.argmax(1).tolist() == [0, 0, 0, 1, 1, 1, 1, 1, 1]


def test_questions_ask_families_then_timing_groups_then_the_border():
    from arrhythmia.adapt import Families

    probs = np.tile(np.array([0.8, 0.2, 0, 0, 0], np.float32), (40, 1))
    probs[30:] = [0.1, 0.1, 0.8, 0, 0]  # family 1: ten V beats
    family = np.where(np.arange(40) < 30, 0, 1)
    likeness = np.linspace(0.5, 0.99, 40).astype(np.float32)
    families = Families(family, np.zeros((2, 4), np.float32), likeness)
    groups = np.full(40, -1)
    groups[:4], groups[10:16] = 2, 4  # a group of four, then a larger one of six
    prematurity = np.linspace(0.5, 1.0, 40)
    asked = questions(probs, CLASSES, families, 7, 5, groups, prematurity, voters_from=6)
    # the V family's most typical beat (not the usual beat's family), the larger group's beat of median
    # prematurity, the other group's, two more of the group large enough to vote, then the border
    assert [i for i, _ in asked[:5]] == [39, 12, 1, 11, 14]
    assert [why for _, why in asked[:5]] == [
        "exemplar of family 1 (10 beats)",
        "beats of a fast stretch called N in family 0 (6 beats)",
        "on-time beats called S in family 0 (4 beats)",
        "another of beats of a fast stretch called N in family 0 (6 beats)",
        "another of beats of a fast stretch called N in family 0 (6 beats)",
    ]
    assert [why for _, why in asked[5:]] == ["near the N/S border"] * 2
    assert len({i for i, _ in asked}) == 7
    assert [i for i, _ in questions(probs, CLASSES, families, 3, 5, groups, prematurity, 6)] == [39, 12, 1]


def test_a_question_about_one_beat_says_one_beat():
    from arrhythmia.adapt import Families

    probs = np.tile(np.array([0.8, 0.2, 0, 0, 0], np.float32), (20, 1))
    families = Families(np.zeros(20, int), np.zeros((1, 4), np.float32), np.linspace(0.5, 0.99, 20).astype(np.float32))
    groups = np.full(20, -1)
    groups[7] = 1  # kind 1 of family 0 (one family): one on-time beat called S
    asked = questions(probs, CLASSES, families, 1, 5, groups, np.linspace(0.5, 1.0, 20), voters_from=6)
    assert asked == [(7, "on-time beats called S in family 0 (1 beat)")]


def test_answers_about_a_few_beats_relabel_their_groups_through_predict():
    from arrhythmia.predict import predict_signal

    rec = synthetic_ecg(duration_s=240, fs=360, seed=5, class_mix={"N": 0.94, "S": 0.03, "V": 0.03})
    recording = Recording(rec.signal, 360.0, "MLII", "r")
    always_s = np.array([0.3, 0.6, 0.1, 0, 0], np.float32)  # a model that calls every beat S
    model = constant_model(always_s)

    def truth(samples):
        nearest = np.abs(rec.r_peaks[None, :] - np.asarray(samples)[:, None]).argmin(axis=1)
        return rec.labels[nearest]

    before = predict_signal(recording, model)
    asked = label_recording(recording, model, ask=4).questions
    assert any(reason.startswith("on-time beats called S") for reason in asked["reason"])
    answers = dict(zip(asked["sample"].tolist(), truth(asked["sample"]).tolist()))
    after = predict_signal(recording, model, reviewed=answers)
    right_before = (before["label"].to_numpy() == truth(before["sample"])).mean()
    right_after = (after["label"].to_numpy() == truth(after["sample"])).mean()
    # four answers, each about a group: the on-time beats are N again, the early ones stay S
    assert right_before < 0.3 and right_after > 0.9
