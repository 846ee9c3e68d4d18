"""Model registry: each architecture is one small file that registers itself with ``@register``.

A built-in model is one file here and one import line below. A model of your own needs no fork: put it in
a package of your own, registered with the same ``@register``, and name the module in your package's
entry points, group ``arrhythmia.models`` (``ENTRY_POINT_GROUP``)::

    [project.entry-points."arrhythmia.models"]
    my-net = "mymodels.net"        # a module (or module:object) whose import registers one or more models

Installed (``pip install -e .``), its models are found by every command, in every process: the registry
imports the entry points once, the first time it is asked for a name it does not have or for the list of
models (a built-in name never imports a plugin). A plugin that fails to import, or that registers a name
another model has, is left out with one warning (``ModelPluginWarning``) naming its distribution, and the
other models stay. A run trained with a plugin's model is read back wherever that package is installed;
where it is not, the error says so (``unknown_model``). ``arrhythmia models`` lists each model with the
distribution it comes from (``catalogue``, ``model_source``).

A model is an ``nn.Module`` class whose constructor takes ``n_classes`` and ``input_length`` (keywords) and
whose forward has the signature ``forward(self, x, context=None)``:

    x : (batch, 1, input_length) float32, standardised beat windows
    context : (batch, n_context) float32 rhythm features of each beat (see ``data.context``), or None
    returns logits (batch, n_classes)

What the numbers are. A beat window is the ECG lead resampled to 125 Hz (``data.beats.BEAT_FS``) around one R
peak, as ``--window`` says (``data.beats.WINDOWS``): ``kachuee``, 187 samples from the R peak on (sample 0;
1.2 median RR long, zero-padded), or ``centred``, 87 samples, the R peak at sample 31 (0.25 s before it to
0.45 s after). Each is scaled by the min and max of its 10-s stretch to about [0, 1] (``data.segmentation``),
then standardised per sample position with the training split's mean and standard deviation
(``scaling.Scaling``): no unit, about zero mean and unit variance. ``n_context`` is 9 where given, the
features ``data.context.CONTEXT_FEATURES`` in that order (RR intervals in seconds and their ratios, likeness
to the recording's typical beat), standardised likewise. ``n_classes`` is 5 for the AAMI classes N, S, V, F, Q
in that order (more with ``--labels mitdb``). Return logits, not probabilities: training takes the
cross-entropy of them, and every caller applies the softmax. The batch size is any, one included; ``arrhythmia
export`` traces the model for ONNX with the batch axis free, so the forward should not branch on the values of
``x``. Settings of your own (widths, depth) are not passed: register a subclass per setting
(``@register("my-net-32", ...)`` over ``class MyNet32(MyNet)``).

Training and inference always call ``model(x, context)``, so a model without context features still
takes ``context`` (and is given None). Models that use the features set the class attribute
``takes_context = True`` and accept ``n_context`` in their constructor. ``register`` checks the forward
signature; ``create_model`` runs each new model on a batch of two beats and one (``check_model``), so that a
constructor without these keywords, a window length the model cannot take, or an output of another shape
(``(batch, 1, n_classes)``, a tuple, a batch of one squeezed away) is one line naming the model when it is
built, not a traceback in the first epoch. ``tests/test_contrib_models.py`` shows each.
"""

from __future__ import annotations

import difflib
import inspect
import sys
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata

import torch
from torch import nn

from arrhythmia.errors import ArrhythmiaError, one_line

#: The entry point group in which other installed packages name the modules that register their models.
ENTRY_POINT_GROUP = "arrhythmia.models"
#: How ``model_source`` names a model of this package.
BUILT_IN = "built in"

_REGISTRY: dict[str, Callable[..., nn.Module]] = {}
_DESCRIPTIONS: dict[str, str] = {}
#: name -> the distribution that registered it (a plugin's), else the module of its class
_SOURCES: dict[str, str] = {}
_PLUGINS_LOADED = False
_PLUGINS_LOCK = threading.RLock()  # serve's threads may ask first at once
_LOADING: list[str] = []  # the distribution whose entry point is being imported, while it is
_PLUGIN_FAILURES: list[str] = []  # "distribution (entry point NAME)" of each plugin left out


