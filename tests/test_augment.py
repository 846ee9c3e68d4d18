"""Beat augmentation (augment.py) and the focal loss (losses.py): fast, no data files."""

import pytest
import torch
from torch import nn

from arrhythmia.augment import (
    AUGMENTATIONS,
    augment,
    baseline_wander,
    gaussian_noise,
    low_pass,
    scale_amplitude,
    time_shift,
    time_stretch,
)
from arrhythmia.losses import FocalLoss

LENGTH = 187


def _beats(batch: int = 16, seed: int = 0) -> torch.Tensor:
    return torch.rand(batch, 1, LENGTH, generator=torch.Generator().manual_seed(seed))


def _gen(seed: int = 1) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


TRANSFORMS = {
    "scale": scale_amplitude,
    "wander": baseline_wander,
    "noise": gaussian_noise,
    "shift": time_shift,
    "lowpass": low_pass,
    "stretch": time_stretch,
    "augment": augment,
}


def test_every_kind_has_a_transform():
    assert set(AUGMENTATIONS) == set(TRANSFORMS) - {"augment"}


@pytest.mark.parametrize("name", TRANSFORMS)
def test_shape_dtype_and_input_untouched(name):
    x = _beats()
    before = x.clone()
    y = TRANSFORMS[name](x, _gen())
    assert y.shape == x.shape and y.dtype == x.dtype and y.device == x.device
    assert y.data_ptr() != x.data_ptr()
    torch.testing.assert_close(x, before, rtol=0, atol=0)
    assert not torch.equal(y, x)


@pytest.mark.parametrize("name", TRANSFORMS)
def test_same_seed_same_output_other_seed_differs(name):
    x = _beats()
    a = TRANSFORMS[name](x, _gen(7))
    b = TRANSFORMS[name](x, _gen(7))
    c = TRANSFORMS[name](x, _gen(8))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


@pytest.mark.parametrize("name", TRANSFORMS)
def test_empty_batch(name):
    x = torch.zeros(0, 1, LENGTH)
    y = TRANSFORMS[name](x, _gen())
    assert y.shape == (0, 1, LENGTH) and y.dtype == x.dtype


def test_float64_keeps_dtype():
    x = _beats().double()
    assert augment(x, _gen(), p=1.0).dtype == torch.float64


