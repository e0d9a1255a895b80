"""A synthetic scene with ground truth: the built-in default when no data is at hand, and fuel for exact tests.

The reference HRMS is a land-cover map rendered with reflectance-like spectra:

* **label map**: vegetation / bare soil / water from the arg-max of three smooth random fields
  (curved, natural boundaries, sharp at the pixel level); an urban zone (another smooth field)
  filled with a block grid of buildings (bright concrete or red-tile roofs) separated by streets;
  straight asphalt roads crossing the whole image. Sharp edges at every class boundary are what
  pansharpening has to restore.
* **spectra**: typical surface reflectances (0..1) of each class tabulated at 400-2200 nm and
  interpolated at each band's centre wavelength (named bands of the registry; generic
  ``bandK`` bands are spread over 450-900 nm). Vegetation pixels mix in a smoothly varying
  fraction (0-40 %) of soil, so spectra vary inside a class.
* **texture**: a multiplicative brightness field (fine grain + medium-scale patches, about ±10 %).
* **scaling**: reflectance 0.5 maps to 80 % of the sensor's full scale ``2**bits - 1`` (DN), clipped.

Then the degradation operator makes both images from the reference: ``ms = op.degrade_ms(reference)``
(MS branch) exactly, and ``pan = op.pan_branch(reference) + noise`` (PAN branch: ``sum_b w_b * reference_b``
with the equal weights of :func:`clippan_kit.physics.pan_weights` over the bands whose centre wavelength
lies in the sensor's PAN range) with Gaussian noise of standard deviation 0.1 % of full scale, where
``op = WaldProtocol(sensor)``. Everything is deterministic from ``seed``.
"""
from __future__ import annotations

import numpy as np

from .scene import Scene, SceneError
from .sensors import Sensor, get_sensor
from .physics import WaldProtocol, band_wavelengths, pan_weights

__all__ = ["synthetic_scene", "band_wavelengths", "pan_weights", "CLASS_SPECTRA", "CLASSES"]

_WAVELENGTHS = np.array([400, 450, 500, 550, 600, 650, 700, 750, 800, 900, 1000, 1373, 1600, 2200], dtype=float)
# Typical surface reflectance (0..1) at _WAVELENGTHS; 1373 nm is the cirrus water-vapour absorption band.
CLASS_SPECTRA = {
    "vegetation": (0.03, 0.04, 0.05, 0.09, 0.07, 0.05, 0.12, 0.40, 0.45, 0.45, 0.43, 0.010, 0.25, 0.12),
    "soil":       (0.06, 0.08, 0.10, 0.14, 0.18, 0.21, 0.24, 0.26, 0.27, 0.29, 0.30, 0.010, 0.34, 0.30),
    "water":      (0.07, 0.07, 0.065, 0.06, 0.04, 0.03, 0.02, 0.015, 0.012, 0.008, 0.005, 0.001, 0.003, 0.002),
    "concrete":   (0.15, 0.18, 0.20, 0.22, 0.23, 0.24, 0.25, 0.26, 0.27, 0.27, 0.28, 0.010, 0.30, 0.28),
    "asphalt":    (0.05, 0.06, 0.07, 0.08, 0.085, 0.09, 0.095, 0.10, 0.10, 0.11, 0.11, 0.005, 0.12, 0.11),
    "roof":       (0.07, 0.08, 0.08, 0.10, 0.17, 0.25, 0.28, 0.30, 0.30, 0.31, 0.32, 0.010, 0.35, 0.30),
}
CLASSES = tuple(CLASS_SPECTRA)
_VEG, _SOIL, _WATER, _CONCRETE, _ASPHALT, _ROOF = range(len(CLASSES))

_REFLECTANCE_TO_FULL_SCALE = 0.8 / 0.5
_PAN_NOISE = 1e-3  # of full scale


def _smooth_field(rng: np.random.Generator, size: int, sigma: float) -> np.ndarray:
    """Zero-mean, unit-variance Gaussian random field with correlation length ~sigma pixels."""
    # Gaussian low-pass in the Fourier domain: periodic like mode="wrap", and O(N log N) for any sigma.
    fy, fx = np.fft.fftfreq(size)[:, None], np.fft.rfftfreq(size)[None, :]
    gain = np.exp(-2 * (np.pi * sigma) ** 2 * (fx**2 + fy**2))
    f = np.fft.irfft2(np.fft.rfft2(rng.standard_normal((size, size))) * gain, s=(size, size))
    return (f - f.mean()) / (f.std() + 1e-12)


