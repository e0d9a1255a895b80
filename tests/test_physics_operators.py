"""One generic test over every physics operator (as deepinv tests its physics): output shapes, linearity
where it holds (and what holds instead where it does not), numpy = torch, gradients; then known values."""
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.ndimage import correlate

from clippan_kit import get_sensor
from clippan_kit.physics import (MTF, Chain, CoRegistration, Decimation, ImresizeDown,
                                 Interp23Tap, Operator, Reprojection, SpectralResponse, WaldProtocol, decimate,
                                 mtf_filter, mtf_kernel, pan_weights, phases_to_shifts)
from clippan_kit import wald
from clippan_kit.physics import mtf

WV2 = get_sensor("wv2")
SHIFTS = np.array([[1, -1], [0, 2], [3, 0], [0, 0], [-2, 1], [1, 1], [0, -3], [2, 2]])  # half-PAN-pixel units


def _smooth(shape, seed=0):
    """Band-limited random images (PAN-grid texture), positive, float64."""
    rng = np.random.default_rng(seed)
    return 100.0 + 20.0 * mtf_filter(rng.normal(size=shape), 0.3, 2)


@dataclass
class Case:
    op: Operator
    inputs: Callable[[int], tuple]  # seed -> the numpy inputs of forward
    out_shape: tuple
    differentiable: bool = True


def _ms_pan_pair(seed, size=64):
    """(HRMS truth (8, size, size), LR MS displaced by SHIFTS, PAN = band mean): bands share one texture."""
    field = _smooth((size, size), seed)
    truth = np.stack([field * (1 + 0.1 * b) + b for b in range(8)])
    ms = wald.reproject_ms(torch.from_numpy(truth)[None], WV2.gnyq_ms, 4, SHIFTS)[0].numpy()
    return truth, ms, truth.mean(0)


CASES = {
    "mtf-toolbox": Case(MTF(WV2.gnyq_ms, 4), lambda s: (_smooth((2, 8, 24, 20), s),), (2, 8, 24, 20)),
    "mtf-lambda-pnn": Case(MTF(0.29, 4, convention="lambda-pnn"), lambda s: (_smooth((3, 17, 16), s),), (3, 17, 16)),
    "decimation": Case(Decimation(4), lambda s: (_smooth((2, 3, 32, 24), s),), (2, 3, 8, 6)),
    "wald-ms-branch": Case(WaldProtocol(WV2), lambda s: (_smooth((2, 8, 32, 32), s),), (2, 8, 8, 8)),
    "wald-pan-branch": Case(WaldProtocol(WV2).pan_branch, lambda s: (_smooth((2, 8, 16, 16), s),), (2, 16, 16)),
    "spectral-affine": Case(SpectralResponse([0.1, 0.5, 0.4], bias=7.0), lambda s: (_smooth((3, 12, 8), s),), (12, 8)),
    "spectral-average": Case(SpectralResponse.band_average(4), lambda s: (_smooth((4, 8, 8), s),), (8, 8)),
    "interp23tap": Case(Interp23Tap(4), lambda s: (_smooth((2, 3, 8, 6), s),), (2, 3, 32, 24)),
    "reprojection-shifted": Case(Reprojection.for_sensor(WV2, SHIFTS), lambda s: (_smooth((2, 8, 32, 32), s),),
                                 (2, 8, 8, 8)),
    "reprojection-toolbox-phase": Case(Reprojection.for_sensor(WV2), lambda s: (_smooth((8, 32, 16), s),), (8, 8, 4)),
    "imresize": Case(ImresizeDown(4), lambda s: (_smooth((2, 32, 24), s),), (2, 8, 6)),
    "coregistration": Case(CoRegistration(WV2), lambda s: _ms_pan_pair(s)[1:], (8, 2), differentiable=False),
}
LINEAR = [k for k, c in CASES.items() if c.op.linear]


