"""Model registry and architectures."""

import pytest
import torch

from arrhythmia.data import get_window
from arrhythmia.errors import ArrhythmiaError
from arrhythmia.inference import with_batch_norms_folded
from arrhythmia.models import context_models, count_parameters, create_model, list_models
from arrhythmia.models.ensemble import Ensemble
from arrhythmia.models.se_resnet import SqueezeExcite


def test_seed_cnn_is_the_classic_notebook_cnn():
    model = create_model("seed-cnn", n_classes=5)
    # conv 1-32-64-128-256 (+BN) and dense 2816-512-128-5, counted by hand.
    assert count_parameters(model) == (1_643_333, 1_643_333)
    x = torch.zeros(2, 1, 187)
    lengths = []
    for block in model.features:
        x = block(x)
        lengths.append(x.shape[-1])
    assert lengths == [93, 46, 23, 11] and x.shape[1] == 256
    assert model.classifier[1].in_features == 256 * 11
    dropouts = [m.p for m in model.classifier if isinstance(m, torch.nn.Dropout)]
    assert dropouts == [0.5, 0.3]


@pytest.mark.parametrize("name", list_models())
@pytest.mark.parametrize("n_classes", [2, 5])
def test_every_model_maps_beats_to_logits(name, n_classes):
    model = create_model(name, n_classes=n_classes).eval()
    assert model(torch.randn(3, 1, 187)).shape == (3, n_classes)


@pytest.mark.parametrize("name", list_models())
def test_folding_the_batch_norms_keeps_every_models_outputs(name):
    torch.manual_seed(0)
    model = create_model(name, n_classes=5, n_context=4 if name in context_models() else 0)
    model.train()
    with torch.no_grad():  # statistics and affine weights far from the identity a fresh layer has
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm1d):
                module.weight.uniform_(0.5, 2.0)
                module.bias.uniform_(-1.0, 1.0)
        x, context = torch.randn(64, 1, 187) * 3 + 1, torch.randn(64, 4)
        model(x, context) if name in context_models() else model(x)
    model.eval()
    norms = sum(isinstance(m, torch.nn.BatchNorm1d) for m in model.modules())
    folded = with_batch_norms_folded(model)
    assert not any(isinstance(m, torch.nn.BatchNorm1d) for m in folded.modules())
    assert sum(isinstance(m, torch.nn.BatchNorm1d) for m in model.modules()) == norms  # the model untouched
    with torch.no_grad():
        args = (x, context) if name in context_models() else (x,)
        torch.testing.assert_close(folded(*args), model(*args), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("name", context_models())
@pytest.mark.parametrize("length", [87, 187, 252])
def test_rr_models_fuse_any_window_length_with_rr_features(name, length):
    model = create_model(name, n_classes=5, input_length=length, n_context=9).eval()
    x, context = torch.randn(4, 1, length), torch.randn(4, 9)
    assert model(x, context).shape == (4, 5)
    # The RR features reach the output.
    assert not torch.allclose(model(x, context), model(x, context + 1.0))
    with pytest.raises(ValueError, match="pass context"):
        model(x)


def test_new_models_are_registered_with_rr_support():
    assert {"se-resnet", "fast-cnn"} <= set(context_models())
    assert "seed-cnn" not in context_models()
    with pytest.raises(ArrhythmiaError, match="does not take context features"):
        create_model("seed-cnn", n_context=9)


def test_se_resnet_gates_channels_and_fast_cnn_stays_small():
    se = create_model("se-resnet", n_context=9)
    gates = [m for m in se.modules() if isinstance(m, SqueezeExcite)]
    assert len(gates) == 4
    total, _ = count_parameters(create_model("fast-cnn", n_context=9))
    assert total < 50_000


def test_ensemble_averages_member_probabilities():
    torch.manual_seed(0)
    members = [create_model("fast-cnn", input_length=87, n_context=9).eval() for _ in range(3)]
    x, context = torch.randn(5, 1, 87), torch.randn(5, 9)
    expected = torch.stack([torch.softmax(m(x, context), dim=1) for m in members]).mean(0)
    got = torch.softmax(Ensemble(members).eval()(x, context), dim=1)
    torch.testing.assert_close(got, expected)


def test_kachuee_resnet_has_five_residual_blocks_of_32_filters():
    model = create_model("kachuee-resnet")
    assert len(model.blocks) == 5
    assert all(block.conv1.out_channels == 32 and block.conv2.kernel_size == (5,) for block in model.blocks)


def test_unknown_model():
    with pytest.raises(ArrhythmiaError, match="unknown model 'nope'"):
        create_model("nope")


def test_a_model_whose_forward_takes_no_context_is_refused_when_registered():
    from torch import nn

    from arrhythmia.models import _DESCRIPTIONS, _REGISTRY, register

    with pytest.raises(
        ArrhythmiaError, match=r"model 'tiny-cnn': forward\(self, x\) must be forward\(self, x, context=None\)"
    ):

        @register("tiny-cnn", "a test model without context")
        class TinyCNN(nn.Module):
            def forward(self, x):
                return x

    assert "tiny-cnn" not in list_models()
    try:  # a forward that takes the context, used or not, registers

        @register("tiny-cnn", "a test model")
        class TinyContextCNN(nn.Module):
            def forward(self, x, context=None):
                return x

        assert "tiny-cnn" in list_models()
    finally:
        _REGISTRY.pop("tiny-cnn", None)
        _DESCRIPTIONS.pop("tiny-cnn", None)


def test_a_window_too_short_for_the_kachuee_resnet_is_a_one_line_error():
    # The centred window (87 samples at 125 Hz) pooled to a negative length: torch's RuntimeError, a traceback.
    centred = get_window("centred").length
    with pytest.raises(ArrhythmiaError, match=f"at least 125 samples.*has {centred}"):
        create_model("kachuee-resnet", input_length=centred)
    assert create_model("kachuee-resnet", input_length=125).eval()(torch.zeros(1, 1, 125)).shape == (1, 5)
