"""CLIPPan Stage I supervisor: losses by hand, every trained part trains, checkpoints, resume, metrics, CLI."""
from __future__ import annotations

import copy
import math
import time
from pathlib import Path

import numpy as np
import pytest
import scipy.io as sio
import torch

from clippan_kit import Scene, get_sensor
from clippan_kit.supervisor import (CheckpointError, CLIPSupervisor, TrainConfig, build_supervisor,
                                    direction_loss, fusion_alignment, grid_tiles, inter_mcl, intra_mcl,
                                    load_supervisor, make_prompts, save_checkpoint, split_scene, stage1_loss,
                                    tiny_base, train_supervisor)
from clippan_kit.supervisor.base import BaseLoadError, load_base, state_dict_hash
from clippan_kit.supervisor.evaluate import (compare_metrics, direction_loss_images, format_comparison,
                                             supervisor_metrics)
from clippan_kit.supervisor.modules import MSInput, gbnir_indices
from clippan_kit.wald import interp23tap

E = torch.eye(3)


def upsample_label(ms, pan):  # a simple stand-in for BDSD-PC in tests
    return interp23tap(ms, 4)


@pytest.fixture(scope="module")
def base():
    return tiny_base()


@pytest.fixture(scope="module")
def wv3_scene(scene_file):
    d = sio.loadmat(scene_file("zpnn_wv3/WV3_example.mat"))
    return Scene(d["I_PAN"].astype(np.float32), d["I_MS_LR"].astype(np.float32).transpose(2, 0, 1),
                 get_sensor("wv3"), name="wv3_example")


def test_prompts():
    assert make_prompts().hrms.startswith("High-quality reference image adhering to Wald's protocol")
    assert make_prompts("II").hrms == "a fused product of the MS and PAN images"
    assert make_prompts("noise").hrms == "an image independent of the inputs"
    p = make_prompts("my own protocol")
    assert (p.hrms, p.hrms_name) == ("my own protocol", "custom")
    with pytest.raises(ValueError):
        make_prompts("  ")


def test_inter_mcl_by_hand():
    feats = {"ms": E[0:1], "pan": E[1:2], "hrms": E[2:3]}  # each image exactly on its own prompt
    assert float(inter_mcl(feats, E, tau=1.0)) == pytest.approx(math.log(math.e + 2) - 1, abs=1e-6)
    wrong = {"ms": E[1:2], "pan": E[2:3], "hrms": E[0:1]}  # each image on another type's prompt
    assert float(inter_mcl(wrong, E, tau=1.0)) == pytest.approx(math.log(math.e + 2), abs=1e-6)


def test_inter_mcl_gradient_is_real_with_constant_prompts():
    # the reason for type negatives: identical texts in a batch-wise InfoNCE give a constant loss
    f = torch.nn.functional.normalize(torch.randn(4, 3), dim=-1).requires_grad_(True)
    loss = inter_mcl({"ms": f, "pan": f, "hrms": f}, E, tau=0.07)
    loss.backward()
    assert f.grad.abs().sum() > 0


def test_intra_mcl_by_hand():
    e1, e2 = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    views = torch.cat([e1, e2])  # scene 0 on e1, scene 1 on e2, all three types identical
    # anchor: 2 positives at cos 1, 3 negatives at cos 0 -> -(1 - log(2e + 3))
    assert float(intra_mcl(views, views, views, tau=1.0)) == pytest.approx(math.log(2 * math.e + 3) - 1, abs=1e-6)


def test_fusion_and_direction_by_hand():
    a, b = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    assert float(fusion_alignment(a, b, a[0], b[0])) == pytest.approx(2.0)  # 2 * mean(|1|,|1|)
    text = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])  # ms, pan, protocol
    f_ms, f_pan = text[0:1], text[1:2]
    assert float(direction_loss(text[2:3], f_ms, f_pan, text)) == pytest.approx(0.0, abs=1e-6)
    # out = (1, -1): out - MS = (0, -1) opposes (0, 1) -> cos -1; out - PAN = (1, -2) vs (1, 0) -> cos 1/sqrt(5)
    out = torch.tensor([[1.0, -1.0]])
    expected = 1 - 0.5 * (-1 + 1 / math.sqrt(5))
    assert float(direction_loss(out, f_ms, f_pan, text)) == pytest.approx(expected, abs=1e-6)