@pytest.mark.parametrize("name", CASES)
def test_output_shape_and_dtype(name):
    case = CASES[name]
    x = case.inputs(0)
    y = case.op(*x)
    assert y.shape == case.out_shape == case.op.output_shape(x[0].shape)
    assert isinstance(y, np.ndarray) and y.dtype == (np.int64 if name == "coregistration" else np.float64)
    if case.differentiable:  # float32 in, float32 out, on either side
        assert case.op(x[0].astype(np.float32)).dtype == np.float32
        assert case.op(torch.from_numpy(x[0]).float()).dtype == torch.float32


@pytest.mark.parametrize("name", LINEAR)
def test_linear_operators_are_linear(name):
    op, inputs = CASES[name].op, CASES[name].inputs
    (x,), (y,) = inputs(1), inputs(2)
    a, b = 2.5, -0.75
    lhs, rhs = op(a * x + b * y), a * op(x) + b * op(y)
    assert np.abs(lhs - rhs).max() <= 1e-10 * np.abs(rhs).max()


def test_which_operators_are_not_linear_and_what_holds_instead():
    assert set(CASES) - set(LINEAR) == {"spectral-affine", "coregistration"}
    # The spectral response with an offset is affine: A(x + y) = A(x) + A(y) - c.
    op, inputs = CASES["spectral-affine"].op, CASES["spectral-affine"].inputs
    (x,), (y,) = inputs(1), inputs(2)
    assert np.allclose(op(x + y), op(x) + op(y) - 7.0, rtol=0, atol=1e-10)
    # The shift estimate is an arg-max: piecewise constant, invariant to a positive scale of either input
    # (the correlations it compares are), and not additive.
    co = CASES["coregistration"].op
    _, ms, pan = _ms_pan_pair(3)
    shifts = co(ms, pan)
    assert np.array_equal(co(3.0 * ms, pan), shifts) and np.array_equal(co(ms, 0.5 * pan), shifts)
    assert not np.array_equal(co(2 * ms, 2 * pan), 2 * shifts)


@pytest.mark.parametrize("name", CASES)
def test_numpy_and_torch_give_the_same_numbers(name):
    case = CASES[name]
    x = case.inputs(4)
    y = case.op(*x)
    t = [torch.tensor(v, requires_grad=case.differentiable) for v in x]
    yt = case.op(*t)
    if not case.differentiable:
        assert np.array_equal(np.asarray(yt), y)
        return
    assert isinstance(yt, torch.Tensor) and yt.dtype == torch.float64
    assert np.abs(yt.detach().numpy() - y).max() <= 1e-12 * np.abs(y).max()
    yt.square().sum().backward()  # torch keeps the graph: gradients reach the input
    assert torch.isfinite(t[0].grad).all() and t[0].grad.abs().sum() > 0


def test_wald_module_names_are_the_physics_objects():
    from clippan_kit import physics

    for name in wald.__all__:
        assert getattr(wald, name) is getattr(physics, name)


# --------------------------------------------------------------------------- known values
@pytest.mark.parametrize("convention", ["toolbox", "lambda-pnn"])
def test_mtf_keeps_a_constant_image_constant(convention):
    op = MTF(WV2.gnyq_ms, 4, convention=convention)
    out = op(np.full((8, 20, 24), 300.0))
    dc = mtf_kernel(list(WV2.gnyq_ms), 4, convention=convention).sum((1, 2))  # the kernels' DC gains
    assert np.allclose(out, 300.0 * dc[:, None, None], rtol=0, atol=1e-9)
    if convention == "lambda-pnn":
        assert np.allclose(out, 300.0, rtol=0, atol=1e-9)  # unit-sum kernels
    else:
        assert (0.99 < dc).all() and (dc <= 1).all()  # the toolbox does not renormalise


def test_mtf_equals_scipy_replicate_correlation():
    x = _smooth((3, 37, 50))
    gains = [0.35, 0.3, 0.27]
    ref = np.stack([correlate(x[b], mtf_kernel(g, 4), mode="nearest") for b, g in enumerate(gains)])
    assert np.abs(MTF(gains, 4)(x) - ref).max() < 1e-9


