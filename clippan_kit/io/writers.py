"""Writers: fused images as GeoTIFF on the scene's PAN grid (through rioxarray), and percentile-stretched
PNG quick-looks.

Both write to a temporary file in the destination folder and rename it into place, so an output
either exists complete or not at all (a failed or interrupted write leaves nothing behind).
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

from ..scene import Scene, SceneError
from ._common import atomic_path

__all__ = ["write_geotiff", "fused_dataarray", "write_quicklook_png", "stretch"]


def stretch(image: np.ndarray, low: float = 2.0, high: float = 98.0, *, reference: np.ndarray | None = None,
            valid: np.ndarray | None = None) -> np.ndarray:
    """Percentile contrast stretch to 0..1, per band.

    Args:
        image: (B, H, W) or (H, W), any real dtype; NaN pixels are ignored and come out as 0.
        low, high: percentiles (0..100) mapped to 0 and 1; values beyond are clipped.
        reference: take the percentiles from this image (same band count) instead, so that several
            images share one colour scale and differences between them are real.
        valid: optional (H, W) bool mask of the pixels the percentiles are computed on.

    Returns:
        float32 array of ``image``'s shape, values in [0, 1].
    """
    if not 0 <= low < high <= 100:
        raise ValueError(f"need 0 <= low < high <= 100 percentiles, got {low}, {high}")
    img = np.asarray(image, dtype=np.float64)
    ref = img if reference is None else np.asarray(reference, dtype=np.float64)
    if ref.shape[:-2] != img.shape[:-2]:
        raise ValueError(f"reference has {ref.shape[:-2]} bands, image {img.shape[:-2]}")
    flat = ref.reshape(-1, ref.shape[-2] * ref.shape[-1])
    if valid is not None:
        flat = np.where(np.asarray(valid, bool).reshape(1, -1), flat, np.nan)
    lo, hi = (np.nanpercentile(flat, q, axis=1) if np.isfinite(flat).any() else np.zeros(len(flat)) for q in (low, high))
    shape = (-1, 1, 1) if img.ndim == 3 else ()
    lo, hi = lo.reshape(shape), hi.reshape(shape)
    span = np.where(hi > lo, hi - lo, 1.0)  # a flat band maps to 0 instead of dividing by zero
    out = np.clip((img - lo) / span, 0.0, 1.0)
    return np.nan_to_num(out, nan=0.0).astype(np.float32)


def _as_bands(image, what: str) -> np.ndarray:
    if hasattr(image, "detach"):  # a torch tensor, possibly (1, B, H, W)
        image = image.detach().cpu().numpy()
    arr = np.asarray(image)
    if arr.ndim == 4 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise SceneError(f"{what} must be (bands, H, W) or (H, W), got shape {arr.shape}")
    return arr


def write_geotiff(
    path: str | Path,
    hrms: np.ndarray,
    scene: Scene,
    *,
    band_names: Sequence[str] | None = None,
    dtype: str | np.dtype | None = None,
    nodata: float | None = None,
) -> Path:
    """Write a fused image on the scene's PAN grid as a GeoTIFF.

    Args:
        path: output ``.tif``; its folder must exist. Replaced atomically if present.
        hrms: (B, H, W) image on the PAN grid (numpy or torch), data units of the scene.
        scene: gives CRS, transform (PAN grid), nodata mask (``scene.valid``) and band names.
        band_names: band descriptions (default: ``scene.sensor.bands`` when B matches).
        dtype: output dtype (default float32). Integer types round and clip to the type's range.
        nodata: value written where ``scene.valid`` is False (default NaN for floats, 0 for
            integers; a valid pixel equal to it would read back as nodata, so choose accordingly).

    The file also carries tags ``sensor``, ``ratio`` and ``max_value`` so that a written result can
    be identified later. A scene without georeference gives a plain (non-georeferenced) TIFF.
    Written by rioxarray from :func:`fused_dataarray` (the transform is written as given, never
    recomputed from coordinates).

    Returns:
        The path written.
    """
    from rasterio.errors import NotGeoreferencedWarning

    path = Path(path)
    data = _as_bands(hrms, "hrms")
    B, H, W = data.shape
    if (H, W) != scene.shape:
        raise SceneError(f"{path}: image is {H}x{W} but the scene's PAN grid is {scene.shape[0]}x{scene.shape[1]}")
    names = list(band_names) if band_names is not None else (list(scene.sensor.bands) if B == scene.n_bands else None)
    if names is not None and len(names) != B:
        raise SceneError(f"{path}: {len(names)} band names for {B} bands")
    dt = np.dtype(dtype or np.float32)
    if np.issubdtype(dt, np.integer):
        info = np.iinfo(dt)
        out = np.clip(np.rint(np.nan_to_num(data.astype(np.float64), nan=0.0)), info.min, info.max).astype(dt)
        nd = 0 if nodata is None else nodata
    else:
        out = data.astype(dt)
        nd = float("nan") if nodata is None else nodata
    out = np.where(scene.valid[None], out, np.asarray(nd).astype(dt))
    da = fused_dataarray(out, scene, band_names=names, nodata=nd)
    tags = {"sensor": scene.sensor.name, "ratio": str(scene.ratio), "max_value": str(scene.max_value)}
    with atomic_path(path) as tmp:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            warnings.simplefilter("ignore", PendingDeprecationWarning)  # affine's `*` inside rioxarray
            da.rio.to_raster(tmp, driver="GTiff", compress="deflate", tags=tags, recalc_transform=False)
    return path


def fused_dataarray(image: np.ndarray, scene: Scene, *, band_names: Sequence[str] | None = None,
                    nodata: float | None = None):
    """``image`` (B, H, W) on the scene's PAN grid as an ``xarray.DataArray`` with rioxarray metadata.

    Coordinates: ``band`` (the band names, or 1..B), ``y``/``x`` (pixel centres from the scene's transform,
    or pixel indices + 0.5 without one); ``.rio`` carries the CRS, the transform (exactly the scene's) and
    ``nodata``; band names are also the ``long_name`` attribute, which rioxarray writes as band descriptions.
    """
    import rioxarray  # noqa: F401 - registers the .rio accessor
    import xarray as xr
    from affine import Affine

    B, H, W = image.shape
    t = scene.transform if scene.transform is not None else Affine.identity()
    coords = {"band": list(band_names) if band_names is not None else list(range(1, B + 1)),
              "y": t.f + t.e * (np.arange(H) + 0.5), "x": t.c + t.a * (np.arange(W) + 0.5)}
    da = xr.DataArray(image, dims=("band", "y", "x"), coords=coords)
    if band_names is not None:
        da.attrs["long_name"] = tuple(str(n) for n in band_names)
    if scene.transform is not None:
        da = da.rio.write_transform(scene.transform)
    if scene.crs is not None:
        da = da.rio.write_crs(scene.crs)
    if nodata is not None:
        da = da.rio.write_nodata(nodata, encoded=False)
    return da


def write_quicklook_png(
    path: str | Path,
    image: np.ndarray,
    rgb: Sequence[int] = (0, 1, 2),
    percentiles: tuple[float, float] = (2, 98),
    *,
    valid: np.ndarray | None = None,
) -> Path:
    """Write an 8-bit PNG quick-look: three bands as RGB (or one as grey), percentile-stretched.

    Args:
        image: (B, H, W) or (H, W); (H, W) or a 1-band image is written in grey.
        rgb: 0-based indices of the bands shown as red, green, blue (``scene.sensor.rgb``).
        percentiles: (low, high) percentiles mapped to black and white, per band (see :func:`stretch`).
        valid: optional (H, W) mask; invalid pixels are left out of the percentiles and shown black.
    """
    from PIL import Image

    path = Path(path)
    arr = _as_bands(image, "image")
    if arr.shape[0] > 1:
        if len(rgb) != 3 or any(not 0 <= i < arr.shape[0] for i in rgb):
            raise SceneError(f"{path}: rgb indices {list(rgb)} do not fit {arr.shape[0]} bands")
        arr = arr[list(rgb)]
    view = stretch(arr, *percentiles, valid=valid)
    if valid is not None:
        view = np.where(np.asarray(valid, bool)[None], view, 0.0)
    pixels = np.rint(view * 255).astype(np.uint8)
    img = Image.fromarray(pixels[0]) if pixels.shape[0] == 1 else Image.fromarray(np.ascontiguousarray(np.moveaxis(pixels, 0, -1)))
    with atomic_path(path) as tmp:
        img.save(tmp, format="PNG")
    return path