class ModelPluginWarning(UserWarning):
    """A plugin model package (entry point group ``arrhythmia.models``) that was left out, and why."""


def register(name: str, description: str) -> Callable:
    """Class decorator: make a model constructible as ``create_model(name, n_classes, input_length)``;
    ArrhythmiaError where its forward cannot be called as ``forward(x, context)`` (the module docstring),
    or where another model has the name (registering the same class again, as a notebook cell run twice
    does, replaces it)."""

    def wrap(cls: type[nn.Module]) -> type[nn.Module]:
        if not (isinstance(cls, type) and issubclass(cls, nn.Module)):  # a factory function: no forward to check
            raise ArrhythmiaError(
                f"model {name!r}: @register decorates an nn.Module class, not a {type(cls).__name__} "
                f"({_qualified(cls)}); put the network in a class whose __init__(n_classes, input_length) builds "
                "it and whose forward(self, x, context=None) runs it"
            )
        _check_forward(name, cls)
        existing = _REGISTRY.get(name)
        if existing is not None and _qualified(existing) != _qualified(cls):
            raise ArrhythmiaError(
                f"model {name!r} is registered already, by {_source_phrase(name)} ({_qualified(existing)})"
            )
        _REGISTRY[name] = cls
        _DESCRIPTIONS[name] = description
        _SOURCES[name] = _LOADING[-1] if _LOADING else cls.__module__
        return cls

    return wrap


def _qualified(cls: Callable) -> str:
    return f"{getattr(cls, '__module__', '?')}.{getattr(cls, '__qualname__', repr(cls))}"


def _check_forward(name: str, cls: type[nn.Module]) -> None:
    """ArrhythmiaError unless ``cls.forward`` takes the beats and their context features, ``(x, context)``."""
    try:
        inspect.signature(cls.forward).bind(None, None, None)  # self, x, context
    except TypeError:
        raise ArrhythmiaError(
            f"model {name!r}: forward{inspect.signature(cls.forward)} must be forward(self, x, context=None): "
            "x (batch, 1, input_length), context (batch, n_context) or None -> logits (batch, n_classes)"
        ) from None
    except ValueError:  # no signature to read (a builtin): left to the first call
        return


def load_plugins() -> None:
    """Import, once per process, every module named in the ``arrhythmia.models`` entry points of the
    installed distributions, so that the models they register are known. One that fails to import, registers
    a name another model has, or registers nothing is left out (its models too) with a ``ModelPluginWarning``
    naming the distribution and the problem; the built-in models stay as they are."""
    global _PLUGINS_LOADED
    with _PLUGINS_LOCK:
        if _PLUGINS_LOADED:
            return
        _PLUGINS_LOADED = True  # first: a plugin that lists the models while it is imported finds no loop
        found = metadata.entry_points(group=ENTRY_POINT_GROUP)
        for entry in sorted(found, key=lambda e: (_distribution(e), e.name)):
            _load_plugin(entry)


def _distribution(entry: metadata.EntryPoint) -> str:
    return entry.dist.name if entry.dist is not None else "an unnamed distribution"


def _load_plugin(entry: metadata.EntryPoint) -> None:
    """Import one entry point's module and keep the models it registers, or, where it fails, none of them and
    a ``ModelPluginWarning`` (``load_plugins``)."""
    distribution = _distribution(entry)
    before = set(_REGISTRY)
    imported_before = entry.module in sys.modules
    _LOADING.append(distribution)
    try:
        entry.load()
        problem = None
    except ArrhythmiaError as exc:  # @register refused a model: a name taken, a forward without context
        problem = one_line(exc)
    except Exception as exc:  # a plugin's own bug: its models are left out, not the command
        problem = f"cannot be imported ({one_line(exc)})"
    finally:
        _LOADING.pop()
    added = set(_REGISTRY) - before
    # Imported before the registry asked (a script's `import mymodels`): its models are the distribution's.
    for name, source in _SOURCES.items():
        if source == entry.module or source.startswith(entry.module + "."):
            _SOURCES[name] = distribution
    if problem is None and not added and not imported_before:
        problem = "registers no model (its module does not use @register, or imports none that does)"
    if problem is None:
        return
    for name in added:  # a half-loaded plugin: none of its models, so that a run never mixes them
        _REGISTRY.pop(name, None)
        _DESCRIPTIONS.pop(name, None)
        _SOURCES.pop(name, None)
    _PLUGIN_FAILURES.append(f"{distribution} (entry point {entry.name})")
    warnings.warn(
        f"model plugin {entry.name} = {entry.value!r} of the package {distribution}: {problem}; "
        "its models are left out",
        ModelPluginWarning,
        stacklevel=4,
    )