def test_decimation_of_a_ratio_periodic_pattern_is_its_phase_value():
    rows, cols = np.mgrid[0:32, 0:24]
    pattern = 10.0 * (rows % 4) + (cols % 4)  # period 4 in both axes
    out = Decimation(4)(np.stack([pattern, 2 * pattern]))
    assert out.shape == (2, 8, 6)
    assert (out[0] == 22.0).all() and (out[1] == 44.0).all()  # phase (2, 2): 10*2 + 2


def test_wald_ms_branch_is_mtf_then_decimation_and_keeps_constants():
    op = WaldProtocol(WV2)
    x = _smooth((8, 32, 32))
    expected = np.stack([correlate(x[b], mtf_kernel(g, 4), mode="nearest")[2::4, 2::4]
                         for b, g in enumerate(WV2.gnyq_ms)])
    assert np.abs(op(x) - expected).max() < 1e-9
    dc = mtf_kernel(list(WV2.gnyq_ms), 4).sum((1, 2))
    assert np.allclose(op(np.full((8, 16, 16), 5.0)), 5.0 * dc[:, None, None], atol=1e-12)


def test_pan_branch_of_an_ms_with_known_weights():
    # WorldView-2's PAN range 450-800 nm covers blue, green, yellow, red and red edge.
    branch = WaldProtocol(WV2).pan_branch
    assert np.allclose(branch.weights, [0, 0.2, 0.2, 0.2, 0.2, 0.2, 0, 0])
    assert np.array_equal(branch.weights, pan_weights(WV2))
    bands = np.broadcast_to(np.arange(8.0)[:, None, None], (8, 4, 4))  # band b is the constant b
    assert np.allclose(branch(bands), 0.2 * (1 + 2 + 3 + 4 + 5))
    # Fitting the response to a PAN made with known weights and offset gives them back (GSA's regression).
    ms = _smooth((4, 16, 16), 5) + np.random.default_rng(5).normal(size=(4, 16, 16))
    w, c = np.array([0.1, 0.3, 0.4, 0.2]), -12.5
    fitted = SpectralResponse.fit(ms, np.tensordot(w, ms, axes=1) + c)
    assert np.allclose(fitted.weights, w, atol=1e-9) and fitted.bias == pytest.approx(c, abs=1e-7)
    assert SpectralResponse.band_average(4)(ms) == pytest.approx(ms.mean(0))


def test_learned_phi_of_the_spatial_loss_reads_out_as_a_spectral_response():
    from clippan_kit.losses.terms import SpatialLoss

    loss = SpatialLoss(4)
    with torch.no_grad():
        loss.phi.weight.copy_(torch.tensor([0.1, 0.2, 0.3, 0.4]).view(1, 4, 1, 1))
        loss.phi.bias.fill_(0.05)
    resp = loss.spectral_response()
    x = torch.rand(2, 4, 8, 8)
    assert torch.allclose(resp(x), loss.phi(x)[:, 0], atol=1e-6)


def test_interp23tap_gives_back_its_samples_and_constants():
    x = _smooth((2, 8, 6))
    up = Interp23Tap(4)(x)
    assert np.array_equal(decimate(up, 4), x)
    assert np.allclose(Interp23Tap(2)(np.full((1, 5, 6), 7.0)), 7.0)


def test_reprojection_with_even_shifts_is_the_integer_phase_decimation():
    x = _smooth((8, 32, 32))
    phases = np.array([[0, 3], [2, 2], [1, 0], [3, 3], [2, 1], [0, 0], [1, 2], [3, 1]])
    out = Reprojection.for_sensor(WV2, phases_to_shifts(phases, 4))(x)
    low = mtf_filter(x, WV2.gnyq_ms, 4, convention="lambda-pnn")
    # Outside autograd the separable λ-PNN kernels are applied at the kept samples only (banded matrices, not
    # the FFT): the same numbers to rounding.
    for b, (r, c) in enumerate(phases):
        np.testing.assert_allclose(out[b], low[b, r::4, c::4], rtol=1e-14, atol=0)
    np.testing.assert_allclose(Reprojection.for_sensor(WV2)(x), decimate(low, 4), rtol=1e-14, atol=0)  # the toolbox phase


