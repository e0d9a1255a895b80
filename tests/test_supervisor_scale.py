"""Issue #12: the supervisor records the scale it was trained at; Stage II refuses or warns on another scale;
the Stage I presets carry that scale and resume through the one resume path."""
from __future__ import annotations

import logging

import pytest
import torch

from clippan_kit.losses import supervisor_direction_fn
from clippan_kit.supervisor import TrainConfig, load_supervisor, tiny_base, train_supervisor
from clippan_kit.supervisor.presets import stage1_config
from clippan_kit.supervisor.scale import SupervisorScaleError, check_scale, training_scale
from clippan_kit.synthetic import synthetic_scene
from clippan_kit.wald import interp23tap


def upsample_label(ms, pan):  # a cheap stand-in for BDSD-PC
    return interp23tap(ms, 4)


@pytest.fixture(scope="module")
def base():
    return tiny_base()


@pytest.fixture(scope="module")
def scene():
    return synthetic_scene("wv3", 128, seed=3)


def test_presets_train_at_the_stage2_tile():
    from clippan_kit.train.presets import PRESETS

    for name in ("quick", "paper"):
        cfg = stage1_config(name)
        assert cfg.tile_size == PRESETS[name]["tile"] == 64 and cfg.input_size == 128
    assert (stage1_config("paper").steps, stage1_config("paper").batch_size) == (1000, 32)
    assert TrainConfig().tile_size == 64


def test_training_scale_numbers():
    s = training_scale(64, 4, 128)
    assert s == {"tile": 64, "ratio": 4, "input_size": 128, "pan_upsampling": 2.0, "ms_upsampling": 8.0}


def test_checkpoint_records_scale_and_paper_preset_resumes(base, scene, tmp_path):
    cfg = stage1_config("paper", steps=3, batch_size=2, tile_size=32, save_every=1)
    full = train_supervisor([scene], tmp_path / "full.pt", cfg, base=base, pseudo_label=upsample_label, progress=False)
    # tiny base: a ViT that needs its own 32-px input
    assert full.supervisor.scale == training_scale(32, 4, 32)
    sup = load_supervisor(tmp_path / "full.pt", base=base)
    assert sup.scale == training_scale(32, 4, 32)
    part = stage1_config("paper", steps=2, batch_size=2, tile_size=32, save_every=1)
    train_supervisor([scene], tmp_path / "part.pt", part, base=base, pseudo_label=upsample_label, progress=False)
    resumed = train_supervisor([scene], tmp_path / "part.pt", cfg, base=base, pseudo_label=upsample_label,
                               resume=True, progress=False)
    a, b = full.supervisor.trainable_state_dict(), resumed.supervisor.trainable_state_dict()
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    assert load_supervisor(tmp_path / "part.pt", base=base).scale == sup.scale
    with pytest.raises(ValueError, match="tile_size"):  # resuming at another scale is refused
        train_supervisor([scene], tmp_path / "part.pt", stage1_config("paper", steps=4, batch_size=2, tile_size=64),
                         base=base, pseudo_label=upsample_label, resume=True, progress=False)


def _batch(n, tile):
    torch.manual_seed(0)
    return torch.rand(n, 8, tile, tile, requires_grad=True), torch.rand(n, 8, tile // 4, tile // 4), torch.rand(n, 1, tile, tile)


def test_stage2_refuses_another_scale(base, scene, tmp_path):
    res = train_supervisor([scene], tmp_path / "s.pt", TrainConfig(steps=1, batch_size=2, tile_size=32), base=base,
                           pseudo_label=upsample_label, progress=False)
    fn = supervisor_direction_fn(res.supervisor)
    fused, ms, pan = _batch(2, 32)
    assert torch.isfinite(fn(fused, ms, pan))  # the training scale passes
    fused, ms, pan = _batch(2, 64)
    with pytest.raises(SupervisorScaleError, match=r"trained on 32-px PAN tiles .* feeds it 64-px tiles"):
        fn(fused, ms, pan)
    with torch.no_grad():  # validation on a bigger crop (no gradients) is not a training-scale mismatch
        assert torch.isfinite(fn(fused, ms, pan))


def test_stage2_train_refuses_through_the_api(base, scene, tmp_path):
    from clippan_kit.train import train

    res = train_supervisor([scene], tmp_path / "s.pt", TrainConfig(steps=1, batch_size=2, tile_size=64), base=base,
                           pseudo_label=upsample_label, progress=False)
    with pytest.raises(SupervisorScaleError, match="--tile 32"):  # the tiny preset trains on 32-px tiles
        train(scene, backbone="pnn", preset="tiny", loss="unsup+d", supervisor=res.supervisor, progress=False)


def test_stage2_warns_when_asked(base, scene, tmp_path, caplog):
    res = train_supervisor([scene], tmp_path / "s.pt", TrainConfig(steps=1, batch_size=2, tile_size=32), base=base,
                           pseudo_label=upsample_label, progress=False)
    fn = supervisor_direction_fn(res.supervisor, on_scale_mismatch="warn")
    fused, ms, pan = _batch(2, 64)
    with caplog.at_level(logging.WARNING, logger="clippan_kit.supervisor"):
        value = fn(fused, ms, pan)
        fn(fused, ms, pan)
    value.backward()
    assert fused.grad is not None and float(fused.grad.abs().sum()) > 0
    warnings = [r for r in caplog.records if "feeds it 64-px tiles" in r.getMessage()]
    assert len(warnings) == 1  # once per tile size, not every step


def test_unknown_scale_warns_never_raises(caplog):
    with caplog.at_level(logging.WARNING, logger="clippan_kit.supervisor"):
        assert check_scale(None, 64, 4) is False
    assert "no record of its training tile size" in caplog.text
    with pytest.raises(ValueError, match="on_mismatch"):
        check_scale(None, 64, 4, on_mismatch="maybe")
