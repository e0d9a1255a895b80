"""Input checks shared by the classical methods: one place that turns user arrays into float64
(B, h, w) MS + (H, W) PAN and says clearly what is wrong when they do not fit together."""
from __future__ import annotations

import numpy as np

from ..sensors import Sensor, get_sensor

__all__ = ["prepare"]


def prepare(ms, pan, sensor: Sensor | str) -> tuple[np.ndarray, np.ndarray, Sensor]:
    """Validate and convert one PAN + MS pair.

    Args:
        ms: (B, h, w) low-resolution MS (a 2-D (h, w) array is one band), any real dtype.
        pan: (H, W) PAN, or (1, H, W); ``H = h * ratio``, ``W = w * ratio``.
        sensor: a :class:`Sensor` or registry name; gives the ratio and the MTF gains.

    Returns:
        ``(ms, pan, sensor)`` with ``ms`` (B, h, w) and ``pan`` (H, W) float64 copies-or-views.

    Raises:
        ValueError: wrong ranks, sizes that do not match the ratio, a band count that differs
            from the sensor's, or non-finite values (fill nodata first: ``Scene.filled()``).
    """
    sensor = get_sensor(sensor)
    ms = np.asarray(ms)
    pan = np.asarray(pan)
    if pan.ndim == 3 and pan.shape[0] == 1:
        pan = pan[0]
    if ms.ndim == 2:
        ms = ms[None]
    if ms.ndim != 3:
        raise ValueError(f"MS must be (bands, h, w), got shape {ms.shape}")
    if pan.ndim != 2:
        raise ValueError(f"PAN must be (H, W), got shape {pan.shape}")
    r = sensor.ratio
    B, h, w = ms.shape
    if pan.shape != (h * r, w * r):
        raise ValueError(
            f"PAN {pan.shape[0]}x{pan.shape[1]} does not match MS {h}x{w} times the ratio {r} of "
            f"{sensor.long_name} (expected {h * r}x{w * r})"
        )
    if B != sensor.n_bands:
        raise ValueError(
            f"MS has {B} bands but {sensor.long_name} has {sensor.n_bands}: pass the right sensor, "
            f"generic_sensor({B}, ratio={r}) or sensor.subset([...])"
        )
    ms = ms.astype(np.float64, copy=False)
    pan = pan.astype(np.float64, copy=False)
    if not (np.isfinite(ms).all() and np.isfinite(pan).all()):
        raise ValueError("MS or PAN holds NaN/inf: fill nodata first (Scene.filled(), or fuse(scene, ...))")
    return ms, pan, sensor