def test_ms_input_modes():
    s = get_sensor("wv2")
    x = torch.rand(2, 8, 16, 16)
    assert gbnir_indices(s) == (2, 1, 6)
    assert torch.equal(MSInput(s, "rgb")(x), x[:, [4, 2, 1]])
    pca = MSInput(s, "pca")(x)
    assert pca.shape == (2, 3, 16, 16) and pca.min() >= 0 and pca.max() <= 1 + 1e-6
    conv = MSInput(s, "conv")
    assert (conv(x) - x[:, [4, 2, 1]]).abs().max() < 0.5  # starts near true colour
    with pytest.raises(ValueError, match="green, blue and NIR"):
        MSInput(get_sensor("wv2").subset(["red", "green", "blue"]), "gbnir")


def test_text_features_are_cached(base, monkeypatch):
    sup = CLIPSupervisor(base, get_sensor("wv2"))
    calls = []
    orig = base.model.encode_text
    monkeypatch.setattr(base.model, "encode_text", lambda *a, **k: (calls.append(1), orig(*a, **k))[1])
    t1, t2 = sup.text_features(), sup.text_features()
    assert len(calls) == 1 and torch.allclose(t1, t2)


def test_one_step_trains_every_part_and_nothing_frozen(base):
    torch.manual_seed(0)
    sup = CLIPSupervisor(base, get_sensor("wv2"), pan_input="conv")
    sup.train()
    frozen = {k: v.clone() for k, v in sup.base_model.state_dict().items()}
    before = {n: p.detach().clone() for n, p in sup.named_parameters() if p.requires_grad}
    names = {n.split(".")[0] for n in before}
    assert names == {"ms_stem", "pan_stem", "image_adapters", "text_adapters", "ifa", "tfa"}
    assert len([n for n in before if n.startswith(("image_adapters", "text_adapters"))]) == 12  # 6 adapters x 2
    opt = torch.optim.Adam(sup.trainable_parameters(), lr=1e-2)
    ms, pan = torch.rand(4, 8, 8, 8), torch.rand(4, 1, 32, 32)
    loss, parts = stage1_loss(sup(ms, pan, upsample_label(ms, pan) + 0.1 * pan))
    loss.backward()
    opt.step()
    unchanged = [n for n, p in sup.named_parameters() if p.requires_grad and torch.equal(p, before[n])]
    assert not unchanged
    assert all(torch.equal(v, frozen[k]) for k, v in sup.base_model.state_dict().items())
    assert all(not p.requires_grad for p in sup.base_model.parameters())
    assert set(parts) == {"loss", "inter", "intra", "fusion"}


def test_direction_loss_images_gradient(base):
    sup = CLIPSupervisor(base, get_sensor("wv2")).requires_grad_(False)
    ms, pan = torch.rand(2, 8, 8, 8), torch.rand(2, 1, 32, 32)
    fused = upsample_label(ms, pan).requires_grad_(True)
    ld = direction_loss_images(sup, fused, ms, pan)
    ld.backward()
    assert 0 <= float(ld.detach()) <= 2 and fused.grad.abs().sum() > 0


def test_checkpoint_roundtrip_and_mismatch(base, tmp_path):
    sup = CLIPSupervisor(base, get_sensor("wv2"), make_prompts("khan"))
    with torch.no_grad():
        sup.ifa.net[0].weight.add_(1.0)
    path = save_checkpoint(tmp_path / "s.pt", sup, step=7)
    back = load_supervisor(path, base=base)
    assert back.prompts.hrms_name == "khan" and back.checkpoint_step == 7
    assert all(torch.equal(v, back.trainable_state_dict()[k]) for k, v in sup.trainable_state_dict().items())
    raw = torch.load(path, weights_only=False)
    assert raw["kind"] == "supervisor" and raw["step"] == 7
    assert not any(k.startswith("base_model") for k in raw["weights"])
    other = copy.copy(base)
    other.model = copy.deepcopy(base.model)
    with torch.no_grad():
        next(other.model.parameters()).add_(1.0)
    other.weights_hash = state_dict_hash(other.model)
    with pytest.raises(CheckpointError, match="trained on base"):
        load_supervisor(path, base=other)
    with pytest.raises(CheckpointError, match="expects 8-band MS .* data has 4 bands"):
        load_supervisor(path, base=base, n_bands=4)