def test_imresize_equals_pillow_bicubic_inside_the_border():
    """Pillow's antialiased bicubic (a = -0.5, support stretched by the ratio) is an independent
    implementation of the same kernel; the borders differ (MATLAB mirrors, Pillow renormalises)."""
    x = _smooth((64, 48)) * 10
    ref = np.asarray(Image.fromarray(x.astype(np.float32), mode="F").resize((12, 16), Image.BICUBIC), dtype=np.float64)
    out = ImresizeDown(4)(x)
    assert np.abs(out - ref)[2:-2, 2:-2].max() < 1e-5 * np.abs(ref).max()
    assert np.allclose(ImresizeDown(4)(np.full((16, 16), 7.0)), 7.0)


def test_coregistration_finds_known_shifts_and_its_reprojection_gives_the_ms_back():
    truth, ms, pan = _ms_pan_pair(6)
    co = CoRegistration(WV2)
    assert co(ms, pan).tolist() == SHIFTS.tolist()
    assert np.abs(co.reprojection(ms, pan)(truth) - ms).max() == 0.0
    with pytest.raises(ValueError, match="peer"):
        CoRegistration(WV2, method="nearest")


def test_chain_applies_in_order_and_composes_shapes():
    chain = Chain(Interp23Tap(4), ImresizeDown(4))
    x = _smooth((2, 8, 8))
    assert chain.output_shape(x.shape) == (2, 8, 8) and chain.linear
    assert np.array_equal(chain(x), ImresizeDown(4)(Interp23Tap(4)(x)))


@pytest.mark.parametrize("s", [4, 8])  # 8: the default grid step; 4: the former one
def test_sampled_search_scores_are_the_exact_correlations_at_its_centres(monkeypatch, s):
    """The sampled co-registration search (block products through a grouped convolution) gives, for every
    candidate, the released code's correlation summed over its window centres: the exact search's map
    (float64, 81 full passes) summed over the same centres."""
    from clippan_kit.physics import coregistration as co

    rng = np.random.default_rng(3)
    B, H, W, search, w, crop = 3, 120, 92, 4, 8, 3
    exp = torch.from_numpy(_smooth((B, H, W), seed=4) + rng.normal(0, 0.5, (B, H, W)))
    pan_lp = torch.roll(exp.mean(0), (1, -2), (0, 1)) + torch.from_numpy(rng.normal(0, 0.5, (H, W)))
    nu, nv = co.sampled_grid(H - 2 * crop, W - 2 * crop, search, w, s)
    monkeypatch.setattr(co, "CHUNK_VALUES", 1)  # the smallest chunks: the rows shared by two chunks are exercised
    k = 2 * w // s
    assert nu > 2 * (co.chunk_rows(nv + k - 1, B, search, k) - k + 1)  # three chunks or more
    sampled = co.sampled_scores(co.peer_sampled_sums(exp, co.half_variants(pan_lp, 0, torch.float32), search, w, crop, s),
                                1, search)
    g, k = w - 1, search // 2 + 1
    centres = (slice(2 * g, 2 * g + s * nu, s), slice(2 * g, 2 * g + s * nv, s))
    assert sampled.shape == (2 * search + 1, 2 * search + 1, B)
    exact = co.peer_exact_scores(exp[:, crop:H - crop, crop:W - crop].double(), co.half_variants(pan_lp, k),
                                 (k + crop, k + crop), search, w, keep=centres)
    assert sampled.shape == exact.shape == (2 * search + 1, 2 * search + 1, B)
    assert torch.allclose(sampled, exact, rtol=1e-4, atol=1e-4 * nu * nv)
    assert exact.abs().max() > 0.1 * nu * nv  # the test image correlates: the comparison is not of zeros


def test_mtf_filters_share_one_transform_and_equal_separate_filters():
    x = torch.from_numpy(_smooth((2, 8, 40, 44)))
    gains = WV2.gnyq_ms
    both = mtf.mtf_filters(x, gains, 4, ("toolbox", "lambda-pnn"))
    for y, convention in zip(both, ("toolbox", "lambda-pnn")):
        assert torch.equal(y, mtf_filter(x, gains, 4, convention=convention))
    assert not torch.allclose(both[0], both[1])  # the two kernel designs differ
    with pytest.raises(ValueError, match="convention"):
        mtf.mtf_filters(x, gains, 4, ("toolbox", "gaussian"))