def _model_class(name: str) -> Callable[..., nn.Module]:
    """The registered constructor of ``name``, the plugins imported first where it is not built in."""
    if not is_model(name):
        raise ArrhythmiaError(unknown_model(name))
    return _REGISTRY[name]


def is_model(name: str) -> bool:
    """Whether ``name`` is a registered model; the plugins are imported only for a name not built in."""
    if name not in _REGISTRY:
        load_plugins()
    return name in _REGISTRY


def unknown_model(name: str) -> str:
    """The one-line error for a model name that neither this package nor an installed plugin registers:
    a run trained with a plugin's model, read where the plugin is not installed, meets it."""
    load_plugins()
    failed = f"; left out, as warned: {', '.join(_PLUGIN_FAILURES)}" if _PLUGIN_FAILURES else ""
    # A typo, or '_' for '-' (se_resnet), is the likelier mistake than a plugin that is not installed.
    close = difflib.get_close_matches(name.replace("_", "-"), list_models(), n=1, cutoff=0.75)
    guess = f"did you mean {close[0]!r}? " if close else ""
    return (
        f"unknown model {name!r} ({guess}available: {', '.join(list_models())}{failed}): not built in, and no "
        f"installed package registers it; a run trained with a model of another package needs that package installed "
        f"(its entry points, group {ENTRY_POINT_GROUP!r}, register the model)"
    )


def create_model(name: str, n_classes: int = 5, input_length: int = 187, n_context: int = 0) -> nn.Module:
    """A freshly initialised model. Input ``(batch, 1, input_length)`` and, with ``n_context > 0``, rhythm
    features ``(batch, n_context)``; output logits ``(batch, n_classes)``. ArrhythmiaError (one line, naming
    the model and where it comes from) where its constructor does not take these keywords, or where the model
    does not map beats to logits of that shape (``check_model``)."""
    constructor = _model_class(name)
    if n_context and not takes_context(name):
        raise ArrhythmiaError(no_context(name))
    keywords = {"n_classes": n_classes, "input_length": input_length, **({"n_context": n_context} if n_context else {})}
    try:
        model = constructor(**keywords)
    except ArrhythmiaError:  # the model's own words (kachuee-resnet: a window too short for its pooling)
        raise
    except Exception as exc:  # a contributor's constructor: said here, not as a traceback in train or predict
        wanted = "n_classes, input_length, n_context" if n_context else "n_classes, input_length"
        raise ArrhythmiaError(
            f"model {name!r} of {_source_phrase(name)} cannot be built: {one_line(exc)}; its constructor is called "
            f"as __init__({wanted}) with keywords ({', '.join(f'{k}={v}' for k, v in keywords.items())})"
        ) from None
    check_model(model, name, n_classes, input_length, n_context)
    return model


#: The batches ``check_model`` runs: several beats, and one (predict's last chunk may hold one, and a
#: ``squeeze()`` takes that axis away too).
CHECK_BATCHES = (2, 1)


