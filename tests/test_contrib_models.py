"""The contract of a model, as a contributor meets it: a model of their own that breaks it is one line naming
the model and what it must do, when it is built, not a torch traceback in the middle of the first epoch."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
import torch
from torch import nn

import arrhythmia.models as registry
from arrhythmia.errors import ArrhythmiaError
from arrhythmia.models import create_model, register, unknown_model


@pytest.fixture
def names() -> Iterator[list[str]]:
    """Names a test registers, forgotten after it."""
    registered: list[str] = []
    yield registered
    for name in registered:
        for table in (registry._REGISTRY, registry._DESCRIPTIONS, registry._SOURCES):
            table.pop(name, None)


def register_model(names: list[str], name: str, cls: type[nn.Module]) -> None:
    names.append(name)
    register(name, f"test model {name}")(cls)


class Unsqueezed(nn.Module):
    """Forgets to take the channel axis away: (batch, 1, n_classes)."""

    def __init__(self, n_classes: int = 5, input_length: int = 187):
        super().__init__()
        self.out = nn.Linear(input_length, n_classes)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        return self.out(x)


class Fixed187(nn.Module):
    """Written for the kachuee window alone: a dense layer of 187 inputs."""

    def __init__(self, n_classes: int = 5, input_length: int = 187):
        super().__init__()
        self.out = nn.Linear(187, n_classes)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        return self.out(x.flatten(1))


class WithFeatures(nn.Module):
    """Returns its features beside the logits."""

    def __init__(self, n_classes: int = 5, input_length: int = 187):
        super().__init__()
        self.out = nn.Linear(1, n_classes)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        h = x.mean(dim=2)
        return self.out(h), h


class FiveClasses(nn.Module):
    """Hard-codes the five AAMI classes (``--labels mitdb`` has more)."""

    def __init__(self, n_classes: int = 5, input_length: int = 187):
        super().__init__()
        self.out = nn.Linear(1, 5)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        return self.out(x.mean(dim=2))


class Squeezed(nn.Module):
    """Right for a batch of several beats, but ``squeeze()`` takes a batch of one away too."""

    def __init__(self, n_classes: int = 5, input_length: int = 187):
        super().__init__()
        self.out = nn.Linear(1, n_classes)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        return self.out(x.mean(dim=2)).squeeze()


class NoLength(nn.Module):
    """A constructor without ``input_length``."""

    def __init__(self, n_classes: int = 5):
        super().__init__()
        self.out = nn.Linear(1, n_classes)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        return self.out(x.mean(dim=2))


class ContextWithoutArgument(NoLength):
    """Says it takes context features, but its constructor takes no ``n_context``."""

    takes_context = True

    def __init__(self, n_classes: int = 5, input_length: int = 187):
        super().__init__(n_classes)


def one_line(exc: pytest.ExceptionInfo) -> str:
    message = str(exc.value)
    assert "\n" not in message, message
    return message


def test_a_model_returning_another_shape_than_batch_by_classes_is_one_line_when_built(names):
    register_model(names, "contrib-unsqueezed", Unsqueezed)
    with pytest.raises(ArrhythmiaError) as exc:
        create_model("contrib-unsqueezed", n_classes=5, input_length=87)
    message = one_line(exc)
    assert "model 'contrib-unsqueezed'" in message
    assert "returned a tensor of shape (2, 1, 5)" in message and "(batch, n_classes) = (2, 5)" in message


def test_a_model_that_takes_one_window_length_only_is_one_line_naming_the_length(names):
    register_model(names, "contrib-fixed", Fixed187)
    assert create_model("contrib-fixed", input_length=187) is not None
    with pytest.raises(ArrhythmiaError) as exc:
        create_model("contrib-fixed", input_length=87)
    message = one_line(exc)
    assert "model 'contrib-fixed'" in message and "beat windows of 87 samples" in message
    assert "mat1 and mat2 shapes cannot be multiplied" in message  # torch's own words, after ours


def test_a_model_returning_a_tuple_or_hard_coded_classes_or_squeezing_the_batch_is_refused(names):
    register_model(names, "contrib-tuple", WithFeatures)
    register_model(names, "contrib-five", FiveClasses)
    register_model(names, "contrib-squeezed", Squeezed)
    with pytest.raises(ArrhythmiaError, match="'contrib-tuple'.*returned a tuple.*logits"):
        create_model("contrib-tuple")
    assert create_model("contrib-five", n_classes=5) is not None
    with pytest.raises(ArrhythmiaError, match=r"'contrib-five'.*shape \(2, 5\).*\(batch, n_classes\) = \(2, 15\)"):
        create_model("contrib-five", n_classes=15)
    with pytest.raises(ArrhythmiaError, match=r"'contrib-squeezed'.*shape \(5,\).*a batch of 1 beat"):
        create_model("contrib-squeezed")


def test_a_constructor_that_does_not_take_the_registrys_keywords_is_one_line(names):
    register_model(names, "contrib-nolength", NoLength)
    register_model(names, "contrib-context", ContextWithoutArgument)
    with pytest.raises(ArrhythmiaError) as exc:
        create_model("contrib-nolength")
    message = one_line(exc)
    assert "model 'contrib-nolength'" in message and "cannot be built" in message
    assert "__init__(n_classes, input_length" in message and "unexpected keyword argument 'input_length'" in message
    with pytest.raises(ArrhythmiaError, match="'contrib-context'.*n_context"):
        create_model("contrib-context", n_context=9)


def test_the_check_leaves_the_model_and_the_random_numbers_as_a_plain_construction_would():
    for name, n_context in (("fast-cnn", 9), ("se-resnet", 0), ("seed-cnn", 0), ("kachuee-resnet", 0)):
        torch.manual_seed(3)
        model = create_model(name, n_classes=5, input_length=187, n_context=n_context)
        after = torch.rand(4)
        torch.manual_seed(3)
        plain = registry._REGISTRY[name](n_classes=5, input_length=187, **({"n_context": 9} if n_context else {}))
        assert torch.equal(after, torch.rand(4))  # training's shuffles and dropout draw the same numbers
        assert model.training and plain.training
        for (key, value), (_, expected) in zip(model.state_dict().items(), plain.state_dict().items(), strict=True):
            assert torch.equal(value, expected), key  # batch norms' running statistics untouched


def test_a_misspelt_model_name_suggests_the_registered_one():
    assert "did you mean 'fast-cnn'?" in unknown_model("fastcnn")
    assert "did you mean 'se-resnet'?" in unknown_model("se_resnet")
    assert "did you mean" not in unknown_model("lstm")


def test_training_a_model_of_the_wrong_shape_is_one_line_from_the_command_line(tmp_path):
    # As a student's notebook does it: the model registered in the process that trains.
    script = f"""
