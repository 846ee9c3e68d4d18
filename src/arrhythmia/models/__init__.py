"""Model registry: each architecture is one small file that registers itself with ``@register``.

Adding a model is one file here and one import line below. A model is an ``nn.Module`` whose constructor
takes ``n_classes`` and ``input_length`` (keywords) and whose forward has the signature
``forward(self, x, context=None)``:

    x : (batch, 1, input_length) float32, standardised beat windows
    context : (batch, n_context) float32 rhythm features of each beat (see ``data.context``), or None
    returns logits (batch, n_classes)

Training and inference always call ``model(x, context)``, so a model without context features still
takes ``context`` (and is given None). Models that use the features set the class attribute
``takes_context = True`` and accept ``n_context`` in their constructor. ``register`` checks the forward
signature.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

from torch import nn

from arrhythmia.errors import ArrhythmiaError

_REGISTRY: dict[str, Callable[..., nn.Module]] = {}
_DESCRIPTIONS: dict[str, str] = {}


def register(name: str, description: str) -> Callable:
    """Class decorator: make a model constructible as ``create_model(name, n_classes, input_length)``;
    ArrhythmiaError where its forward cannot be called as ``forward(x, context)`` (the module docstring)."""

    def wrap(cls: type[nn.Module]) -> type[nn.Module]:
        _check_forward(name, cls)
        _REGISTRY[name] = cls
        _DESCRIPTIONS[name] = description
        return cls

    return wrap


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


def create_model(name: str, n_classes: int = 5, input_length: int = 187, n_context: int = 0) -> nn.Module:
    """A freshly initialised model. Input ``(batch, 1, input_length)`` and, with ``n_context > 0``, rhythm
    features ``(batch, n_context)``; output logits ``(batch, n_classes)``."""
    if name not in _REGISTRY:
        raise ArrhythmiaError(f"unknown model {name!r} (available: {', '.join(list_models())})")
    if n_context:
        if not takes_context(name):
            raise ArrhythmiaError(
                f"model {name!r} does not take context features (ones that do: {', '.join(context_models())})"
            )
        return _REGISTRY[name](n_classes=n_classes, input_length=input_length, n_context=n_context)
    return _REGISTRY[name](n_classes=n_classes, input_length=input_length)


def takes_context(name: str) -> bool:
    """Whether model ``name`` can fuse the beat window with rhythm features."""
    return bool(getattr(_REGISTRY[name], "takes_context", False))


def context_models() -> list[str]:
    return [name for name in list_models() if takes_context(name)]


def list_models() -> list[str]:
    return sorted(_REGISTRY)


def describe(name: str) -> str:
    return _DESCRIPTIONS[name]


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(total, trainable) parameter counts."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return total, trainable


# Registered models: one import per file.
from arrhythmia.models import fast_cnn, kachuee_resnet, se_resnet, seed_cnn  # noqa: E402, F401
