"""The one training engine: resume continues the same curve, checkpoints are atomic and carry their kind, a
checkpoint of another kind fails with one clear CheckpointError, and files of the former layouts still load."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn

from clippan_kit.checkpoints import FORMAT, load_supervisor, load_trained_model, read_checkpoint, write_checkpoint
from clippan_kit.devices import select_device
from clippan_kit.engine import Engine, Job
from clippan_kit.errors import CheckpointError
from clippan_kit.repro import seed_everything

LEGACY = Path(__file__).parent / "data" / "legacy"


class LineFit(Job):
    """Least squares y = 3x - 1 on random batches drawn from the job's numpy generator."""

    kind = "backbone"

    def __init__(self, rng: np.random.Generator):
        super().__init__()
        self.net, self.rng = nn.Linear(1, 1), rng

    def trained(self):
        return self.net

    def batch(self, engine):
        x = torch.from_numpy(self.rng.normal(size=(8, 1)).astype(np.float32))
        return x, 3 * x - 1

    def forward(self, batch):
        x, y = batch
        loss = ((self.net(x) - y) ** 2).mean()
        return loss, {"total": float(loss.detach())}

    def meta(self, engine):
        return {"what": "line fit", "iterations_done": engine.step}

    def weights(self):
        return self.net.state_dict()

    def load_weights(self, state):
        self.net.load_state_dict(state)


def _engine(steps: int, tmp_path: Path | None = None, progress=False, **kw) -> Engine:
    rng = seed_everything(0)
    job = LineFit(rng)
    opt = torch.optim.Adam(job.parameters(), lr=0.05)
    files = {} if tmp_path is None else {"checkpoint": tmp_path / "line.pt", "log_csv": tmp_path / "line.csv"}
    return Engine(job, opt, steps=steps, device=select_device("cpu"), lr=0.05, generator=rng, progress=progress,
                  **files, **kw)


def test_resume_continues_the_same_curve(tmp_path):
    straight = _engine(6).fit()
    _engine(3, tmp_path, save_every=2).fit()
    resumed = _engine(6, tmp_path).fit(resume=tmp_path / "line.pt")
    assert [h["total"] for h in resumed.history] == [h["total"] for h in straight.history]  # bit for bit
    assert torch.equal(resumed.model.weight, straight.model.weight)
    start = LineFit(seed_everything(0)).net  # the seeded initial weights
    dist = lambda net: float((net.weight - 3).abs() + (net.bias + 1).abs())  # noqa: E731
    with torch.no_grad():  # it learns: Adam moves each of the 2 parameters at most 0.05 a step, 0.6 in all
        assert dist(straight.model) < dist(start) - 0.4
    lines = (tmp_path / "line.csv").read_text().splitlines()
    assert lines[0] == "iteration,total,lr,seconds" and [int(r.split(",")[0]) for r in lines[1:]] == [1, 2, 3, 4, 5, 6]


def test_checkpoint_is_atomic_and_has_its_kind(tmp_path, monkeypatch):
    _engine(2, tmp_path).fit()
    raw = torch.load(tmp_path / "line.pt", weights_only=False)
    assert raw["format"] == FORMAT and raw["kind"] == "backbone" and raw["step"] == 2
    assert raw["meta"] == {"what": "line fit", "iterations_done": 2} and set(raw["weights"]) == {"weight", "bias"}
    assert set(raw["train_state"]) >= {"optimizer", "rng", "history"} and len(raw["train_state"]["history"]) == 2
    before = (tmp_path / "line.pt").read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(OSError, match="disk full"):
        _engine(3, tmp_path).fit()
    assert (tmp_path / "line.pt").read_bytes() == before and not list(tmp_path.glob(".*tmp*"))


def test_wrong_kind_fails_with_one_clear_line(tmp_path):
    path = write_checkpoint(tmp_path / "sup.pt", "supervisor", {}, {})
    with pytest.raises(CheckpointError, match=r"holds a Stage I CLIP supervisor \(kind 'supervisor'\), not a Stage II "
                                              r"checkpoint .* load it with clippan_kit.supervisor.load_supervisor"):
        load_trained_model(path)
    bb = write_checkpoint(tmp_path / "bb.pt", "backbone", {}, {})
    with pytest.raises(CheckpointError, match="holds a trained Stage II backbone .*not a supervisor checkpoint"):
        load_supervisor(bb)
    with pytest.raises(CheckpointError, match="holds a Stage I CLIP supervisor .*not a backbone checkpoint"):
        _engine(2).resume(path)  # the engine resumes only its job's kind
    with pytest.raises(CheckpointError, match="not found"):
        read_checkpoint(tmp_path / "missing.pt", "backbone")
    with pytest.raises(ValueError, match="unknown checkpoint kind"):
        write_checkpoint(tmp_path / "x.pt", "weights", {}, {})


def test_checkpoints_written_before_the_one_format_still_load():
    """tests/data/legacy: files written by the code before clippan_kit/checkpoints.py (make_legacy_checkpoints.py)."""
    from clippan_kit.supervisor import tiny_base

    expected = torch.load(LEGACY / "expected.pt", weights_only=False)
    x = expected["inputs"]
    model = load_trained_model(LEGACY / "pnn_stage2_v1.pt", n_bands=4)
    with torch.no_grad():
        assert torch.equal(model(*x), expected["pnn"])
    assert model.checkpoint_meta["backbone"] == "pnn" and model.checkpoint_meta["iterations_done"] == 2
    ck = read_checkpoint(LEGACY / "pnn_stage2_v1.pt")
    assert ck["kind"] == "backbone" and ck["step"] == 2 and len(ck["train_state"]["history"]) == 2
    sup = load_supervisor(LEGACY / "supervisor_v1.pt", base=tiny_base(), n_bands=4)
    assert sup.checkpoint_step == 2 and sup.scale["tile"] == 32
    with torch.no_grad():
        # Not bit-equal: the tiny ViT's float32 forward differs in the last bits between builds of the
        # unpinned open_clip/timm stack (and with the kernels earlier tests warmed up); the weights load exactly.
        got = sup.image_features(x[2], "ms")
        assert torch.allclose(got, expected["supervisor_ms"], rtol=1e-5, atol=1e-6), (got - expected["supervisor_ms"]).abs().max()


def test_a_legacy_stage2_checkpoint_resumes(tmp_path):
    """Training continues from a file of the former layout and writes the one format."""
    import shutil

    from clippan_kit.synthetic import synthetic_scene
    from clippan_kit.train import train

    ck = tmp_path / "pnn.pt"
    shutil.copy(LEGACY / "pnn_stage2_v1.pt", ck)
    res = train(synthetic_scene("ikonos", size=64), backbone="pnn", mode="unsup", preset="tiny", iterations=3,
                checkpoint=ck, resume=True, progress=False)
    assert [h["iteration"] for h in res.history] == [1, 2, 3]
    raw = torch.load(ck, weights_only=False)
    assert raw["format"] == FORMAT and raw["step"] == 3 and raw["meta"]["iterations_done"] == 3


def test_progress_callback_gets_fractions():
    seen = []
    _engine(4, progress=lambda f, msg: seen.append((f, msg))).fit()
    assert [f for f, _ in seen] == [0.25, 0.5, 0.75, 1.0] and seen[-1][1] == "train: step 4/4"
