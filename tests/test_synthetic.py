"""The synthetic scene: exact Wald consistency, determinism, physical plausibility, speed."""
from __future__ import annotations

import time

import numpy as np
import pytest

from clippan_kit import SceneError, generic_sensor, get_sensor
from clippan_kit.synthetic import band_wavelengths, pan_weights, synthetic_scene
from clippan_kit.wald import WaldProtocol


@pytest.mark.parametrize("sensor", ["wv2", "ikonos", "landsat8"])
def test_reference_degrades_exactly_to_the_ms(sensor):
    s = synthetic_scene(sensor, size=64, seed=3)
    r = s.ratio
    assert s.pan.shape == (64, 64) and s.ms.shape == (s.sensor.n_bands, 64 // r, 64 // r)
    assert s.reference.shape == (s.sensor.n_bands, 64, 64)
    assert s.pan.dtype == s.ms.dtype == s.reference.dtype == np.float32
    lrms = WaldProtocol(sensor).degrade_ms(s.reference.astype(np.float64)).astype(np.float32)
    assert np.array_equal(lrms, s.ms)
    assert 0 <= s.reference.min() and s.reference.max() <= s.max_value == get_sensor(sensor).max_value
    assert s.valid.all() and s.crs is None


def test_seeds_are_reproducible_and_distinct():
    a, b, c = synthetic_scene(seed=5, size=64), synthetic_scene(seed=5, size=64), synthetic_scene(seed=6, size=64)
    for field in ("pan", "ms", "reference"):
        assert np.array_equal(getattr(a, field), getattr(b, field))
    assert np.abs(a.reference - c.reference).mean() > 10  # DN


def test_pan_is_the_documented_weighted_sum_plus_small_noise():
    s = synthetic_scene("wv2", size=128, seed=0)
    w = pan_weights(s.sensor)
    # WorldView-2 PAN 450-800 nm: blue, green, yellow, red, red edge (coastal 427 and NIR out).
    assert np.allclose(w, [0, 0.2, 0.2, 0.2, 0.2, 0.2, 0, 0]) and w.sum() == pytest.approx(1)
    residual = s.pan - np.tensordot(w, s.reference.astype(np.float64), axes=1)
    assert abs(residual.mean()) < 0.05 and residual.std() == pytest.approx(1e-3 * 2047, rel=0.1)
    assert np.allclose(pan_weights(get_sensor("landsat8"))[[2, 3]], 0.5)  # Landsat PAN: green + red


def test_land_cover_is_physically_plausible_with_sharp_edges():
    s = synthetic_scene("wv2", size=256, seed=0)
    ref = s.reference.astype(np.float64)
    red, nir = ref[s.sensor.band_index("red")], ref[s.sensor.band_index("nir1")]
    ndvi = (nir - red) / (nir + red)
    assert (ndvi > 0.6).mean() > 0.15  # vegetation
    assert (ndvi < 0).mean() > 0.02  # water
    # Sharp class edges: large one-pixel jumps in the PAN, absent from a smooth image.
    jumps = np.abs(np.diff(s.pan, axis=1)) > 0.1 * s.max_value
    assert 0.01 < jumps.mean() < 0.3
    # Band centres come from the names; generic bands spread over 450-900 nm.
    assert band_wavelengths(s.sensor)[0] == 427
    assert np.allclose(band_wavelengths(generic_sensor(4)), [450, 600, 750, 900])


def test_fast_and_size_checked():
    synthetic_scene("wv2", size=64)  # warm caches (MTF kernels)
    t = time.process_time()  # CPU time: the shared test machine's load must not make this flaky
    synthetic_scene("wv2", size=256, seed=1)
    assert time.process_time() - t < 0.5
    with pytest.raises(SceneError, match="multiple of the ratio 4"):
        synthetic_scene("wv2", size=66)
    assert synthetic_scene(generic_sensor(3, ratio=2), size=32).ms.shape == (3, 16, 16)
