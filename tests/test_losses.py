"""Stage II losses: values on known cases, real gradients (incl. the ones the released codes lose), configs."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.io as sio
import torch

from clippan_kit import get_sensor
from clippan_kit.losses import (JESSE_DEFAULTS, LOSS_CONFIGS, JesseLoss, ShipLoss, SpatialLoss, SpectralLoss,
                                build_loss, jesse_defaults, jesse_extras, resolve_loss_config)
from clippan_kit.losses import _cores
from clippan_kit.wald import WaldProtocol, interp23tap

WV3 = get_sensor("wv3")


@pytest.fixture(scope="module")
def wv3_batch(scene_file):
    """The WorldView-3 example (real, or its generated stand-in; 128² PAN, 8 x 32² MS), normalised by 2047, as a batch of one."""
    d = sio.loadmat(scene_file("zpnn_wv3/WV3_example.mat"))
    pan = torch.tensor(d["I_PAN"].astype(np.float32))[None, None] / 2047
    ms = torch.tensor(d["I_MS_LR"].astype(np.float32)).permute(2, 0, 1)[None] / 2047
    return {"ms_lr": ms, "pan": pan, "ms_up": interp23tap(ms, 4)}


def _grad(loss_fn, batch):
    out = batch["ms_up"].clone().requires_grad_(True)
    value = loss_fn(out)
    value.backward()
    return value, out.grad


@pytest.mark.parametrize("config", ["spec+spat", "qnr", "unsup", "jesse"])
def test_each_term_has_a_real_gradient(wv3_batch, config):
    loss = build_loss(config, WV3)
    value, grad = _grad(lambda o: loss(o, wv3_batch)[0], wv3_batch)
    assert torch.isfinite(value) and value > 0
    assert torch.isfinite(grad).all()
    assert grad.abs().sum() > 0
    assert (grad.abs().sum((0, 2, 3)) > 0).all(), "every band must receive a gradient"


def test_spectral_loss_is_zero_for_a_consistent_fusion():
    gen = torch.Generator().manual_seed(0)
    hrms = torch.rand(1, 8, 64, 64, generator=gen)
    ms = WaldProtocol(WV3).degrade_ms(hrms)
    assert float(SpectralLoss(WV3)(hrms, {"ms_lr": ms})) == pytest.approx(0.0, abs=1e-5)
    noisy = hrms + 0.05 * torch.randn(hrms.shape, generator=gen)
    assert float(SpectralLoss(WV3)(noisy, {"ms_lr": ms})) > 1e-3


def test_ssim_uses_the_data_range_of_normalised_data(wv3_batch):
    """With the released code's data range 255 on [0, 1] data, 1 - SSIM is ~0 whatever the images."""
    from clippan_kit.losses.terms import _ssim

    gen = torch.Generator().manual_seed(1)
    out = wv3_batch["ms_up"] + 0.05 * torch.randn(wv3_batch["ms_up"].shape, generator=gen)
    ours = 1 - float(_ssim(out, wv3_batch["ms_up"], 1.0))
    released = 1 - float(_ssim(out, wv3_batch["ms_up"], 255.0))
    assert released < 1e-3
    assert ours > 0.1 and ours > 100 * released


def test_spatial_projection_phi_is_learned(wv3_batch):
    term = SpatialLoss(8)
    out = wv3_batch["ms_up"].clone()
    term(out, wv3_batch).backward()
    assert term.phi.weight.grad is not None and term.phi.weight.grad.abs().sum() > 0
    loss = build_loss("unsup", WV3)
    assert sum(p.numel() for p in loss.parameters()) == 9  # φ: 8 weights + bias


def test_qnr_loss_equals_one_minus_qnr_of_the_metric_cores(wv3_batch):
    from clippan_kit.metrics.qnr import d_lambda_torch, d_s_torch

    out = wv3_batch["ms_up"].double() * 1.01 + 0.002 * wv3_batch["pan"].double()
    batch = {k: v.double() for k, v in wv3_batch.items()}
    dl = d_lambda_torch(out, batch["ms_lr"], ratio=4, block_size=32)
    ds = d_s_torch(out, batch["ms_lr"], batch["pan"], ratio=4, block_size=32)
    expected = 1 - (1 - dl[0]) * (1 - ds[0])
    assert float(build_loss("qnr", WV3)(out, batch)[0]) == pytest.approx(float(expected), rel=1e-5)


