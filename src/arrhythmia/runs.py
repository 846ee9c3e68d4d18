"""The run directory: one folder per experiment, owned by a ``Run``.

Layout of ``runs/<name>/``::

    config.json       the TrainConfig of the run
    patients.csv      the run's copy of its patients file (``TrainConfig.patients``, ``Run.patients``), if any
    environment.json  package versions, device, git commit
    data.json         data source, where its beats were loaded from, protocol, split note, class counts per split
    history.csv       one row per epoch: losses, accuracies, learning rate, seconds
    model.pt          the kept checkpoint (a ``checkpoint.ModelSpec``: lowest validation loss, or the last epoch)
    last.pt           training state after the last finished epoch, for --resume
    members/<k>/      an ensemble's members, each with its own model.pt, last.pt and history.csv
    metrics.json      test metrics (``evaluation.compute_metrics``); metrics-<source>.json on other data
    predictions.csv   every test beat: record, sample, symbol, true and called class, probabilities
                      (``evaluation.predictions_table``; ``Run.predictions`` reads it); predictions-<source>.csv
                      on other data
    figures/, report.html   written by ``reporting``
    training.lock     held (an OS file lock) by the process training the run, while it trains (``Run.training``)

A ``Run`` is the only code that knows these names. It also gives the run's beats and split, always cut with
the run's own window and split with its own protocol and seed, so every command that reopens a run sees
the beats it trained on.
"""

from __future__ import annotations

import csv
import io
import platform
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from arrhythmia.checkpoint import MODEL_FILE, ONNX_FILE, RESUME_FORMAT, ModelSpec, load_checkpoint
from arrhythmia.config import TrainConfig
from arrhythmia.data import SOURCES, BeatSet, Split, citation, get_window, load_beats, make_split
from arrhythmia.data.beats import AAMI_CLASSES, by_symbol
from arrhythmia.data.splits import DS1, MITDB_RECORDS, read_patients
from arrhythmia.data.wfdb_source import OTHER_LEAD, mixed_lead
from arrhythmia.errors import ArrhythmiaError
from arrhythmia.files import atomic_write_bytes, read_json, write_json, write_text_atomic
from arrhythmia.inference import Classifier

if TYPE_CHECKING:
    import pandas as pd

RUNS_ROOT = Path("runs")
HISTORY_FIELDS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds")


def new_path(name: str, root: Path = RUNS_ROOT) -> Path:
    """``root/<name>-<time>``, with ``-2``, ``-3``, ... after it where that exists: a directory of its own."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path, suffix = root / f"{name}-{stamp}", 1
    while path.exists():
        suffix += 1
        path = root / f"{name}-{stamp}-{suffix}"
    return path


def data_path(data: str | Path | None) -> str | None:
    """``data`` (``TrainConfig.data``, or its ``patients`` file) as a run saves it: a path made absolute, so that
    ``--resume``, ``evaluate`` and ``report`` read the same folder from any directory. A source's name
    (``mitdb``, ``heartbeat``, ``synthetic``: not a path, as ``load_beats`` reads it), None (the default
    source) and a path that does not exist (loading it says so, as the user typed it) are kept."""
    if data is None or _is_source_name(str(data)):
        return data if data is None else str(data)
    path = Path(data).expanduser()
    return str(path.resolve()) if path.exists() else str(data)


def saved_paths(config: TrainConfig) -> TrainConfig:
    """``config`` with its data folder and its patients file as a run saves them (``data_path``)."""
    return replace(config, data=data_path(config.data), patients=data_path(config.patients))


def _is_source_name(data: str) -> bool:
    """Whether ``load_beats`` reads ``data`` as a source's name rather than a path: a downloaded source's
    (``mitdb``, ``heartbeat``) or generated data's (``synthetic``); ``store`` and ``wfdb`` name folders."""
    source = SOURCES.get(data)
    return source is not None and (source.download is not None or source.recognise is None)


