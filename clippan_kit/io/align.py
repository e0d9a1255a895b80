"""Put a PAN and an MS raster on one footprint through their geotransforms, without resampling.

The fused image lives on the PAN grid, and every operator of the toolkit assumes MS pixel (i, j)
belongs to the PAN block of rows ``r*i .. r*i+r-1`` and columns ``r*j .. r*j+r-1``. Two real
layouts occur, told apart by where the MS grid's corner falls on the PAN grid (in PAN pixels):

* **area-aligned** (integer offset): MS pixel edges lie on PAN pixel edges; the PAN block of each
  MS pixel is exactly its footprint. Crop both to the common footprint.
* **centre-aligned** (half-integer offset; standard Landsat Level-1 products, where PAN and MS
  pixel *centres* sit on one lattice, and ``landsat_istanbul``): no PAN block matches an MS
  footprint, they are always half a PAN pixel apart. Resampling either image would blur data the
  fusion must keep, so the blocks are chosen so that each MS pixel centre falls exactly on PAN
  pixel ``(r*i + r//2, r*j + r//2)`` of its block. That is the sampling convention of Wald's
  protocol in this toolkit and in Vivone's toolbox (``decimate`` keeps phase ``r//2``,
  ``interp23tap`` puts the MS samples back there), so the reduced/full-resolution operators see
  the geometry they assume, with zero error.

Any other offset (grids not on a common lattice) needs resampling and is refused.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from affine import Affine

from ._common import fail

__all__ = ["GridAlignment", "align_grids"]

_TOL = 1e-3  # PAN pixels; geotransforms are stored as doubles, real offsets are exact multiples of 0.5


@dataclass(frozen=True)
class GridAlignment:
    """Where to cut PAN and MS so that they share one footprint.

    Attributes:
        pan_window: (row, col, height, width) in PAN pixels; height/width = ratio x MS size.
        ms_window: (row, col, height, width) in MS pixels.
        mode: ``"area"`` or ``"centre"`` (see the module docstring).
        transform: affine transform of the cropped PAN grid (the scene's grid).
    """

    pan_window: tuple[int, int, int, int]
    ms_window: tuple[int, int, int, int]
    mode: str
    transform: Affine


def _axis(offset: float, ratio: int, n_pan: int, n_ms: int) -> tuple[int, int, int, int, str]:
    """PAN start, MS start, MS count and mode along one axis.

    ``offset`` is where the MS grid's first edge falls, in PAN pixels from the PAN grid's first
    edge. The PAN block of MS pixel k starts at ``shift + ratio * k``.
    """
    if abs(offset - round(offset)) < _TOL:
        shift, mode = round(offset), "area"
    elif abs(offset - 0.5 - round(offset - 0.5)) < _TOL:
        # MS centre at offset + r*k + r/2 (continuous); PAN pixel shift + r*k + r//2 has its
        # centre there when shift = offset - 1/2 (r even).
        shift, mode = round(offset - 0.5), "centre"
    else:
        raise ValueError(f"{offset:.4f}")
    k0 = max(0, math.ceil(-shift / ratio))
    k1 = min(n_ms, (n_pan - shift) // ratio)
    return shift + ratio * k0, k0, k1 - k0, mode


def align_grids(
    pan_transform: Affine,
    pan_shape: tuple[int, int],
    ms_transform: Affine,
    ms_shape: tuple[int, int],
    ratio: int,
    *,
    pan_crs: Any = None,
    ms_crs: Any = None,
    where: str = "",
) -> GridAlignment:
    """Common footprint of a PAN grid and an MS grid (see the module docstring).

    Args:
        pan_transform, ms_transform: affine transforms (rasterio convention: pixel corner).
        pan_shape, ms_shape: (rows, cols) of each raster.
        ratio: expected MS/PAN pixel-size ratio (the sensor's).
        pan_crs, ms_crs: must be equal.
        where: file names for error messages.

    Raises:
        SceneError: CRS mismatch, rotated grids, pixel sizes not in the ratio, grids not on a
            common lattice, or extents that do not overlap by at least one MS pixel.
    """
    if pan_crs != ms_crs:
        raise fail(f"PAN and MS are in different coordinate systems ({pan_crs} vs {ms_crs}); reproject one first", where)
    if pan_transform.b or pan_transform.d or ms_transform.b or ms_transform.d:
        raise fail("rotated or sheared geotransforms are not supported; warp to a north-up grid first", where)
    sx, sy = ms_transform.a / pan_transform.a, ms_transform.e / pan_transform.e
    if abs(sx - ratio) > 1e-6 * ratio or abs(sy - ratio) > 1e-6 * ratio:
        raise fail(
            f"MS pixel size {ms_transform.a:g} x {-ms_transform.e:g} is not {ratio} x the PAN pixel size "
            f"{pan_transform.a:g} x {-pan_transform.e:g} (ratio {sx:g} x {sy:g}); wrong sensor or resampled data", where)
    def extent(t, shape):  # (x0, x1, y0, y1) in map units, sorted
        xs, ys = sorted((t.c, t.c + t.a * shape[1])), sorted((t.f, t.f + t.e * shape[0]))
        return (*xs, *ys)

    px0, px1, py0, py1 = extent(pan_transform, pan_shape)
    mx0, mx1, my0, my1 = extent(ms_transform, ms_shape)
    if min(px1, mx1) <= max(px0, mx0) or min(py1, my1) <= max(py0, my0):
        raise fail(f"PAN and MS extents do not overlap (PAN x {px0:.6g}..{px1:.6g}, y {py0:.6g}..{py1:.6g}; "
                   f"MS x {mx0:.6g}..{mx1:.6g}, y {my0:.6g}..{my1:.6g})", where)
    off_x = (ms_transform.c - pan_transform.c) / pan_transform.a
    off_y = (ms_transform.f - pan_transform.f) / pan_transform.e
    try:
        pc, mc, nc, mode_x = _axis(off_x, ratio, pan_shape[1], ms_shape[1])
        pr, mr, nr, mode_y = _axis(off_y, ratio, pan_shape[0], ms_shape[0])
    except ValueError as err:
        raise fail(f"the MS grid is offset by a fraction of a PAN pixel ({off_x:.4f}, {off_y:.4f} PAN pixels, "
                   f"offending value {err.args[0]}): the grids share no lattice; resample one onto the other", where) from None
    if mode_x != mode_y:
        raise fail(f"the MS grid is edge-aligned on one axis and centre-aligned on the other "
                   f"(offsets {off_x:g}, {off_y:g} PAN pixels); resample one onto the other", where)
    if nr <= 0 or nc <= 0:
        raise fail("PAN and MS extents do not overlap (not even one MS pixel in common)", where)
    return GridAlignment(
        pan_window=(pr, pc, nr * ratio, nc * ratio),
        ms_window=(mr, mc, nr, nc),
        mode=mode_x,
        transform=pan_transform @ Affine.translation(pc, pr),
    )