import sys
from torch import nn
from arrhythmia.models import register
from arrhythmia.cli import main

@register("student-net", "returns (batch, 1, classes)")
class StudentNet(nn.Module):
    def __init__(self, n_classes=5, input_length=187):
        super().__init__()
        self.out = nn.Linear(input_length, n_classes)

    def forward(self, x, context=None):
        return self.out(x)

sys.argv = ["arrhythmia", "train", "--model", "student-net", "--data", "synthetic", "--epochs", "1",
            "--run-dir", {str(tmp_path / "run")!r}]
main()
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr and len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and "model 'student-net'" in lines[0] and "(2, 1, 5)" in lines[0]


def test_registering_a_function_rather_than_a_module_class_is_one_line(names):
    def make_net(n_classes: int = 5, input_length: int = 187) -> nn.Module:
        return nn.Sequential(nn.Flatten(), nn.Linear(input_length, n_classes))

    with pytest.raises(ArrhythmiaError) as exc:
        register("contrib-factory", "a factory function")(make_net)
    message = one_line(exc)
    assert "model 'contrib-factory'" in message and "function" in message and "nn.Module class" in message
    assert "contrib-factory" not in registry._REGISTRY


def test_a_preset_that_turns_on_context_features_for_a_model_without_them_says_how_to_leave_them_out(tmp_path):
    # `--preset fast` turns context features on: a student's model without them met 'does not take context
    # features' and no word of which option had asked for them, nor how to train it without.
    from arrhythmia.models import no_context

    assert "--no-context-features" in no_context("seed-cnn") and "presets" in no_context("seed-cnn")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "arrhythmia.cli",
            "train",
            "--preset",
            "fast",
            "--model",
            "seed-cnn",
            "--data",
            "synthetic",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "does not take context features" in result.stderr and "--no-context-features" in result.stderr
