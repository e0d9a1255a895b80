"""Interpolation baseline (EXP) and multiresolution-analysis (MRA) pansharpening: MTF-GLP-HPM-R.

Both follow Vivone's MATLAB toolbox (``interp23tap.m``, ``MTF_GLP_HPM_R.m``; Vivone et al.,
"A new benchmark based on recent advances in multispectral pansharpening", IEEE GRSM 9(1), 2021)
and use :mod:`clippan_kit.physics` for every filter and interpolator.

Every function: ``(ms (B, h, w), pan (H, W), sensor) -> (B, H, W) float32``, same units as the
inputs, computed in float64.
"""
from __future__ import annotations

import numpy as np

from ..sensors import Sensor
from ..physics import decimate, interp23tap, mtf_filter
from ._inputs import prepare

__all__ = ["exp", "mtf_glp_hpm_r", "pan_lowpass_per_band"]

_EPS = np.finfo(np.float64).eps  # MATLAB ``eps``


def exp(ms, pan, sensor: Sensor | str) -> np.ndarray:
    """EXP: the MS upsampled to the PAN grid with the 23-tap interpolator, no PAN detail.

    The reference every pansharpening method must beat; ``exp(...)[:, r//2::r, r//2::r]``
    equals the MS exactly. ``pan`` is only used to check the sizes.

    Args:
        ms: (B, h, w) low-resolution MS, any units.
        pan: (H, W) PAN, ``H = h * sensor.ratio``.
        sensor: gives the ratio.

    Returns:
        (B, H, W) float32 in the units of ``ms``.

    Reference:
        B. Aiazzi, L. Alparone, S. Baronti, A. Garzelli, "Context-driven fusion of high spatial and
        spectral resolution images based on oversampled multiresolution analysis", IEEE TGRS 40(10),
        2300-2312, 2002 (the 23-tap interpolator).
    """
    ms, _, sensor = prepare(ms, pan, sensor)
    return interp23tap(ms, sensor.ratio).astype(np.float32)


def pan_lowpass_per_band(pan: np.ndarray, sensor: Sensor) -> np.ndarray:
    """(H, W) PAN -> (B, H, W): the PAN as band b would see it at MS resolution, back on the PAN grid.

    MTF filter with band b's gain, decimation by the ratio, 23-tap interpolation (the "GLP"
    low-pass of ``MTF_GLP_HPM_R.m``). Bands with the same gain share one computation.
    """
    gains, inverse = np.unique(np.asarray(sensor.gnyq_ms, dtype=float), return_inverse=True)
    stack = np.broadcast_to(pan, (gains.size, *pan.shape))
    lowpassed = interp23tap(decimate(mtf_filter(stack, gains.tolist(), sensor.ratio), sensor.ratio), sensor.ratio)
    return lowpassed[inverse.ravel()]


def mtf_glp_hpm_r(ms, pan, sensor: Sensor | str) -> np.ndarray:
    """MTF-GLP with high-pass modulation and full-scale regression of the injection (toolbox
    ``MTF_GLP_HPM_R.m``).

    For band b, with ``P_L`` the PAN low-passed as band b sees it (:func:`pan_lowpass_per_band`)
    and ``M`` the EXP band: ``g = cov(M, P_L) / var(P_L)``, ``c = mean(M) / g - mean(P)``, and
    ``fused = M (P + c) / (P_L + c + eps)``. The offset ``c`` makes the multiplicative injection
    unbiased for data with a path-radiance offset; no PAN histogram matching is needed.

    Args:
        ms: (B, h, w) low-resolution MS, any units.
        pan: (H, W) PAN, same units, ``H = h * sensor.ratio``.
        sensor: gives the ratio and the per-band MS MTF gains.

    Returns:
        (B, H, W) float32 in the units of the inputs.

    Reference:
        G. Vivone, R. Restaino, J. Chanussot, "Full scale regression-based injection coefficients
        for panchromatic sharpening", IEEE TIP 27(7), 3418-3431, 2018.
    """
    ms, pan, sensor = prepare(ms, pan, sensor)
    up = interp23tap(ms, sensor.ratio)
    pan_lp = pan_lowpass_per_band(pan, sensor)
    up0 = up - up.mean(axis=(1, 2), keepdims=True)
    lp_mean = pan_lp.mean(axis=(1, 2))
    lp0 = pan_lp - lp_mean[:, None, None]
    gain = np.einsum("bhw,bhw->b", up0, lp0) / np.einsum("bhw,bhw->b", lp0, lp0)
    offset = (up.mean(axis=(1, 2)) / gain - pan.mean())[:, None, None]
    return (up * (pan[None] + offset) / (pan_lp + offset + _EPS)).astype(np.float32)