def test_jesse_d_lambda_k_term_has_a_gradient(wv3_batch):
    """The released λ-PNN rounds inside Q2n, zeroing the β term's gradient; ours must not."""
    term = JesseLoss(WV3)
    out = (wv3_batch["ms_up"] + 0.01 * wv3_batch["pan"]).requires_grad_(True)
    parts = term.parts(out, wv3_batch)
    (grad,) = torch.autograd.grad(parts["d_lambda_k"], out)
    assert torch.isfinite(grad).all() and grad.abs().max() > 1e-6
    for name in ("r_ergas", "d_rho"):
        (g,) = torch.autograd.grad(term.parts(out, wv3_batch)[name], out)
        assert g.abs().max() > 0, name


def test_jesse_per_sensor_defaults_follow_the_lambda_pnn_release():
    assert jesse_defaults("wv2") == {"alpha": 0.05, "beta": 1.0, "gamma": 6.0, "lr": 3.5e-5}
    assert jesse_defaults("WorldView-3")["beta"] == 1.25 and jesse_defaults("geoeye1")["gamma"] == 7.0
    assert jesse_defaults("ikonos") == JESSE_DEFAULTS["wv3"]  # untuned sensors: WV3 values
    term = build_loss({"jesse": {"weight": 1, "gamma": 2.0}}, "wv2").terms["jesse"]
    assert (term.alpha, term.beta, term.gamma) == (0.05, 1.0, 2.0)


def test_coregistration_finds_a_known_misalignment_and_reprojection_undoes_it(scene_file):
    d = sio.loadmat(scene_file("pnn_grip_unina/imgWV2.mat"))
    sensor = get_sensor("wv2")
    truth = interp23tap(torch.tensor(d["I_MS"][:64, :64].astype(np.float32)).permute(2, 0, 1)[None] / 2047, 4)
    pan = truth.mean(1, keepdim=True)
    ms_lr = _cores.reproject(torch.roll(truth, shifts=(2, -1), dims=(-2, -1)), sensor, None)  # MS content displaced
    batch = {"ms_lr": ms_lr, "ms_up": interp23tap(ms_lr, 4), "pan": pan}
    # MS pixel k is truth(4k, 4k + 3) = truth(4k + 2 - r/2, 4k + 2 - c/2): shifts (r, c) = (4, -2) half pixels
    assert jesse_extras(batch, sensor, coregistration="phase")["shifts"][0].tolist() == [[4, -2]] * 8
    shifts = jesse_extras(batch, sensor)["shifts"]
    assert shifts[0].tolist() == [[4, -2]] * 8  # the peer's half-pixel search finds the same whole-pixel shift
    inner = (Ellipsis, slice(4, -4), slice(4, -4))
    aligned = _cores.reproject(truth, sensor, shifts)
    assert float((aligned - ms_lr)[inner].abs().max()) < 1e-5
    assert float((_cores.reproject(truth, sensor, None) - ms_lr)[inner].abs().max()) > 0.05


def test_ship_loss_uses_a_frozen_teacher(wv3_batch):
    from clippan_kit.models import create_model

    teacher = create_model("ship", 8, 4, size="small")
    term = ShipLoss(teacher)
    assert not any(p.requires_grad for p in teacher.parameters())
    assert list(term.parameters()) == [] and term.state_dict() == {}
    with torch.no_grad():
        ref = teacher(wv3_batch["ms_up"], wv3_batch["pan"], wv3_batch["ms_lr"])
    assert float(term(ref, wv3_batch)) == pytest.approx(0.0, abs=1e-7)
    value, grad = _grad(lambda o: term(o, wv3_batch), wv3_batch)
    assert value > 0 and grad.abs().sum() > 0


