"""Reprojection of a fused image to the MS grid (Scarpa & Ciotola): MTF filter -> sub-pixel shift -> decimation.

G. Scarpa, M. Ciotola, "Full-resolution quality assessment for pansharpening", Remote Sensing 14(8), 2022;
M. Ciotola, G. Poggi, G. Scarpa, IEEE TGRS 61, 2023 (λ-PNN). :func:`reproject_ms` is the one MS-scale
reprojection of the project: the R-metrics (:mod:`clippan_kit.metrics.reprojected`) and the JESSE loss use
it. Shifts are integers (r, c) per band in half-PAN-pixel units, the λ-PNN authors' co-registration
convention (:mod:`clippan_kit.physics.coregistration` estimates them).
"""
from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import numpy as np
import torch

import torch.nn.functional as F

from ._dispatch import as_tensor
from .interpolation import HALF_SHIFT_TAPS
from .base import Operator
from .mtf import KERNEL_SIZE, _plain_cpu, decimate, mtf_filter, separable_factors

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
    if bool((s == s[:1]).all()):  # one shift per band for the whole batch (the usual case)
        # Bands with the same shift go through together (the WV2 scene's shifts: 7 bands and 1).
        groups: dict[tuple[int, int], list[int]] = {}
        for b in range(B):
            groups.setdefault((int(s[0, b, 0]), int(s[0, b, 1])), []).append(b)
        if len(groups) == 1:
            r, c = next(iter(groups))
            return _shift_sample(_shift_sample(x, r, ratio, -2), c, ratio, -1)
        out = x.new_empty(N, B, H // ratio, W // ratio)
        for (r, c), bands in groups.items():
            if bands == list(range(bands[0], bands[-1] + 1)):  # a run of bands: a view, not a copy
                part, where = x[:, bands[0]:bands[-1] + 1], slice(bands[0], bands[-1] + 1)
            else:
                where = torch.tensor(bands, device=x.device)
                part = x.index_select(1, where)
            out[:, where] = _shift_sample(_shift_sample(part, r, ratio, -2), c, ratio, -1)
        return out
    return torch.stack([torch.cat([_shift_sample(_shift_sample(x[n:n + 1, b], int(s[n, b, 0]), ratio, -2),
                                                 int(s[n, b, 1]), ratio, -1) for n in range(N)])
                        for b in range(B)], 1)


def _shift_sample(x: torch.Tensor, s: int, ratio: int, dim: int) -> torch.Tensor:
    """x (..., H, W) sampled along ``dim`` (-2 or -1) at ``ratio*k + ratio//2 - s/2``, k < n // ratio; s in half samples.

    An odd s interpolates with the 12-tap half-sample filter exactly as :func:`half_pixel_shift` (zero
    borders): value(i - 1/2) = sum_l HALF_SHIFT_TAPS[l] x[i + l - 6]; an even s picks x[i]; a sample
    whose position i is outside the axis is 0. Same numbers as shifting the whole axis and decimating.
    """
    n = x.shape[dim]
    m = n // ratio
    first = ratio // 2 - s // 2  # position i of sample k = 0
    taps = [float(t) for t in HALF_SHIFT_TAPS] if s % 2 else [1.0]
    lo = first - len(taps) // 2  # position read by the first tap for k = 0

    def ks(p0):  # the k < m whose position p0 + ratio k lies in the axis (zero borders: the others add 0)
        k0 = min(m, max(0, (ratio - 1 - p0) // ratio))
        return k0, max(k0, min(m, (n - 1 - p0) // ratio + 1))

    shape = list(x.shape)
    shape[dim] = m
    out = x.new_zeros(shape)
    for tap, weight in enumerate(taps):  # one strided pass a tap, added in place: no padded copy of x
        k0, k1 = ks(lo + tap)
        if k1 > k0:
            out.narrow(dim, k0, k1 - k0).add_(
                x.narrow(dim, lo + tap + ratio * k0, ratio * (k1 - k0 - 1) + 1)[_every(dim, ratio, x.ndim)], alpha=weight)
    k_lo, k_hi = ks(first)  # a sample whose own position is outside the axis is 0
    out.narrow(dim, 0, k_lo).zero_()
    out.narrow(dim, k_hi, m - k_hi).zero_()
    return out


def _every(dim: int, step: int, ndim: int) -> tuple:
    """Index taking every ``step``-th entry along ``dim``."""
    index = [slice(None)] * ndim
    index[dim] = slice(None, None, step)
    return tuple(index)


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
    gains = [float(g) for g in np.broadcast_to(np.atleast_1d(np.asarray(gnyq, dtype=float)), (x.shape[-3],))]
    if _plain_cpu(x) and x.numel() \
            and all(separable_factors(g, ratio, KERNEL_SIZE, convention) is not None for g in gains):
        return _separable_reproject(x, gains, ratio, shifts, convention)
    low = mtf_filter(x, gnyq, ratio, convention=convention)
    if shifts is None:
        return decimate(low, ratio)
    return shift_decimate(low, shifts, ratio)


def _separable_reproject(x: torch.Tensor, gains: Sequence[float], ratio: int, shifts, convention: str) -> torch.Tensor:
    """:func:`reproject_ms` of an (N, B, H, W) image whose MTF kernels are rank one (:func:`separable_factors`),
    evaluation only: the whole chain along one axis -- filter (replicate borders), half-pixel tap, decimation --
    is one (H/r, H) matrix with a band of ~52 taps a row (:func:`_axis_operator`), so band b becomes
    A_rows(b) x_b A_cols(b)^T, computed in blocks of output rows (:func:`_banded_apply`). No full-size filtered
    image is made: 8 bands of 1280² take ~0.06 s on one core instead of ~0.23 s for the inverse FFT and the
    sampling. Same values as the filtered-then-sampled path to ~1e-15 relative (tests/test_physics_operators.py).
    """
    N, B, H, W = x.shape
    s = None if shifts is None else _as_shifts(shifts, N, B, x.device).cpu()
    out = None
    for n in range(N):
        for b in range(B):
            column, row = separable_factors(gains[b], ratio, KERNEL_SIZE, convention)
            r, c = (None, None) if s is None else (int(s[n, b, 0]), int(s[n, b, 1]))
            y = _banded_apply(_axis_operator(W, ratio, c, tuple(row)),
                              _banded_apply(_axis_operator(H, ratio, r, tuple(column)), x[n, b], -2), -1)
            if out is None:
                out = x.new_empty(N, B, *y.shape)
            out[n, b] = y
    return out


@lru_cache(maxsize=64)
def _axis_operator(n: int, ratio: int, shift: int | None, taps: tuple) -> tuple:
    """One axis of the separable reprojection, an (m, n) banded float64 matrix (m samples), as its blocks.

    The (n, n) matrix of the filter ``taps`` (correlation centred on the middle tap, replicated borders), its
    rows sampled as the image's would be: :func:`_shift_sample` for a ``shift`` (half-pixel taps, zero
    borders), :func:`~clippan_kit.physics.mtf.decimate`'s phase for None. Returns (m, blocks): blocks of up to
    32 rows (k0, k1, c0, matrix[k0:k1, c0:c1]) over the input columns c0 .. c1 - 1 their rows touch (~0.5 MB
    kept for a 1280-pixel axis, not the 3 MB matrix).
    """
    h = np.asarray(taps)
    reads = np.clip(np.arange(n)[:, None] + np.arange(len(h)) - len(h) // 2, 0, n - 1)  # (n, taps), replicated
    filt = np.zeros((n, n))
    np.add.at(filt, (np.broadcast_to(np.arange(n)[:, None], reads.shape), reads), np.broadcast_to(h, reads.shape))
    filt = torch.from_numpy(filt)
    A = (filt[ratio // 2::ratio] if shift is None else _shift_sample(filt, shift, ratio, -2)).numpy()
    blocks = []
    for k0 in range(0, A.shape[0], 32):
        k1 = min(A.shape[0], k0 + 32)
        used = np.flatnonzero(A[k0:k1].any(0))
        if used.size:
            c0, c1 = int(used[0]), int(used[-1]) + 1
            blocks.append((k0, k1, c0, torch.from_numpy(A[k0:k1, c0:c1].copy())))
    return A.shape[0], tuple(blocks)


def _banded_apply(operator: tuple, x: torch.Tensor, dim: int) -> torch.Tensor:
    """An :func:`_axis_operator` matrix A applied along ``dim`` of a 2-D x: -2 gives A x, -1 gives x A^T."""
    m, blocks = operator
    out = x.new_zeros((m, x.shape[1]) if dim == -2 else (x.shape[0], m))  # rows with no block stay 0
    for k0, k1, c0, block in blocks:
        block = block.to(x.dtype)
        c1 = c0 + block.shape[1]
        if dim == -2:
            torch.mm(block, x[c0:c1], out=out[k0:k1])
        else:
            out[:, k0:k1] = x[:, c0:c1] @ block.T
    return out


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
