"""Training-time augmentation of heartbeat windows, as plain functions on torch tensors.

Why: in the inter-patient protocol the test patients are never seen in training, and what differs between
patients (and recording devices) is mostly not the beat class but how the beat is recorded: the amplitude /
gain of the lead, baseline wander from breathing and movement, measurement noise, and the jitter of the R-peak
detector that centres the window. Each transform below simulates one of these nuisances so the network learns
to ignore it:

* ``scale``  - amplitude scaling about the beat's own median (gain differences between patients and devices);
* ``wander`` - a slow sinusoid added to the beat (baseline wander);
* ``noise``  - additive white Gaussian noise;
* ``shift``  - a shift by a few samples, vacated end filled with the edge value (R-peak detection jitter);
* ``lowpass`` - a low-pass filter with a random cut-off (recorders with a narrower band than MIT-BIH's);
* ``stretch`` - the beat stretched or compressed in time about its R peak (QRS and QT durations differ from
  one patient, and one heart rate, to the next).

Every function takes a batch ``x`` of shape ``(batch, 1, length)``, ``(batch, length)`` or any ``(batch, ...,
length)`` (each beat's channels transformed alike), values roughly in [0, 1], sampled at ``fs`` Hz,
and a ``torch.Generator`` on the CPU, so augmentation is reproducible and independent of the global RNG. Random
parameters are drawn per beat on the CPU and then moved to ``x.device``, so the same seed gives the same
augmentation on CPU, CUDA and MPS. Each function returns a new tensor of the same shape, dtype and device; the
input is never modified.

Augmentation is label-preserving by construction (none of these nuisances changes the beat class), so labels
are never passed in or touched.

    x = augment(x, generator)                       # during training only, on the training batch
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

AUGMENTATIONS: tuple[str, ...] = ("scale", "wander", "noise", "shift", "lowpass", "stretch")


def _per_beat(values: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """CPU values of shape (batch,) as (batch, 1, ..., 1) on x's device and dtype, to broadcast over a beat."""
    return values.to(device=x.device, dtype=x.dtype).view((x.shape[0],) + (1,) * (x.dim() - 1))


def _uniform(generator: torch.Generator, n: int, low: float, high: float) -> torch.Tensor:
    """n draws from U(low, high) on the CPU, float64 (cast to the data's dtype later)."""
    return low + (high - low) * torch.rand(n, generator=generator, dtype=torch.float64)


def _check_batch(x: torch.Tensor) -> None:
    if x.dim() < 2:
        raise ValueError(f"expected a batch of beats of shape (batch, 1, length), got shape {tuple(x.shape)}")


def scale_amplitude(x: torch.Tensor, generator: torch.Generator, s: float = 0.15) -> torch.Tensor:
    """Multiply each beat by a factor ~ U(1 - s, 1 + s) about the beat's own median.

    ``y = m + f * (x - m)`` with ``m`` the median of the beat over time, so the baseline (the median; most of
    a beat window is baseline) stays put and the median of the result equals ``m``.

    Args:
        x: beats, shape (batch, 1, length), amplitude in the data's units (about [0, 1]).
        generator: CPU generator for the per-beat factors.
        s: half-width of the factor range, dimensionless, 0 <= s < 1.

    Returns:
        New tensor, same shape, dtype and device as ``x``.
    """
    _check_batch(x)
    if not 0 <= s < 1:
        raise ValueError(f"scale half-width s must be in [0, 1), got {s}")
    factor = _per_beat(_uniform(generator, x.shape[0], 1 - s, 1 + s), x)
    if x.shape[-1] == 0:
        return x.clone()
    median = x.median(dim=-1, keepdim=True).values
    return median + factor * (x - median)


def baseline_wander(
    x: torch.Tensor,
    generator: torch.Generator,
    fs: float = 125.0,
    max_amplitude: float = 0.05,
    min_freq: float = 0.05,
    max_freq: float = 0.5,
) -> torch.Tensor:
    """Add a slow sinusoid ``a * sin(2 pi f t + phi)`` to each beat.

    Per beat: frequency ``f ~ U(min_freq, max_freq)`` Hz, phase ``phi ~ U(0, 2 pi)``, amplitude
    ``a ~ U(0, max_amplitude)``; ``t`` is the sample index divided by ``fs``.

    Args:
        x: beats, shape (batch, 1, length), sampled at ``fs`` Hz.
        generator: CPU generator for the per-beat parameters.
        fs: sampling frequency of the beats in Hz.
        max_amplitude: largest sinusoid amplitude, in the data's units.
        min_freq, max_freq: frequency range of the wander in Hz.

    Returns:
        New tensor, same shape, dtype and device as ``x``.
    """
    _check_batch(x)
    if fs <= 0 or max_amplitude < 0 or not 0 <= min_freq <= max_freq:
        raise ValueError(
            f"need fs > 0, max_amplitude >= 0, 0 <= min_freq <= max_freq; got {fs}, "
            f"{max_amplitude}, {min_freq}, {max_freq}"
        )
    n = x.shape[0]
    freq = _uniform(generator, n, min_freq, max_freq)
    phase = _uniform(generator, n, 0.0, 2 * math.pi)
    amplitude = _uniform(generator, n, 0.0, max_amplitude)
    t = torch.arange(x.shape[-1], dtype=torch.float64) / fs  # (length,) seconds
    wander = amplitude[:, None] * torch.sin(2 * math.pi * freq[:, None] * t + phase[:, None])  # (batch, length)
    wander = wander.to(device=x.device, dtype=x.dtype).view((n,) + (1,) * (x.dim() - 2) + (x.shape[-1],))
    return x + wander


