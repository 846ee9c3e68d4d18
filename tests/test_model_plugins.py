"""Models of other installed packages (entry point group ``arrhythmia.models``), as a researcher brings one:
each test writes a tiny distribution (a module that registers a model, and its ``.dist-info`` with
``entry_points.txt``) to a folder on ``sys.path``, where ``importlib.metadata`` finds it as it finds an
installed one."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import arrhythmia.models as registry
from arrhythmia.config import TrainConfig
from arrhythmia.errors import ArrhythmiaError
from arrhythmia.inference import Classifier
from arrhythmia.models import (
    BUILT_IN,
    ModelPluginWarning,
    catalogue,
    create_model,
    describe,
    list_models,
    model_source,
    takes_context,
)

#: A model module: ``{name}`` is the registered name; a 1D CNN small enough to build in milliseconds.
MODEL_MODULE = """
import torch
from torch import nn

from arrhythmia.models import register


@register("{name}", "a tiny plugin CNN")
class TinyPluginNet(nn.Module):
    def __init__(self, n_classes: int = 5, input_length: int = 187):
        super().__init__()
        self.conv = nn.Conv1d(1, 4, 5, padding=2)
        self.out = nn.Linear(4, n_classes)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        return self.out(self.conv(x).mean(dim=2))
"""


def write_distribution(root: Path, distribution: str, module: str, source: str, entry: str | None = None) -> None:
    """Distribution ``distribution`` in folder ``root``: module ``module`` holding ``source``, and an
    ``arrhythmia.models`` entry point (named ``entry``, default the distribution) that names it."""
    (root / f"{module}.py").write_text(source)
    info = root / f"{distribution}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[arrhythmia.models]\n{entry or distribution} = {module}\n")


@pytest.fixture
def fresh_registry(monkeypatch):
    """The registry as a new process has it (built-in models only, no plugin looked for), restored after,
    with the plugin modules a test imported forgotten."""
    saved = {key: getattr(registry, key).copy() for key in ("_REGISTRY", "_DESCRIPTIONS", "_SOURCES")}
    modules = set(sys.modules)
    builtin = {name for name, source in registry._SOURCES.items() if source.startswith("arrhythmia.")}
    for key in ("_REGISTRY", "_DESCRIPTIONS", "_SOURCES"):
        table = getattr(registry, key)
        for name in set(table) - builtin:
            del table[name]
    monkeypatch.setattr(registry, "_PLUGINS_LOADED", False)
    monkeypatch.setattr(registry, "_PLUGIN_FAILURES", [])
    yield
    for key, table in saved.items():
        getattr(registry, key).clear()
        getattr(registry, key).update(table)
    for module in set(sys.modules) - modules:
        if module.startswith("plugin_"):
            del sys.modules[module]


@pytest.fixture
def plugin_root(tmp_path, monkeypatch, fresh_registry) -> Path:
    """A folder on sys.path for distributions; the registry reset."""
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    return root


def test_a_plugin_model_is_imported_once_the_first_time_a_name_is_not_built_in(plugin_root):
    write_distribution(plugin_root, "tinyplug", "plugin_tiny", MODEL_MODULE.format(name="tiny-plug"))
    importlib.invalidate_caches()
    create_model("fast-cnn")  # built in: no plugin imported, nor by a training config's checks
    TrainConfig(model="fast-cnn", context_features=True).validate()
    assert "plugin_tiny" not in sys.modules and not registry._PLUGINS_LOADED
    model = create_model("tiny-plug", n_classes=3, input_length=87).eval()
    assert model(torch.zeros(2, 1, 87), None).shape == (2, 3)
    assert "plugin_tiny" in sys.modules and "tiny-plug" in list_models()
    assert model_source("tiny-plug") == "tinyplug" and model_source("fast-cnn") == BUILT_IN
    assert describe("tiny-plug") == "a tiny plugin CNN" and not takes_context("tiny-plug")
    with pytest.raises(ArrhythmiaError, match="'tiny-plug' does not take context features"):
        create_model("tiny-plug", n_context=9)
    entry = next(e for e in catalogue() if e.name == "tiny-plug")
    assert (entry.source, entry.parameters) == ("tinyplug", 4 * 5 + 4 + 4 * 5 + 5)  # conv, linear: at 5 classes


def test_a_plugin_that_fails_to_import_is_one_warning_and_the_built_in_models_stay(plugin_root):
    write_distribution(plugin_root, "brokenplug", "plugin_broken", "import plugin_no_such_module\n")
    importlib.invalidate_caches()
    with pytest.warns(ModelPluginWarning) as warned:
        names = list_models()
    assert len(warned) == 1
    message = str(warned[0].message)
    assert "brokenplug" in message and "ModuleNotFoundError: No module named 'plugin_no_such_module'" in message
    assert "\n" not in message
    assert {"fast-cnn", "se-resnet", "seed-cnn", "kachuee-resnet"} <= set(names)
    assert create_model("fast-cnn") is not None
    # Once per process: asking again warns no more, and an unknown name says which plugin was left out.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ArrhythmiaError, match=r"unknown model 'nope'.*left out, as warned: brokenplug"):
            create_model("nope")
        list_models()


def test_a_plugin_that_takes_a_name_already_registered_is_left_out_whole(plugin_root):
    # One plugin registers a model of its own, then one named as a built-in: neither is kept.
    two = MODEL_MODULE.format(name="plugin-own") + MODEL_MODULE.format(name="fast-cnn").replace(
        "TinyPluginNet", "FastImpostor"
    )
    write_distribution(plugin_root, "aplug", "plugin_a", two)
    # Two plugins register the same name: the first (by distribution name) keeps it, the second is left out.
    write_distribution(plugin_root, "bplug", "plugin_b", MODEL_MODULE.format(name="shared-net"))
    write_distribution(plugin_root, "cplug", "plugin_c", MODEL_MODULE.format(name="shared-net"))
    importlib.invalidate_caches()
    fast = registry._REGISTRY["fast-cnn"]
    with pytest.warns(ModelPluginWarning) as warned:
        names = list_models()
    messages = sorted(str(w.message) for w in warned)
    assert len(messages) == 2, messages
    assert (
        "aplug" in messages[0] and "model 'fast-cnn' is registered already, by arrhythmia (built in)" in (messages[0])
    )
    assert "cplug" in messages[1] and "model 'shared-net' is registered already, by bplug" in messages[1]
    assert "plugin-own" not in names and registry._REGISTRY["fast-cnn"] is fast
    assert model_source("shared-net") == "bplug" and model_source("fast-cnn") == BUILT_IN


def test_a_plugin_that_registers_nothing_is_said(plugin_root):
    write_distribution(plugin_root, "emptyplug", "plugin_empty", "# forgot to import the module with the model\n")
    importlib.invalidate_caches()
    with pytest.warns(ModelPluginWarning, match="emptyplug: registers no model"):
        list_models()


def test_registering_another_class_under_a_taken_name_is_refused_and_the_same_class_again_replaces(fresh_registry):
    from torch import nn

    from arrhythmia.models import register

    with pytest.raises(ArrhythmiaError, match="model 'seed-cnn' is registered already, by arrhythmia"):

        @register("seed-cnn", "a script's model under a built-in name")
        class Impostor(nn.Module):
            def forward(self, x, context=None):
                return x

    def define():  # as a notebook cell run twice defines it
        @register("script-net", "a script's model")
        class ScriptNet(nn.Module):
            def forward(self, x, context=None):
                return x

        return ScriptNet

    define()
    again = define()
    assert registry._REGISTRY["script-net"] is again and model_source("script-net") == __name__


def _spec_of(model: str, network: torch.nn.Module):
    from arrhythmia.checkpoint import Member, ModelSpec
    from arrhythmia.data import get_window
    from arrhythmia.scaling import Scaling

    window = get_window("kachuee")
    scaling = Scaling(np.zeros(window.length, np.float32), np.ones(window.length, np.float32))
    return ModelSpec(model, ("N", "S", "V", "F", "Q"), window, (), scaling, [Member(model, network.state_dict())])


def test_a_model_of_a_plugin_is_read_back_in_a_new_process_and_named_where_the_plugin_is_missing(plugin_root, tmp_path):

    write_distribution(plugin_root, "tinyplug", "plugin_saved", MODEL_MODULE.format(name="saved-net"))
    importlib.invalidate_caches()
    torch.manual_seed(0)
    network = create_model("saved-net")
    checkpoint = tmp_path / "model.pt"
    _spec_of("saved-net", network).save(checkpoint)

    # A new process with the plugin installed: `arrhythmia models` lists it, the checkpoint builds.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(plugin_root), os.environ.get("PYTHONPATH", "")])}
    listed = subprocess.run(
        [sys.executable, "-m", "arrhythmia.cli", "models"], capture_output=True, text=True, env=env, timeout=120
    )
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if "saved-net" in line)
    assert "tinyplug" in row and f"{sum(p.numel() for p in network.parameters()):,}" in row
    assert "warning" not in listed.stderr
    read = (
        "import sys, torch; from arrhythmia.inference import Classifier; "
        "c = Classifier.from_checkpoint(sys.argv[1], 'cpu'); "
        "print(c.predict_proba(torch.zeros(2, 187).numpy()).shape)"
    )
    built = subprocess.run(
        [sys.executable, "-c", read, str(checkpoint)], capture_output=True, text=True, env=env, timeout=120
    )
    assert built.returncode == 0 and built.stdout.strip() == "(2, 5)", built.stderr

    # The plugin uninstalled (as a new process without it sees the registry): one line naming the model.
    sys.path.remove(str(plugin_root))
    importlib.invalidate_caches()
    for key in ("_REGISTRY", "_DESCRIPTIONS", "_SOURCES"):
        getattr(registry, key).pop("saved-net")
    registry._PLUGINS_LOADED = False
    with pytest.raises(ArrhythmiaError) as error:
        Classifier.from_checkpoint(checkpoint)
    message = str(error.value)
    assert message.startswith(f"{checkpoint}: unknown model 'saved-net' (available: ") and "seed-cnn" in message
    assert "not built in, and no installed package registers it" in message
    assert "needs that package installed" in message and "arrhythmia.models" in message
    # compare and evaluate read the run's config.json first: the same words.
    from arrhythmia.config import TrainConfig

    with pytest.raises(ArrhythmiaError, match=r"^RUN/config.json: unknown model 'saved-net' .*needs that package"):
        TrainConfig.from_dict({"model": "saved-net"}, where="RUN/config.json")


def test_a_plugin_model_that_cannot_be_built_is_listed_with_the_reason(plugin_root):
    # A constructor that wants a setting the registry does not give.
    needs_more = MODEL_MODULE.format(name="picky-net").replace("= 187", "= 187, *, depth: int")
    write_distribution(plugin_root, "pickyplug", "plugin_picky", needs_more)
    importlib.invalidate_caches()
    entry = next(e for e in catalogue() if e.name == "picky-net")
    assert entry.parameters is None and entry.source == "pickyplug"
    assert entry.problem.startswith("model 'picky-net' of pickyplug cannot be built: TypeError:")


def test_weights_that_do_not_fit_their_model_are_one_line_naming_the_file(tmp_path):
    """torch's load_state_dict listed every missing and unexpected key over many lines."""
    network = create_model("fast-cnn")
    state = network.state_dict()
    state.pop(next(iter(state)))
    state["extra.weight"] = torch.zeros(3)
    network.state_dict = lambda: state  # the saved weights: one key gone, one not the model's
    _spec_of("fast-cnn", network).save(tmp_path / "model.pt")
    with pytest.raises(ArrhythmiaError) as error:
        Classifier.from_checkpoint(tmp_path / "model.pt")
    message = str(error.value)
    assert "\n" not in message and message.startswith(f"{tmp_path / 'model.pt'}: weights do not fit model 'fast-cnn'")
    assert "1 missing, e.g." in message and "1 not in the model, e.g. extra.weight" in message
