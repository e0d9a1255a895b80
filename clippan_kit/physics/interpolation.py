"""The toolbox's 23-tap interpolator (``interp23tap.m``, the EXP method) and its half-sample shift.

* ``interp23tap.m``: log2(ratio) dyadic steps of zero insertion and a symmetric 23-tap
  Lagrange-like filter with circular borders. The first step puts the samples at odd
  positions, later ones at even positions, so ``interp23tap(x)[..., r//2::r, r//2::r] == x``
  (Aiazzi, Alparone, Baronti, Garzelli, IEEE TGRS 40(10), 2002).
* Sub-pixel shifts (λ-PNN authors' ``fineshift``, Ciotola et al., IEEE TGRS 2023): half-sample steps by
  the odd taps of the same 23-tap filter, zero borders (:func:`half_pixel_shift`).
"""
from __future__ import annotations

from functools import lru_cache
from typing import TypeVar

import numpy as np
import torch
import torch.nn.functional as F

from ._dispatch import as_tensor, to_4d
from .base import Operator

__all__ = ["interp23tap", "Interp23Tap", "half_pixel_shift", "INTERP23_TAPS", "HALF_SHIFT_TAPS"]

Array = TypeVar("Array", np.ndarray, torch.Tensor)

# Half of the symmetric 23-tap interpolation filter of interp23tap.m (already times 2).
_CDF23_HALF = 2.0 * np.array(
    [0.5, 0.305334091185, 0.0, -0.072698593239, 0.0, 0.021809577942, 0.0,
     -0.005192756653, 0.0, 0.000807762146, 0.0, -0.000060081482]
)
INTERP23_TAPS = np.concatenate([_CDF23_HALF[:0:-1], _CDF23_HALF])


