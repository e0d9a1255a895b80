"""Reading and writing scenes: every supported format in, one :class:`~clippan_kit.scene.Scene` out.

* :func:`load_scene` picks the loader by format (``.mat``, PanCollection ``.h5``, GeoTIFF PAN + MS
  pair, Landsat band files, numpy arrays); each loader is also public.
* GeoTIFF pixels are read and written through rioxarray (:func:`open_raster`, :func:`fused_dataarray`);
* :func:`write_geotiff` / :func:`write_quicklook_png` write results atomically;
  :func:`stretch` is the percentile stretch the plots share.
"""
from .align import GridAlignment, align_grids
from .arrays import scene_from_arrays
from .geotiff import LANDSAT_BAND_FILES, RasterInfo, load_geotiff_pair, load_landsat, open_raster, raster_info, read_raster
from .loader import load_scene
from .matlab import load_mat, read_mat
from .pancollection import h5_length, load_h5
from .writers import fused_dataarray, stretch, write_geotiff, write_quicklook_png

__all__ = [
    "load_scene", "scene_from_arrays", "load_mat", "read_mat", "load_h5", "h5_length", "load_geotiff_pair",
    "load_landsat", "LANDSAT_BAND_FILES", "raster_info", "open_raster", "read_raster", "RasterInfo", "align_grids",
    "GridAlignment", "write_geotiff", "fused_dataarray", "write_quicklook_png", "stretch",
]
