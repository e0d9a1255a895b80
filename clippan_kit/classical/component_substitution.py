"""Component-substitution (CS) pansharpening: Gram-Schmidt (GS), adaptive GS (GSA) and Brovey.

CS methods build an intensity ``I`` from the MS upsampled to the PAN grid (EXP, 23-tap
interpolator) -- the PAN branch of the degradation, a :class:`~clippan_kit.physics.SpectralResponse` -- and
inject the PAN detail ``P - I`` into every band with a band gain. The three
functions follow the conventions of Vivone's MATLAB toolbox (``GS.m``, ``GSA.m``, ``Brovey.m``;
Vivone et al., "A critical comparison among pansharpening algorithms", IEEE TGRS 53(5), 2015, and
"A new benchmark based on recent advances in multispectral pansharpening", IEEE GRSM 9(1), 2021).

Every function: ``(ms (B, h, w), pan (H, W), sensor) -> (B, H, W) float32``, same units as the
inputs; statistics are global (whole image), computed in float64.
"""
from __future__ import annotations

import numpy as np

from ..sensors import Sensor
from ..physics import SpectralResponse, WaldProtocol, interp23tap
from ._inputs import prepare

__all__ = ["gs", "gsa", "brovey"]

_EPS = np.finfo(np.float64).eps  # MATLAB ``eps``, the toolbox's guard against division by zero


def _match_moments(x: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``x`` shifted and scaled to the mean and standard deviation of ``target`` (toolbox PAN
    equalisation). A constant ``x`` becomes the constant mean of ``target``."""
    sx = x.std()
    scale = target.std() / sx if sx > 0 else 0.0
    return (x - x.mean()) * scale + target.mean()


def _inject(up: np.ndarray, intensity0: np.ndarray, pan0: np.ndarray) -> np.ndarray:
    """GS/GSA injection with covariance gains and final mean equalisation.

    Args:
        up: (B, H, W) EXP image, float64.
        intensity0: (H, W) zero-mean intensity.
        pan0: (H, W) zero-mean PAN, already matched to the intensity as the method requires.

    Returns:
        (B, H, W) float64: ``up_b + g_b (pan0 - intensity0)`` with
        ``g_b = cov(I0, up_b) / var(I0)``, shifted so each band keeps the mean of ``up_b``.
    """
    means = up.mean(axis=(1, 2), keepdims=True)
    up0 = up - means
    var = float(np.sum(intensity0 * intensity0))
    # Both factors are zero-mean, so the sums are the (ddof-free) covariance ratio of GS.m.
    gains = np.einsum("hw,bhw->b", intensity0, up0) / var if var > 0 else np.zeros(up.shape[0])
    fused = up0 + gains[:, None, None] * (pan0 - intensity0)[None]
    return fused - fused.mean(axis=(1, 2), keepdims=True) + means


def gs(ms, pan, sensor: Sensor | str) -> np.ndarray:
    """Gram-Schmidt spectral sharpening, mode "average" (toolbox ``GS.m``).

    The intensity is the band average of EXP; the PAN is equalised to its mean and standard
    deviation; band gains are ``cov(I, MS_b) / var(I)``, which is what the Gram-Schmidt
    transform with the synthetic band first amounts to.

    Args:
        ms: (B, h, w) low-resolution MS, any units.
        pan: (H, W) PAN, same units, ``H = h * sensor.ratio``.
        sensor: gives the ratio (the MTF gains are unused).

    Returns:
        (B, H, W) float32 in the units of the inputs.

    Reference:
        C. A. Laben and B. V. Brower, "Process for enhancing the spatial resolution of multispectral
        imagery using pan-sharpening", U.S. Patent 6 011 875, 2000.
    """
    ms, pan, sensor = prepare(ms, pan, sensor)
    up = interp23tap(ms, sensor.ratio)
    intensity0 = SpectralResponse.band_average(ms.shape[0])(up)
    intensity0 -= intensity0.mean()
    return _inject(up, intensity0, _match_moments(pan, intensity0)).astype(np.float32)


def gsa(ms, pan, sensor: Sensor | str) -> np.ndarray:
    """Gram-Schmidt adaptive (toolbox ``GSA.m``): intensity weights from a regression at MS scale.

    The weights ``alpha`` (B bands + an offset) are the least-squares fit of the PAN, low-passed
    and decimated to the MS grid, by the mean-removed low-resolution MS bands
    (:meth:`SpectralResponse.fit`); the intensity is that spectral response applied to the mean-removed
    EXP bands. The PAN is only mean-removed (no
    variance matching: the regression already puts the intensity on the PAN's scale).

    Deviation from the toolbox, on purpose: the PAN is low-passed with the sensor's PAN MTF filter
    and decimated (``WaldProtocol.degrade_pan``) instead of the toolbox's Starck-Murtagh
    a-trous filter (``LPfilterPlusDec``), so that the toolkit has one low-pass implementation.

    Args / Returns: as :func:`gs`; ``sensor`` gives the ratio and the PAN MTF gain.

    Reference:
        B. Aiazzi, S. Baronti, M. Selva, "Improving component substitution pansharpening through
        multivariate regression of MS+Pan data", IEEE TGRS 45(10), 3230-3239, 2007.
    """
    ms, pan, sensor = prepare(ms, pan, sensor)
    up = interp23tap(ms, sensor.ratio)
    up0 = up - up.mean(axis=(1, 2), keepdims=True)
    ms0 = ms - ms.mean(axis=(1, 2), keepdims=True)
    pan0 = pan - pan.mean()
    response = SpectralResponse.fit(ms0, WaldProtocol(sensor).degrade_pan(pan0))  # the PAN branch at MS scale
    intensity = response(up0)
    return _inject(up, intensity - intensity.mean(), pan0).astype(np.float32)


def brovey(ms, pan, sensor: Sensor | str) -> np.ndarray:
    """Brovey transform (toolbox ``Brovey.m``): every EXP band times ``P / I``.

    ``I`` is the band average of EXP and ``P`` the PAN equalised to the mean and standard
    deviation of ``I``. The ratio between bands, hence the spectral angle of EXP, is kept
    exactly at every pixel.

    Args / Returns: as :func:`gs`.

    Reference:
        A. R. Gillespie, A. B. Kahle, R. E. Walker, "Color enhancement of highly correlated images.
        II. Channel ratio and 'chromaticity' transformation techniques", Remote Sensing of
        Environment 22(3), 343-365, 1987.
    """
    ms, pan, sensor = prepare(ms, pan, sensor)
    up = interp23tap(ms, sensor.ratio)
    intensity = SpectralResponse.band_average(ms.shape[0])(up)
    ratio = _match_moments(pan, intensity) / (intensity + _EPS)
    return (up * ratio[None]).astype(np.float32)
