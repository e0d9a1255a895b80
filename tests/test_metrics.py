"""Quality indices: hand-checkable values, invariants, gradients, and the shared reference table
(/work/shared/reference_values.md) on real data."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.io as sio
import torch

from clippan_kit import Scene, get_sensor
from clippan_kit.metrics import (
    d_lambda, d_lambda_k_torch, d_rho, d_rho_torch, ergas, ergas_torch, full_resolution_metrics, mpsnr, psnr, q2n,
    q2n_torch, q_index, reduced_resolution_metrics, sam, scc, ssim,
)
from clippan_kit.metrics._common import box_sum, symmetric_pad
from clippan_kit.physics import imresize_down
from clippan_kit.metrics.q2n import onion_multiply
from clippan_kit.metrics.reduced import uiqi_map_torch
from clippan_kit.metrics.reprojected import local_correlation_torch, scene_shifts
from clippan_kit.wald import interp23tap, mtf_filter

RNG = np.random.default_rng(0)


def _smooth_image(bands=4, size=64, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.random((bands, size // 8, size // 8)) * 1500 + 200
    return np.asarray(interp23tap(base, 8), dtype=np.float64)


# ----------------------------------------------------------------------------- hand-checkable values
def test_sam_hand_values():
    ref = np.array([[[1.0, 1.0]], [[0.0, 1.0]]])  # pixel 1 = (1, 0), pixel 2 = (1, 1)
    fus = np.array([[[0.0, 1.0]], [[1.0, 0.0]]])  # pixel 1 = (0, 1): 90 deg; pixel 2 = (1, 0): 45 deg
    assert sam(fus, ref) == pytest.approx(67.5, abs=1e-9)


def test_sam_skips_zero_spectra():
    ref = np.array([[[1.0, 0.0]], [[0.0, 0.0]]])
    fus = np.array([[[1.0, 0.0]], [[1.0, 0.0]]])  # pixel 1: 45 deg, pixel 2 zero in the reference
    assert sam(fus, ref) == pytest.approx(45.0, abs=1e-9)


def test_ergas_psnr_hand_values():
    ref = np.full((2, 4, 4), 2.0)
    fus = np.full((2, 4, 4), 3.0)
    assert ergas(fus, ref, 4) == pytest.approx(100 / 4 * np.sqrt(1 / 4))
    fus2 = ref + 0.1
    assert psnr(fus2, ref, max_value=1.0) == pytest.approx(20.0)
    assert mpsnr(fus2, ref, max_value=1.0) == pytest.approx(20.0)


def test_uiqi_matches_closed_form_on_one_block():
    x = RNG.random((8, 8)) * 100 + 10
    y = 0.7 * x + RNG.random((8, 8)) * 30
    mx, my = x.mean(), y.mean()
    cxy = ((x - mx) * (y - my)).mean()
    expected = 4 * cxy * mx * my / ((x.var() + y.var()) * (mx**2 + my**2))
    got = uiqi_map_torch(torch.from_numpy(x), torch.from_numpy(y), 8, sliding=False)
    assert got.shape == (1, 1)
    assert float(got) == pytest.approx(expected, rel=1e-12)


def test_onion_multiply_is_complex_and_normed():
    a, b = np.array([1.0, 2.0]), np.array([3.0, -1.0])
    np.testing.assert_allclose(onion_multiply(a, b), [1 * 3 - (-1) * 2, 1 * (-1) + 3 * 2])
    for n in (4, 8):  # quaternions and octonions are normed algebras: |xy| = |x||y|
        x, y = RNG.normal(size=n), RNG.normal(size=n)
        assert np.linalg.norm(onion_multiply(x, y)) == pytest.approx(np.linalg.norm(x) * np.linalg.norm(y))


def test_box_sum_and_padding():
    x = torch.arange(42.0, dtype=torch.float64).reshape(7, 6)
    for size in (2, 3, 4):
        bs = box_sum(x, size)
        assert bs.shape == (8 - size, 7 - size)
        assert bs[1, 2] == x[1:1 + size, 2:2 + size].sum()
    big = torch.rand(20, 21, dtype=torch.float64)
    assert torch.allclose(box_sum(big, 12)[3, 4], big[3:15, 4:16].sum())
    row = torch.tensor([[1.0, 2.0, 3.0]])
    assert symmetric_pad(row, 0, 2, "symmetric").tolist() == [[1, 2, 3, 3, 2]]
    assert symmetric_pad(row, 0, 2, "reflect").tolist() == [[1, 2, 3, 2, 1]]
    assert symmetric_pad(row, 0, 2, "replicate").tolist() == [[1, 2, 3, 3, 3]]


def test_imresize_preserves_constants_and_ramps():
    assert torch.allclose(imresize_down(torch.full((16, 16), 7.0, dtype=torch.float64), 4), torch.tensor(7.0, dtype=torch.float64))
    ramp = torch.arange(64.0, dtype=torch.float64).repeat(64, 1)  # columns 0..63
    out = imresize_down(ramp, 4)
    # interior output k is centred on input 4k + 1.5; cubic interpolation reproduces a ramp exactly
    assert torch.allclose(out[:, 3:-3], (4 * torch.arange(3, 13, dtype=torch.float64) + 1.5).expand(16, -1))


def test_local_correlation_of_an_image_with_itself_is_one():
    x = torch.from_numpy(_smooth_image(1, 32))[None]
    rho = local_correlation_torch(x, x, 2)
    assert torch.allclose(rho, torch.ones_like(rho), atol=1e-9)
    assert float(local_correlation_torch(x, -x, 2).mean()) < -0.99


@pytest.mark.parametrize("clip", [False, True])
def test_local_correlation_in_place_evaluation_equals_the_differentiable_path(clip):
    """Outside autograd the correlation map is computed in place (D_ρ, the phase search): bit for bit what
    the differentiable path gives, broadcasting a PAN over bands and bands over candidates alike."""
    x = torch.from_numpy(_smooth_image(3, 40, seed=1))[None]
    pan = torch.from_numpy(_smooth_image(1, 40, seed=2))[None] + 0.3 * x.mean(1, keepdim=True)
    for a, b in ((x, pan), (x, pan.expand(4, -1, -1, -1) * torch.arange(1.0, 5.0).view(4, 1, 1, 1))):
        fast = local_correlation_torch(a, b, 2, clip_covariance=clip)
        slow = local_correlation_torch(a.clone().requires_grad_(True), b, 2, clip_covariance=clip)
        assert slow.requires_grad and fast.shape == slow.shape
        assert torch.equal(fast, slow.detach())
        assert float(fast.abs().max()) > 0.5


def test_qnr_terms_in_one_pass_equal_the_separate_ones():
    """D_λ's and D_s's block Q of an image (band pairs, and each band with the PAN) from one Gram matrix per
    block over [image, PAN] equal the separate passes, for the fused image and for the scene's EXP terms."""
    from clippan_kit.metrics.qnr import (_block_q, _pairwise_q, d_lambda_reference, d_s_reference, fused_qnr_terms,
                                         qnr_references)

    ms = _smooth_image(4, 32, seed=3)
    exp = torch.from_numpy(np.asarray(interp23tap(ms, 4)))[None]
    pan = exp.mean(1, keepdim=True) + torch.from_numpy(_smooth_image(1, 128, seed=4))[None] * 0.2
    fused = exp * 1.01 + 0.3 * pan
    pairs, with_pan = fused_qnr_terms(fused, pan)
    assert pairs.shape == (1, 6) and with_pan.shape == (1, 4)
    assert torch.allclose(pairs, _pairwise_q(fused, 32), atol=1e-13)
    assert torch.allclose(with_pan, _block_q(fused, pan, 32), atol=1e-13)
    q_ref, q_low = qnr_references(exp, pan, ratio=4)
    assert torch.allclose(q_ref, d_lambda_reference(exp), atol=1e-13)
    assert torch.allclose(q_low, d_s_reference(exp, pan, ratio=4), atol=1e-13)
    assert float((pairs - q_ref).abs().max()) > 1e-4 and 0.2 < float(with_pan.min()) < 1  # real numbers


