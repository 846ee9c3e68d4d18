"""Model registry and architectures."""

import pytest
import torch

from arrhythmia.errors import ArrhythmiaError
from arrhythmia.models import count_parameters, create_model, list_models


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


def test_kachuee_resnet_has_five_residual_blocks_of_32_filters():
    model = create_model("kachuee-resnet")
    assert len(model.blocks) == 5
    assert all(block.conv1.out_channels == 32 and block.conv2.kernel_size == (5,) for block in model.blocks)


def test_unknown_model():
    with pytest.raises(ArrhythmiaError, match="unknown model 'nope'"):
        create_model("nope")