def _label_map(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(H, W) int class labels and the (H, W) soil fraction of vegetation pixels."""
    big = size / 10
    natural = np.stack([_smooth_field(rng, size, big) + bias for bias in (0.3, 0.0, -0.5)])
    labels = np.array([_VEG, _SOIL, _WATER])[natural.argmax(0)]
    # Urban zone: a block grid of buildings (cells of 16 px, random insets) separated by streets.
    urban = _smooth_field(rng, size, big) > 0.6
    cell = 16
    n = -(-size // cell)
    lo = rng.integers(2, 5, size=(2, n, n))
    hi = cell - rng.integers(2, 6, size=(2, n, n))
    cy, cx = np.arange(size)[:, None] // cell, np.arange(size)[None, :] // cell
    yy, xx = np.arange(size)[:, None] % cell, np.arange(size)[None, :] % cell
    inside = (yy >= lo[0][cy, cx]) & (yy < hi[0][cy, cx]) & (xx >= lo[1][cy, cx]) & (xx < hi[1][cy, cx])
    roof_kind = np.where(rng.random((n, n)) < 0.5, _CONCRETE, _ROOF)[cy, cx]
    labels = np.where(urban, np.where(inside, roof_kind, _ASPHALT), labels)
    # Straight roads across the scene (any angle), 2-4 px wide.
    rows, cols = np.mgrid[0:size, 0:size].astype(float)
    for _ in range(3):
        theta = rng.uniform(0, np.pi)
        cx0, cy0 = rng.uniform(0.2, 0.8, size=2) * size
        dist = np.abs((cols - cx0) * np.sin(theta) - (rows - cy0) * np.cos(theta))
        labels = np.where((dist < rng.uniform(1.0, 2.0)) & (labels != _WATER), _ASPHALT, labels)
    soil_mix = 0.2 + 0.2 * np.tanh(_smooth_field(rng, size, big / 2))
    return labels, soil_mix


def synthetic_scene(sensor: str | Sensor = "wv2", size: int = 256, seed: int = 0) -> Scene:
    """A (size x size) synthetic scene with reference, for ``sensor`` (see the module docstring).

    Args:
        sensor: registry name or :class:`Sensor` (``generic_sensor(n)`` works too).
        size: PAN side in pixels; a multiple of ``sensor.ratio``.
        seed: seed of every random choice; same seed, same scene, bit for bit.

    Returns:
        Scene with pan (size, size), ms (B, size/r, size/r), reference (B, size, size), all float32
        DN in 0..``max_value``, no georeference, everything valid.
    """
    sensor = get_sensor(sensor)
    r = sensor.ratio
    if size < 4 * r or size % r:
        raise SceneError(f"synthetic scene size must be a multiple of the ratio {r} and at least {4 * r}, got {size}")
    rng = np.random.default_rng(seed)
    labels, soil_mix = _label_map(rng, size)
    wl = band_wavelengths(sensor)
    spectra = np.stack([np.interp(wl, _WAVELENGTHS, CLASS_SPECTRA[c]) for c in CLASSES])  # (K, B)
    per_pixel = spectra[labels]  # (H, W, B)
    veg = (labels == _VEG)[..., None]
    per_pixel = np.where(veg, (1 - soil_mix[..., None]) * spectra[_VEG] + soil_mix[..., None] * spectra[_SOIL], per_pixel)
    texture = 1 + 0.04 * _smooth_field(rng, size, 0.7) + 0.06 * _smooth_field(rng, size, 4.0)
    reflectance = np.moveaxis(per_pixel, -1, 0) * texture
    full = sensor.max_value
    reference = np.clip(reflectance * _REFLECTANCE_TO_FULL_SCALE * full, 0, full).astype(np.float32)
    op = WaldProtocol(sensor)
    ms = op.degrade_ms(reference.astype(np.float64)).astype(np.float32)
    pan = op.pan_branch(reference.astype(np.float64))
    pan = np.clip(pan + rng.normal(0, _PAN_NOISE * full, pan.shape), 0, full).astype(np.float32)
    return Scene(pan=pan, ms=ms, sensor=sensor, reference=reference, max_value=full,
                 name=f"synthetic-{sensor.name}-{size}-seed{seed}", source=f"synthetic_scene({sensor.name!r}, {size}, {seed})")
