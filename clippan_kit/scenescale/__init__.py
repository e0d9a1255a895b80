"""Whole satellite scenes, bigger than memory, on one machine or a Dask cluster.

* :func:`open_pair`: a GeoTIFF/COG PAN + MS pair as lazy, dask-chunked ``xarray.DataArray``s
  (rioxarray), aligned through their geotransforms like :func:`clippan_kit.io.load_geotiff_pair`.
* :func:`fuse_blockwise`: every classical method and every backbone, block by block with exact
  halos, written window by window to a tiled compressed GeoTIFF/COG.
* :func:`evaluate_blockwise`: the full-resolution indices from per-block statistics and global sums.

``workers=N`` runs the blocks on a ``distributed.LocalCluster`` of N processes, ``scheduler=ADDRESS``
on an existing Dask cluster; the output is identical to the single-process run.

Example:
    >>> from clippan_kit.scenescale import fuse_blockwise
    >>> fuse_blockwise("ms.tif", "pan.tif", "mtf-glp-hpm-r", "fused.tif", sensor="wv3", workers=2)
"""
from .fuse import AUTO_BLOCKWISE_PIXELS, DEFAULT_BLOCK, fuse_blockwise, needs_blockwise
from .lazy import LazyPair, open_pair
from .metrics import BLOCKWISE_METRICS, evaluate_blockwise

__all__ = ["open_pair", "LazyPair", "fuse_blockwise", "evaluate_blockwise", "BLOCKWISE_METRICS", "DEFAULT_BLOCK",
           "AUTO_BLOCKWISE_PIXELS", "needs_blockwise"]