def test_shift_fills_with_edge_values_and_never_wraps():
    ramp = torch.arange(LENGTH, dtype=torch.float32).expand(64, 1, LENGTH)
    y = time_shift(ramp, _gen(), max_shift=3)
    shifts = y[:, 0, LENGTH // 2] - ramp[:, 0, LENGTH // 2]  # y[i] = x[i - k]: the middle tells -k
    k = -shifts
    assert set(k.long().tolist()) == {-3, -2, -1, 0, 1, 2, 3}  # all shifts drawn over 64 beats
    for beat, kb in zip(y[:, 0], k.long().tolist()):
        expected = (torch.arange(LENGTH) - kb).clamp(0, LENGTH - 1).float()
        torch.testing.assert_close(beat, expected, rtol=0, atol=0)
    # No wrap-around: a ramp stays non-decreasing, and values stay within the original range.
    assert (y.diff(dim=-1) >= 0).all()
    assert y.min() == 0 and y.max() == LENGTH - 1


def test_shift_zero_is_identity():
    x = _beats()
    assert torch.equal(time_shift(x, _gen(), max_shift=0), x)


def test_scale_keeps_the_median_and_changes_the_spread():
    x = _beats()
    y = scale_amplitude(x, _gen(), s=0.15)
    torch.testing.assert_close(y.median(dim=-1).values, x.median(dim=-1).values)
    ratio = (y - y.median(dim=-1, keepdim=True).values).std(dim=-1) / (x - x.median(dim=-1, keepdim=True).values).std(
        dim=-1
    )
    assert ((ratio >= 0.85 - 1e-5) & (ratio <= 1.15 + 1e-5)).all()
    assert not torch.allclose(ratio, torch.ones_like(ratio))


def test_wander_and_noise_stay_within_their_amplitudes():
    x = _beats(64)
    wander = baseline_wander(x, _gen(), fs=125.0, max_amplitude=0.05) - x
    assert wander.abs().max() <= 0.05 + 1e-6
    # Slow: at <= 0.5 Hz and 125 Hz, consecutive samples differ by at most 2 pi * 0.5 / 125 * 0.05.
    assert wander.diff(dim=-1).abs().max() <= 2 * torch.pi * 0.5 / 125 * 0.05 + 1e-6
    noise = gaussian_noise(x, _gen(), max_std=0.02) - x
    assert noise.std(dim=-1).max() < 0.02 * 1.3


def test_low_pass_removes_high_frequencies_and_keeps_slow_ones():
    fs, t = 125.0, torch.arange(LENGTH, dtype=torch.float64) / 125.0
    slow = torch.sin(2 * torch.pi * 2.0 * t)
    fast = 0.3 * torch.sin(2 * torch.pi * 55.0 * t)
    x = (slow + fast).view(1, 1, -1).repeat(4, 1, 1)
    y = low_pass(x, _gen(), fs=fs, cutoff_hz=(15.0, 15.0))
    middle = slice(20, LENGTH - 20)
    assert (y[:, 0, middle] - slow[middle]).abs().max() < 0.03  # 55 Hz at a 15 Hz cut-off: down to 7 %
    with pytest.raises(ValueError, match="cutoff_hz"):
        low_pass(x, _gen(), cutoff_hz=(0.0, 10.0))
    # two channels (as the other transforms take them): each filtered as it is alone, at its beat's cut-off;
    # this raised "shape '[4, 1, 187]' is invalid"
    alone = low_pass(x, _gen(), fs=fs)
    together = low_pass(torch.cat([x, 0.5 * x], dim=1), _gen(), fs=fs)
    torch.testing.assert_close(together, torch.cat([alone, 0.5 * alone], dim=1))


def test_stretch_keeps_the_r_peak_and_scales_the_beats_duration():
    centre = 90
    t = torch.arange(LENGTH, dtype=torch.float64)
    pulse = torch.exp(-0.5 * ((t - centre) / 15.0) ** 2).view(1, 1, -1).repeat(256, 1, 1)
    y = time_stretch(pulse, _gen(), centre=centre, s=0.3)
    torch.testing.assert_close(y[:, 0, centre], pulse[:, 0, centre])  # the R peak does not move
    widths = (y[:, 0] > 0.5).sum(dim=1).double() / (pulse[0, 0] > 0.5).sum()
    assert 0.65 < widths.min() < 0.8 and 1.2 < widths.max() < 1.35  # durations from 0.7 to 1.3 times
    torch.testing.assert_close(time_stretch(pulse, _gen(), centre=centre, s=0.0), pulse)
    with pytest.raises(ValueError, match="s must be"):
        time_stretch(pulse, _gen(), s=1.0)


def test_augment_p0_returns_input_values():
    x = _beats()
    y = augment(x, _gen(), p=0.0)
    assert torch.equal(y, x) and y.data_ptr() != x.data_ptr()


def test_augment_transforms_a_subset_of_beats():
    x = _beats(200)
    y = augment(x, _gen(), kinds=("noise",), p=0.5)
    changed = (y != x).flatten(1).any(dim=1)
    assert 50 < changed.sum() < 150


def test_augment_empty_kinds_is_a_copy():
    x = _beats()
    assert torch.equal(augment(x, _gen(), kinds=(), p=1.0), x)


def test_augment_unknown_kind_raises():
    with pytest.raises(ValueError, match="flip"):
        augment(_beats(), _gen(), kinds=("scale", "flip"))


def test_augment_bad_probability_raises():
    with pytest.raises(ValueError):
        augment(_beats(), _gen(), p=1.5)


def _logits_and_target(seed: int = 0, batch: int = 32, n_classes: int = 5):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(batch, n_classes, generator=g) * 3
    target = torch.randint(0, n_classes, (batch,), generator=g)
    return logits, target


def test_focal_gamma0_is_cross_entropy():
    logits, target = _logits_and_target()
    torch.testing.assert_close(FocalLoss(gamma=0)(logits, target), nn.functional.cross_entropy(logits, target))


def test_focal_gamma0_is_weighted_cross_entropy():
    logits, target = _logits_and_target()
    weight = torch.tensor([0.2, 1.0, 3.0, 5.0, 0.5])
    loss_fn = FocalLoss(gamma=0, weight=weight)
    assert loss_fn.weight is not None and torch.equal(loss_fn.weight, weight)
    torch.testing.assert_close(loss_fn(logits, target), nn.functional.cross_entropy(logits, target, weight=weight))


def test_focal_weight_is_a_buffer():
    assert FocalLoss().weight is None
    assert "weight" in dict(FocalLoss(weight=torch.ones(3)).named_buffers())


def test_focal_is_lower_than_ce_for_confident_correct_predictions():
    target = torch.tensor([0, 1, 2, 3])
    logits = torch.full((4, 5), -2.0)
    logits[torch.arange(4), target] = 4.0
    focal = FocalLoss(gamma=2.0)(logits, target)
    ce = nn.functional.cross_entropy(logits, target)
    assert 0 < focal < ce * 0.01


def test_focal_gradients_flow():
    logits, target = _logits_and_target()
    logits.requires_grad_(True)
    FocalLoss(gamma=2.0, weight=torch.linspace(0.5, 2.0, 5))(logits, target).backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0


def test_focal_negative_gamma_raises():
    with pytest.raises(ValueError):
        FocalLoss(gamma=-1.0)
