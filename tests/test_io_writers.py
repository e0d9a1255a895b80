"""Writers: GeoTIFF round trip on the PAN grid, PNG quick-looks, the shared stretch, atomicity."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from PIL import Image

from clippan_kit import SceneError
from clippan_kit.io import load_scene, raster_info, read_raster, stretch, write_geotiff, write_quicklook_png
from clippan_kit.synthetic import synthetic_scene

PAIR = {"pan": Path(__file__).parent / "data" / "pair_pan.tif", "ms": Path(__file__).parent / "data" / "pair_ms.tif"}


@pytest.fixture(scope="module")
def geo_scene():
    """10x12 georeferenced Landsat-like scene with one nodata PAN pixel (tests/data fixture)."""
    return load_scene(PAIR, sensor="landsat8", bands=["blue", "green", "red"])


def test_geotiff_round_trip_keeps_crs_transform_names_values_and_nodata(geo_scene, tmp_path):
    rng = np.random.default_rng(0)
    hrms = rng.uniform(0, 30000, (3, *geo_scene.shape)).astype(np.float32)
    out = write_geotiff(tmp_path / "fused.tif", hrms, geo_scene)
    info = raster_info(out)
    assert info.crs == geo_scene.crs and info.transform == geo_scene.transform
    assert info.descriptions == ("blue", "green", "red") and info.dtype == "float32"
    assert info.tags["sensor"] == "landsat8" and info.tags["ratio"] == "2"
    back = read_raster(out)
    valid = geo_scene.valid
    assert np.array_equal(back[:, valid], hrms[:, valid])  # bit-exact where valid
    assert np.isnan(back[:, ~valid]).all() and (~valid).sum() == 1  # nodata pixel written as nodata
    with rasterio.open(out) as src:
        assert np.isnan(src.nodata)


def test_geotiff_integer_dtype_and_custom_names(geo_scene, tmp_path):
    hrms = np.full((3, *geo_scene.shape), 1234.6, np.float32)
    hrms[0, 0, 0] = 70000  # beyond uint16: clipped, not wrapped
    out = write_geotiff(tmp_path / "u16.tif", hrms, geo_scene, dtype="uint16", band_names=["b", "g", "r"])
    with rasterio.open(out) as src:
        data = src.read()
        assert src.dtypes[0] == "uint16" and src.nodata == 0 and src.descriptions == ("b", "g", "r")
    assert data[0, 0, 0] == 65535 and data[1, 0, 0] == 1235
    assert (data[:, ~geo_scene.valid] == 0).all()


def test_geotiff_without_georeference_and_shape_errors(tmp_path):
    scene = synthetic_scene("ikonos", size=32, seed=1)
    out = write_geotiff(tmp_path / "plain.tif", scene.reference, scene)
    assert np.array_equal(read_raster(out), scene.reference) and raster_info(out).crs is None
    with pytest.raises(SceneError, match=r"bad\.tif.*16x16 but the scene's PAN grid is 32x32"):
        write_geotiff(tmp_path / "bad.tif", scene.reference[:, :16, :16], scene)
    assert not (tmp_path / "bad.tif").exists()


def test_a_failing_write_leaves_no_file_and_keeps_the_old_one(geo_scene, tmp_path, monkeypatch):
    hrms = np.ones((3, *geo_scene.shape), np.float32)
    target = tmp_path / "fused.tif"

    def boom(self, *args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(rasterio.io.DatasetWriter, "update_tags", boom)  # fails after the pixels are written
    with pytest.raises(RuntimeError, match="disk full"):
        write_geotiff(target, hrms, geo_scene)
    assert list(tmp_path.iterdir()) == []  # neither the target nor a temporary file
    monkeypatch.undo()
    write_geotiff(target, hrms, geo_scene)
    before = target.read_bytes()
    monkeypatch.setattr(rasterio.io.DatasetWriter, "update_tags", boom)
    with pytest.raises(RuntimeError):
        write_geotiff(target, 2 * hrms, geo_scene)
    assert target.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["fused.tif"]


def test_stretch_maps_percentiles_to_0_and_1():
    ramp = np.arange(101, dtype=np.float64).reshape(1, 1, 101)  # percentile q of 0..100 is q
    out = stretch(ramp, 2, 98)
    assert out.dtype == np.float32 and out.shape == ramp.shape
    assert out[0, 0, 2] == 0 and out[0, 0, 98] == 1 and out[0, 0, 50] == pytest.approx(0.5)
    assert out.min() == 0 and out.max() == 1
    # Per band, shared scale through ``reference``, flat bands and NaN handled.
    two = np.stack([ramp[0], 2 * ramp[0]])
    per_band = stretch(two, 0, 100)
    assert np.allclose(per_band[0], per_band[1])
    shared = stretch(two, 0, 100, reference=np.stack([2 * ramp[0], 2 * ramp[0]]))
    assert shared[0, 0, 100] == pytest.approx(0.5) and shared[1, 0, 100] == 1
    flat = stretch(np.full((4, 4), 7.0))
    assert (flat == 0).all()
    nan = ramp.copy()
    nan[0, 0, 0] = np.nan
    assert stretch(nan, 0, 100)[0, 0, 0] == 0 and stretch(nan, 0, 100)[0, 0, 1] == 0
    with pytest.raises(ValueError):
        stretch(ramp, 98, 2)


def test_quicklook_png_rgb_and_grey(tmp_path):
    scene = synthetic_scene("wv2", size=64, seed=2)
    out = write_quicklook_png(tmp_path / "q.png", scene.reference, rgb=scene.sensor.rgb)
    img = np.asarray(Image.open(out))
    assert img.shape == (64, 64, 3) and img.dtype == np.uint8
    expected = np.rint(stretch(scene.reference[list(scene.sensor.rgb)]) * 255).astype(np.uint8)
    assert np.array_equal(img, np.moveaxis(expected, 0, -1))
    grey = np.asarray(Image.open(write_quicklook_png(tmp_path / "pan.png", scene.pan)))
    assert grey.shape == (64, 64) and grey.min() == 0 and grey.max() == 255
    with pytest.raises(SceneError, match="rgb indices"):
        write_quicklook_png(tmp_path / "x.png", scene.reference, rgb=(9, 1, 0))
    assert not (tmp_path / "x.png").exists()