@pytest.mark.slow
def test_direction_loss_gradient_reaches_the_backbone(wv3_batch):
    """L_d through a (tiny, random) Stage I supervisor: the backbone's parameters get a gradient."""
    from clippan_kit.losses import DirectionLoss, supervisor_direction_fn
    from clippan_kit.models import create_model
    from clippan_kit.supervisor.base import tiny_base
    from clippan_kit.supervisor.model import CLIPSupervisor

    torch.manual_seed(0)
    sup = CLIPSupervisor(tiny_base(), WV3)
    term = DirectionLoss(supervisor_direction_fn(sup))
    net = create_model("pnn", 8, 4, size="small")
    out = net(wv3_batch["ms_up"], wv3_batch["pan"], wv3_batch["ms_lr"])
    value = term(out, wv3_batch)
    value.backward()
    assert 0.0 <= float(value.detach()) <= 2.0
    grads = [p.grad for p in net.parameters()]
    assert all(g is not None for g in grads) and sum(float(g.abs().sum()) for g in grads) > 0
    assert not any(p.requires_grad for p in sup.parameters())  # the supervisor stays frozen
    assert list(term.parameters()) == []


def test_table2_ablation_rows_are_configurations():
    assert set(resolve_loss_config("unsup")) == {"spec", "spat", "qnr"}
    assert set(resolve_loss_config("unsup+ship+d")) == {"spec", "spat", "qnr", "ship", "direction"}
    assert LOSS_CONFIGS["clippan"] == LOSS_CONFIGS["unsup+ship+d"]
    assert set(resolve_loss_config({"spec": 1, "spat": 0.5, "qnr": 0})) == {"spec", "spat"}
    loss = build_loss({"spec": 2.0, "spat": {"weight": 0.5}}, WV3)
    assert loss.weights == {"spec": 2.0, "spat": 0.5}
    with pytest.raises(KeyError, match="unknown loss term"):
        resolve_loss_config({"spectral": 1})
    with pytest.raises(ValueError, match="needs a teacher"):
        build_loss("unsup+ship", WV3)
    with pytest.raises(ValueError, match="every term off"):
        resolve_loss_config({"spec": 0})


def test_composite_total_is_the_weighted_sum(wv3_batch):
    out = wv3_batch["ms_up"]
    single = {k: float(build_loss({k: 1.0}, WV3)(out, wv3_batch)[0].detach()) for k in ("spec", "spat", "qnr")}
    total, logs = build_loss({"spec": 2.0, "spat": 0.5, "qnr": 1.0}, WV3)(out, wv3_batch)
    assert float(total.detach()) == pytest.approx(2 * single["spec"] + 0.5 * single["spat"] + single["qnr"], rel=1e-5)
    assert logs["spec"] == pytest.approx(single["spec"], rel=1e-6)


def test_jesse_spatial_term_broadcasts_the_pan_exactly(wv3_batch):
    """The PAN's local statistics are computed once and broadcast: same D_ρ as with a B-fold expanded PAN."""
    out = wv3_batch["ms_up"] + 0.02 * (wv3_batch["pan"] - wv3_batch["pan"].mean())
    term = JesseLoss(WV3)
    extras = jesse_extras(wv3_batch, WV3)
    batch = {**wv3_batch, **extras}
    x = 1.0 - _cores.local_correlation(out, wv3_batch["pan"].expand_as(out), 2).clamp(min=-1.0)
    expected = float((x * (x > extras["rho_threshold"])).mean())
    assert abs(float(term.parts(out, batch)["d_rho"]) - expected) < 1e-6
    assert 0.05 < expected < 0.8  # a real, partly thresholded spatial loss


def test_jesse_scene_extras_are_the_whole_scene_constants(wv3_batch):
    from clippan_kit.losses import jesse_scene_extras

    arrays = {k: v[0].numpy() for k, v in wv3_batch.items()}
    ex = jesse_scene_extras(arrays, WV3)
    ref = jesse_extras(wv3_batch, WV3)
    assert ex["rho_threshold"].shape == (8, 128, 128) and ex["rho_threshold"].dtype == np.float32
    assert np.array_equal(ex["shifts"], ref["shifts"][0].numpy())
    assert np.allclose(ex["rho_threshold"], ref["rho_threshold"][0].numpy(), atol=1e-6)