# ----------------------------------------------------------------------------- invariants
def test_perfect_fusion_scores_perfectly():
    ref = _smooth_image(8, 64)
    m = reduced_resolution_metrics(ref, ref, ratio=4, max_value=2047)
    assert m["Q2n"] == pytest.approx(1.0, abs=1e-12)
    assert m["Q"] == pytest.approx(1.0, abs=1e-12)
    assert m["SAM"] == pytest.approx(0.0, abs=1e-5)
    assert m["ERGAS"] == 0.0
    assert m["PSNR"] == np.inf
    assert m["SSIM"] == pytest.approx(1.0)
    assert m["SCC"] == pytest.approx(1.0)


def test_q2n_handles_band_counts_and_sizes_not_multiple_of_block():
    ref = _smooth_image(3, 72)  # 3 bands -> Q4 with a zero band, 72 = 2*32 + 8 -> padding
    assert q2n(ref, ref) == pytest.approx(1.0, abs=1e-12)
    noisy = ref + RNG.normal(0, 40, ref.shape)
    q = q2n(noisy, ref)
    assert 0.3 < q < 1.0
    # padding mirrors at most block-1 rows: a 72-pixel image is not dominated by padding
    assert q2n(noisy, ref, convention="float") == pytest.approx(q, abs=5e-3)


