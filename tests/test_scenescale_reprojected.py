"""Block-wise reprojected indices (R-Q2n, R-Q, R-SAM, R-ERGAS) and co-registration shifts equal the in-memory ones.

Tolerance: |block-wise - in-memory| <= 1e-9 absolute on every index (the indices are O(1) here: R-Q2n and
R-Q in [0, 1], R-SAM a few degrees, R-ERGAS of order 1-10), and the shifts are equal integers.
"""
from __future__ import annotations

import contextlib

import numpy as np
import pytest
import rasterio
from affine import Affine

from clippan_kit.classical import fuse
from clippan_kit.io import load_geotiff_pair
from clippan_kit.metrics import full_resolution_metrics
from clippan_kit.physics import coregistration as coreg
from clippan_kit.scenescale import BLOCKWISE_METRICS, evaluate_blockwise, open_pair
from clippan_kit.scenescale.blocks import BlockReader, block_grid
from clippan_kit.scenescale.engine import executor
from clippan_kit.scenescale.fuse import ordered
from clippan_kit.scenescale.metrics import _coreg_task
from clippan_kit.scenescale.reprojected import R_METRICS, CoregPass, shifts_from_parts
from clippan_kit.scene import Scene
from clippan_kit.synthetic import synthetic_scene

TOL = 1e-9


def _write(path, data, transform):
    data = np.asarray(data)
    data = data[None] if data.ndim == 2 else data
    with rasterio.open(path, "w", driver="GTiff", height=data.shape[1], width=data.shape[2], count=data.shape[0],
                       dtype=data.dtype.name, crs="EPSG:32633", transform=transform, tiled=True,
                       blockxsize=32, blockysize=32) as dst:
        dst.write(data)
    return path


def _files(d, scene: Scene, fused: np.ndarray):
    """uint16 PAN/MS (float32 when the scene is not integer-valued) and a float32 fused GeoTIFF."""
    r = scene.ratio
    t = Affine(0.5, 0, 300000.0, 0, -0.5, 5000000.0)
    dtype = np.uint16 if np.array_equal(scene.pan, np.rint(scene.pan)) else np.float32
    pan = _write(d / "pan.tif", scene.pan.astype(dtype), t)
    ms = _write(d / "ms.tif", scene.ms.astype(dtype), t * Affine.scale(r))
    f = _write(d / "fused.tif", np.asarray(fused, np.float32), t)
    return pan, ms, f


