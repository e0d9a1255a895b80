"""Tiled full-scene inference: exact for CNNs within the overlap, seamless otherwise, bounded memory."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.io
import torch

from clippan_kit import Scene, get_sensor
from clippan_kit.infer import blend_weights, fuse_scene, tile_layout
from clippan_kit.models import create_model
from clippan_kit.wald import interp23tap


@pytest.fixture(scope="module")
def wv3(scene_file) -> Scene:
    """The WorldView-3 example (real, or its generated stand-in): PAN 128x128, MS 8x32x32, 11-bit."""
    mat = scipy.io.loadmat(scene_file("zpnn_wv3/WV3_example.mat"))
    return Scene(pan=mat["I_PAN"].astype(np.float32), ms=np.moveaxis(mat["I_MS_LR"], -1, 0).astype(np.float32),
                 sensor=get_sensor("wv3"), name="wv3_example")


class _Upsampler(torch.nn.Module):
    """Returns ms_up unchanged: the fusion of a pure interpolator."""

    receptive_field = 0

    def __init__(self):
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(()))

    def forward(self, ms_up, pan, ms_lr):
        return ms_up + 0 * self.dummy


@pytest.mark.parametrize("size,tile,overlap,ratio", [(1280, 512, 32, 4), (600, 512, 32, 4), (130, 64, 8, 2), (100, 512, 32, 4)])
def test_tile_layout_cores_partition_the_axis(size, tile, overlap, ratio):
    tiles = tile_layout(size, tile, overlap, ratio)
    cores = [(c0, c1) for _, _, c0, c1 in tiles]
    assert cores[0][0] == 0 and cores[-1][1] == size
    assert all(a[1] == b[0] for a, b in zip(cores, cores[1:]))
    for start, stop, c0, c1 in tiles:
        assert stop - start == min(tile, size) and start % ratio == 0
        assert start <= max(c0 - overlap, 0) and stop >= min(c1 + overlap, size)


@pytest.mark.parametrize("blend", [0, 5, 16])
def test_blend_weights_are_a_partition_of_unity(blend):
    H, W, tile, overlap = 200, 148, 64, 16
    total = np.zeros((H, W))
    for ry in tile_layout(H, tile, overlap, 4):
        for cx in tile_layout(W, tile, overlap, 4):
            total[ry[0]:ry[1], cx[0]:cx[1]] += blend_weights(ry, cx, (H, W), blend)
    np.testing.assert_allclose(total, 1.0, atol=1e-6)


def test_identity_model_returns_whole_scene_interp23tap(wv3):
    """ms_up is built once on the whole MS: tile borders never see the circular wrap of a tile."""
    out = fuse_scene(_Upsampler(), wv3, tile=48, overlap=8, progress=False)
    expected = np.clip(interp23tap(wv3.ms.astype(np.float64), 4), 0, wv3.max_value)  # outputs are clipped
    assert out.dtype == np.float32 and out.shape == (8, 128, 128)
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-6 * wv3.max_value)


def test_cnn_tiled_equals_untiled_when_overlap_covers_receptive_field(wv3):
    torch.manual_seed(0)
    net = create_model("pnn", 8, 4, size="small")  # receptive-field radius 8
    full = fuse_scene(net, wv3, tile=128, overlap=0, progress=False)
    tiled = fuse_scene(net, wv3, tile=48, overlap=12, batch_size=3, progress=False)
    scale = wv3.max_value
    assert np.abs(tiled - full).max() / scale < 1e-5
    # ...and the check has teeth: without context the tile borders differ.
    seams = fuse_scene(net, wv3, tile=32, overlap=0, progress=False)
    assert np.abs(seams - full).max() / scale > 1e-3


def test_global_model_blends_without_seams(wv3):
    """λ-PNN's CBAM pools over the tile: tiles differ slightly, blending keeps them close."""
    torch.manual_seed(0)
    net = create_model("lambda_pnn", 8, 4, size="small")
    full = fuse_scene(net, wv3, tile=128, overlap=0, progress=False)
    tiled = fuse_scene(net, wv3, tile=64, overlap=16, progress=False)
    err = np.abs(tiled - full) / wv3.max_value
    assert err.max() < 0.05 and err.mean() < 0.01
    # Seams: no jump across the core boundary (row 32 for tile 64, overlap 16) larger than elsewhere.
    jump = np.abs(np.diff(tiled, axis=1)).mean(axis=(0, 2))
    assert jump[31] < 3 * np.median(jump)


def test_batch_size_does_not_change_results(wv3):
    torch.manual_seed(0)
    net = create_model("lambda_pnn", 8, 4, size="small")
    a = fuse_scene(net, wv3, tile=64, overlap=16, batch_size=1, progress=False)
    b = fuse_scene(net, wv3, tile=64, overlap=16, batch_size=4, progress=False)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-6 * wv3.max_value)  # float rounding only


def test_nodata_is_filled_before_fusion(wv3):
    pan = wv3.pan.copy()
    pan[:20, :20] = np.nan
    scene = wv3.replace(pan=pan, valid=None)
    torch.manual_seed(0)
    out = fuse_scene(create_model("pnn", 8, 4, size="small"), scene, tile=64, overlap=16, progress=False)
    assert np.isfinite(out).all()


def test_fuse_scene_puts_model_in_eval_mode_and_accepts_autocast(wv3):
    torch.manual_seed(0)
    net = create_model("pnn", 8, 4, size="small")
    ref = fuse_scene(net, wv3, tile=128, overlap=0, progress=False)
    assert not net.training
    amp = fuse_scene(net, wv3, tile=128, overlap=0, progress=False, autocast=True)
    assert np.abs(amp - ref).max() / wv3.max_value < 0.02  # bfloat16 on CPU


def test_blend_larger_than_overlap_is_rejected(wv3):
    with pytest.raises(ValueError, match="blend"):
        fuse_scene(_Upsampler(), wv3, tile=64, overlap=8, blend=16, progress=False)