def test_q2n_of_quantised_blocks_from_raw_sums_equals_the_centred_moments_and_leaves_inputs_alone():
    """On the toolbox's integer DN the block moments come from raw sums and products (exact in float64 for
    integers): the centred computation's quality to rounding, on bright low-contrast blocks where a raw-sum
    formula would lose digits on real-valued data. The rounding runs on the tiles' own copies: q2n never
    changes its inputs, whether the tiles are copies or the image's own memory."""
    from clippan_kit.metrics.q2n import _block_quality

    rng = np.random.default_rng(5)
    ref = torch.from_numpy(np.round(1900 + rng.normal(0, 3, (6, 8, 1024))))
    fus = torch.from_numpy(np.round(ref.numpy() * 0.98 + rng.normal(0, 2, ref.shape)))
    centred, raw = _block_quality(ref, fus, 1), _block_quality(ref, fus, 1, integers=True)
    assert torch.allclose(raw, centred, rtol=0, atol=1e-13) and 0.05 < float(centred.min()) < float(centred.max()) < 1
    for size in (64, 72):  # whole blocks, and mirror padding
        a, b = _smooth_image(4, size) + 0.3, _smooth_image(4, size, seed=9) + 0.7
        kept = a.copy(), b.copy()
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        for convention in ("toolbox", "fr", "pancollection"):
            q2n(a, b, convention=convention)
            q2n(ta, tb, convention=convention)
            q2n(ta[:, :32, :32], tb[:, :32, :32], convention=convention)  # one block
        assert np.array_equal(a, kept[0]) and np.array_equal(b, kept[1])
        assert np.array_equal(ta.numpy(), kept[0]) and np.array_equal(tb.numpy(), kept[1])


def test_degrading_worsens_every_index():
    ref = _smooth_image(4, 64)
    mild = ref + RNG.normal(0, 20, ref.shape)
    strong = ref + RNG.normal(0, 120, ref.shape)
    a = reduced_resolution_metrics(mild, ref, ratio=4, max_value=2047)
    b = reduced_resolution_metrics(strong, ref, ratio=4, max_value=2047)
    for key in ("Q2n", "Q", "PSNR", "SSIM", "SCC"):
        assert b[key] < a[key] < (1.0 if key != "PSNR" else np.inf), key
    for key in ("SAM", "ERGAS"):
        assert b[key] > a[key] > 0, key


def test_q2n_quantisation_needs_dn_scale():
    ref = _smooth_image(4, 64) / 2047
    fus = ref * 0.97
    assert q2n(fus, ref, max_value=1.0) == pytest.approx(q2n(fus * 2047, ref * 2047))
    with pytest.warns(UserWarning):
        q2n(fus, ref)


# ----------------------------------------------------------------------------- gradients
def test_torch_losses_have_gradients():
    ref = torch.from_numpy(_smooth_image(8, 64))[None]
    fused = (ref * 1.02 + torch.randn_like(ref) * 10).requires_grad_(True)
    pan = ref.mean(1, keepdim=True)
    lrms = mtf_filter(ref, [0.3] * 8, 4)[..., 2::4, 2::4]
    exp = interp23tap(lrms, 4)
    for name, value in {
        "q2n": q2n_torch(fused, ref), "ergas": ergas_torch(fused, ref, 4),
        "d_lambda_k": d_lambda_k_torch(fused, exp, [0.3] * 8, ratio=4), "d_rho": d_rho_torch(fused, pan, ratio=4),
    }.items():
        (grad,) = torch.autograd.grad(value.sum(), fused)
        assert torch.isfinite(grad).all(), name
        assert grad.abs().sum() > 0, name


