"""Window-by-window output: a tiled, compressed GeoTIFF (optionally converted to a COG) on the PAN grid."""
from __future__ import annotations

import contextlib
import warnings
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from ..io._common import atomic_path
from .blocks import Window
from .lazy import LazyPair

__all__ = ["BlockWriter", "open_writer"]

TILE = 256  # internal tile side of the output (also the COG block size)


class BlockWriter:
    """Writes (B, h, w) blocks into their windows; nodata pixels (``valid`` False) get the nodata value."""

    def __init__(self, dst, dtype: np.dtype, nodata: float):
        self.dst, self.dtype, self.nodata = dst, dtype, nodata

    def write(self, win: Window, block: np.ndarray, valid: np.ndarray | None) -> None:
        from rasterio.windows import Window as RWindow

        data = block
        if np.issubdtype(self.dtype, np.integer):
            info = np.iinfo(self.dtype)
            data = np.clip(np.rint(np.nan_to_num(data, nan=0.0)), info.min, info.max)
        data = data.astype(self.dtype)
        if valid is not None:
            data = np.where(valid[None], data, np.asarray(self.nodata).astype(self.dtype))
        self.dst.write(data, window=RWindow(win.x0, win.y0, win.x1 - win.x0, win.y1 - win.y0))


@contextlib.contextmanager
def open_writer(path: str | Path, pair: LazyPair, *, n_bands: int | None = None, band_names: Sequence[str] | None = None,
                dtype: str | None = None, nodata: float | None = None, cog: bool = False,
                tile: int = TILE) -> Iterator[BlockWriter]:
    """A tiled, deflate-compressed GeoTIFF on ``pair``'s PAN grid (CRS, transform, band names,
    ``sensor``/``ratio``/``max_value`` tags as :func:`clippan_kit.io.write_geotiff`), replaced
    atomically when the block completes. ``cog=True`` converts it to a Cloud-Optimised GeoTIFF
    (GDAL's COG driver, which streams with overviews) before the rename."""
    import rasterio
    import rasterio.shutil
    from rasterio.errors import NotGeoreferencedWarning

    path = Path(path)
    B = n_bands or pair.n_bands
    names = list(band_names) if band_names is not None else (list(pair.sensor.bands) if B == pair.n_bands else None)
    dt = np.dtype(dtype or np.float32)
    nd = (0 if np.issubdtype(dt, np.integer) else float("nan")) if nodata is None else nodata
    H, W = pair.shape
    profile = dict(driver="GTiff", height=H, width=W, count=B, dtype=dt.name, nodata=nd, crs=pair.crs,
                   transform=pair.transform, compress="deflate", tiled=True, blockxsize=tile, blockysize=tile,
                   BIGTIFF="IF_SAFER")
    with atomic_path(path) as final_tmp:
        tmp = final_tmp.with_name(final_tmp.stem + ".tiles.tif") if cog else final_tmp
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", NotGeoreferencedWarning)
                with rasterio.open(tmp, "w", **profile) as dst:
                    if names is not None:
                        for i, n in enumerate(names, start=1):
                            dst.set_band_description(i, str(n))
                    dst.update_tags(sensor=pair.sensor.name, ratio=str(pair.ratio), max_value=str(pair.max_value))
                    yield BlockWriter(dst, dt, nd)
            if cog:
                rasterio.shutil.copy(tmp, final_tmp, driver="COG", compress="DEFLATE", blocksize=tile, BIGTIFF="IF_SAFER")
        finally:
            if cog:
                tmp.unlink(missing_ok=True)
