"""Reprojection of a fused image to the MS grid (Scarpa & Ciotola): MTF filter -> sub-pixel shift -> decimation.

G. Scarpa, M. Ciotola, "Full-resolution quality assessment for pansharpening", Remote Sensing 14(8), 2022;
M. Ciotola, G. Poggi, G. Scarpa, IEEE TGRS 61, 2023 (λ-PNN). :func:`reproject_ms` is the one MS-scale
reprojection of the project: the R-metrics (:mod:`clippan_kit.metrics.reprojected`) and the JESSE loss use
it. Shifts are integers (r, c) per band in half-PAN-pixel units, the λ-PNN authors' co-registration
convention (:mod:`clippan_kit.physics.coregistration` estimates them).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

import torch.nn.functional as F

from ._dispatch import as_tensor
from .interpolation import HALF_SHIFT_TAPS
from .base import Operator
from .mtf import decimate, mtf_filter

__all__ = ["shift_decimate", "phases_to_shifts", "reproject_ms", "Reprojection"]


def _as_shifts(shifts, N: int, B: int, device) -> torch.Tensor:
    s = torch.as_tensor(np.asarray(shifts) if not isinstance(shifts, torch.Tensor) else shifts, device=device).long()
    if s.ndim == 2:
        s = s[None]
    if s.shape[-2:] != (B, 2):
        raise ValueError(f"shifts must be (B, 2) or (N, B, 2) with B = {B}, got {tuple(s.shape)}")
    return s.expand(N, -1, -1)


def shift_decimate(x: torch.Tensor, shifts, ratio: int) -> torch.Tensor:
    """Shift each band by (r/2, c/2) PAN pixels, then keep phase ``ratio//2``: (N, B, H, W) -> (N, B, H/r, W/r).

    ``shifts``: (B, 2) or (N, B, 2) integers (r, c) in half-PAN-pixel units (the λ-PNN authors'
    co-registration convention): ``out[k, l] = x(ratio*k + ratio//2 - r/2, ratio*l + ratio//2 - c/2)``,
    an odd value going through :func:`half_pixel_shift`, zero outside the image (as their
    ``fineshift`` followed by ``[2::4, 2::4]``). The toolbox's integer decimation phase p of a band is
    the even shift ``r = 2 (ratio//2 - p)`` (:func:`phases_to_shifts`). Differentiable in ``x``.
    """
    N, B, H, W = x.shape
    s = _as_shifts(shifts, N, B, x.device).cpu()
    # Only the kept samples are interpolated (the half-pixel filter is 1-D per axis): rows first, giving an
    # (H/r, W) strip, then columns; ~10x less work than shifting the whole image and decimating after.
    same = bool((s == s[:1]).all())  # one shift per band for the whole batch (the usual case): no copies
    out = []
    for b in range(B):
        images = [x[:, b]] if same else [x[n:n + 1, b] for n in range(N)]
        per_n = [_shift_sample(_shift_sample(t, int(s[n, b, 0]), ratio, -2), int(s[n, b, 1]), ratio, -1)
                 for n, t in enumerate(images)]
        out.append(per_n[0] if same else torch.cat(per_n))
    return torch.stack(out, 1)


def _shift_sample(x: torch.Tensor, s: int, ratio: int, dim: int) -> torch.Tensor:
    """x (..., H, W) sampled along ``dim`` (-2 or -1) at ``ratio*k + ratio//2 - s/2``, k < n // ratio; s in half samples.

    An odd s interpolates with the 12-tap half-sample filter exactly as :func:`half_pixel_shift` (zero
    borders): value(i - 1/2) = sum_l HALF_SHIFT_TAPS[l] x[i + l - 6]; an even s picks x[i]; a sample
    whose position i is outside the axis is 0. Same numbers as shifting the whole axis and decimating.
    """
    n = x.shape[dim]
    m = n // ratio
    first = ratio // 2 - s // 2  # position i of sample k = 0
    L = len(HALF_SHIFT_TAPS) if s % 2 else 1
    lo = first - L // 2  # first position read
    pad_lo, pad_hi = max(0, -lo), max(0, lo + ratio * (m - 1) + L - n)
    if pad_lo or pad_hi:
        x = F.pad(x, (pad_lo, pad_hi) if dim == -1 else (0, 0, pad_lo, pad_hi))  # zero borders
    index = [slice(None)] * x.ndim

    def read(start):  # positions start, start + ratio, ... (m of them) of the padded axis
        index[dim] = slice(start + pad_lo, start + pad_lo + ratio * (m - 1) + 1, ratio)
        return x[tuple(index)]

    if L == 1:
        out = read(lo)
    else:
        out = read(lo) * float(HALF_SHIFT_TAPS[0])
        for tap in range(1, L):
            out = out + read(lo + tap) * float(HALF_SHIFT_TAPS[tap])
    k_lo = min(m, max(0, (-first + ratio - 1) // ratio))  # first k with position >= 0
    k_hi = max(k_lo, min(m, (n - 1 - first) // ratio + 1))  # past the last k with position < n
    if k_lo > 0 or k_hi < m:
        keep = torch.zeros(m, dtype=x.dtype, device=x.device)
        keep[k_lo:k_hi] = 1.0
        shape = [1] * out.ndim
        shape[dim] = m
        out = out * keep.view(shape)
    return out


def phases_to_shifts(phases, ratio: int) -> np.ndarray:
    """Integer decimation phases (B, 2) in {0..ratio-1} -> equivalent shifts (r, c) = 2 (ratio//2 - p)."""
    return 2 * (ratio // 2 - np.asarray(phases, dtype=np.int64))


def reproject_ms(x: torch.Tensor, gnyq: Sequence[float], ratio: int, shifts=None,
                 convention: str = "lambda-pnn") -> torch.Tensor:
    """Scarpa's reprojection of a fused image to the MS grid: MTF filter -> sub-pixel shift -> decimation.

    The one MS-scale reprojection of the project: the R-metrics (:mod:`clippan_kit.metrics.reprojected`)
    and the JESSE loss use it. x (N, B, H, W) -> (N, B, H/r, W/r); ``shifts`` (B, 2) / (N, B, 2) in
    half-PAN-pixel units (see :func:`shift_decimate`), None = no shift (plain toolbox decimation).
    Filter ``convention`` as :func:`mtf_kernel` (the λ-PNN tools' kernels by default). Differentiable.
    """
    low = mtf_filter(x, gnyq, ratio, convention=convention)
    if shifts is None:
        return decimate(low, ratio)
    return shift_decimate(low, shifts, ratio)


class Reprojection(Operator):
    """Scarpa's reprojection :func:`reproject_ms` as an operator, for fixed per-band ``shifts``.

    Shape contract: ``x: (N, B, H, W)`` or ``(B, H, W)`` float, scene units -> ``(N, B, H/r, W/r)`` or
    ``(B, H/r, W/r)``. ``shifts``: (B, 2) / (N, B, 2) integers in half-PAN-pixel units, None = the toolbox's
    decimation phase for every band. Linear for fixed shifts (the shift estimate itself is not:
    :class:`~clippan_kit.physics.coregistration.CoRegistration`).
    """

    def __init__(self, gnyq: Sequence[float], ratio: int, shifts=None, convention: str = "lambda-pnn"):
        self.gnyq = [float(g) for g in np.atleast_1d(np.asarray(gnyq, dtype=float))]
        self.ratio, self.shifts, self.convention = int(ratio), shifts, convention

    @classmethod
    def for_sensor(cls, sensor, shifts=None, convention: str = "lambda-pnn") -> "Reprojection":
        return cls(sensor.gnyq_ms, sensor.ratio, shifts, convention)

    def forward(self, x):
        t, back = as_tensor(x)
        batched = t.ndim == 4
        out = reproject_ms(t if batched else t[None], self.gnyq, self.ratio, self.shifts, self.convention)
        return back(out if batched else out[0])

    def output_shape(self, shape):
        return (*shape[:-2], shape[-2] // self.ratio, shape[-1] // self.ratio)

    def __repr__(self) -> str:
        return f"Reprojection(ratio={self.ratio}, shifts={'none' if self.shifts is None else 'per band'})"