# ----------------------------------------------------------------------------- real data
@pytest.fixture(scope="module")
def wv3_reduced(real_file):
    d = sio.loadmat(real_file("deng_reduced_res/WV3_test.mat"))
    gt = d["gt"].transpose(2, 0, 1) * 2047
    exp = interp23tap(d["lrms"].transpose(2, 0, 1) * 2047, 4)
    return exp, gt


@pytest.mark.realdata
def test_reduced_resolution_reference_table(wv3_reduced):
    exp, gt = wv3_reduced
    whole = reduced_resolution_metrics(exp, gt, ratio=4, max_value=2047, q2n_convention="fr")
    # the toolbox's border cut 21 is x[20:-21] (MATLAB dim_cut:end-dim_cut), not dim_cut=21 on both sides
    cut = reduced_resolution_metrics(exp[:, 20:-21, 20:-21], gt[:, 20:-21, 20:-21], ratio=4, max_value=2047,
                                     q2n_convention="fr")
    for got, want in ((whole, dict(Q2n=0.63838, Q=0.70188, SAM=6.19756, ERGAS=8.49015, SCC=0.74960)),
                      (cut, dict(Q2n=0.71426, Q=0.71938, SAM=6.15825, ERGAS=8.62900, SCC=0.75244))):
        for key, value in want.items():
            assert got[key] == pytest.approx(value, abs=1e-3 if key in ("SAM", "ERGAS") else 1e-4), key
    # the other published Q2n conventions
    assert q2n(exp, gt) == pytest.approx(0.63833, abs=1e-4)  # toolbox default: rounding
    assert q2n(exp, gt, convention="pancollection") == pytest.approx(0.63833, abs=1e-4)
    cut_f, cut_r = exp[:, 20:-21, 20:-21], gt[:, 20:-21, 20:-21]
    assert q2n(cut_f, cut_r, convention="pancollection") == pytest.approx(0.71163, abs=1e-4)
    # MATLAB symmetric padding (toolbox q2n.m), our default; no published port value: regression number
    assert q2n(cut_f, cut_r) == pytest.approx(0.714218, abs=1e-5)
    assert q2n(gt, gt) == 1.0 and sam(gt, gt) == 0.0 and ergas(gt, gt, 4) == 0.0
    assert q_index(gt, gt) == pytest.approx(1.0) and scc(gt, gt) == pytest.approx(1.0)
    assert ssim(exp, gt, max_value=2047) < 1.0


@pytest.fixture(scope="module")
def wv2_scene(real_file):
    d = sio.loadmat(real_file("pnn_grip_unina/imgWV2.mat"))
    scene = Scene(pan=d["I_PAN"].astype(np.float32), ms=d["I_MS"].transpose(2, 0, 1).astype(np.float32),
                  sensor=get_sensor("wv2"))
    return scene, interp23tap(scene.ms.astype(np.float64), 4)


@pytest.mark.realdata
@pytest.mark.slow
def test_full_resolution_reference_table(wv2_scene):
    scene, exp = wv2_scene
    m = full_resolution_metrics(exp, scene)
    want = dict(D_lambda=0.0, D_s=0.085335, QNR=0.914665, D_lambda_K=0.044923, HQNR=0.873576, D_rho=0.801787)
    for key, value in want.items():
        assert m[key] == pytest.approx(value, abs=1e-4), key
    assert d_lambda(exp, scene, domain="original") == pytest.approx(0.006287, abs=1e-5)


@pytest.mark.realdata
@pytest.mark.slow
def test_reprojected_reference_values(wv2_scene):
    from clippan_kit.metrics import reprojected_metrics

    scene, exp = wv2_scene
    # "phase": the integer decimation phases of the λ-PNN authors' NumPy tool (reference_values.md)
    shifts = scene_shifts(scene, "phase")
    m = reprojected_metrics(exp, scene, shifts=shifts)
    assert m["R_Q2n"] == pytest.approx(0.956255, abs=1e-4)
    assert m["R_Q"] == pytest.approx(0.956864, abs=1e-4)
    assert m["R_SAM"] == pytest.approx(3.627978, abs=1e-3)
    assert m["R_ERGAS"] == pytest.approx(3.155606, abs=1e-3)
    assert reprojected_metrics(exp, scene, dim_cut=21, shifts=shifts)["R_Q2n"] == pytest.approx(0.956921, abs=1e-4)