def _upsample2_1d(x: torch.Tensor, dim: int, offset: int) -> torch.Tensor:
    """One dyadic step of interp23tap along ``dim`` (-1 or -2): zero insertion at ``offset`` + 23-tap filter.

    Polyphase form of MATLAB ``imfilter(upsampled, taps, 'circular')``: the centre tap is 1 and the other
    even taps are 0, so the input samples pass unchanged, and the new samples are a 12-tap circular
    correlation of the input, done with an FFT at the input length (exact wrap for any length, and
    ~3x less work than filtering the zero-filled signal). The definition of a step: :func:`interp23tap`
    applies all the steps of an axis at once with the filters they compose to (:func:`_phase_kernels`).
    """
    n = x.shape[dim]
    p = len(INTERP23_TAPS) // 2
    shifts = np.arange(-((p - 1) // 2), (p + 1) // 2 + 1)  # new sample after x[k] weighs x[k+s], s = -5..6
    kernel = np.zeros(n)
    np.add.at(kernel, (-shifts) % n, INTERP23_TAPS[p + 2 * shifts - 1])
    spectrum = torch.fft.rfft(torch.as_tensor(kernel, dtype=x.dtype, device=x.device))
    shape = [1] * x.ndim
    shape[dim] = spectrum.shape[0]
    new = torch.fft.irfft(torch.fft.rfft(x, dim=dim) * spectrum.view(shape), n=n, dim=dim)
    if offset == 1:  # originals at odd positions: the sample after x[k] is the even one of x[k+1]
        new = torch.roll(new, 1, dims=dim)
    out = torch.stack((x, new) if offset == 0 else (new, x), dim=dim)
    return out.reshape(*x.shape[:-2], 2 * n, x.shape[-1]) if dim == -2 else out.reshape(*x.shape[:-1], 2 * n)


@lru_cache(maxsize=32)
def _phase_kernels(n: int, ratio: int) -> np.ndarray:
    """(ratio, n) float64: the circular kernel g_p of each output phase p of the whole ``ratio``-fold upsampling
    of a length-n axis, out[ratio k + p] = sum_m g_p[m] x[(k - m) mod n]: the response of the dyadic steps
    (:func:`_upsample2_1d`, the toolbox's definition) to a unit impulse, read phase by phase."""
    impulse = torch.zeros(1, n, dtype=torch.float64)
    impulse[0, 0] = 1.0
    for level in range(int(np.log2(ratio))):
        impulse = _upsample2_1d(impulse, -1, 1 if level == 0 else 0)
    return impulse[0].view(n, ratio).T.numpy().copy()


def _upsample_1d(x: torch.Tensor, ratio: int, dim: int) -> torch.Tensor:
    """All log2(ratio) dyadic steps of interp23tap along ``dim`` (-1 or -2) at once: (..., n, ...) -> (..., ratio n, ...).

    The steps compose to one circular filter per output phase (:func:`_phase_kernels`), so one FFT of x serves
    every phase and the output is interleaved once; phase ratio//2 is x itself (copied, exact). Same values as
    the step-by-step form to ~2e-15 relative, with two thirds of its transforms and copies and no roll
    (8 x 320² -> 1280²: 0.29-0.34 -> 0.16 s on one core, benchmarks/results/metrics.md, session 9).
    """
    n = x.shape[dim]
    shape = [1] * x.ndim
    shape[dim] = n // 2 + 1
    X = torch.fft.rfft(x, dim=dim)
    spectra = torch.fft.rfft(torch.as_tensor(_phase_kernels(n, ratio), dtype=x.dtype, device=x.device), dim=-1)
    phases = [x if p == ratio // 2 else torch.fft.irfft(X * spectra[p].view(shape), n=n, dim=dim)
              for p in range(ratio)]
    out = torch.stack(phases, dim=dim)  # (..., n, ratio) or (..., n, ratio, W)
    return out.reshape(*x.shape[:-1], ratio * n) if dim == -1 else out.reshape(*x.shape[:-2], ratio * n, x.shape[-1])


def interp23tap(x: Array, ratio: int) -> Array:
    """Upsample by ``ratio`` (a power of two) with the toolbox's 23-tap interpolator.

    Args:
        x: (..., h, w) image(s), numpy or torch (differentiable).

    Returns:
        (..., h*ratio, w*ratio), same type; ``result[..., r//2::r, r//2::r]`` equals ``x``.
    """
    if ratio < 1 or ratio & (ratio - 1):
        raise ValueError(f"interp23tap needs a power-of-two ratio, got {ratio}")
    t, back = as_tensor(x)
    t4, lead = to_4d(t)
    if ratio > 1:
        # Rows and columns are separate filters, so all column steps may go first, then all row steps.
        t4 = _upsample_1d(_upsample_1d(t4, ratio, -1), ratio, -2)
    return back(t4.reshape(*lead, *t4.shape[-2:]))


# Half-sample interpolator: the odd-offset taps of the 23-tap filter (offsets -11, -9, ..., 11 half
# samples); the value half a sample before position j is sum_l HALF_SHIFT_TAPS[l] * x[j + l - 6].
HALF_SHIFT_TAPS = INTERP23_TAPS[::2]


def half_pixel_shift(x: torch.Tensor, dim: int) -> torch.Tensor:
    """Shift (..., H, W) by +1/2 sample along ``dim`` (-2 rows / -1 columns): ``out[j] = x(j - 1/2)``.

    12-tap half-sample interpolator of ``interp23tap`` with zero borders, as the λ-PNN authors'
    ``fineshift``/``half_pixel_shift`` (their 'S' / 'E' directions). Differentiable; same shape out.
    """
    if dim not in (-1, -2):
        raise ValueError(f"dim must be -1 or -2, got {dim}")
    n = len(HALF_SHIFT_TAPS)
    size = x.shape[dim]
    # Twelve shifted multiply-adds on the zero-padded axis: ~8x faster than a 1-D conv2d on CPU, same sums.
    xp = F.pad(x, (n // 2, n // 2 - 1) if dim == -1 else (0, 0, n // 2, n // 2 - 1))
    out = xp.narrow(dim, 0, size) * float(HALF_SHIFT_TAPS[0])
    for tap in range(1, n):
        out = out.add_(xp.narrow(dim, tap, size), alpha=float(HALF_SHIFT_TAPS[tap]))
    return out


class Interp23Tap(Operator):
    """Upsampling by the power-of-two ``ratio`` with the 23-tap interpolator (the EXP method): :func:`interp23tap`.

    Shape contract: ``x: (..., h, w)`` float -> ``(..., h*r, w*r)``, same units; ``out[..., r//2::r, r//2::r]``
    is ``x`` exactly. Linear (circular borders).
    """

    def __init__(self, ratio: int):
        if ratio < 1 or ratio & (ratio - 1):
            raise ValueError(f"interp23tap needs a power-of-two ratio, got {ratio}")
        self.ratio = int(ratio)

    def forward(self, x: Array) -> Array:
        return interp23tap(x, self.ratio)

    def output_shape(self, shape):
        return (*shape[:-2], shape[-2] * self.ratio, shape[-1] * self.ratio)

    def __repr__(self) -> str:
        return f"Interp23Tap(ratio={self.ratio})"
