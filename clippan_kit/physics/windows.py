"""Local window sums and the local correlation map: shared by the co-registration search
(:mod:`clippan_kit.physics.coregistration`) and the metrics (:mod:`clippan_kit.metrics`: Q over sliding
windows, D_ρ), so that neither imports the other for them.

All functions take (..., H, W) float tensors and are differentiable.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["box_sum", "window_sum", "local_correlation_torch"]

_EPS = 1e-20


def box_sum(x: torch.Tensor, size: int, dims: tuple[int, int] = (-2, -1)) -> torch.Tensor:
    """Sums of x (..., H, W) over every ``size`` x ``size`` window inside the image ('valid').

    ``dims``: the (row, column) dimensions when they are not the last two (e.g. a (V, H, W, C) stack).
    Separable: small windows add ``size`` shifted slices per axis; large ones difference a 1-D
    cumulative sum per axis (float64 keeps the differences exact to ~1e-13 relative on 11-bit data).
    Returns (..., H - size + 1, W - size + 1); entry [i, j] sums x[i:i+size, j:j+size].
    """
    return _box_sum_1d(_box_sum_1d(x, size, dims[1]), size, dims[0])


def window_sum(t: torch.Tensor, w: int) -> torch.Tensor:
    """Sums over the 2w x 2w window of rows i-w+1 .. i+w (zero outside), same size as t (local correlation)."""
    return box_sum(F.pad(t, (w, w, w, w)), 2 * w)[..., 1:, 1:]


def _box_sum_1d(x: torch.Tensor, size: int, dim: int) -> torch.Tensor:
    n = x.shape[dim] - size + 1
    if size == 1:
        return x.clone()
    if size <= 8:
        out = x.narrow(dim, 0, n) + x.narrow(dim, 1, n)
        for k in range(2, size):
            out += x.narrow(dim, k, n)  # in place: one output buffer, no temporaries
        return out
    c = x.cumsum(dim)  # out[i] = c[i + size - 1] - c[i - 1], out[0] = c[size - 1]
    out = c.narrow(dim, size - 1, n).clone()
    out.narrow(dim, 1, n - 1).sub_(c.narrow(dim, 0, n - 1))
    return out


def local_correlation_torch(x: torch.Tensor, y: torch.Tensor, half_width: int, *,
                            clip_covariance: bool = False) -> torch.Tensor:
    """Local correlation map of x (..., H, W) with y (broadcastable), windows 2w x 2w, same size out.

    Output pixel (i, j) uses rows i-w+1 .. i+w and the same columns, zero outside the image.
    ``clip_covariance=True`` clips the covariance sums below at 1e-20 as the authors' NumPy tool does
    (anti-correlation reads as 0); False keeps the sign, as their torch ``xcorr_torch`` (λ-PNN, D_ρ).
    """
    w = int(half_width)

    def wsum(t):
        return window_sum(t, w)

    area = 4.0 * w * w
    if not (torch.is_grad_enabled() and (x.requires_grad or y.requires_grad)):
        # Evaluation (D_ρ, the phase search): the same arithmetic in place, a third fewer strip-sized temporaries.
        xc = x - wsum(x).div_(area)
        yc = y - wsum(y).div_(area)
        sxy = wsum(xc * yc)
        if clip_covariance:
            sxy.clamp_(min=_EPS)
        sxx = wsum(xc.square_()).clamp_(min=_EPS)
        syy = wsum(yc.square_()).clamp_(min=_EPS)
        return sxy.div_((sxx * syy).sqrt_().add_(_EPS))
    xc = x - wsum(x) / area
    yc = y - wsum(y) / area
    sxy = wsum(xc * yc)
    if clip_covariance:
        sxy = sxy.clamp(min=_EPS)
    sxx = wsum(xc * xc).clamp(min=_EPS)
    syy = wsum(yc * yc).clamp(min=_EPS)
    return sxy / (torch.sqrt(sxx * syy) + _EPS)