@pytest.mark.realdata
@pytest.mark.slow
def test_peer_coregistration_reproduces_the_released_scorer(wv2_scene, real_file):
    """Default "peer" co-registration: the released λ-PNN code's shifts, and its scorer's numbers for EXP
    (reference_values.md, last section: their Coregistration + DowngradeProtocol + Q2n/ERGAS/SAM/DRho)."""
    from clippan_kit.io import load_scene
    from clippan_kit.metrics import reprojected_metrics

    scene, exp = wv2_scene
    shifts = scene_shifts(scene)
    assert shifts[:, 0].tolist() == [1, 1, 1, 1, 1, 1, 1, 2] and shifts[:, 1].tolist() == [1] * 8
    m = reprojected_metrics(exp, scene, shifts=shifts)
    assert m["R_Q2n"] == pytest.approx(0.96549, abs=1e-4)
    assert m["R_ERGAS"] == pytest.approx(2.7208, abs=1e-3) and m["R_SAM"] == pytest.approx(3.2422, abs=1e-3)
    wv3 = load_scene(real_file("zpnn_wv3/WV3_example.mat"), sensor="wv3")
    s3 = scene_shifts(wv3)
    assert s3[:, 0].tolist() == [3, 2, 3, 3, 4, 4, 4, 2] and s3[:, 1].tolist() == [-1, 1, 2, -1, 2, -1, 2, -1]
    m3 = reprojected_metrics(interp23tap(wv3.ms.astype(np.float64), 4), wv3, shifts=s3)
    assert m3["R_Q2n"] == pytest.approx(0.80740, abs=1e-4)
    assert m3["R_ERGAS"] == pytest.approx(7.7578, abs=1e-3) and m3["R_SAM"] == pytest.approx(7.8749, abs=1e-3)
    assert d_rho(interp23tap(wv3.ms.astype(np.float64), 4), wv3) == pytest.approx(0.80438, abs=1e-4)


@pytest.mark.realdata
@pytest.mark.slow
def test_sampled_coregistration_picks_the_exact_searchs_shifts_on_ikonos(real_file):
    """The sampled search (8-pixel grid) on the 1280² IKONOS scene gives the shifts of the exact search (the
    released code's computation over every pixel, 70 s, run once: [[1, 0], [0, 0], [0, 0], [0, 0]]), although
    band 2's two best candidates differ by < 1e-5 in the exact scores."""
    from clippan_kit.physics import coregistration as co

    d = sio.loadmat(real_file("pnn_grip_unina/imgIK.mat"))
    scene = Scene(pan=d["I_PAN"].astype(np.float32), ms=d["I_MS"].transpose(2, 0, 1).astype(np.float32),
                  sensor=get_sensor("ikonos"))
    assert co.SAMPLED_STRIDE == 8 and scene.pan.size > co.EXACT_SEARCH_PIXELS
    assert scene_shifts(scene).tolist() == [[1, 0], [0, 0], [0, 0], [0, 0]]


def test_toolbox_indices_quantise_at_the_files_bit_depth():
    """An 8-bit product (file L = 8, DN 0..255) rounds at 8-bit DN in D_λ^(K) / HQNR, as the toolbox does
    with the file's L; it is not rescaled to the sensor's nominal 11 bits first (issue 11, item 3)."""
    from clippan_kit.metrics import d_lambda_k
    from clippan_kit.metrics._common import dn_bits

    rng = np.random.default_rng(8)
    sensor = get_sensor("geoeye1")
    ms = np.round(100 + rng.uniform(-10, 10, (4, 16, 16)))  # low contrast: 8-bit rounding is felt
    pan = np.round(rng.uniform(0, 255, (64, 64)))
    scene = Scene(pan=pan.astype(np.float32), ms=ms.astype(np.float32), sensor=sensor, max_value=255.0)
    assert dn_bits(scene) == 8 and dn_bits(scene.replace(max_value=2047.0)) == 11
    assert dn_bits(scene.replace(max_value=1.0)) == 11  # normalised data: the sensor's depth
    exp = interp23tap(ms, 4)
    fused = exp + rng.normal(0, 1, exp.shape)
    filtered = mtf_filter(fused, sensor.gnyq_ms, 4)
    at_8_bits = 1 - q2n(filtered, exp)  # data already in DN: rounded as they are
    at_11_bits = 1 - q2n(filtered, exp, max_value=255.0, bits=11)  # the former behaviour
    assert d_lambda_k(fused, scene) == pytest.approx(at_8_bits, abs=1e-12)
    assert at_8_bits - at_11_bits > 2e-3  # 0.2398 vs 0.2356 measured
    from clippan_kit.metrics import d_s, hqnr

    assert hqnr(fused, scene) == pytest.approx((1 - at_8_bits) * (1 - d_s(fused, scene)), abs=1e-12)


