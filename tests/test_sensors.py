import pytest

from clippan_kit import Scene, SceneError, generic_sensor, get_sensor, list_sensors


def test_registry_has_the_toolbox_sensors_with_published_gains():
    assert {"qb", "ikonos", "geoeye1", "wv2", "wv3", "pleiades", "landsat8"} <= set(list_sensors())
    wv2 = get_sensor("WorldView-2")
    assert wv2.gnyq_ms == (0.35,) * 7 + (0.27,) and wv2.gnyq_pan == 0.11
    assert wv2.bands[wv2.rgb[0]] == "red" and wv2.bands[wv2.rgb[1]] == "green" and wv2.bands[wv2.rgb[2]] == "blue"
    assert get_sensor("QB").gnyq_ms == (0.34, 0.32, 0.30, 0.22)
    assert get_sensor("ik").gnyq_pan == 0.17
    assert get_sensor("wv3").gnyq_ms[4] == 0.365
    assert get_sensor("landsat9").ratio == 2
    assert wv2.max_value == 2047


def test_unknown_sensor_lists_the_known_ones():
    with pytest.raises(KeyError, match="wv2"):
        get_sensor("spot42")


def test_subset_remaps_rgb_and_gains():
    l8 = get_sensor("landsat8").subset(["blue", "green", "red"])
    assert l8.bands == ("blue", "green", "red")
    assert l8.rgb == (2, 1, 0)
    assert len(l8.gnyq_ms) == 3
    with pytest.raises(KeyError, match="no band"):
        get_sensor("wv2").subset(["swir9"])


def test_generic_sensor():
    s = generic_sensor(5, ratio=2)
    assert s.n_bands == 5 and s.ratio == 2 and s.gnyq_ms == (0.3,) * 5 and s.gnyq_pan == 0.15


def test_scene_validates_shapes_bands_and_masks_nans():
    import numpy as np

    s = get_sensor("qb")
    pan = np.ones((16, 16), np.float32)
    ms = np.ones((4, 4, 4), np.float32)
    with pytest.raises(SceneError, match="multiple of the ratio 4"):
        Scene(pan[:15, :15], ms, s)
    with pytest.raises(SceneError, match="expected 4x4"):
        Scene(pan, ms[:, :3], s)
    with pytest.raises(SceneError, match="3 bands but sensor QuickBird has 4"):
        Scene(pan, ms[:3], s)
    ms_nan = ms.copy()
    ms_nan[1, 0, 0] = np.nan
    scene = Scene(pan, ms_nan, s)
    assert scene.valid.sum() == 256 - 16 and not scene.valid[:4, :4].any()
    filled = scene.filled()
    assert np.isfinite(filled.ms).all() and (filled.valid == scene.valid).all()
    crop = scene.crop(4, 8, 8, 8)
    assert crop.pan.shape == (8, 8) and crop.ms.shape == (4, 2, 2)
    ds = scene.to_xarray()
    assert ds["ms"].dims == ("band", "y_ms", "x_ms") and list(ds["band"].values) == list(s.bands)