def _synthetic(d, sensor: str, H: int, W: int, seed: int):
    sc = synthetic_scene(sensor, size=max(H, W), seed=seed)
    r = sc.ratio
    sc = sc.replace(pan=np.rint(sc.pan[:H, :W]), ms=np.rint(sc.ms[:, :H // r, :W // r]), reference=None,
                    valid=np.ones((H, W), bool))
    return _files(d, sc, fuse(sc, "gsa"))


def _compare(pan, ms, fused, sensor, chunks, workers=None):
    scene = load_geotiff_pair(pan, ms, sensor)
    with rasterio.open(fused) as src:
        f = src.read()
    with pytest.warns(UserWarning) if scene.shape[0] % 32 or scene.shape[1] % 32 else contextlib.nullcontext():
        ref = full_resolution_metrics(f, scene)
    got = evaluate_blockwise(fused, ms, pan, sensor=sensor, chunks=chunks, workers=workers, progress=False)
    for key in BLOCKWISE_METRICS:
        assert abs(got[key] - ref[key]) <= TOL, (key, got[key], ref[key])
    return got, ref


def _blockwise_shifts(pan, ms, sensor, chunks):
    pair = open_pair(pan, ms, sensor)
    H, W = pair.shape
    pair = pair.crop(H - H % 32, W - W % 32) if (H % 32 or W % 32) else pair
    windows = block_grid(pair.shape, chunks)
    ctx = CoregPass(BlockReader(pair, None))
    with executor() as ex:
        parts = ordered(ex.map(_coreg_task, ctx, windows, progress=False), windows)
    return ctx, shifts_from_parts(ctx, parts), pair


# (sensor, H, W, chunks): ratio 4 / 4 bands (qb), ratio 4 / 8 bands (wv3), ratio 2 / 8 bands (landsat8);
# window sides that do not divide the scene; scenes that are not whole 32² blocks (cropped, as in memory),
# whose MS-scale size is then not whole 32² blocks on both axes (Q2n mirrors and truncates) or on one.
CASES = [
    ("qb", 256, 256, 128),
    ("qb", 384, 256, 256),
    ("qb", 200, 232, 128),  # -> 192 x 224 PAN, 48 x 56 MS: R-Q2n pads both axes
    ("wv3", 160, 256, 128),  # 40 x 64 MS: one partial axis, its last block row dropped
    ("landsat8", 224, 160, 128),  # ratio 2: windows of 64 x 2 PAN pixels
    ("landsat8", 200, 264, 64),
]


@pytest.mark.parametrize("sensor,H,W,chunks", CASES)
def test_blockwise_reprojected_indices_equal_in_memory(tmp_path, sensor, H, W, chunks):
    got, ref = _compare(*_synthetic(tmp_path, sensor, H, W, seed=H + W), sensor, chunks)
    assert 0.5 < got["R_Q2n"] < 1 and 0.5 < got["R_Q"] < 1 and got["R_SAM"] > 0 and got["R_ERGAS"] > 0


@pytest.mark.parametrize("sensor,H,W,chunks", [("qb", 320, 256, 128), ("landsat8", 264, 200, 64)])
def test_sampled_search_blockwise_equals_in_memory(tmp_path, monkeypatch, sensor, H, W, chunks):
    """Scenes above EXACT_SEARCH_PIXELS use the sampled search (here forced on small scenes): the windows'
    sums over the centres of the scene's grid give its shifts, and the indices."""
    monkeypatch.setattr(coreg, "EXACT_SEARCH_PIXELS", 0)
    files = _synthetic(tmp_path, sensor, H, W, seed=7)
    ctx, shifts, pair = _blockwise_shifts(files[0], files[1], sensor, chunks)
    assert not ctx.exact
    scene = load_geotiff_pair(files[0], files[1], sensor)
    h, w = pair.shape
    scene = scene.crop(0, 0, h, w)
    np.testing.assert_array_equal(shifts, coreg.coregister(scene.ms, scene.pan, scene.sensor))
    _compare(*files, sensor, chunks)


@pytest.mark.parametrize("shift", [(0, 0), (3, -2), (-5, 4)])
def test_blockwise_shifts_equal_in_memory_on_misregistered_ms(tmp_path, shift):
    """A scene whose MS is moved against the PAN: the exact search finds the same non-trivial shifts block-wise."""
    sc = synthetic_scene("qb", size=256 + 16, seed=11)
    dy, dx = shift
    pan = np.rint(sc.pan[8 + dy:8 + dy + 256, 8 + dx:8 + dx + 256])
    ms = np.rint(sc.ms[:, 2:2 + 64, 2:2 + 64])
    scene = sc.replace(pan=pan, ms=ms, reference=None, valid=np.ones(pan.shape, bool))
    pan_f, ms_f, _ = _files(tmp_path, scene, fuse(scene, "exp"))
    ctx, shifts, _ = _blockwise_shifts(pan_f, ms_f, "qb", 64)
    assert ctx.exact
    ref = coreg.coregister(scene.ms, scene.pan, scene.sensor)
    np.testing.assert_array_equal(shifts, ref)
    if shift != (0, 0):
        assert np.abs(ref).max() > 0


@pytest.mark.parametrize("relative,sensor,size", [("zpnn_wv3/WV3_example.mat", "wv3", None),
                                                   ("pnn_grip_unina/imgWV2.mat", "wv2", 512)])
def test_blockwise_reprojected_on_the_real_samples(scene_file, tmp_path, relative, sensor, size):
    """The WV3 example (128², exact search, half-pixel shifts) and the WV2 scene's top-left 512² (sampled
    search) from CLIPPAN_DATA; the generated stand-ins without it."""
    from clippan_kit.io import load_scene

    scene = load_scene(scene_file(relative), sensor=sensor).replace(reference=None)
    if size is not None and scene.shape[0] > size:
        scene = scene.crop(0, 0, size, size)
    files = _files(tmp_path, scene, fuse(scene, "gsa"))
    ctx, shifts, _ = _blockwise_shifts(files[0], files[1], sensor, 256)
    assert ctx.exact == (scene.pan.size <= coreg.EXACT_SEARCH_PIXELS)  # the WV2 crop: sampled (stand-in: exact)
    np.testing.assert_array_equal(shifts, coreg.coregister(scene.ms, scene.pan, scene.sensor))
    got, ref = _compare(*files, sensor, 256)
    assert set(R_METRICS) <= set(got)
