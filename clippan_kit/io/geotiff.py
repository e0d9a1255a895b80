"""GeoTIFF scenes: a PAN + MS pair of files, or the one-band-per-file Landsat layout.

Both are put on one footprint by :func:`~clippan_kit.io.align.align_grids` (through the
geotransforms, never by array index) and read with windows, so only the common part is loaded.
Nodata (the file's nodata value, NaN, and 0 for Landsat Level-1 fill) becomes NaN and is masked in
``Scene.valid``: such pixels are never averaged into anything.

Pixels are read through rioxarray (:func:`open_raster`: a lazy ``xarray.DataArray`` with CRS, transform,
nodata and band names as the ``band`` coordinate; ``chunks`` gives dask-chunked reading); file metadata
(:func:`raster_info`) comes from rasterio's header read, so alignment uses the files' geotransforms exactly.
"""
from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..scene import Scene
from ..sensors import Sensor, get_sensor
from ._common import band_indices, fail, resolve_sensor
from .align import GridAlignment, align_grids
from .arrays import scene_from_arrays

__all__ = ["RasterInfo", "raster_info", "open_raster", "read_raster", "load_geotiff_pair", "load_landsat", "LANDSAT_BAND_FILES"]

# Landsat 8/9 OLI band numbers of the ``landsat8`` sensor's bands (B8 is the PAN, B10/B11 thermal).
LANDSAT_BAND_FILES = {"coastal": 1, "blue": 2, "green": 3, "red": 4, "nir": 5, "swir1": 6, "swir2": 7, "cirrus": 9}
LANDSAT_PAN_BAND = 8
_LANDSAT_RE = re.compile(r"^(?P<stem>.*?)_?B(?P<band>\d{1,2})\.tiff?$", re.IGNORECASE)


@dataclass(frozen=True)
class RasterInfo:
    """Metadata of one raster file: shape (bands, rows, cols), dtype, crs, transform, nodata,
    band descriptions and dataset tags."""

    path: Path
    shape: tuple[int, int, int]
    dtype: str
    crs: Any
    transform: Any
    nodata: float | None
    descriptions: tuple[str | None, ...]
    tags: dict[str, str]

    @property
    def georeferenced(self) -> bool:
        return self.crs is not None and not self.transform.is_identity


