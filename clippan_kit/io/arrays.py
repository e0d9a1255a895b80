"""Scenes from in-memory numpy arrays: the common end point of every file loader."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..scene import Scene
from ..sensors import Sensor, generic_sensor
from ._common import fail, resolve_sensor

__all__ = ["scene_from_arrays"]


def _match_sizes(pan: np.ndarray, ms: np.ndarray, reference, valid, ratio: int, crop: bool, where):
    """Check (or, with ``crop``, enforce) PAN = ratio x MS in size, anchored at the top-left pixel."""
    H, W = pan.shape
    h, w = ms.shape[1:]
    if (H, W) == (h * ratio, w * ratio):
        return pan, ms, reference, valid
    if not crop:
        raise fail(
            f"PAN {H}x{W} and MS {h}x{w} do not fit ratio {ratio} (PAN must be exactly {ratio}x the MS: "
            f"{h * ratio}x{w * ratio} for this MS); pass crop=True to keep the top-left "
            f"{min(H // ratio, h) * ratio}x{min(W // ratio, w) * ratio} PAN pixels", where)
    hh, ww = min(H // ratio, h), min(W // ratio, w)
    if hh == 0 or ww == 0:
        raise fail(f"PAN {H}x{W} is smaller than one MS pixel at ratio {ratio}", where)
    sl = (slice(0, hh * ratio), slice(0, ww * ratio))
    return (pan[sl], ms[:, :hh, :ww], None if reference is None else reference[(slice(None), *sl)],
            None if valid is None else valid[sl])


def scene_from_arrays(
    pan: np.ndarray,
    ms: np.ndarray,
    sensor: str | Sensor | None = None,
    *,
    n_bands: int | None = None,
    ratio: int | None = None,
    reference: np.ndarray | None = None,
    valid: np.ndarray | None = None,
    nodata: float | None = None,
    max_value: float | None = None,
    bands: Sequence[str | int] | None = None,
    crop: bool = False,
    crs: Any = None,
    transform: Any = None,
    name: str = "arrays",
    source: str = "",
) -> Scene:
    """Build a :class:`Scene` from numpy arrays, with the same checks as the file loaders.

    Args:
        pan: (H, W) or (1, H, W) PAN, any real dtype (kept in its units, stored float32).
        ms: (B, h, w) low-resolution MS, band first, same units as ``pan``.
        sensor: registry name or :class:`Sensor`. Without one, pass ``n_bands`` (must equal B) to
            get :func:`generic_sensor` with the toolbox fallback MTF gains; otherwise an error.
        ratio: PAN/MS scale for the generic sensor (default: ``H // h``).
        reference: optional (B, H, W) ground truth on the PAN grid.
        valid: optional (H, W) bool mask (False = nodata).
        nodata: value marking missing pixels in ``pan`` / ``ms`` (also NaN always counts as
            missing). Such pixels become NaN and are masked in ``Scene.valid``: never averaged in.
        max_value: full scale of the data (default: the sensor's ``2**bits - 1``).
        bands: keep only these sensor bands (names or indices); ``ms`` must hold exactly them.
        crop: when PAN is not exactly ``ratio`` times the MS, keep the largest top-left part that
            is (off by default: arrays have no georeference to say which part matches, so a size
            mismatch is reported rather than guessed).
        crs, transform: georeference of the PAN grid, if any.

    Raises:
        SceneError: sizes that do not fit the ratio, band count not matching the sensor, no sensor.
    """
    where = source or name
    pan = np.asarray(pan)
    ms = np.asarray(ms)
    if pan.ndim == 3 and pan.shape[0] == 1:
        pan = pan[0]
    if ms.ndim == 2:
        ms = ms[None]
    if pan.ndim != 2 or ms.ndim != 3:
        raise fail(f"expected PAN (H, W) and MS (B, h, w), got shapes {pan.shape} and {ms.shape}", where)
    if sensor is None and n_bands is not None:
        if n_bands != ms.shape[0]:
            raise fail(f"n_bands={n_bands} but the MS has {ms.shape[0]} bands", where)
        r = ratio or max(pan.shape[0] // max(ms.shape[1], 1), 1)
        try:
            sensor = generic_sensor(n_bands, ratio=r)
        except ValueError as err:
            raise fail(str(err), where) from None
        if ratio is None and (r < 2 or r & (r - 1)):
            raise fail(f"cannot infer a power-of-two ratio from PAN {pan.shape} and MS {ms.shape[1:]}; pass ratio=", where)
    sensor = resolve_sensor(None, sensor, where, bands=bands)
    if ratio is not None and ratio != sensor.ratio:
        raise fail(f"ratio={ratio} but sensor {sensor.long_name} has ratio {sensor.ratio}", where)
    if ms.shape[0] != sensor.n_bands:
        raise fail(f"MS has {ms.shape[0]} bands but sensor {sensor.long_name} has {sensor.n_bands} "
                   f"({', '.join(sensor.bands)}); pass the right sensor or bands=[...]", where)
    # Compare with nodata in the input dtype (a float64 nodata may not survive the cast to float32);
    # astype copies, so the caller's arrays are never modified.
    has_nodata = nodata is not None and not np.isnan(nodata)
    pan_bad, ms_bad = (pan == nodata, ms == nodata) if has_nodata else (None, None)
    pan = pan.astype(np.float32)
    ms = ms.astype(np.float32)
    if has_nodata:
        pan[pan_bad] = np.nan
        ms[ms_bad] = np.nan
    pan, ms, reference, valid = _match_sizes(pan, ms, reference, valid, sensor.ratio, crop, where)
    return Scene(pan=pan, ms=ms, sensor=sensor, reference=reference, valid=valid, max_value=max_value,
                 crs=crs, transform=transform, name=name, source=source)