def test_mtf_filters_by_band_groups_equal_the_differentiable_whole_image_path(monkeypatch):
    """Outside autograd the bands are filtered a few at a time into one output (no whole-image spectra): the
    same numbers as the whole-image transform that training differentiates through, for every convention
    and for gains that change between and within groups."""
    monkeypatch.setattr(mtf, "_GROUP_PIXELS", 2 * 84 * 80)  # two bands a group: 3 groups for 5 bands
    x = torch.from_numpy(_smooth((1, 5, 44, 40), seed=2))
    gains = [0.35, 0.35, 0.27, 0.3, 0.35]
    conventions = ("toolbox", "lambda-pnn", "lambda-pnn-pan")
    grouped = mtf.mtf_filters(x, gains, 4, conventions)
    whole = mtf.mtf_filters(x.clone().requires_grad_(True), gains, 4, conventions)
    assert whole[0].requires_grad and not grouped[0].requires_grad
    for g, w in zip(grouped, whole):
        assert g.shape == x.shape and g.is_contiguous()
        assert torch.allclose(g, w.detach(), rtol=0, atol=1e-12 * float(x.abs().max()))
    assert not torch.allclose(grouped[0][:, 2], grouped[0][:, 1])  # gain 0.27 differs from 0.35


def test_box_sum_on_other_dimensions_equals_box_sum_on_the_last_two():
    from clippan_kit.physics.windows import box_sum

    x = torch.from_numpy(np.random.default_rng(1).normal(size=(2, 20, 30, 3)))
    assert torch.equal(box_sum(x, 1, dims=(1, 2)), x)  # one-pixel windows (a grid step of 2w in the search)
    for size in (4, 12):  # the slice-adding and the cumulative-sum paths
        moved = box_sum(x, size, dims=(1, 2))
        assert moved.shape == (2, 20 - size + 1, 30 - size + 1, 3)
        assert torch.allclose(moved, box_sum(x.permute(0, 3, 1, 2), size).permute(0, 2, 3, 1), atol=1e-12)
        assert float(moved[1, 2, 5, 1]) == pytest.approx(float(x[1, 2:2 + size, 5:5 + size, 1].sum()), abs=1e-12)


@pytest.mark.parametrize("w", [1, 2, 3, 8])  # 3: a window (6) that is not a power of two: padded box sums
def test_window_sums_by_doubling_equal_padded_box_sums_and_match_their_autograd_path(w):
    """window_sum adds by doubling when 2w is a power of two: the padded box sums' values, the same bits
    outside autograd (no padded copy) as under it (D_ρ's evaluation and loss paths), and the same gradient."""
    import torch.nn.functional as F
    from clippan_kit.physics.windows import box_sum, window_sum

    x = torch.from_numpy(np.random.default_rng(w).normal(size=(2, 3, 19, 2 * w + 7)))
    for part in (x, x[..., :2, :], x[..., :, :2]):  # two rows or two columns: the smallest axes it takes
        padded = box_sum(F.pad(part, (w, w, w, w)), 2 * w)[..., 1:, 1:]
        fast = window_sum(part, w)
        leaf = part.clone().requires_grad_(True)
        slow = window_sum(leaf, w)
        assert fast.shape == part.shape and slow.requires_grad
        assert torch.equal(fast, slow.detach())
        assert torch.allclose(fast, padded, rtol=0, atol=1e-12)
        weights = torch.from_numpy(np.random.default_rng(0).normal(size=part.shape))
        (slow * weights).sum().backward()
        padded_leaf = part.clone().requires_grad_(True)
        (box_sum(F.pad(padded_leaf, (w, w, w, w)), 2 * w)[..., 1:, 1:] * weights).sum().backward()
        assert torch.allclose(leaf.grad, padded_leaf.grad, rtol=0, atol=1e-12)
    assert float(window_sum(x, w)[0, 0, 0, 0]) == pytest.approx(float(x[0, 0, :w + 1, :w + 1].sum()), abs=1e-12)