def test_scene_terms_are_computed_once_per_scene(monkeypatch):
    """The co-registration and the EXP terms of D_λ and D_s depend on the scene only: a second fused image of
    the scene reuses them and scores exactly as with a cold memo; a scene with one pixel changed, another
    sensor or a cleared memo computes them again."""
    from clippan_kit.metrics import clear_scene_memo, reprojected

    calls = []
    real = reprojected.coregister
    monkeypatch.setattr(reprojected, "coregister", lambda *a, **k: calls.append(1) or real(*a, **k))
    clear_scene_memo()
    ms = _smooth_image(4, 32, seed=2).astype(np.float32)
    pan = np.asarray(interp23tap(ms.astype(np.float64), 4)).mean(0).astype(np.float32)
    scene = Scene(pan=pan, ms=ms, sensor=get_sensor("ikonos"))
    fused = [np.asarray(interp23tap(ms.astype(np.float64), 4)), np.repeat(pan[None].astype(np.float64), 4, 0)]
    first, second = (full_resolution_metrics(f, scene) for f in fused)
    assert len(calls) == 1 and first["D_rho"] != second["D_rho"] and first["D_s"] != second["D_s"]
    clear_scene_memo()
    assert full_resolution_metrics(fused[1], scene) == second and len(calls) == 2
    shifts = scene_shifts(scene)
    shifts[:] = 99  # a copy: the kept shifts are not edited through it
    assert len(calls) == 2 and (scene_shifts(scene) != 99).all()
    edited = scene.replace(pan=pan.copy())
    edited.pan[3, 5] += 1.0
    scene_shifts(edited)
    scene_shifts(scene.replace(sensor=get_sensor("qb")))
    assert len(calls) == 4
    clear_scene_memo()
    assert np.array_equal(scene_shifts(scene), real(ms, pan, scene.sensor)) and len(calls) == 5


def test_suite_from_several_threads_gives_the_serial_values():
    """The per-scene memo is shared by every caller: callers in several threads at once (cold memo, e.g. a
    demo scoring methods in a thread pool) get exactly what one caller gets, and every term is kept once."""
    from concurrent.futures import ThreadPoolExecutor

    from clippan_kit.metrics import clear_scene_memo, memo

    ms = _smooth_image(4, 64, seed=5).astype(np.float32)
    pan = np.asarray(interp23tap(ms.astype(np.float64), 4)).mean(0).astype(np.float32)
    scene = Scene(pan=pan, ms=ms, sensor=get_sensor("ikonos"))
    fused = [np.asarray(interp23tap(ms.astype(np.float64), 4)) * (1 + 0.01 * k) for k in range(4)]
    clear_scene_memo()
    serial = [full_resolution_metrics(f, scene) for f in fused]
    assert list(serial[0]) == ["D_lambda", "D_s", "QNR", "D_lambda_K", "HQNR", "D_rho", "R_Q2n", "R_Q", "R_SAM", "R_ERGAS"]
    assert all(np.isfinite(list(r.values())).all() for r in serial) and serial[0] != serial[1]
    clear_scene_memo()
    with ThreadPoolExecutor(4) as pool:
        parallel = list(pool.map(lambda f: full_resolution_metrics(f, scene), fused))
    assert parallel == serial
    assert len(memo._MEMO) == 2  # the shifts and the EXP terms of D_λ and D_s (one entry) of the one scene