def _where(data: str) -> str:
    """Where ``data`` points from the current directory: a source's name, or the absolute path."""
    return data if _is_source_name(data) else str(Path(data).expanduser().resolve())


def _described(source: str, origin: str | None, counts: dict) -> str:
    """A beat set as a refused resume names it: where from, its source and its beats per split."""
    split = " / ".join(f"{sum(counts.get(part, {}).values()):,} {part}" for part in ("train", "val", "test"))
    return f"{origin if origin is not None else 'beats given in memory'} ({source}: {split} beats)"


class Run:
    """A training run's directory and the files in it.

    run = Run.open("runs/fast-cnn-inter-20261128-101500")
    run.config, run.history(), run.metrics(), run.classifier(), run.beats(), run.split()
    """

    CONFIG, ENVIRONMENT, DATA, HISTORY = "config.json", "environment.json", "data.json", "history.csv"
    MODEL, RESUME, METRICS = MODEL_FILE, "last.pt", "metrics.json"
    FIGURES, REPORT, MEMBERS, PATIENTS = "figures", "report.html", "members", "patients.csv"
    PREDICTIONS, TRAINING = "predictions.csv", "training.lock"
    #: Everything a run and the commands on it write into its directory (``metrics-<source>.json`` besides).
    WRITTEN = (
        CONFIG, ENVIRONMENT, DATA, HISTORY, MODEL, RESUME, METRICS, MEMBERS, FIGURES, REPORT, ONNX_FILE, "model.ts.pt",
        PATIENTS, PREDICTIONS,
    )  # fmt: skip

    def __init__(self, path: str | Path, config: TrainConfig | None = None) -> None:
        self.path = Path(path)
        self._config = config
        # Set by ``create``, for ``remove_unstarted``: this object started the run, in the outermost folder made.
        self._created, self._made = False, None
        self._beats: BeatSet | None = None
        self._split: Split | None = None
        self._classifiers: dict[tuple, Classifier] = {}

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    # A run stands for its directory wherever a path is taken: Path(run), open(run / "metrics.json").
    def __fspath__(self) -> str:
        return str(self.path)

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    # -- making and opening -------------------------------------------------------------------------

    @classmethod
    def create(cls, config: TrainConfig, path: str | Path | None = None, root: Path = RUNS_ROOT) -> Run:
        """A new run directory (``root/<model>-<protocol>-<time>`` unless ``path``) holding ``config.json`` (and
        ``patients.csv``, a copy of ``config.patients``); ArrhythmiaError, before anything is written, where
        ``path`` already holds a run (``check_free``) or the patients file cannot be read (``read_patients``)."""
        run = cls(path if path is not None else new_path(f"{config.model}-{config.protocol}", root), config)
        cls.check_free(run.path)
        patients = read_patients(config.patients) if config.patients else None
        missing = [folder for folder in (run.path, *run.path.parents) if not folder.exists()]
        run.path.mkdir(parents=True, exist_ok=True)
        run._created, run._made = True, missing[-1] if missing else None
        config.save(run.path / cls.CONFIG)
        if patients is not None:  # the run's own copy: its split stays the same if the file moves or changes
            table = io.StringIO()
            csv.writer(table, lineterminator="\n").writerows([("record", "patient"), *patients.items()])
            write_text_atomic(run.path / cls.PATIENTS, table.getvalue())
        return run

    @classmethod
    def check_free(cls, path: str | Path) -> None:
        """ArrhythmiaError where ``path`` already holds a run, or files a run writes: a new run there would
        leave the old one's model, history, metrics and exports beside its own settings (and ``--resume``
        would continue the old model under them). A folder that does not exist, or holds nothing a run
        writes, is free."""
        path = Path(path)
        if not path.is_dir():
            return
        found = [name for name in cls.WRITTEN if (path / name).exists()]
        found += sorted(p.name for pattern in ("metrics-*.json", "predictions-*.csv") for p in path.glob(pattern))
        if (path / cls.CONFIG).is_file():
            run = cls(path)
            run.refuse_if_training()
            # A stopped run evaluated as it stands has a metrics.json too: its last.pt says it is not finished.
            stopped = run.stopped()
            if stopped is None and (path / cls.METRICS).is_file():
                raise ArrhythmiaError(f"{path}: already holds a finished run; choose another --run-dir")
            where = f" whose {stopped}" if stopped else ""
            raise ArrhythmiaError(
                f"{path}: already holds a run{where}; continue it with `arrhythmia train --resume {path}`, or choose "
                "another --run-dir"
            )
        if found:
            raise ArrhythmiaError(
                f"{path}: already holds files a run writes ({', '.join(found)}); choose another --run-dir"
            )

    def saved_an_epoch(self) -> bool:
        """Whether training saved anything of this run: a checkpoint of an epoch, its own or a member's."""
        runs = [self, *(Run(folder) for folder in sorted((self.path / self.MEMBERS).glob("*")))]
        return any(run.resume_path.is_file() or run.model_path.is_file() for run in runs)

    def remove_unstarted(self) -> bool:
        """Remove the run this object's ``create`` started, when no epoch of it was saved (``saved_an_epoch``):
        the files the start writes (config, environment, data description), the member folders training
        made, where empty, and the folders ``create`` made, where nothing else went into them. True if it
        removed the run; a run that saved an epoch, or that ``create`` did not start here, is left as it is."""
        if not self._created or self.saved_an_epoch():
            return False
        for name in (self.CONFIG, self.ENVIRONMENT, self.DATA, self.PATIENTS):
            (self.path / name).unlink(missing_ok=True)
        for folder in [*sorted((self.path / self.MEMBERS).glob("*")), self.path / self.MEMBERS]:
            _remove_if_empty(folder)
        if self._made is not None:
            for folder in (self.path, *self.path.parents):
                if not _remove_if_empty(folder) or folder == self._made:
                    break
        return True

    @classmethod
    def open(cls, path: str | Path) -> Run:
        """An existing run; ArrhythmiaError naming the path when it is not one."""
        path = Path(path)
        if path.is_file():  # a run's model.pt or metrics.json given for its folder: not "does not exist"
            raise ArrhythmiaError(f"{path}: a file, not a run directory (give the folder `arrhythmia train` wrote)")
        if not path.is_dir():
            raise ArrhythmiaError(f"{path}: run directory does not exist")
        if not (path / cls.CONFIG).is_file():
            folds = sorted(p.name for p in path.glob("fold-*") if (p / cls.CONFIG).is_file())
            if folds:  # a cross-validation's directory: its folds are the runs
                raise ArrhythmiaError(
                    f"{path}: a cross-validation's directory, not a run: its folds are runs ({', '.join(folds)})"
                )
            raise ArrhythmiaError(f"{path}: not a run directory (no {cls.CONFIG})")
        return cls(path)

    def member(self, k: int) -> Run:
        """Ensemble member ``k``: a run directory of its own under ``members/`` sharing this run's config."""
        return Run(self.path / "members" / str(k), self.config)

    def members(self) -> list[Run]:
        """The runs whose models make up this run's model: itself, or its ensemble members."""
        n = self.config.ensemble
        return [self] if n == 1 else [self.member(k) for k in range(n)]

    # -- files ----------------------------------------------------------------------------------------

    @property
    def config(self) -> TrainConfig:
        if self._config is None:
            where = self.path / self.CONFIG
            self._config = TrainConfig.from_dict(read_json(where, "run config"), where=str(where))
        return self._config

    @property
    def model_path(self) -> Path:
        return self.path / self.MODEL

    @property
    def resume_path(self) -> Path:
        return self.path / self.RESUME

    @property
    def figures_dir(self) -> Path:
        return self.path / self.FIGURES

    @property
    def report_path(self) -> Path:
        return self.path / self.REPORT

    def write_environment(self, device: str, **extra) -> None:
        write_json(self.path / self.ENVIRONMENT, {**environment(device), **extra})

    def record_resume(self, device: str, **extra) -> None:
        """Add to ``environment.json``'s ``resumed`` what a resume of the run runs with (``environment``'s
        keys, and ``extra``: ``distributed``, None for one process), after what the run started with."""
        described = self.environment()
        resumed = [*described.get("resumed", []), {**environment(device), **extra}]
        write_json(self.path / self.ENVIRONMENT, {**described, "resumed": resumed})

    def finished_training(self) -> bool:
        """Whether training ran to its end (early stopping included): every model's ``last.pt`` says so."""
        return all(
            run.resume_path.is_file() and load_checkpoint(run.resume_path, RESUME_FORMAT).get("finished", False)
            for run in self.members()
        )

    def stopped(self) -> str | None:
        """Where training stopped before its end (Ctrl-C, a killed process), as words: "training stopped after
        epoch 2 (of at most 20)", with the ensemble member where there are several. None where training
        finished, or where no ``last.pt`` says otherwise (one from before this was kept, or unreadable)."""
        members = self.members()
        for k, run in enumerate(members):
            if run.resume_path.is_file():
                try:
                    state = load_checkpoint(run.resume_path, RESUME_FORMAT)
                except ArrhythmiaError:
                    continue
                if state.get("finished", True):
                    continue
                done = int(state.get("epoch", -1)) + 1
            elif run.model_path.is_file() or len(members) == 1:
                continue
            else:
                done = 0
            member = f" of ensemble member {k + 1}/{len(members)}" if len(members) > 1 else ""
            return f"training stopped after epoch {done}{member} (of at most {self.config.epochs})"
        return None

    def unfinished(self) -> str | None:
        """A line saying that training stopped before its end and was not resumed (``stopped``), so that the
        model kept is that of the epochs trained so far; None where it did not."""
        stopped = self.stopped()
        if stopped is None:
            return None
        return (
            f"{self.path}: {stopped} and was not resumed: its model is that of the epochs trained so far; "
            f"`arrhythmia train --resume {self.path}` continues it"
        )

    @contextmanager
    def training(self) -> Iterator[None]:
        """Held while this process trains the run: an OS lock on ``training.lock``, which a killed process
        lets go of, so that another process sees the run is being trained (``in_training``) and does not
        train it too or evaluate it midway. ArrhythmiaError (``training_elsewhere``) where another holds it."""
        from filelock import FileLock, Timeout

        path = self.path / self.TRAINING
        lock = FileLock(path)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            raise ArrhythmiaError(self.training_elsewhere()) from None
        try:
            yield
        finally:
            path.unlink(missing_ok=True)  # while held: a finished run's folder keeps no lock file
            lock.release()

    def in_training(self) -> bool:
        """Whether another process is training this run now (holds ``training.lock``: ``training``)."""
        from filelock import FileLock, Timeout

        path = self.path / self.TRAINING
        if not path.is_file():  # never trained under a lock, or let go of at the end: nothing is made here
            return False
        lock = FileLock(path)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            return True
        lock.release()
        return False

    def training_elsewhere(self) -> str:
        """The line that refuses to use a run another process is training (``in_training``)."""
        epochs = ""
        if self.config.ensemble == 1:  # an ensemble's history.csv is written once its members are trained
            saved = len(self.history()) if (self.path / self.HISTORY).is_file() else 0
            epochs = f" ({saved} epoch{'' if saved == 1 else 's'} saved so far)"
        return (
            f"{self.path}: still training in another process{epochs}; wait for it to finish, or stop it (Ctrl-C) "
            f"and the run is there as it stands (`arrhythmia train --resume {self.path}` continues it)"
        )

    def refuse_if_untrained(self) -> None:
        """ArrhythmiaError where no epoch of this run was saved (``saved_an_epoch``): a training killed in its
        first epoch leaves its config and nothing to evaluate, report or export; ``--resume`` trains it."""
        if not self.saved_an_epoch():
            raise ArrhythmiaError(
                f"{self.path}: no epoch of this run was saved (its training was stopped in the first epoch); "
                f"`arrhythmia train --resume {self.path}` trains it from the first"
            )

    def refuse_if_training(self) -> None:
        """ArrhythmiaError where another process is training this run (``in_training``): its model, history
        and files are changing, and a metrics.json or report written now would be replaced."""
        if self.in_training():
            raise ArrhythmiaError(self.training_elsewhere())

    def environment(self) -> dict:
        """``environment.json``, or {} for a run without one."""
        path = self.path / self.ENVIRONMENT
        return read_json(path) if path.is_file() else {}

    def write_data(
        self, beats: BeatSet, split: Split, other_lead: dict | None = None, mixed_lead: dict | None = None
    ) -> None:
        """``data.json``: what the run trained on, for the report and to check a reload against, and where
        its beats were loaded from (``"data"``: their ``origin``, a source's name or a directory; None for
        beats made in memory), for reopening a run whose ``config.data`` is unset; ``other_lead``,
        ``mixed_lead``: the training beats added from the records' other lead (``config.other_lead``) and
        from a mixture of their two leads (``config.mixed_lead``)."""
        data = {
            "source": beats.source,
            "data": beats.origin,
            "description": beats.description,
            "synthetic": beats.synthetic,
            "citation": citation(beats.source),
            "protocol": self.config.protocol,
            "split_note": split.note,
            "classes": list(beats.classes),
            "counts": split.class_counts(beats),
        }
        if other_lead is not None:
            data["other_lead"] = other_lead
        if mixed_lead is not None:
            data["mixed_lead"] = mixed_lead
        write_json(self.path / self.DATA, data)

    def data(self) -> dict:
        return read_json(self.path / self.DATA, "run data description")

    def resumed_data_problem(self, beats: BeatSet | None = None, split: Split | None = None) -> str | None:
        """Why a resume of this run would train on other data than it trained on (``data.json``), as one
        line naming both; None where it would not, or the run kept no description. Without ``beats``, before
        loading: where ``config.data`` points from the current directory (a run that saved it relative, as
        runs did before they saved it absolute, reads another folder from another directory) against where
        the run's beats were loaded from. With the loaded ``beats`` (the first lead's) and their ``split``:
        their source, where they came from, and their classes per split."""
        if not (self.path / self.DATA).is_file():
            return None
        then = self.data()
        origin, source, counts = then.get("data"), then.get("source"), then.get("counts", {})
        if beats is None:
            data = self.config.data
            if data is None or origin is None or _where(data) == origin:
                return None
            hint = ""
            if not _is_source_name(data) and not Path(data).expanduser().is_absolute():
                hint = "; its relative path is read from the current directory: resume from the one the run started in"
            return (
                f"{self.path}: not resumed: its data {data!r} is {_where(data)} from here, but the run trained "
                f"on {_described(source, origin, counts)}{hint}"
            )
        now = split.class_counts(beats) if split is not None else {}
        same_origin = origin is None or beats.origin is None or beats.origin == origin
        if same_origin and beats.source == source and (split is None or now == counts):
            return None
        return (
            f"{self.path}: not resumed: the beats loaded now, {_described(beats.source, beats.origin, now)}, are "
            f"not those the run trained on, {_described(source, origin, counts)}"
        )

    def write_history(self, history: list[dict]) -> None:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=HISTORY_FIELDS)
        writer.writeheader()
        writer.writerows(history)
        write_text_atomic(self.path / self.HISTORY, buffer.getvalue())

    def history(self) -> list[dict]:
        path = self.path / self.HISTORY
        if not path.is_file():
            raise ArrhythmiaError(f"{path}: training history does not exist (did training finish an epoch?)")
        with path.open(newline="", encoding="utf-8") as fh:
            return [{k: float(v) if k != "epoch" else int(v) for k, v in row.items()} for row in csv.DictReader(fh)]

    def metrics_path(self, source: str | None = None) -> Path:
        """``metrics.json`` for the run's own test split, ``metrics-<source>.json`` for another source's."""
        return self.path / (self.METRICS if source is None else f"metrics-{source}.json")

    def write_metrics(self, metrics: dict, source: str | None = None) -> None:
        write_json(self.metrics_path(source), metrics)

    def predictions_path(self, source: str | None = None) -> Path:
        """``predictions.csv`` for the run's own test split, ``predictions-<source>.csv`` for another source's."""
        return self.path / (self.PREDICTIONS if source is None else f"predictions-{source}.csv")

    def write_predictions(self, table: pd.DataFrame, source: str | None = None) -> None:
        """The tested beats' labels and probabilities (``evaluation.predictions_table``), as CSV."""
        atomic_write_bytes(self.predictions_path(source), lambda tmp: table.to_csv(tmp, index=False))

    def predictions(self, source: str | None = None) -> pd.DataFrame:
        """``predictions_path(source)`` read back as written: ``record``, ``symbol``, ``true`` and ``called`` as
        text (read as numbers, a database's record 0001 would be 1, and a symbol or class such as ``NA`` a gap),
        ``sample`` (and a cross-validation's ``fold``) as integers, each ``p_<class>`` as a float. ArrhythmiaError
        (one line) where the run has none: one from before runs wrote them, or not evaluated on ``source``."""
        import pandas as pd  # on use: a second of start-up for every command that imports this module

        path = self.predictions_path(source)
        if not path.is_file():
            raise ArrhythmiaError(f"{path}: the tested beats' labels do not exist (run `arrhythmia evaluate` first)")
        text = {column: str for column in ("record", "symbol", "true", "called")}
        return pd.read_csv(path, dtype=text, keep_default_na=False)

    def metrics(self, source: str | None = None) -> dict:
        """The run's test metrics (``metrics_path(source)``); ArrhythmiaError naming the file, and the command
        that writes it, where it is absent."""
        path = self.metrics_path(source)
        if not path.is_file():
            how = "arrhythmia evaluate" + (f" --data {source}" if source is not None else "")
            raise ArrhythmiaError(f"{path}: no test metrics (run `{how}` on the run first)")
        return read_json(path, "test metrics")

    # -- model, beats and split -----------------------------------------------------------------------

    def spec(self) -> ModelSpec:
        return ModelSpec.load(self.model_path)

    def classifier(self, device: str = "auto") -> Classifier:
        """The run's best model, on ``device`` (default: the best this machine has, whatever the run trained
        on, so a run trained on a GPU opens on a laptop); read once for evaluation and report alike, and
        again only when ``model.pt`` has been rewritten since."""
        key = (device, self.model_path.stat().st_mtime_ns if self.model_path.is_file() else None)
        if key not in self._classifiers:
            self._classifiers = {key: Classifier.from_spec(self.spec(), device, str(self.model_path))}
        return self._classifiers[key]

    def use_beats(self, beats: BeatSet) -> BeatSet:
        """Take ``beats`` as the run's beats (Python API, tests), after checking they fit its config."""
        window = get_window(self.config.window)
        if beats.window != window:
            raise ArrhythmiaError(
                f"{beats.source}: beats were cut with the {beats.window.kind!r} window, "
                f"the run uses {self.config.window!r}"
            )
        if beats is not self._beats:
            beats = self.labelled(beats)
            self._beats, self._split = beats, None
        return beats

    def labelled(self, beats: BeatSet, like: BeatSet | None = None) -> BeatSet:
        """``beats`` with the run's label set (``config.labels``): as loaded for ``aami``; relabelled by their
        MIT-BIH symbols for ``mitdb``, with the symbols of enough beats among its development records
        (inter-patient on MIT-BIH: DS1's, so DS2's patients choose nothing, and every fold of a cross-validation
        over DS1 has the same classes; another database's: all its records, for the same folds' sake; or
        ``like``'s classes)."""
        if self.config.labels != "mitdb" or tuple(beats.classes) != AAMI_CLASSES:
            return beats
        on_mitdb = set(beats.record.astype(str)) <= MITDB_RECORDS
        records = list(DS1) if self.config.protocol == "inter" and on_mitdb else None
        return by_symbol(beats, records=records, classes=None if like is None else tuple(like.classes))

    def data_source(self) -> str | None:
        """The ``data`` to give ``load_beats`` for the run's beats: its ``config.data`` where set; else where
        the beats it was given came from (their ``origin``: in hand after ``use_beats``, else as ``data.json``
        keeps it); None, the default source, for a run that did not say (trained before runs kept it).
        ArrhythmiaError where the run trained on beats made in memory, which cannot be loaded again."""
        if self.config.data is not None:
            return self.config.data
        if self._beats is not None:
            origin = self._beats.origin
        else:
            described = self.data() if (self.path / self.DATA).is_file() else {}
            if "data" not in described:
                return None
            origin = described["data"]
        if origin is None:
            raise ArrhythmiaError(
                f"{self.path}: trained on beats given in memory, not loaded from a folder or source; give them "
                "with run.use_beats(beats), or other data with data=... / --data"
            )
        return origin

    def beats(self, progress: bool = True) -> BeatSet:
        """The beats the run trains and tests on (``data_source()``: its ``config.data``, or where the beats
        it trained on were loaded from), cut with its window (loaded once)."""
        if self._beats is None:
            window = get_window(self.config.window)
            self._beats = self.labelled(load_beats(self.data_source(), progress=progress, window=window))
        return self._beats

    def split(self, beats: BeatSet | None = None) -> Split:
        """The run's split of ``beats`` (default: its own beats) by its protocol and seed; the split of its
        own beats is made once."""
        if beats is not None and beats is not self._beats:
            return make_split(beats, self.config.protocol, self.config.seed, self.config.test_records, self.patients())
        if self._split is None:
            config = self.config
            self._split = make_split(self.beats(), config.protocol, config.seed, config.test_records, self.patients())
        return self._split

    def patients(self) -> dict[str, str] | None:
        """``{record: patient}`` from the run's copy of its ``patients`` file (``TrainConfig.patients``, copied
        when the run started; the file itself for runs from before), or None."""
        if (self.path / self.PATIENTS).is_file():
            return read_patients(self.path / self.PATIENTS)
        return read_patients(self.config.patients) if self.config.patients else None

    def other_lead_beats(self, progress: bool = True) -> BeatSet:
        """The beats of the run's data (``data_source()``) cut from each record's other lead
        (``config.other_lead``)."""
        window = get_window(self.config.window)
        return load_beats(self.data_source(), progress=progress, window=window, lead=OTHER_LEAD)

    def mixed_lead_beats(self, progress: bool = True) -> BeatSet:
        """The beats of the run's data (``data_source()``) cut from a mixture of each record's two leads, at an
        angle drawn with the run's seed (``config.mixed_lead``, ``wfdb_source.mixed_lead``)."""
        window = get_window(self.config.window)
        return load_beats(self.data_source(), progress=progress, window=window, lead=mixed_lead(self.config.seed))

    def load_other_beats(self, data: str) -> BeatSet:
        """Another source's beats cut with this run's window, to evaluate the run's model on."""
        return load_beats(data, progress=False, window=get_window(self.config.window))


def _remove_if_empty(folder: Path) -> bool:
    """Remove ``folder`` where it is an empty directory; whether it is gone."""
    try:
        folder.rmdir()
    except FileNotFoundError:
        return True
    except OSError:  # not empty, or not a directory
        return False
    return True


def environment(device: str) -> dict:
    """What produced a run: versions, platform, device, git commit (when run from a checkout)."""
    versions = {}
    for package in ("arrhythmia", "torch", "numpy", "scipy", "scikit-learn", "wfdb"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    try:
        commit = (
            subprocess.run(
                ["git", "rev-parse", "HEAD"],
                capture_output=True,
                text=True,
                timeout=5,
                cwd=Path(__file__).resolve().parent,
            ).stdout.strip()
            or None
        )
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {
        "versions": versions,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device": device,
        "git_commit": commit,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
