"""Generate the tiny synthetic fixtures of tests/data (a few KB each; never real data).

Run from the repository root: ``python tests/data/make_fixtures.py``. Deterministic: rerunning
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


if __name__ == "__main__":
    make_mat()
    make_mat_v73()
    make_h5()
    make_pair()
    for p in sorted(HERE.iterdir()):
        if p.suffix != ".py":
            print(f"{p.name:28s} {p.stat().st_size:6d} bytes")
