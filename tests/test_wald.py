"""Wald's protocol: filters, interpolator and operator against independent scipy implementations
of the toolbox conventions, and on real data."""
import numpy as np
import pytest
import scipy.io as sio
import torch
from scipy.ndimage import correlate, correlate1d

from clippan_kit import Scene, get_sensor
from clippan_kit.wald import INTERP23_TAPS, WaldProtocol, decimate, interp23tap, mtf_filter, mtf_kernel

rng = np.random.default_rng(0)


def _frequency_response(kernel, f):
    x = np.arange(kernel.shape[-1]) - kernel.shape[-1] // 2
    return float(np.real((kernel.sum(axis=0) * np.exp(-2j * np.pi * f * x)).sum()))


@pytest.mark.parametrize("gnyq,ratio", [(0.35, 4), (0.11, 4), (0.27, 4), (0.3, 2)])
def test_mtf_kernel_hits_the_gain_at_nyquist(gnyq, ratio):
    k = mtf_kernel(gnyq, ratio)
    assert k.shape == (41, 41)
    assert np.allclose(k, k[::-1, ::-1]) and np.allclose(k, k.T)
    # Designed for gain GNyq at the MS Nyquist frequency; frequency sampling on a 41-point grid (k/41, not
    # k/40) and the Kaiser window leave the toolbox filter a little below it (0.332 for 0.35): we keep that.
    assert _frequency_response(k, 0.5 / ratio) == pytest.approx(gnyq, abs=0.03)
    assert _frequency_response(k, 0.5 / ratio) < gnyq
    assert k.sum() == pytest.approx(_frequency_response(k, 0.0))
    assert 0.99 < k.sum() <= 1.0  # toolbox does not renormalise the windowed filter


def test_mtf_filter_matches_replicate_correlation():
    x = rng.random((3, 37, 50)) * 2047
    gains = [0.35, 0.3, 0.27]
    y = mtf_filter(x, gains, 4)
    ref = np.stack([correlate(x[b], mtf_kernel(g, 4), mode="nearest") for b, g in enumerate(gains)])
    assert y.shape == x.shape and y.dtype == np.float64
    assert np.abs(y - ref).max() < 1e-9
    # one gain broadcasts to all bands; 2-D input works
    assert np.allclose(mtf_filter(x[0], 0.3, 4), ref[1] if False else correlate(x[0], mtf_kernel(0.3, 4), mode="nearest"))


def _interp23tap_reference(x, ratio):
    for level in range(int(np.log2(ratio))):
        b, h, w = x.shape
        up = np.zeros((b, 2 * h, 2 * w))
        o = 1 if level == 0 else 0
        up[:, o::2, o::2] = x
        x = correlate1d(correlate1d(up, INTERP23_TAPS, axis=2, mode="wrap"), INTERP23_TAPS, axis=1, mode="wrap")
    return x


@pytest.mark.parametrize("ratio,shape", [(4, (2, 40, 33)), (2, (3, 5, 6)), (8, (1, 12, 12))])
def test_interp23tap_matches_the_toolbox_recursion(ratio, shape):
    x = rng.random(shape) * 2047
    up = interp23tap(x, ratio)
    assert up.shape == (shape[0], shape[1] * ratio, shape[2] * ratio)
    assert np.abs(up - _interp23tap_reference(x, ratio)).max() < 1e-8
    assert (decimate(up, ratio) == x).all()  # the phase convention: samples come back exactly


def test_interp23tap_preserves_constants_and_rejects_bad_ratio():
    assert np.allclose(interp23tap(np.full((1, 8, 8), 7.0), 4), 7.0)
    with pytest.raises(ValueError, match="power-of-two"):
        interp23tap(np.ones((1, 4, 4)), 3)


def test_numpy_and_torch_give_the_same_numbers_and_torch_has_gradients():
    x = rng.random((2, 8, 16, 16))
    op = WaldProtocol("wv2")
    xt = torch.tensor(x, requires_grad=True)
    lr_t = op(xt)
    assert np.abs(lr_t.detach().numpy() - op(x)).max() < 1e-12
    up_t = interp23tap(lr_t, 4)
    assert np.abs(up_t.detach().numpy() - interp23tap(op(x), 4)).max() < 1e-12
    up_t.sum().backward()
    assert xt.grad is not None and torch.isfinite(xt.grad).all() and xt.grad.abs().sum() > 0
    assert op(torch.rand(1, 8, 16, 16, dtype=torch.float32)).dtype == torch.float32


def test_decimation_phase_matches_matlab_imresize_nearest():
    x = np.arange(64.0).reshape(1, 8, 8)
    assert decimate(x, 4)[0].tolist() == [[18.0, 22.0], [50.0, 54.0]]
    assert decimate(x, 2)[0, 0].tolist() == [9.0, 11.0, 13.0, 15.0]


def test_reduce_builds_the_triplet_and_scales_the_transform():
    from affine import Affine

    s = get_sensor("qb")
    scene = Scene(rng.random((64, 64)) * 2047, rng.random((4, 16, 16)) * 2047, s,
                  crs="EPSG:32633", transform=Affine(0.6, 0, 1000, 0, -0.6, 2000))
    red = WaldProtocol(s).reduce(scene)
    assert red.pan.shape == (16, 16) and red.ms.shape == (4, 4, 4)
    assert np.array_equal(red.reference, scene.ms)
    assert red.transform.a == pytest.approx(2.4) and red.transform.c == 1000
    expected = decimate(correlate(scene.ms[2].astype(np.float64), mtf_kernel(0.30, 4), mode="nearest"), 4)
    assert np.abs(red.ms[2] - expected).max() < 1e-3


