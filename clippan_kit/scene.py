"""The one scene type that travels through the toolkit: PAN + MS (+ optional reference), with georeferencing.

A :class:`Scene` wraps an :class:`xarray.Dataset` with

* ``pan``       (y, x)                float32, PAN grid, data units (DN or reflectance-like)
* ``ms``        (band, y_ms, x_ms)    float32, original low-resolution MS, ``y_ms = y / ratio``
* ``reference`` (band, y, x)          float32, optional ground-truth HRMS on the PAN grid
* ``valid``     (y, x)                bool, False where PAN or any MS band is nodata / NaN

(:meth:`Scene.to_xarray`; the arrays live as numpy attributes of the dataclass, the form every method
takes). CRS and affine transform of the PAN grid go through rioxarray: ``ds.rio.crs`` and
``ds.rio.transform()`` of :meth:`Scene.to_xarray` are the scene's, and GeoTIFFs are read and written with
rioxarray (:mod:`clippan_kit.io`); the MS grid is the PAN grid coarsened by ``ratio``.
Values are never rescaled on load: ``max_value`` says what full scale is (``2**bits - 1`` for raw
DN, 1.0 for normalised data), which the metrics use for the toolbox's 2^L conventions.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from .errors import SceneError
from .sensors import Sensor

__all__ = ["Scene", "SceneError"]


@dataclass
class Scene:
    """PAN + MS pair on a common footprint.

    Args:
        pan: (H, W) PAN image, data units.
        ms: (B, H/ratio, W/ratio) low-resolution MS, same units as ``pan``.
        sensor: sensor facts; ``sensor.ratio`` is the PAN/MS scale ratio and
            ``sensor.n_bands`` must equal B.
        reference: optional (B, H, W) ground-truth HRMS (reduced-resolution data sets).
        valid: optional (H, W) bool mask, False on nodata; derived from NaNs when omitted.
        max_value: full-scale value of the data (``2**bits - 1`` for DN, 1.0 for normalised).
        crs: coordinate reference system of the PAN grid (anything rasterio accepts) or None.
        transform: affine transform of the PAN grid (``affine.Affine``) or None.
        name: short label for plots and logs (usually the file stem).
        source: where the data came from (file path or description).
    """

    pan: np.ndarray
    ms: np.ndarray
    sensor: Sensor
    reference: np.ndarray | None = None
    valid: np.ndarray | None = None
    max_value: float | None = None
    crs: Any = None
    transform: Any = None
    name: str = "scene"
    source: str = ""

    def __post_init__(self) -> None:
        where = f" ({self.source})" if self.source else ""
        pan = np.asarray(self.pan)
        ms = np.asarray(self.ms)
        if pan.ndim == 3 and pan.shape[0] == 1:
            pan = pan[0]
        if pan.ndim != 2:
            raise SceneError(f"PAN must be a 2-D (H, W) image, got shape {pan.shape}{where}")
        if ms.ndim == 2:
            ms = ms[None]
        if ms.ndim != 3:
            raise SceneError(f"MS must be (bands, h, w), got shape {ms.shape}{where}")
        r = self.sensor.ratio
        H, W = pan.shape
        if H % r or W % r:
            raise SceneError(
                f"PAN size {H}x{W} is not a multiple of the ratio {r}{where}: crop it to "
                f"{H - H % r}x{W - W % r} (e.g. Scene.crop) before fusing"
            )
        if ms.shape[1:] != (H // r, W // r):
            raise SceneError(
                f"MS size {ms.shape[1]}x{ms.shape[2]} does not match PAN {H}x{W} / ratio {r} "
                f"(expected {H // r}x{W // r}){where}"
            )
        if ms.shape[0] != self.sensor.n_bands:
            raise SceneError(
                f"MS has {ms.shape[0]} bands but sensor {self.sensor.long_name} has {self.sensor.n_bands} "
                f"({', '.join(self.sensor.bands)}){where}; pass the right sensor, generic_sensor({ms.shape[0]}), "
                f"or sensor.subset([...])"
            )
        if self.reference is not None:
            ref = np.asarray(self.reference)
            if ref.shape != (ms.shape[0], H, W):
                raise SceneError(f"reference must be {(ms.shape[0], H, W)}, got {ref.shape}{where}")
            self.reference = ref.astype(np.float32, copy=False)
        invalid = ~np.isfinite(pan)
        ms_bad = ~np.isfinite(ms).all(axis=0)
        if ms_bad.any():
            invalid |= np.repeat(np.repeat(ms_bad, r, axis=0), r, axis=1)
        valid = ~invalid if self.valid is None else (np.asarray(self.valid, bool) & ~invalid)
        if valid.shape != (H, W):
            raise SceneError(f"valid mask must be {(H, W)}, got {valid.shape}{where}")
        if not valid.any():
            raise SceneError(f"scene has no valid pixel (all nodata/NaN){where}")
        self.pan = pan.astype(np.float32, copy=False)
        self.ms = ms.astype(np.float32, copy=False)
        self.valid = valid
        if self.max_value is None:
            self.max_value = self.sensor.max_value

    # ----------------------------------------------------------------- properties
    @property
    def ratio(self) -> int:
        return self.sensor.ratio

    @property
    def shape(self) -> tuple[int, int]:
        """(H, W) of the PAN grid."""
        return self.pan.shape  # type: ignore[return-value]

    @property
    def n_bands(self) -> int:
        return self.ms.shape[0]

    @property
    def has_nodata(self) -> bool:
        return not bool(self.valid.all())

    @property
    def ms_valid(self) -> np.ndarray:
        """(h, w) bool: an MS pixel is valid when every PAN pixel under it is."""
        r = self.ratio
        h, w = self.ms.shape[1:]
        return self.valid.reshape(h, r, w, r).all(axis=(1, 3))

    def filled(self) -> "Scene":
        """A copy whose nodata pixels hold finite values (band means of valid pixels), mask kept.

        Filters and networks need finite inputs; the mask keeps those pixels out of every metric
        and out of written outputs.
        """
        if not self.has_nodata and np.isfinite(self.pan).all() and np.isfinite(self.ms).all():
            return self
        pan = np.where(self.valid, self.pan, np.nan)
        pan = np.where(np.isfinite(pan), pan, np.nanmean(pan)).astype(np.float32)
        msv = self.ms_valid
        ms = np.where(msv[None], self.ms, np.nan)
        means = np.nanmean(ms.reshape(ms.shape[0], -1), axis=1)[:, None, None]
        ms = np.where(np.isfinite(ms), ms, means).astype(np.float32)
        return self.replace(pan=pan, ms=ms)

    # ----------------------------------------------------------------- helpers
    def replace(self, **changes: Any) -> "Scene":
        fields = dict(
            pan=self.pan, ms=self.ms, sensor=self.sensor, reference=self.reference, valid=self.valid,
            max_value=self.max_value, crs=self.crs, transform=self.transform, name=self.name, source=self.source,
        )
        fields.update(changes)
        return Scene(**fields)

    def crop(self, row: int, col: int, height: int, width: int) -> "Scene":
        """Sub-scene in PAN pixels; offsets and sizes must be multiples of the ratio."""
        r = self.ratio
        if any(v % r for v in (row, col, height, width)):
            raise SceneError(f"crop offsets and sizes must be multiples of the ratio {r}")
        H, W = self.shape
        if row < 0 or col < 0 or height <= 0 or width <= 0 or row + height > H or col + width > W:
            raise SceneError(f"crop ({row}, {col}, {height}, {width}) falls outside the {H}x{W} scene")
        transform = None
        if self.transform is not None:
            transform = self.transform @ self.transform.translation(col, row)
        return self.replace(
            pan=self.pan[row:row + height, col:col + width],
            ms=self.ms[:, row // r:(row + height) // r, col // r:(col + width) // r],
            reference=None if self.reference is None else self.reference[:, row:row + height, col:col + width],
            valid=self.valid[row:row + height, col:col + width],
            transform=transform,
        )

    def center_crop(self, size: int) -> "Scene":
        """Central ``size`` x ``size`` PAN-pixel crop (size rounded down to a multiple of the ratio)."""
        r = self.ratio
        size = min(size, *self.shape) // r * r
        row = (self.shape[0] - size) // 2 // r * r
        col = (self.shape[1] - size) // 2 // r * r
        return self.crop(row, col, size, size)

    def to_xarray(self) -> xr.Dataset:
        """The scene as an xarray Dataset (see module docstring for variables and dims).

        The ``band`` coordinate holds the band names; ``x``/``y`` (PAN) and ``x_ms``/``y_ms`` (MS) the pixel
        centres when the scene is georeferenced. ``ds.rio.crs`` and ``ds.rio.transform()`` (rioxarray) give
        the PAN grid's CRS and transform, exactly; the MS grid's is
        ``ds.ms.rio.set_spatial_dims(x_dim="x_ms", y_dim="y_ms").rio.transform(recalc=True)``.
        """
        import rioxarray  # noqa: F401 - registers the .rio accessor

        H, W = self.shape
        r = self.ratio
        coords: dict[str, Any] = {"band": list(self.sensor.bands)}
        if self.transform is not None:
            t = self.transform
            coords["x"] = t.c + t.a * (np.arange(W) + 0.5)
            coords["y"] = t.f + t.e * (np.arange(H) + 0.5)
            coords["x_ms"] = t.c + t.a * r * (np.arange(W // r) + 0.5)
            coords["y_ms"] = t.f + t.e * r * (np.arange(H // r) + 0.5)
        data_vars = {
            "pan": (("y", "x"), self.pan),
            "ms": (("band", "y_ms", "x_ms"), self.ms),
            "valid": (("y", "x"), self.valid),
        }
        if self.reference is not None:
            data_vars["reference"] = (("band", "y", "x"), self.reference)
        ds = xr.Dataset(data_vars, coords=coords)
        ds.attrs.update(
            sensor=self.sensor.name, ratio=r, max_value=float(self.max_value), name=self.name, source=self.source,
        )
        if self.transform is not None:
            ds.attrs["transform"] = tuple(self.transform)[:6]
            ds = ds.rio.write_transform(self.transform)
        if self.crs is not None:
            ds.attrs["crs"] = str(self.crs)
            ds = ds.rio.write_crs(self.crs)
        return ds

    def __repr__(self) -> str:
        H, W = self.shape
        ref = ", reference" if self.reference is not None else ""
        geo = f", crs={self.crs}" if self.crs is not None else ""
        return (
            f"Scene({self.name!r}, {self.sensor.long_name}, PAN {H}x{W}, MS {self.n_bands}x{H // self.ratio}x"
            f"{W // self.ratio}, ratio {self.ratio}{ref}{geo})"
        )
