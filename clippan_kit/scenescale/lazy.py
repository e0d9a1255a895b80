"""Lazy, georeferenced PAN + MS pairs: rioxarray-opened, dask-chunked, on one footprint.

:func:`open_pair` is the large-scene twin of :func:`clippan_kit.io.load_geotiff_pair`: the same
sensor resolution and the same geotransform alignment (:func:`clippan_kit.io.align.align_grids`,
edge- or centre-aligned grids, never resampled), but nothing is read: ``pan`` and ``ms`` are
``xarray.DataArray`` views backed by dask, chunked on multiples of the files' internal tiles.
Pixels are fetched block by block with :meth:`LazyPair.read_pan` / :meth:`LazyPair.read_ms`, which
take arbitrary (e.g. wrapped or clamped) index vectors so halo reads need no padding copies. Those
block reads go straight to rasterio windows of the same files (what the rioxarray backend does under
each dask chunk), without building a dask graph per block: a block task on a Dask worker is
already one task, and a nested graph costs ~40 ms of scheduler setup per read.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import xarray as xr

from ..io._common import fail
from ..io.align import GridAlignment, align_grids
from ..io.geotiff import check_pair, pair_name, pair_sensor, raster_info
from ..scene import Scene
from ..sensors import Sensor

__all__ = ["LazyPair", "open_pair", "open_raster", "tile_chunks"]

TARGET_CHUNK = 1024  # PAN pixels per chunk side when the file's tiles are small (GDAL strips, 256 tiles)


def tile_chunks(block_shape: tuple[int, int], target: int = TARGET_CHUNK) -> tuple[int, int]:
    """Chunk (rows, cols): the multiple of the file's internal block closest to ``target`` (at least one block).

    Striped files (block of one row by full width) get ``target`` rows and their full width.
    """
    rows, cols = (max(1, int(v)) for v in block_shape)
    return tuple(max(v, round(target / v) * v) for v in (rows, cols))  # type: ignore[return-value]


def open_raster(path: str | Path, chunks: tuple[int, int] | None = None, target: int = TARGET_CHUNK) -> xr.DataArray:
    """One raster as a (band, y, x) dask-backed DataArray (rioxarray), chunks on the file's tiles.

    ``.rio.crs``, ``.rio.transform()``, ``.rio.nodata`` and the band descriptions (attribute
    ``long_name``) come from the file; values stay in the file's dtype (no masking or scaling).
    """
    import rasterio
    import rioxarray

    path = Path(path)
    if not path.is_file():
        raise fail("file not found", path)
    with rasterio.open(path) as src:
        block = src.block_shapes[0]
    cy, cx = chunks if chunks is not None else tile_chunks(block, target)
    return rioxarray.open_rasterio(path, chunks={"band": -1, "y": cy, "x": cx}, lock=False, cache=False)


def _runs(sorted_unique: np.ndarray) -> list[tuple[int, int, int]]:
    """(start value, stop value, position) of the runs of consecutive integers in a sorted array."""
    breaks = np.flatnonzero(np.diff(sorted_unique) != 1) + 1
    starts = np.concatenate([[0], breaks])
    stops = np.concatenate([breaks, [sorted_unique.size]])
    return [(int(sorted_unique[a]), int(sorted_unique[b - 1]) + 1, int(a)) for a, b in zip(starts, stops)]


@lru_cache(maxsize=32)
def _dataset(path: str):
    """One open rasterio dataset per file and process (block tasks read many windows of it)."""
    import rasterio

    return rasterio.open(path)


@dataclass(frozen=True)
class FileWindow:
    """Where a footprint lies in its file: the path and the (row, col) offset of pixel (0, 0)."""

    path: str
    row: int
    col: int

    def read(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """(bands, len(rows), len(cols)) in the file dtype at footprint indices, one windowed read per run pair."""
        from rasterio.windows import Window as RWindow

        return gather(lambda a, b, c, d: _dataset(self.path).read(
            window=RWindow(self.col + c, self.row + a, d - c, b - a)), rows, cols)


def gather(read, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``image[..., rows, :][..., cols]`` for any integer index vectors, where ``read(r0, r1, c0, c1)``
    returns the window ``image[..., r0:r1, c0:c1]`` (a windowed file read, or an array slice).

    Reads only the contiguous runs of the distinct indices (one window per pair of runs), so wrapped
    or clamped halo indices cost no more than the pixels they name.
    """
    if not callable(read):
        arr = read
        read = lambda a, b, c, d: np.asarray(arr[..., a:b, c:d])  # noqa: E731
    rows, cols = np.asarray(rows, np.int64), np.asarray(cols, np.int64)
    ur, ir = np.unique(rows, return_inverse=True)
    uc, ic = np.unique(cols, return_inverse=True)
    rr, cr = _runs(ur), _runs(uc)
    pieces = [[read(a, b, c, d) for c, d, _ in cr] for a, b, _ in rr]
    dense = np.block(pieces) if len(rr) * len(cr) > 1 else pieces[0][0]
    return dense[..., ir.ravel(), :][..., ic.ravel()]


