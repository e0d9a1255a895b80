"""The classical methods of :mod:`clippan_kit.classical`, split into a global-statistics pass and a per-block apply.

Each method equals its whole-image version (:func:`clippan_kit.classical.fuse`) to float
rounding. Where its global statistics come from (all in float64, merged exactly across blocks:
:class:`~clippan_kit.scenescale.moments.Moments` for means and covariances, plain sums for Gram
matrices):

=================  ======================================================================================
method             global statistics (one pass over the blocks, then applied per block)
=================  ======================================================================================
``exp``            none
``brovey``         mean and std of the PAN and of the intensity I = mean_b EXP_b (PAN grid)
``gs``             means of EXP_b and PAN, covariances of EXP (B x B) and var(PAN), on the PAN grid:
                   var(I), cov(I, EXP_b) and the PAN moment match follow since I is linear in EXP
``gsa``            as ``gs`` on the PAN grid, plus on the MS grid the moments of (MS_b, degraded PAN):
                   the toolbox's least squares ``alpha`` (with intercept) is ``C_MS^-1 c_(MS,P_L)``
                   and its intercept the mean of the (mean-removed) degraded PAN
``mtf-glp-hpm-r``  per band: means, var(P_L,b), cov(EXP_b, P_L,b) on the PAN grid and mean(PAN) (the
                   regression gain g_b and offset c_b of the 'R'); P_L from the exact halo operator
``bdsd``           the (B+1) x (B+1) Gram matrix and (B+1) x B right-hand side of the BDSD-PC least
                   squares, summed over MS-grid blocks; solved once with :func:`classical.nnls_gram`
=================  ======================================================================================

The final mean re-centring of GS/GSA (``fused - mean(fused) + mean(EXP)``) shifts by
``g_b (mean(P0) - mean(I0))``, zero by construction; it is applied as zero (the whole-image
version subtracts the float rounding of that zero, ~1e-13 of full scale).
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

from ..classical import get_method, nnls_gram
from .blocks import BlockReader, Window
from .moments import Moments

__all__ = ["BLOCK_METHODS", "BlockMethod"]

_EPS = np.finfo(np.float64).eps  # as the toolbox (and clippan_kit.classical) guard divisions


class BlockMethod:
    """``stats(reader, win) -> partial``; ``combine(partials) -> g``; ``apply(reader, win, g) -> (B, h, w)``."""

    name = ""
    grid = "pan"  # which grid the stats blocks cover: the stats pass reuses the fusion blocks
    block: int | None = None  # preferred block side (PAN pixels) when the caller gives none; None: DEFAULT_BLOCK

    def stats(self, rd: BlockReader, win: Window) -> Any:
        return None

    def combine(self, parts: list) -> Any:
        return None

    def apply(self, rd: BlockReader, win: Window, g: Any) -> np.ndarray:
        raise NotImplementedError

    @property
    def needs_stats(self) -> bool:
        return type(self).stats is not BlockMethod.stats


def _flat(*arrays) -> np.ndarray:
    return np.concatenate([a.reshape(-1, a.shape[-2] * a.shape[-1]) for a in arrays])


class Exp(BlockMethod):
    name = "exp"

    def apply(self, rd, win, g):
        return rd.up(win)


class _UpPanMoments(BlockMethod):
    """Moments of (EXP_1..EXP_B, PAN) on the PAN grid."""

    def stats(self, rd, win):
        return Moments.of(_flat(rd.up(win), rd.core_pan(win)[None]))

    def combine(self, parts):
        return Moments.total(parts)


def _intensity_moments(m: Moments, weights: np.ndarray) -> tuple[float, float, np.ndarray]:
    """(mean, n var, (B,) n cov with EXP_b) of the intensity ``I = weights . EXP`` from (EXP, PAN) moments."""
    B = weights.size
    c = m.comoment[:B, :B]
    return float(weights @ m.mean[:B]), float(weights @ c @ weights), weights @ c


class Brovey(_UpPanMoments):
    name = "brovey"

    def combine(self, parts):
        m = super().combine(parts)
        B = m.mean.size - 1
        mi, vi, _ = _intensity_moments(m, np.full(B, 1.0 / B))
        vp = m.comoment[B, B]
        return dict(mean_i=mi, mean_p=float(m.mean[B]), scale=float(np.sqrt(vi / vp)) if vp > 0 else 0.0)

    def apply(self, rd, win, g):
        up = rd.up(win)
        intensity = up.mean(axis=0)
        matched = (rd.core_pan(win) - g["mean_p"]) * g["scale"] + g["mean_i"]
        return up * (matched / (intensity + _EPS))[None]


def _inject(up, intensity0, pan0, gains):
    """GS injection with precomputed gains (``clippan_kit.classical.component_substitution``)."""
    return up + gains[:, None, None] * (pan0 - intensity0)[None]


class GS(_UpPanMoments):
    name = "gs"

    def combine(self, parts):
        m = super().combine(parts)
        B = m.mean.size - 1
        w = np.full(B, 1.0 / B)
        mi, vi, cib = _intensity_moments(m, w)
        vp = m.comoment[B, B]
        return dict(w=w, mean_i=mi, mean_p=float(m.mean[B]), scale=float(np.sqrt(vi / vp)) if vp > 0 else 0.0,
                    gains=cib / vi if vi > 0 else np.zeros(B))

    def apply(self, rd, win, g):
        up = rd.up(win)
        intensity0 = np.einsum("b,bhw->hw", g["w"], up) - g["mean_i"]
        pan0 = (rd.core_pan(win) - g["mean_p"]) * g["scale"]  # matched to I0, whose mean is zero
        return _inject(up, intensity0, pan0, g["gains"])


class GSA(BlockMethod):
    name = "gsa"

    def stats(self, rd, win):
        m = win.ms(rd.r)
        pan_lr = rd.pan_lowpass_decimated([rd.pair.sensor.gnyq_pan], np.arange(m.y0, m.y1), np.arange(m.x0, m.x1))
        return (Moments.of(_flat(rd.up(win), rd.core_pan(win)[None])), Moments.of(_flat(rd.core_ms(win), pan_lr)))

    def combine(self, parts):
        full = Moments.total(p[0] for p in parts)
        low = Moments.total(p[1] for p in parts)
        B = low.mean.size - 1
        # lstsq of the mean-removed degraded PAN on (mean-removed MS, 1): the MS columns are centred,
        # so alpha = C_MS^-1 c(MS, P_L); the intercept cancels in I - mean(I) and is not needed.
        alpha = np.linalg.solve(low.comoment[:B, :B], low.comoment[:B, B])
        c_up = full.comoment[:B, :B]
        vi = float(alpha @ c_up @ alpha)
        return dict(alpha=alpha, mean_up=full.mean[:B], mean_p=float(full.mean[B]),
                    gains=(alpha @ c_up) / vi if vi > 0 else np.zeros(B))

    def apply(self, rd, win, g):
        up = rd.up(win)
        intensity0 = np.einsum("b,bhw->hw", g["alpha"], up - g["mean_up"][:, None, None])
        pan0 = rd.core_pan(win) - g["mean_p"]
        return _inject(up, intensity0, pan0, g["gains"])


class MtfGlpHpmR(BlockMethod):
    name = "mtf-glp-hpm-r"

    def stats(self, rd, win):
        return Moments.of(_flat(rd.up(win), rd.pan_lowpass_per_band(win), rd.core_pan(win)[None]))

    def combine(self, parts):
        m = Moments.total(parts)
        B = (m.mean.size - 1) // 2
        b = np.arange(B)
        gain = m.comoment[b, B + b] / m.comoment[B + b, B + b]
        return dict(offset=m.mean[:B] / gain - m.mean[2 * B])

    def apply(self, rd, win, g):
        off = g["offset"][:, None, None]
        # up * (pan + off) / (pan_lp + off + eps), in place: the same roundings, two block stacks fewer
        out = rd.core_pan(win)[None] + off
        out *= rd.up(win)
        den = rd.pan_lowpass_per_band(win)
        den += off
        den += _EPS
        out /= den
        return out


class BDSD(BlockMethod):
    name = "bdsd"

    def stats(self, rd, win):
        m = win.ms(rd.r)
        s = rd.pair.sensor
        ms = rd.core_ms(win)
        ms_lp = rd.ms_lowpass(win)
        pan_lr = rd.pan_lowpass_decimated([s.gnyq_pan], np.arange(m.y0, m.y1), np.arange(m.x0, m.x1))
        B = ms.shape[0]
        sign = np.r_[1.0, -np.ones(B)]
        design = _flat(pan_lr, ms_lp) * sign[:, None]  # x = sign * gamma >= 0 (classical.bdsd)
        target = _flat(ms - ms_lp)
        return design @ design.T, design @ target.T

    def combine(self, parts):
        gram = sum(p[0] for p in parts)
        rhs = sum(p[1] for p in parts)
        sign = np.r_[1.0, -np.ones(gram.shape[0] - 1)]
        x = nnls_gram(torch.from_numpy(gram)[None], torch.from_numpy(rhs)[None])[0].numpy()
        return x * sign[:, None]  # (B+1, B) gamma

    def apply(self, rd, win, gamma):
        up = rd.up(win)
        return up + gamma[0][:, None, None] * rd.core_pan(win)[None] + np.einsum("kb,khw->bhw", gamma[1:], up)


BLOCK_METHODS: dict[str, Callable[[], BlockMethod]] = {
    c.name: c for c in (Exp, Brovey, GS, GSA, MtfGlpHpmR, BDSD)
}


def block_method(name: str) -> BlockMethod:
    """The block-wise implementation of a :data:`clippan_kit.classical.METHODS` entry."""
    entry = get_method(name)  # same names, aliases and error message as classical.fuse
    return BLOCK_METHODS[entry.name]()
