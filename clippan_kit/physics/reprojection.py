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

from ._dispatch import as_tensor
from .base import Operator
from .interpolation import half_pixel_shift
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
    s = _as_shifts(shifts, N, B, x.device)
    odd = s % 2  # (N, B, 2) half-pixel part
    if bool(odd[..., 0].any()):
        x = torch.where(odd[..., 0, None, None].bool(), half_pixel_shift(x, -2), x)
    if bool(odd[..., 1].any()):
        x = torch.where(odd[..., 1, None, None].bool(), half_pixel_shift(x, -1), x)
    whole = torch.div(s, 2, rounding_mode="floor")  # integer part: out(i) = x(i - whole)
    h, w = H // ratio, W // ratio
    rows = torch.arange(h, device=x.device) * ratio + ratio // 2 - whole[..., 0:1]  # (N, B, h)
    cols = torch.arange(w, device=x.device) * ratio + ratio // 2 - whole[..., 1:2]
    rv, cv = (rows >= 0) & (rows < H), (cols >= 0) & (cols < W)
    y = torch.gather(x, 2, rows.clamp(0, H - 1)[..., None].expand(-1, -1, -1, W))
    y = torch.gather(y, 3, cols.clamp(0, W - 1)[:, :, None, :].expand(-1, -1, h, -1))
    if not (bool(rv.all()) and bool(cv.all())):
        y = y * (rv[..., :, None] & cv[..., None, :]).to(y.dtype)
    return y


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