@dataclass
class LazyPair:
    """A PAN + MS pair on a common footprint, not yet read.

    Attributes:
        pan: (y, x) DataArray on the PAN grid of the footprint, file dtype, dask-chunked.
        ms: (band, y, x) DataArray on the MS grid, ``y = pan.y / ratio``; ``band`` coordinate = sensor band names.
        sensor: the sensor (ratio, MTF gains, band names).
        max_value: full scale of the data.
        pan_nodata, ms_nodata: values read as missing (besides NaN), or None.
        crs, transform: georeference of the PAN grid of the footprint.
        alignment: how the files were cut (:class:`~clippan_kit.io.align.GridAlignment`).
    """

    pan: xr.DataArray
    ms: xr.DataArray
    sensor: Sensor
    max_value: float
    pan_nodata: float | None
    ms_nodata: float | None
    crs: Any
    transform: Any
    alignment: GridAlignment
    pan_file: FileWindow | None = None
    ms_file: FileWindow | None = None
    name: str = "scene"
    source: str = ""
    dtypes: tuple[str, str] = field(default=("float32", "float32"))

    @property
    def ratio(self) -> int:
        return self.sensor.ratio

    @property
    def shape(self) -> tuple[int, int]:
        """(H, W) of the PAN grid."""
        return tuple(self.pan.shape)  # type: ignore[return-value]

    @property
    def n_bands(self) -> int:
        return self.ms.shape[0]

    @property
    def may_have_nodata(self) -> bool:
        """False only when both files are integer-typed without a nodata value (no NaN, nothing missing)."""
        floats = any(np.issubdtype(np.dtype(d), np.floating) for d in self.dtypes)
        return floats or self.pan_nodata is not None or self.ms_nodata is not None

    @staticmethod
    def _mask(values: np.ndarray, nodata: float | None) -> np.ndarray:
        out = values.astype(np.float64)
        if nodata is not None and not np.isnan(nodata):
            out[values == nodata] = np.nan
        return out

    def read_pan(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """(len(rows), len(cols)) float64 PAN at those PAN-grid indices; nodata as NaN."""
        return self._mask(self.pan_file.read(rows, cols)[0], self.pan_nodata)

    def read_ms(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """(B, len(rows), len(cols)) float64 MS at those MS-grid indices; nodata as NaN."""
        return self._mask(self.ms_file.read(rows, cols), self.ms_nodata)

    def crop(self, height: int, width: int) -> "LazyPair":
        """The top-left ``height`` x ``width`` PAN pixels (multiples of the ratio), as ``Scene.crop(0, 0, ...)``."""
        from dataclasses import replace

        r = self.ratio
        if height % r or width % r:
            raise ValueError(f"crop sizes must be multiples of the ratio {r}")
        return replace(self, pan=self.pan.isel(y=slice(0, height), x=slice(0, width)),
                       ms=self.ms.isel(y=slice(0, height // r), x=slice(0, width // r)))

    def to_scene(self) -> Scene:
        """The whole pair read into an in-memory :class:`Scene` (small scenes, tests)."""
        H, W = self.shape
        h, w = H // self.ratio, W // self.ratio
        pan = self.read_pan(np.arange(H), np.arange(W)).astype(np.float32)
        ms = self.read_ms(np.arange(h), np.arange(w)).astype(np.float32)
        return Scene(pan=pan, ms=ms, sensor=self.sensor, max_value=self.max_value, crs=self.crs,
                     transform=self.transform, name=self.name, source=self.source)


def open_pair(
    pan_path: str | Path,
    ms_path: str | Path,
    sensor: str | Sensor | None = None,
    *,
    bands: Sequence[str | int] | None = None,
    chunks: int | None = None,
    max_value: float | None = None,
    pan_nodata: float | None = None,
    ms_nodata: float | None = None,
) -> LazyPair:
    """Open a PAN GeoTIFF/COG and a multi-band MS GeoTIFF/COG lazily on their common footprint.

    Same rules as :func:`clippan_kit.io.load_geotiff_pair` (sensor from file tags or ``sensor=``,
    ``bands=`` for a subset, alignment through the geotransforms), but nothing is read.

    Args:
        chunks: PAN chunk side in pixels (default: multiples of the PAN file's internal tiles near
            1024); the MS gets ``chunks / ratio``, rounded to its own tiles.
        max_value: full scale (default: the sensor's ``2**bits - 1``).
        pan_nodata, ms_nodata: override the files' nodata values.
    """
    pan_path, ms_path = Path(pan_path), Path(ms_path)
    where = f"{pan_path} + {ms_path}"
    pan_info, ms_info = raster_info(pan_path), raster_info(ms_path)
    sensor = pair_sensor(pan_info, ms_info, sensor, bands, where, ms_path)
    check_pair(pan_info, ms_info, pan_path, where)
    r = sensor.ratio
    al = align_grids(pan_info.transform, pan_info.shape[1:], ms_info.transform, ms_info.shape[1:], r,
                     pan_crs=pan_info.crs, ms_crs=ms_info.crs, where=where)
    pan_chunks = None if chunks is None else (int(chunks), int(chunks))
    pan = open_raster(pan_path, pan_chunks)
    if chunks is None:
        cy, cx = (c[0] for c in pan.chunks[1:])
        chunks = min(cy, cx)
    import rasterio

    with rasterio.open(ms_path) as src:  # MS chunks: the PAN chunk / ratio, on the MS file's own tiles
        ms = open_raster(ms_path, tile_chunks(src.block_shapes[0], max(1, math.ceil(chunks / r))))
    pr, pc, ph, pw = al.pan_window
    mr, mc, mh, mw = al.ms_window
    pan = pan.isel(band=0, y=slice(pr, pr + ph), x=slice(pc, pc + pw))
    ms = ms.isel(y=slice(mr, mr + mh), x=slice(mc, mc + mw)).assign_coords(band=list(sensor.bands))
    name = pair_name(ms_path)
    return LazyPair(
        pan=pan, ms=ms, sensor=sensor,
        max_value=float(sensor.max_value if max_value is None else max_value),
        pan_nodata=pan_info.nodata if pan_nodata is None else pan_nodata,
        ms_nodata=ms_info.nodata if ms_nodata is None else ms_nodata,
        crs=pan_info.crs, transform=al.transform, alignment=al, name=name, source=where,
        pan_file=FileWindow(str(pan_path), pr, pc), ms_file=FileWindow(str(ms_path), mr, mc),
        dtypes=(pan_info.dtype, ms_info.dtype),
    )