def gaussian_noise(x: torch.Tensor, generator: torch.Generator, max_std: float = 0.02) -> torch.Tensor:
    """Add white Gaussian noise to each beat, with a per-beat standard deviation ~ U(0, max_std).

    Args:
        x: beats, shape (batch, 1, length).
        generator: CPU generator for the per-beat std and the noise itself.
        max_std: largest noise standard deviation, in the data's units.

    Returns:
        New tensor, same shape, dtype and device as ``x``.
    """
    _check_batch(x)
    if max_std < 0:
        raise ValueError(f"max_std must be >= 0, got {max_std}")
    std = _per_beat(_uniform(generator, x.shape[0], 0.0, max_std), x)
    noise = torch.randn(tuple(x.shape), generator=generator, dtype=torch.float32).to(device=x.device, dtype=x.dtype)
    return x + std * noise


def time_shift(x: torch.Tensor, generator: torch.Generator, max_shift: int = 3) -> torch.Tensor:
    """Shift each beat in time by an integer number of samples ~ U{-max_shift, ..., max_shift}.

    A shift by ``k > 0`` moves the beat later (``y[i] = x[i - k]``), ``k < 0`` earlier. The vacated end is
    filled with the edge value (``x[0]`` or ``x[-1]``); nothing wraps around. Vectorised as one gather with
    clamped indices. ``max_shift=3`` is +-24 ms at 125 Hz, about the jitter of an R-peak detector.

    Args:
        x: beats, shape (batch, 1, length).
        generator: CPU generator for the per-beat shifts.
        max_shift: largest shift in samples, >= 0.

    Returns:
        New tensor, same shape, dtype and device as ``x``.
    """
    _check_batch(x)
    if max_shift < 0:
        raise ValueError(f"max_shift must be >= 0, got {max_shift}")
    n, length = x.shape[0], x.shape[-1]
    shifts = torch.randint(-max_shift, max_shift + 1, (n,), generator=generator)
    if length == 0:
        return x.clone()
    index = (torch.arange(length)[None, :] - shifts[:, None]).clamp_(0, length - 1)  # (batch, length)
    index = index.to(x.device).view((n,) + (1,) * (x.dim() - 2) + (length,)).expand(x.shape)
    return torch.gather(x, -1, index)


def low_pass(
    x: torch.Tensor, generator: torch.Generator, fs: float = 125.0, cutoff_hz: tuple[float, float] = (15.0, 40.0)
) -> torch.Tensor:
    """Low-pass filter each beat with a cut-off ~ U(cutoff_hz), as recorders with a narrower band record it.

    The filter is a second-order Butterworth magnitude response, ``1 / sqrt(1 + (f / f_c) ** 4)``, applied
    with zero phase in the frequency domain to the beat mirrored at both ends (so its two ends, which
    differ, do not ring into each other). Many Holter and wearable recorders keep up to 25-40 Hz; MIT-BIH
    keeps up to 60 Hz.

    Args:
        x: beats, shape (batch, 1, length), (batch, length) or (batch, channels, length).
        generator: CPU generator for the per-beat cut-offs.
        fs: sampling frequency of the beats, Hz.
        cutoff_hz: range of the cut-off frequency, Hz, 0 < low <= high.

    Returns:
        New tensor, same shape, dtype and device as ``x``.
    """
    _check_batch(x)
    low, high = cutoff_hz
    if not 0 < low <= high:
        raise ValueError(f"cutoff_hz must satisfy 0 < low <= high, got {cutoff_hz}")
    n, length = x.shape[0], x.shape[-1]
    if n == 0 or length < 2:
        return x.clone()
    flat = x.reshape(n, -1, length)  # a beat's channels share its cut-off
    pad = length - 1
    mirrored = torch.nn.functional.pad(flat, (pad, pad), mode="reflect")
    spectrum = torch.fft.rfft(mirrored, dim=-1)
    freqs = torch.fft.rfftfreq(mirrored.shape[-1], d=1.0 / fs, dtype=torch.float64)
    cutoff = _uniform(generator, n, low, high)
    response = 1.0 / torch.sqrt(1.0 + (freqs[None, :] / cutoff[:, None]) ** 4)
    response = response.to(device=x.device, dtype=spectrum.real.dtype).view(n, 1, -1)
    filtered = torch.fft.irfft(spectrum * response, n=mirrored.shape[-1], dim=-1)[..., pad : pad + length]
    return filtered.reshape(x.shape).to(x.dtype)


