"""``load_scene``: one entry point that picks the loader from what it is given."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..scene import Scene
from ..sensors import Sensor
from ._common import fail
from .arrays import scene_from_arrays
from .geotiff import landsat_band_files, load_geotiff_pair, load_landsat, raster_info
from .matlab import load_mat
from .pancollection import load_h5

__all__ = ["load_scene"]

_TIF = (".tif", ".tiff")


def _pair_from_paths(paths: Sequence[Path], sensor, options) -> Scene:
    """Two GeoTIFFs in either order: the one with the finer pixel is the PAN."""
    a, b = (raster_info(p) for p in paths)
    if abs(a.transform.a) == abs(b.transform.a):
        raise fail("two rasters with the same pixel size: pass {'pan': ..., 'ms': ...} to say which is which",
                   f"{paths[0]} + {paths[1]}")
    pan, ms = (paths[0], paths[1]) if abs(a.transform.a) < abs(b.transform.a) else (paths[1], paths[0])
    return load_geotiff_pair(pan, ms, sensor, **options)


def load_scene(path_or_paths: Any, sensor: str | Sensor | None = None, **options: Any) -> Scene:
    """Load a PAN + MS scene from files of any supported format.

    ``path_or_paths`` may be:

    * ``.mat``: PNN-style (``I_PAN`` + ``I_MS_LR``/``I_MS``) or reduced resolution with ground truth
      (``pan`` + ``lrms`` + ``gt``): :func:`~clippan_kit.io.matlab.load_mat`.
    * ``.h5`` / ``.hdf5``: PanCollection; option ``index`` picks the sample:
      :func:`~clippan_kit.io.pancollection.load_h5`.
    * ``{"pan": PAN.tif, "ms": MS.tif}`` or a pair of GeoTIFF paths (the finer one is the PAN):
      :func:`~clippan_kit.io.geotiff.load_geotiff_pair`, aligned through the geotransforms.
    * a folder of Landsat band files (``*_B8.TIF`` ...), one such file, its ``*_MTL.txt``, or a
      list of band files: :func:`~clippan_kit.io.geotiff.load_landsat` (option ``bands``).
    * ``{"pan": array, "ms": array}`` of numpy arrays: :func:`scene_from_arrays`.

    The sensor comes from the file when it says (``sensor`` key or tag), else from ``sensor``;
    without either, an error asks for it. Other keyword options go to the chosen loader
    (``crop``, ``bands``, ``max_value``, ``index``, nodata overrides ...).

    Raises:
        SceneError: unreadable or unsupported input, with the problem and the file named.
    """
    if isinstance(path_or_paths, Mapping):
        keys = {str(k).lower(): v for k, v in path_or_paths.items()}
        if not {"pan", "ms"} <= set(keys):
            raise fail(f"a mapping input needs keys 'pan' and 'ms', got {sorted(keys)}")
        if not isinstance(keys["pan"], (str, os.PathLike)):  # arrays (numpy or anything array-like)
            return scene_from_arrays(keys["pan"], keys["ms"], sensor, reference=keys.get("reference"), **options)
        return load_geotiff_pair(keys["pan"], keys["ms"], sensor, **options)
    if isinstance(path_or_paths, (list, tuple)):
        paths = [Path(p) for p in path_or_paths]
        if paths and len(landsat_band_files(paths)) == len(paths) and len(paths) > 2:
            return load_landsat(paths, sensor=sensor, **options)
        if len(paths) != 2:
            raise fail(f"expected two GeoTIFFs (PAN and MS) or Landsat band files, got {len(paths)} paths")
        return _pair_from_paths(paths, sensor, options)
    path = Path(path_or_paths)
    if not path.exists():
        raise fail("file not found", path)
    suffix = path.suffix.lower()
    if path.is_dir() or path.name.upper().endswith("_MTL.TXT") or (suffix in _TIF and landsat_band_files(path)):
        folder = path if path.is_dir() else path.parent
        if not landsat_band_files(folder):
            raise fail("folder holds no recognised scene (Landsat *_B<n>.TIF band files); pass the files themselves", path)
        return load_landsat(folder, sensor=sensor, **options)
    if suffix == ".mat":
        return load_mat(path, sensor, **options)
    if suffix in (".h5", ".hdf5", ".he5"):
        return load_h5(path, sensor, **options)
    if suffix in _TIF:
        raise fail("a single GeoTIFF is only half a scene: pass {'pan': PAN.tif, 'ms': MS.tif}", path)
    raise fail(f"unsupported file type {suffix or '(none)'}: expected .mat, .h5, a GeoTIFF pair or a Landsat folder", path)
