"""The scene's raster stack: xarray datasets with working rioxarray accessors, GeoTIFFs through rioxarray."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from clippan_kit.io import load_scene, open_raster, read_raster, write_geotiff

PAIR = {"pan": Path(__file__).parent / "data" / "pair_pan.tif", "ms": Path(__file__).parent / "data" / "pair_ms.tif"}


def _scene():
    return load_scene(PAIR, sensor="landsat8", bands=["blue", "green", "red"])


def test_to_xarray_is_a_dataset_with_rio_crs_and_the_exact_transform():
    import xarray as xr

    scene = _scene()
    ds = scene.to_xarray()
    assert isinstance(ds, xr.Dataset)
    assert ds.rio.crs == scene.crs and ds.rio.transform() == scene.transform
    assert list(ds["band"].values) == ["blue", "green", "red"] and ds["pan"].dims == ("y", "x")
    np.testing.assert_array_equal(ds["ms"].values, scene.ms)
    t = scene.transform
    assert float(ds["x"][0]) == t.c + t.a / 2 and float(ds["y"][0]) == t.f + t.e / 2  # pixel centres
    # The MS grid: the PAN transform scaled by the ratio, through the same accessor.
    ms = ds["ms"].rio.set_spatial_dims(x_dim="x_ms", y_dim="y_ms")
    mt = ms.rio.transform(recalc=True)  # from the MS coordinates, not the cached PAN transform
    assert (mt.a, mt.e, mt.c, mt.f) == (t.a * scene.ratio, t.e * scene.ratio, t.c, t.f)


def test_a_written_geotiff_opens_lazily_with_band_names_crs_and_nodata(tmp_path):
    scene = _scene()
    hrms = np.random.default_rng(1).uniform(0, 30000, (3, *scene.shape)).astype(np.float32)
    path = write_geotiff(tmp_path / "f.tif", hrms, scene)
    with open_raster(path) as da:
        assert list(da["band"].values) == ["blue", "green", "red"]
        assert da.rio.crs == scene.crs and da.rio.transform() == scene.transform and np.isnan(da.rio.nodata)
        window = da.isel(y=slice(2, 6), x=slice(4, 8)).values
    np.testing.assert_array_equal(read_raster(path, window=(2, 4, 4, 4)), window)
    expected = np.where(scene.valid[None], hrms, np.nan)
    np.testing.assert_array_equal(read_raster(path), expected)


def test_chunked_reading_gives_the_same_pixels(tmp_path):
    pytest.importorskip("dask")  # chunked reading needs dask
    scene = _scene()
    path = write_geotiff(tmp_path / "f.tif", np.arange(3 * scene.shape[0] * scene.shape[1], dtype=np.float32)
                         .reshape(3, *scene.shape), scene)
    with open_raster(path, chunks={"x": 4, "y": 4}) as da, open_raster(path) as eager:
        assert da.chunks is not None and eager.chunks is None
        np.testing.assert_array_equal(da.values, eager.values)