def time_stretch(x: torch.Tensor, generator: torch.Generator, centre: int = 0, s: float = 0.12) -> torch.Tensor:
    """Stretch each beat in time about sample ``centre`` (its R peak) by a factor ~ U(1 - s, 1 + s).

    ``y[i] = x[centre + (i - centre) / f]``, linearly interpolated: ``f > 1`` widens the beat (its QRS and T
    wave last longer), ``f < 1`` narrows it; the R peak stays where it is, and positions past either end
    take the edge value. ``s=0.12`` spans about the spread of QRS durations among normal beats.

    Args:
        x: beats, shape (batch, 1, length).
        generator: CPU generator for the per-beat factors.
        centre: the sample the beat is stretched about, in [0, length).
        s: largest relative change of duration, in [0, 1).

    Returns:
        New tensor, same shape, dtype and device as ``x``.
    """
    _check_batch(x)
    if not 0 <= s < 1:
        raise ValueError(f"s must be in [0, 1), got {s}")
    n, length = x.shape[0], x.shape[-1]
    if n == 0 or length < 2:
        return x.clone()
    factor = _uniform(generator, n, 1.0 - s, 1.0 + s)
    grid = torch.arange(length, dtype=torch.float64)
    where = (centre + (grid[None, :] - centre) / factor[:, None]).clamp_(0, length - 1)  # (batch, length)
    lower = where.floor().long().clamp_(max=length - 2)
    weight = (where - lower).to(device=x.device, dtype=x.dtype)
    flat = x.reshape(n, -1, length)
    lower = lower.to(x.device)[:, None, :].expand(flat.shape)
    below, above = torch.gather(flat, -1, lower), torch.gather(flat, -1, lower + 1)
    return (below + weight[:, None, :] * (above - below)).reshape(x.shape)


def augment(
    x: torch.Tensor,
    generator: torch.Generator,
    kinds: Sequence[str] = AUGMENTATIONS,
    fs: float = 125.0,
    p: float = 0.5,
    centre: int = 0,
) -> torch.Tensor:
    """Apply the named transforms, in order, each to a random subset of the beats.

    For each kind, each beat is transformed independently with probability ``p`` (with its own random
    parameters, see the transform's defaults); the others pass through unchanged. Label-preserving by
    construction: these are recording nuisances, not class changes, so labels are never touched.

    Args:
        x: beats, shape (batch, 1, length), values about [0, 1], sampled at ``fs`` Hz; may be empty (batch 0).
        generator: CPU ``torch.Generator``; the same seed gives the same output.
        kinds: names from ``AUGMENTATIONS``, applied in the given order.
        fs: sampling frequency of the beats in Hz (for the baseline wander and low-pass frequencies).
        centre: the R peak's sample in the window (for ``stretch``).
        p: probability, per beat and per kind, that the transform is applied, in [0, 1].

    Returns:
        New tensor, same shape, dtype and device as ``x``; ``x`` itself is not modified.

    Raises:
        ValueError: an unknown kind, or ``p`` outside [0, 1].
    """
    unknown = [kind for kind in kinds if kind not in AUGMENTATIONS]
    if unknown:
        raise ValueError(f"unknown augmentation(s) {unknown}; choose from {list(AUGMENTATIONS)}")
    if not 0 <= p <= 1:
        raise ValueError(f"augmentation probability p must be in [0, 1], got {p}")
    _check_batch(x)
    transforms: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
        "scale": lambda beats: scale_amplitude(beats, generator),
        "wander": lambda beats: baseline_wander(beats, generator, fs=fs),
        "noise": lambda beats: gaussian_noise(beats, generator),
        "shift": lambda beats: time_shift(beats, generator),
        "lowpass": lambda beats: low_pass(beats, generator, fs=fs),
        "stretch": lambda beats: time_stretch(beats, generator, centre=centre),
    }
    out = x.clone()
    for kind in kinds:
        chosen = torch.rand(x.shape[0], generator=generator) < p
        mask = chosen.to(x.device).view((x.shape[0],) + (1,) * (x.dim() - 1))
        out = torch.where(mask, transforms[kind](out), out)
    return out
