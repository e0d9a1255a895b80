"""MATLAB ``imresize(x, 1/ratio)`` (bicubic, antialiasing on) for integer downscaling.

The QNR toolbox (``D_s.m``; Alparone et al., PE&RS 74(2), 2008) builds its low-resolution PAN with it,
so D_s and its loss reproject the PAN through it. For an integer factor r the antialiased bicubic kernel
(Keys, a = -0.5, stretched by r) has the same 4r taps for every output sample, centred between input
samples r*k + (r-1)/2; MATLAB mirrors the borders with the edge repeated. So it is one strided separable
convolution.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from ._dispatch import as_tensor
from .base import Operator

__all__ = ["imresize_down", "ImresizeDown"]


def _cubic(x: np.ndarray) -> np.ndarray:
    a = np.abs(x)
    return np.where(a <= 1, 1.5 * a**3 - 2.5 * a**2 + 1,
                    np.where(a <= 2, -0.5 * a**3 + 2.5 * a**2 - 4 * a + 2, 0.0))


@lru_cache(maxsize=8)
def _taps(ratio: int) -> np.ndarray:
    d = (np.arange(4 * ratio) - (4 * ratio - 1) / 2.0) / ratio  # tap offsets from the output centre
    w = _cubic(d)
    return w / w.sum()


def _mirror_pad(x: torch.Tensor, n: int, dim: int) -> torch.Tensor:
    """Pad ``n`` samples on both sides of ``dim`` by mirroring with the edge sample repeated (MATLAB's rule)."""
    size = x.shape[dim]
    front = torch.arange(n - 1, -1, -1, device=x.device)
    back = torch.arange(size - 1, size - 1 - n, -1, device=x.device)
    return torch.cat([x.index_select(dim, front), x, x.index_select(dim, back)], dim=dim)


def imresize_down(x: torch.Tensor, ratio: int) -> torch.Tensor:
    """(..., H, W) -> (..., H/ratio, W/ratio), as MATLAB ``imresize(x, 1/ratio)`` (bicubic, antialiased)."""
    if ratio == 1:
        return x
    lead, (H, W) = x.shape[:-2], x.shape[-2:]
    if H % ratio or W % ratio:
        raise ValueError(f"size {H}x{W} is not a multiple of the ratio {ratio}")
    p = 3 * ratio // 2  # taps reach 1.5 r samples beyond the first and last input sample
    if p > min(H, W):
        raise ValueError(f"image {H}x{W} too small for imresize by 1/{ratio}")
    t = x.reshape(-1, 1, H, W)
    t = _mirror_pad(_mirror_pad(t, p, -2), p, -1)
    k = torch.as_tensor(_taps(ratio), dtype=t.dtype, device=t.device)
    t = F.conv2d(t, k.view(1, 1, -1, 1), stride=(ratio, 1))
    t = F.conv2d(t, k.view(1, 1, 1, -1), stride=(1, ratio))
    return t.reshape(*lead, H // ratio, W // ratio)


class ImresizeDown(Operator):
    """MATLAB ``imresize(x, 1/ratio)`` (bicubic, antialiased) as an operator: :func:`imresize_down`.

    Shape contract: ``x: (..., H, W)`` float, H and W multiples of ``ratio`` and at least ``3 ratio / 2``
    -> ``(..., H/r, W/r)``, same units. Linear; the taps sum to 1, so constants stay constant.
    """

    def __init__(self, ratio: int):
        self.ratio = int(ratio)

    def forward(self, x):
        t, back = as_tensor(x)
        return back(imresize_down(t, self.ratio))

    def output_shape(self, shape):
        return (*shape[:-2], shape[-2] // self.ratio, shape[-1] // self.ratio)

    def __repr__(self) -> str:
        return f"ImresizeDown(ratio={self.ratio})"