@pytest.mark.parametrize("ratio", [2, 4, 8])
def test_interp23tap_in_one_transform_per_axis_equals_the_dyadic_steps(ratio):
    """interp23tap applies all its dyadic steps along an axis with one FFT (a circular filter per output phase):
    the toolbox's step-by-step result (zero insertion and the 23-tap filter, rows and columns at each level)
    to rounding, on sizes with odd factors, with the input samples kept exactly."""
    from clippan_kit.physics.interpolation import _upsample2_1d, interp23tap

    x = torch.from_numpy(_smooth((3, 11, 14), seed=ratio) * 100)
    steps = x
    for level in range(int(np.log2(ratio))):
        offset = 1 if level == 0 else 0
        steps = _upsample2_1d(_upsample2_1d(steps, -1, offset), -2, offset)
    out = interp23tap(x, ratio)
    assert out.shape == steps.shape == (3, 11 * ratio, 14 * ratio)
    assert torch.allclose(out, steps, rtol=0, atol=1e-13 * float(x.abs().max()))
    assert torch.equal(out[..., ratio // 2::ratio, ratio // 2::ratio], x)
    assert not torch.allclose(out[..., 0::ratio, 0::ratio], x)  # the new samples are interpolated, not copies


def test_lambda_pnn_kernels_are_separable_and_the_toolbox_ones_are_not():
    for g in WV2.gnyq_ms:
        column, row = mtf.separable_factors(g, 4)
        kernel = mtf_kernel(g, 4, convention="lambda-pnn")
        assert np.abs(np.outer(column, row) - kernel).max() < 1e-15 * 4 and row.sum() > 0
    assert mtf.separable_factors(0.3, 4, convention="toolbox") is None  # rotationally symmetric window
    assert mtf.separable_factors(0.9, 4) is None  # clipped negative taps break the product


@pytest.mark.parametrize("ratio", [4, 8])
def test_separable_reprojection_equals_filtering_then_sampling(ratio):
    """Outside autograd the λ-PNN reprojection applies its separable kernels as banded matrices at the kept
    samples: the values of the whole-image filter followed by shift_decimate / decimate, for even, odd and
    negative shifts, shifts per image, sizes that are not multiples of the ratio, and kernels that are not
    separable (gain 0.9: the FFT path); under autograd the FFT path runs and gives the same numbers."""
    from clippan_kit.physics.reprojection import reproject_ms, shift_decimate

    rng = np.random.default_rng(ratio)
    gains = [0.35, 0.27, 0.3, 0.35]
    for H, W in ((64, 64), (70, 45)):
        x = torch.from_numpy(_smooth((2, 4, H, W), seed=H) * 1000)
        low = mtf_filter(x, gains, ratio, convention="lambda-pnn")
        for shifts in (None, np.array([[1, 0], [-3, 2], [0, -1], [4, -4]]), rng.integers(-4, 5, size=(2, 4, 2))):
            want = decimate(low, ratio) if shifts is None else shift_decimate(low, shifts, ratio)
            got = reproject_ms(x, gains, ratio, shifts)
            assert got.shape == want.shape
            assert torch.allclose(got, want, rtol=0, atol=1e-13 * float(want.abs().max()))
            leaf = x.clone().requires_grad_(True)
            differentiable = reproject_ms(leaf, gains, ratio, shifts)
            assert differentiable.requires_grad
            assert torch.allclose(differentiable.detach(), got, rtol=0, atol=1e-12 * float(want.abs().max()))
    x = torch.from_numpy(_smooth((1, 2, 32, 32)))
    unseparable = reproject_ms(x, [0.9, 0.35], 4, np.array([[1, 1], [0, 3]]))
    want = shift_decimate(mtf_filter(x, [0.9, 0.35], 4, convention="lambda-pnn"), np.array([[1, 1], [0, 3]]), 4)
    assert torch.equal(unseparable, want)