def _open(path):
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

    path = Path(path)
    if not path.is_file():
        raise fail("file not found", path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            return rasterio.open(path)
    except RasterioIOError as err:
        raise fail(f"not a readable raster file ({err})", path) from None


def raster_info(path: str | Path) -> RasterInfo:
    """Metadata of a raster file without reading its pixels."""
    with _open(path) as src:
        return RasterInfo(Path(path), (src.count, src.height, src.width), src.dtypes[0], src.crs, src.transform,
                          src.nodata, tuple(src.descriptions), dict(src.tags()))


def open_raster(path: str | Path, chunks: Any = None):
    """A raster file as a lazy ``xarray.DataArray`` (band, y, x) through rioxarray, pixels not read yet.

    ``.rio.crs``, ``.rio.transform()`` and ``.rio.nodata`` carry the georeferencing; the ``band``
    coordinate holds the band descriptions when every band has one (as :func:`write_geotiff` leaves
    them), else band numbers from 1. ``chunks`` (e.g. ``{"x": 1024, "y": 1024}``) makes it dask-backed.
    Close it (``with open_raster(p) as da:``) when done.
    """
    import rioxarray
    from rasterio.errors import NotGeoreferencedWarning

    info = raster_info(path)  # readable-file check with a clear message, and the per-band descriptions
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        warnings.simplefilter("ignore", PendingDeprecationWarning)  # affine's `*` inside rioxarray's coordinates
        da = rioxarray.open_rasterio(path, chunks=chunks, masked=False)
    if all(info.descriptions) and len(set(info.descriptions)) == len(info.descriptions):
        da = da.assign_coords(band=list(info.descriptions))
    return da


def read_raster(path: str | Path, window: tuple[int, int, int, int] | None = None, nodata: float | None = None) -> np.ndarray:
    """(bands, rows, cols) float32 pixels of a raster file (read through :func:`open_raster`); nodata as NaN.

    Args:
        window: optional (row, col, height, width) in pixels; only that part is read.
        nodata: value marking missing pixels, overriding the file's own nodata value.
    """
    with open_raster(path) as da:
        if window is not None:
            r, c, h, w = window
            da = da.isel(y=slice(r, r + h), x=slice(c, c + w))
        data = da.values.astype(np.float32)
        nd = da.rio.nodata if nodata is None else nodata
    if nd is not None and not np.isnan(nd):
        data[data == nd] = np.nan
    return data


def _sensor_tag(info: RasterInfo) -> str | None:
    return info.tags.get("sensor") or info.tags.get("SENSOR")


def _assemble(pan_path, pan_info, ms_reads, ms_info, sensor: Sensor, *, max_value, pan_nodata, ms_nodata, name, where) -> Scene:
    """Align, read the windows and build the Scene. ``ms_reads``: one path per band group."""
    check_pair(pan_info, ms_info, pan_path, where)
    al: GridAlignment = align_grids(pan_info.transform, pan_info.shape[1:], ms_info.transform, ms_info.shape[1:],
                                    sensor.ratio, pan_crs=pan_info.crs, ms_crs=ms_info.crs, where=where)
    pan = read_raster(pan_path, al.pan_window, nodata=pan_nodata)[0]
    ms = np.concatenate([read_raster(p, al.ms_window, nodata=ms_nodata)[sel] for p, sel in ms_reads])
    scene = scene_from_arrays(pan, ms, sensor, max_value=max_value, crs=pan_info.crs, transform=al.transform,
                              name=name, source=where)
    return scene


def load_geotiff_pair(
    pan_path: str | Path,
    ms_path: str | Path,
    sensor: str | Sensor | None = None,
    *,
    bands: Sequence[str | int] | None = None,
    max_value: float | None = None,
    pan_nodata: float | None = None,
    ms_nodata: float | None = None,
) -> Scene:
    """A PAN GeoTIFF and a multi-band MS GeoTIFF on their common footprint.

    The two may have different extents (e.g. ``landsat_istanbul``: the PAN starts half a PAN pixel
    east and south of the MS and runs longer south); they are cropped to the largest area both
    cover, on the PAN grid, with ``ratio`` x ``ratio`` PAN pixels per MS pixel (see
    :mod:`clippan_kit.io.align` for edge- vs centre-aligned grids). CRS and the PAN-grid transform
    of the cropped area are kept.

    Args:
        sensor: registry name or Sensor, unless a file carries a ``sensor`` tag (as written by
            :func:`write_geotiff`). ``bands`` names the bands the MS file holds when they are a
            subset of the sensor's, in file order (e.g. ``["blue", "green", "red"]`` for Landsat);
            without it, MS band descriptions that name sensor bands are used.
        max_value: full scale (default: the sensor's ``2**bits - 1``).
        pan_nodata, ms_nodata: override the files' nodata values.
    """
    pan_path, ms_path = Path(pan_path), Path(ms_path)
    pan_info, ms_info = raster_info(pan_path), raster_info(ms_path)
    where = f"{pan_path} + {ms_path}"
    sensor = pair_sensor(pan_info, ms_info, sensor, bands, where, ms_path)
    return _assemble(pan_path, pan_info, [(ms_path, slice(None))], ms_info, sensor, max_value=max_value,
                     pan_nodata=pan_nodata, ms_nodata=ms_nodata, name=pair_name(ms_path), where=where)


def pair_sensor(pan_info: RasterInfo, ms_info: RasterInfo, sensor, bands, where: str, ms_path: Path) -> Sensor:
    """The sensor of a PAN + MS GeoTIFF pair: file tags, then ``sensor=``; ``bands=`` (or MS band
    descriptions naming sensor bands, as write_geotiff leaves them) select a subset. Shared by the
    eager loader and the lazy :func:`clippan_kit.scenescale.open_pair`."""
    sensor = resolve_sensor(_sensor_tag(ms_info) or _sensor_tag(pan_info), sensor, where)
    if bands is None and ms_info.shape[0] != sensor.n_bands:
        named = [d for d in ms_info.descriptions if d and d.lower() in sensor.bands]
        bands = named if len(named) == ms_info.shape[0] else None
    if bands is not None:
        sensor = resolve_sensor(None, sensor, where, bands=bands)
    if ms_info.shape[0] != sensor.n_bands:
        raise fail(f"the MS file has {ms_info.shape[0]} bands but sensor {sensor.long_name} has {sensor.n_bands} "
                   f"({', '.join(sensor.bands)}); pass the right sensor or bands=[...] naming the file's bands", ms_path)
    return sensor


def check_pair(pan_info: RasterInfo, ms_info: RasterInfo, pan_path, where: str) -> None:
    """A one-band PAN and two georeferenced files, as aligning a pair through its geotransforms needs."""
    if pan_info.shape[0] != 1:
        raise fail(f"the PAN file has {pan_info.shape[0]} bands, expected 1", pan_path)
    if not (pan_info.georeferenced and ms_info.georeferenced):
        raise fail("PAN and MS must both be georeferenced to be aligned (a CRS and a geotransform each); "
                   "for plain arrays use scene_from_arrays", where)


def pair_name(ms_path: Path) -> str:
    """The MS file's stem, or its folder's name when the stem is generic (``ms.tif``)."""
    generic = {"ms", "mul", "mss", "multispectral", "lrms"}
    return ms_path.parent.name if ms_path.stem.lower() in generic and ms_path.parent.name else ms_path.stem


def landsat_band_files(folder_or_files: str | Path | Sequence[str | Path]) -> dict[int, Path]:
    """Band number -> file for a Landsat layout (``*_B8.TIF``, ``l8_B4.tif``, ...)."""
    if isinstance(folder_or_files, (str, Path)) and Path(folder_or_files).is_dir():
        files = sorted(Path(folder_or_files).iterdir())
    elif isinstance(folder_or_files, (str, Path)):
        files = [Path(folder_or_files)]
    else:
        files = [Path(p) for p in folder_or_files]
    found: dict[int, Path] = {}
    for f in files:
        m = _LANDSAT_RE.match(f.name)
        if m:
            found.setdefault(int(m.group("band")), f)
    return found


def load_landsat(
    folder_or_files: str | Path | Sequence[str | Path],
    *,
    bands: Sequence[str] | None = None,
    sensor: str | Sensor | None = None,
    max_value: float | None = None,
    nodata: float | None = 0,
) -> Scene:
    """Landsat 8/9 OLI Level-1 scene from one-band-per-file GeoTIFFs: PAN = B8, MS = B1-B7, B9.

    Layout: the 15 m PAN grid's corner is half a PAN pixel up and left of the 30 m grid's, so pixel
    centres coincide (every MS centre is a PAN centre): handled as a centre-aligned pair (see
    :mod:`clippan_kit.io.align`), with no resampling. Thermal bands (B10, B11) and the quality
    band are never loaded.

    Args:
        folder_or_files: folder holding ``*_B<n>.TIF`` files, or the list of files.
        bands: ``landsat8`` band names to load, in order (default: every MS band whose file is
            present, in sensor order: coastal, blue, green, red, nir, swir1, swir2, cirrus).
        nodata: DN marking missing pixels; Level-1 products use 0 as fill (None: no nodata).
    """
    found = landsat_band_files(folder_or_files)
    where = str(folder_or_files if isinstance(folder_or_files, (str, Path)) else Path(list(folder_or_files)[0]).parent)
    if LANDSAT_PAN_BAND not in found:
        raise fail(f"no PAN band file (*_B8.TIF) among the Landsat files (found bands {sorted(found)})", where)
    base = get_sensor("landsat8") if sensor is None else resolve_sensor(None, sensor, where)
    if base.name != "landsat8":
        raise fail(f"Landsat band files need the landsat8 sensor, not {base.long_name}", where)
    names = list(bands) if bands is not None else [b for b in base.bands if LANDSAT_BAND_FILES[b] in found]
    band_indices(base, names, where)  # validates the names
    absent = [b for b in names if LANDSAT_BAND_FILES[b.lower()] not in found]
    if absent or not names:
        raise fail(f"missing band files for {absent or 'every MS band'} (found band numbers {sorted(found)})", where)
    files = [found[LANDSAT_BAND_FILES[b.lower()]] for b in names]
    infos = [raster_info(f) for f in files]
    for f, info in zip(files, infos):
        if (info.shape[1:], info.transform, info.crs) != (infos[0].shape[1:], infos[0].transform, infos[0].crs):
            raise fail(f"band file is not on the grid of {files[0].name}", f)
    sensor_sub = base.subset(names)
    pan_path = found[LANDSAT_PAN_BAND]
    return _assemble(pan_path, raster_info(pan_path), [(f, slice(None)) for f in files], infos[0], sensor_sub,
                     max_value=max_value, pan_nodata=nodata, ms_nodata=nodata,
                     name=pan_path.stem.rsplit("_B", 1)[0] or "landsat", where=where)
