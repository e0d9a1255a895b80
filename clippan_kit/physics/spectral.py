"""The PAN branch of the degradation: the spectral response ``PAN ≈ Σ_b w_b · MS_b + c``.

A PAN detector integrates the bands its spectral range covers, so on the PAN grid the PAN is close to a
linear combination of the HRMS bands plus an offset. The toolkit uses that model in three forms, all
through :class:`SpectralResponse`:

* fixed weights from the sensor's band centres (:func:`pan_weights`: equal weights over the bands inside
  the PAN range): the synthetic scenes' PAN (:mod:`clippan_kit.synthetic`) and the default PAN branch of
  :class:`~clippan_kit.physics.degradation.WaldProtocol`;
* the band average, the intensity of GS and Brovey (toolbox ``GS.m``, ``Brovey.m``; Vivone et al., IEEE
  TGRS 53(5), 2015);
* weights and offset fitted by least squares at MS scale, the intensity of GSA (Aiazzi, Baronti, Selva,
  IEEE TGRS 45(10), 2007): :meth:`SpectralResponse.fit`.

The learned φ of CLIPPan's L_spat (a 1x1 convolution, :class:`clippan_kit.losses.terms.SpatialLoss`) is
the same model trained by gradient descent; :meth:`SpatialLoss.spectral_response` reads it out as one.
"""
from __future__ import annotations

import numpy as np
import torch

from .base import Operator

__all__ = ["SpectralResponse", "pan_weights", "band_wavelengths"]

# Band centre wavelengths (nm) of the registry's named bands, and the PAN ranges of the sensors we know.
_BAND_CENTRES_NM = {
    "coastal": 427, "blue": 478, "green": 546, "yellow": 608, "red": 659, "red_edge": 724,
    "nir": 833, "nir1": 831, "nir2": 908, "swir1": 1610, "swir2": 2200, "cirrus": 1373,
}
_PAN_RANGE_NM = {"wv2": (450, 800), "wv3": (450, 800), "landsat8": (500, 680)}


def band_wavelengths(sensor) -> np.ndarray:
    """Centre wavelength (nm) of each band: registry names, else generic bands spread over 450-900 nm."""
    generic = np.linspace(450, 900, sensor.n_bands)
    return np.array([_BAND_CENTRES_NM.get(b, generic[i]) for i, b in enumerate(sensor.bands)], dtype=float)


def pan_weights(sensor) -> np.ndarray:
    """(B,) weights summing to 1: equal over the bands whose centre lies in the sensor's PAN range
    (450-800 nm for WorldView-2/3, 500-680 nm for Landsat 8, 450-900 nm otherwise; all bands if none does)."""
    lo, hi = _PAN_RANGE_NM.get(sensor.name, (450, 900))
    wl = band_wavelengths(sensor)
    inside = (wl >= lo) & (wl <= hi)
    w = inside.astype(float) if inside.any() else np.ones(sensor.n_bands)
    return w / w.sum()


class SpectralResponse(Operator):
    """``forward(x) = Σ_b w_b x_b + bias``: the PAN an HRMS would give.

    Shape contract: ``x: (..., B, H, W)`` float, scene units -> ``(..., H, W)``, same units (the band axis is
    summed away; add it back with ``[..., None, :, :]`` where a (N, 1, H, W) PAN is wanted). Works on any grid:
    on LR MS it gives the PAN seen at MS scale.

    Args:
        weights: (B,) band weights, or None for the plain band average (computed as a mean over the band
            axis, as the toolbox's GS/Brovey intensity is).
        bias: the offset ``c`` (same units as the data).
        n_bands: the band count when ``weights`` is None.

    Linear when ``bias == 0``, affine otherwise (``linear`` says which).
    """

    def __init__(self, weights=None, bias: float = 0.0, n_bands: int | None = None):
        if weights is None:
            if n_bands is None:
                raise ValueError("SpectralResponse needs weights or n_bands (band average)")
            self.weights = np.full(int(n_bands), 1.0 / int(n_bands))
        else:
            self.weights = np.asarray(weights, dtype=np.float64).ravel()
        self.average = weights is None
        self.bias = float(bias)
        self.linear = self.bias == 0.0

    @classmethod
    def band_average(cls, n_bands: int) -> "SpectralResponse":
        """The band average (GS and Brovey intensity)."""
        return cls(None, n_bands=n_bands)

    @classmethod
    def from_sensor(cls, sensor) -> "SpectralResponse":
        """Equal weights over the bands inside the sensor's PAN range (:func:`pan_weights`), no offset."""
        return cls(pan_weights(sensor))

    @classmethod
    def fit(cls, ms, pan) -> "SpectralResponse":
        """Least-squares weights and offset with ``pan ≈ Σ_b w_b ms_b + c`` over all pixels (GSA's regression).

        ms (B, h, w) and pan (h, w) on the same grid, float64 numpy (GSA: mean-removed LR MS and the PAN
        low-passed and decimated to the MS grid).
        """
        ms = np.asarray(ms, dtype=np.float64)
        B = ms.shape[0]
        design = np.concatenate([ms.reshape(B, -1), np.ones((1, ms[0].size))]).T
        alpha, *_ = np.linalg.lstsq(design, np.asarray(pan, dtype=np.float64).ravel(), rcond=None)
        return cls(alpha[:B], bias=alpha[B])

    @property
    def n_bands(self) -> int:
        return self.weights.size

    def forward(self, x):
        if x.shape[-3] != self.n_bands:
            raise ValueError(f"spectral response of {self.n_bands} bands applied to {x.shape[-3]} bands")
        if isinstance(x, torch.Tensor):
            if self.average:
                y = x.mean(-3)
            else:
                y = torch.einsum("b,...bhw->...hw", torch.as_tensor(self.weights, dtype=x.dtype, device=x.device), x)
            return y + self.bias if self.bias else y
        x = np.asarray(x)
        out_dtype = x.dtype if x.dtype in (np.float32, np.float64) else np.float64
        x = x.astype(np.float64, copy=False)
        y = x.mean(axis=-3) if self.average else np.einsum("b,...bhw->...hw", self.weights, x)
        return (y + self.bias if self.bias else y).astype(out_dtype, copy=False)

    def output_shape(self, shape):
        return (*shape[:-3], *shape[-2:])

    def __repr__(self) -> str:
        w = "band average" if self.average else np.array2string(self.weights, precision=3)
        return f"SpectralResponse({w}, bias={self.bias:g})"