def check_model(model: nn.Module, name: str, n_classes: int, input_length: int, n_context: int = 0) -> None:
    """ArrhythmiaError (one line) unless ``model`` maps beat windows to logits as the module docstring says:
    ``model(x, context)`` with x ``(batch, 1, input_length)`` float32 and context ``(batch, n_context)`` (None
    where ``n_context`` is 0) must return one float tensor ``(batch, n_classes)``, for each of
    ``CHECK_BATCHES``.

    Run on the CPU without gradients in eval mode (its mode restored after), on a ramp, not random numbers:
    the weights, the batch norms' running statistics and torch's random numbers are left as they were, so a
    model trains and labels as it would unchecked. Costs a forward pass of three beats."""
    source = _source_phrase(name)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for batch in CHECK_BATCHES:
                x = torch.linspace(0.0, 1.0, input_length).expand(batch, 1, input_length).contiguous()
                context = torch.zeros(batch, n_context) if n_context else None
                given = f"a batch of {batch} beat{'s' if batch > 1 else ''} (x {tuple(x.shape)}" + (
                    f", context {tuple(context.shape)})" if n_context else ", context None)"
                )
                try:
                    out = model(x, context)
                except ArrhythmiaError:
                    raise
                except Exception as exc:  # torch's shape errors, from deep inside the model
                    raise ArrhythmiaError(
                        f"model {name!r} of {source} fails on beat windows of {input_length} samples, {given}: "
                        f"{one_line(exc)}; a model takes the input_length it is built with (187 samples for "
                        "--window kachuee, 87 for centred)"
                    ) from None
                expected = (batch, n_classes)
                if not isinstance(out, torch.Tensor):
                    raise ArrhythmiaError(
                        f"model {name!r} of {source} returned a {type(out).__name__} for {given}; forward must "
                        f"return the logits alone, one tensor (batch, n_classes) = {expected}"
                    )
                if tuple(out.shape) != expected or not out.is_floating_point():
                    raise ArrhythmiaError(
                        f"model {name!r} of {source} returned a tensor of shape {tuple(out.shape)} ({out.dtype}) "
                        f"for {given}; forward must return float logits (batch, n_classes) = {expected}"
                    )
    finally:
        model.train(was_training)


def takes_context(name: str) -> bool:
    """Whether model ``name`` can fuse the beat window with rhythm features."""
    return bool(getattr(_model_class(name), "takes_context", False))


def no_context(name: str) -> str:
    """The one-line error for context features given to model ``name``, which takes none."""
    return (
        f"model {name!r} does not take context features (ones that do: {', '.join(context_models())}); train it "
        "without them with --no-context-features (context_features: false), which the fast and best presets turn on"
    )


def context_models() -> list[str]:
    """The models that take context features (``takes_context``), plugins' included."""
    return [name for name in list_models() if takes_context(name)]


def list_models() -> list[str]:
    """Every model name: the built-in ones and those of the installed plugins."""
    load_plugins()
    return sorted(_REGISTRY)


def describe(name: str) -> str:
    """Model ``name``'s one-line description; ArrhythmiaError (``unknown_model``) for a name not registered."""
    _model_class(name)  # the plugins imported where needed, and the error for an unknown name
    return _DESCRIPTIONS[name]


def model_source(name: str) -> str:
    """Where model ``name`` comes from: ``BUILT_IN``, the distribution of the plugin that registered it, or
    (registered by a script's ``@register``) the module of its class."""
    _model_class(name)  # the plugins imported where needed, and the error for an unknown name
    source = _SOURCES.get(name, BUILT_IN)
    return BUILT_IN if source.startswith("arrhythmia.") else source


def _source_phrase(name: str) -> str:
    source = model_source(name)
    return "arrhythmia (built in)" if source == BUILT_IN else source


@dataclass(frozen=True)
class ModelEntry:
    """One line of ``arrhythmia models``: parameters is the count at the default shape (5 classes, a
    187-sample window, no context features), None where the model cannot be built (``problem`` says why)."""

    name: str
    description: str
    source: str
    parameters: int | None
    problem: str | None = None


def catalogue() -> list[ModelEntry]:
    """Every model (``list_models``) with its description, where it comes from and its parameter count."""
    entries = []
    for name in list_models():
        try:
            parameters, problem = count_parameters(create_model(name))[0], None
        except ArrhythmiaError as exc:  # create_model's own line names the model and where it comes from
            parameters, problem = None, one_line(exc)
        except Exception as exc:  # a plugin's constructor: the listing says so and goes on
            parameters, problem = None, f"model {name!r} of {model_source(name)} cannot be built: {one_line(exc)}"
        entries.append(ModelEntry(name, describe(name), model_source(name), parameters, problem))
    return entries


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(total, trainable) parameter counts."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return total, trainable


# Registered models: one import per file.
from arrhythmia.models import fast_cnn, kachuee_resnet, se_resnet, seed_cnn  # noqa: E402, F401
