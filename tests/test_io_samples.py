"""Sample registry: documented entries, availability, clear errors without data, offline default."""
from __future__ import annotations

import numpy as np
import pytest

from clippan_kit import SceneError, config
from clippan_kit.samples import SAMPLES, available_samples, default_scene, list_samples, load_sample

EXPECTED = {  # name: (sensor, ratio, PAN shape, MS shape, has reference, max_value)
    "wv2": ("wv2", 4, (1280, 1280), (8, 320, 320), False, 2047),
    "ikonos": ("ikonos", 4, (1280, 1280), (4, 320, 320), False, 2047),
    "wv3-example": ("wv3", 4, (128, 128), (8, 32, 32), False, 2047),
    "wv3-reduced": ("wv3", 4, (256, 256), (8, 64, 64), True, 1.0),
    "landsat-istanbul": ("landsat8", 2, (372, 556), (3, 186, 278), False, 65535),
    "landsat8": ("landsat8", 2, (1206, 1254), (8, 603, 627), False, 65535),
}


def test_registry_entries_are_documented():
    assert list_samples() == list(EXPECTED)
    for name, entry in SAMPLES.items():
        assert entry.name == name and entry.files and entry.licence and entry.citation and entry.values
        assert (entry.sensor, entry.ratio, entry.has_reference) == (EXPECTED[name][0], EXPECTED[name][1], EXPECTED[name][4])


def test_without_data_folder_errors_say_how_and_default_scene_still_works(monkeypatch, tmp_path):
    monkeypatch.delenv("CLIPPAN_DATA", raising=False)
    assert available_samples() == []
    with pytest.raises(SceneError, match="CLIPPAN_DATA") as err:
        load_sample("wv2")
    assert config.DATA_HELP in str(err.value) and "default_scene()" in str(err.value)
    monkeypatch.setenv("CLIPPAN_DATA", str(tmp_path))  # a folder without the files
    with pytest.raises(SceneError, match=r"imgWV2\.mat not found"):
        load_sample("wv2")
    with pytest.raises(KeyError, match="unknown sample 'wv4'"):
        load_sample("wv4")
    s = default_scene(size=64)
    assert s.reference is not None and s.sensor.name == "wv2" and s.pan.shape == (64, 64)
    assert np.array_equal(s.pan, default_scene(size=64).pan)


@pytest.mark.realdata
@pytest.mark.parametrize("name", list(EXPECTED))
def test_every_sample_loads(name, data_dir):
    assert name in available_samples()
    s = load_sample(name)
    sensor, ratio, pan_shape, ms_shape, has_ref, max_value = EXPECTED[name]
    assert s.name == name and s.sensor.name == sensor and s.ratio == ratio
    assert s.pan.shape == pan_shape and s.ms.shape == ms_shape and (s.reference is not None) == has_ref
    assert s.max_value == max_value and np.isfinite(s.pan).all()
    assert (s.crs is not None) == name.startswith("landsat")


@pytest.mark.realdata
def test_sample_options_can_be_overridden(data_dir):
    s = load_sample("landsat8", bands=["nir", "red", "green"])
    assert s.sensor.bands == ("nir", "red", "green") and s.ms.shape == (3, 603, 627)