def test_train_resume_matches_uninterrupted_run(base, wv3_scene, tmp_path):
    cfg = TrainConfig(steps=4, batch_size=3, tile_size=32, save_every=2)
    full = train_supervisor([wv3_scene], tmp_path / "full", cfg, base=base, pseudo_label=upsample_label, progress=False)
    train_supervisor([wv3_scene], tmp_path / "part", TrainConfig(**{**cfg.__dict__, "steps": 2}), base=base,
                     pseudo_label=upsample_label, progress=False)
    resumed = train_supervisor([wv3_scene], tmp_path / "part", cfg, base=base, pseudo_label=upsample_label,
                               resume=True, progress=False)
    a, b = full.supervisor.trainable_state_dict(), resumed.supervisor.trainable_state_dict()
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    lines = (tmp_path / "part" / "loss.csv").read_text().splitlines()
    assert lines[0].startswith("step,loss,inter,intra,fusion") and len(lines) == 5
    assert [int(l.split(",")[0]) for l in lines[1:]] == [1, 2, 3, 4]
    with pytest.raises(ValueError, match="options differ"):
        train_supervisor([wv3_scene], tmp_path / "part", TrainConfig(**{**cfg.__dict__, "lr": 0.5}), base=base,
                         pseudo_label=upsample_label, resume=True, progress=False)


def test_metrics_on_held_out_tiles(base, wv3_scene):
    train, test = split_scene(wv3_scene, 0.5)
    assert train.shape == (64, 128) and test.shape == (64, 128)
    tiles = grid_tiles(test, 32)
    assert len(tiles) == 8 and tiles.ms.shape == (8, 8, 8, 8) and float(tiles.pan.max()) <= 1.0
    sup = build_supervisor(base, wv3_scene.sensor)
    m = supervisor_metrics(sup, tiles, upsample_label(tiles.ms, tiles.pan))
    for k in ("type_acc", "hrms_route_acc", "retrieval", "fusion_cos", "spread_ms", "ld_hrms"):
        assert np.isfinite(m[k])
    assert 0 <= m["type_acc"] <= 1 and m["retrieval_chance"] == pytest.approx(1 / 8)
    table = format_comparison(compare_metrics(m, m))
    assert "type_acc" in table and len(table.splitlines()) == len(m) + 2


def test_cli_registers_and_fails_in_one_line(tmp_path, capsys):
    from clippan_kit.cli import build_parser, main

    parser = build_parser()
    args = parser.parse_args(["train-supervisor", "--scene", "x.mat", "--out", str(tmp_path / "s.pt"), "--iterations", "3",
                              "--no-amp", "--input-size", "base"])
    assert args.iterations == 3 and args.no_amp and args.scene == [Path("x.mat")]
    args = parser.parse_args(["train-supervisor", "--ms", "ms.tif", "--pan", "pan.tif", "--out", str(tmp_path / "s.pt"),
                              "--bands", "blue,green,red"])
    assert (args.ms, args.pan, args.scene, args.bands) == (Path("ms.tif"), Path("pan.tif"), None, "blue,green,red")
    assert main(["train-supervisor", "--out", str(tmp_path)]) == 2  # a folder is not a checkpoint path
    assert "must be a checkpoint path ending in .pt" in capsys.readouterr().err
    assert main(["train-supervisor", "--out", str(tmp_path / "s.pt")]) == 2
    err = capsys.readouterr().err.strip()
    assert "--scene" in err and "--ms" in err and "\n" not in err
    code = main(["evaluate-supervisor", "--checkpoint", str(tmp_path / "missing.pt"),
                 "--scene", str(tmp_path / "missing.mat"), "--json"])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("clippan evaluate-supervisor: error:") and "missing.mat" in err and "\n" not in err


def test_explicit_paper_base_fails_fast_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", "/nonexistent-clippan-hf-home")
    t = time.perf_counter()
    with pytest.raises(BaseLoadError, match="unreachable"):
        load_base("openai")
    assert time.perf_counter() - t < 10


@pytest.mark.slow
def test_offline_default_base_is_reproducible():
    b1 = load_base("offline")
    assert not b1.towers_trained_together and b1.embed_dim == 384 and "NOT trained together" in b1.describe()
    b2 = load_base("offline")
    assert b1.weights_hash == b2.weights_hash
    t = CLIPSupervisor(b1, get_sensor("wv2")).encode_texts(["a multispectral image", "a panchromatic image"])
    assert t.shape == (2, 384) and 0.2 < float(t[0] @ t[1]) < 0.9