@pytest.mark.realdata
def test_exp_of_real_wv2_gives_back_the_ms(real_file):
    d = sio.loadmat(real_file("pnn_grip_unina/imgWV2.mat"))
    ms = d["I_MS"].astype(np.float64).transpose(2, 0, 1)
    exp = interp23tap(ms, 4)
    assert exp.shape == (8, 1280, 1280)
    assert np.array_equal(exp[:, 2::4, 2::4], ms)
    # the degraded EXP is a blurred MS: close to it, never equal (MTF gain 0.35 at Nyquist)
    back = WaldProtocol("wv2")(exp)
    rel = np.abs(back - ms).mean() / ms.mean()
    assert 0.005 < rel < 0.2


# --------------------------------------------------------------------------- sub-pixel shifts (issue 11)
def test_even_shifts_are_the_integer_decimation_phases():
    from clippan_kit.wald import phases_to_shifts, shift_decimate

    x = torch.rand(2, 3, 32, 32, dtype=torch.float64)
    phases = np.array([[0, 3], [2, 2], [1, 0]])
    out = shift_decimate(x, phases_to_shifts(phases, 4), 4)
    for b, (r, c) in enumerate(phases):
        assert torch.equal(out[:, b], x[:, b, r::4, c::4])
    assert phases_to_shifts([[2, 2]], 4).tolist() == [[0, 0]]  # the toolbox phase is no shift


def test_shift_decimate_groups_bands_with_one_shift_and_equals_band_by_band():
    """Bands sharing a shift go through together (a run of bands as a view, scattered ones gathered): the
    result is each band shifted and sampled on its own, half-pixel and border cases included."""
    from clippan_kit.wald import half_pixel_shift, shift_decimate

    x = torch.rand(2, 5, 36, 28, dtype=torch.float64)
    shifts = np.array([[1, 1], [1, 1], [-3, 2], [1, 1], [4, -1]])  # bands 0, 1, 3 share (1, 1)
    out = shift_decimate(x, shifts, 4)
    for b, (r, c) in enumerate(shifts):
        alone = shift_decimate(x[:, b:b + 1], shifts[b:b + 1], 4)
        assert torch.equal(out[:, b:b + 1], alone)
        # the definition: the whole band shifted by (r/2, c/2) (zero borders), then phase 2
        full = x[:, b]
        if r % 2:
            full = half_pixel_shift(full, -2)
        if c % 2:
            full = half_pixel_shift(full, -1)
        full = torch.roll(full, (r // 2, c // 2), (-2, -1))
        if r // 2 > 0:
            full[..., :r // 2, :] = 0
        if r // 2 < 0:
            full[..., r // 2:, :] = 0
        if c // 2 > 0:
            full[..., :, :c // 2] = 0
        if c // 2 < 0:
            full[..., :, c // 2:] = 0
        assert torch.allclose(out[:, b], full[..., 2::4, 2::4], atol=1e-12)
    x.requires_grad_(True)
    shift_decimate(x, shifts, 4).sum().backward()  # differentiable through the grouped path
    assert x.grad is not None and float(x.grad.abs().sum()) > 0


def test_half_pixel_shift_interpolates_a_band_limited_signal():
    from clippan_kit.wald import half_pixel_shift

    t = torch.arange(64, dtype=torch.float64)
    f = lambda s: torch.cos(2 * np.pi * 0.07 * s) + 0.5 * torch.sin(2 * np.pi * 0.13 * s)  # noqa: E731
    img = f(t)[None, :].expand(5, -1)
    shifted = half_pixel_shift(img, -1)  # out[j] = x(j - 1/2)
    inner = slice(12, -12)  # the 12-tap kernel sees the zero border within 6 samples
    assert float((shifted[:, inner] - f(t - 0.5)[inner]).abs().max()) < 2e-3
    rows = half_pixel_shift(img.T.contiguous(), -2)  # same along rows
    assert torch.allclose(rows.T, shifted)
    twice = half_pixel_shift(half_pixel_shift(img, -1), -1)
    assert float((twice[:, inner] - f(t - 1.0)[inner]).abs().max()) < 4e-3


def test_peer_coregistration_finds_a_half_pixel_misalignment():
    """MS content displaced by (+1/2, -1/2) PAN pixel: the released code's search, ours, finds (r, c) = (1, -1),
    and the reprojection with those shifts gives the MS back; the integer-phase search cannot."""
    from clippan_kit.physics import coregister
    from clippan_kit.sensors import get_sensor
    from clippan_kit.wald import reproject_ms

    sensor = get_sensor("wv2")
    rng = np.random.default_rng(0)
    field = mtf_filter(rng.normal(size=(128, 128)), 0.3, 2)  # smooth texture, PAN grid
    truth = torch.from_numpy(np.stack([field * (1 + 0.1 * b) + b for b in range(8)]))[None]
    pan = truth.mean(1)[0]
    shifts = np.array([[1, -1]] * 8)
    ms = reproject_ms(truth, sensor.gnyq_ms, 4, shifts)[0]
    found = coregister(ms, pan, sensor)
    assert found.tolist() == shifts.tolist()
    assert coregister(ms, pan, sensor, method="phase")[:, 0].tolist() != [1] * 8  # even values only
