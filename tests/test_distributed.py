"""Multi-process training under torchrun (2 gloo processes on CPU): the loss curve and the weights equal a
1-process run with the same global batch, for Stage II and Stage I; the checkpoint is the 1-process format."""
from __future__ import annotations

import csv
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import clippan_kit
from clippan_kit.checkpoints import load_supervisor, load_trained_model, read_checkpoint
from clippan_kit.cli import main

ROOT = Path(clippan_kit.__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _curve(path: Path, columns: list[str]) -> list[list[float]]:
    with open(path, newline="") as f:
        return [[float(r[c]) for c in columns] for r in csv.DictReader(f)]


@pytest.fixture(scope="module")
def runs(scene_file, tmp_path_factory):
    """(2-process folder, 1-process folder): the same Stage II and Stage I commands, batch 4, 3 iterations."""
    scene = str(scene_file("zpnn_wv3/WV3_example.mat"))
    two, one = tmp_path_factory.mktemp("ddp2"), tmp_path_factory.mktemp("ddp1")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    env.pop("CUDA_VISIBLE_DEVICES", None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(_free_port()), str(ROOT / "tests" / "ddp_worker.py"), str(two), scene]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    common = ["--scene", scene, "--sensor", "wv3", "--iterations", "3", "--batch-size", "4", "--tile", "32", "--quiet",
              "--device", "cpu"]
    assert main(["train", *common, "--backbone", "pnn", "--preset", "tiny", "--out", str(one / "stage2.pt")]) == 0
    assert main(["train-supervisor", *common, "--base", "tiny", "--out", str(one / "stage1.pt")]) == 0
    return two, one, proc.stdout


def test_stage2_two_processes_match_one(runs):
    two, one, stdout = runs
    cols = ["spec", "spat", "qnr", "total"]
    a, b = _curve(two / "stage2.train_log.csv", cols), _curve(one / "stage2.train_log.csv", cols)
    assert len(a) == len(b) == 3
    assert max(abs(x - y) for ra, rb in zip(a, b) for x, y in zip(ra, rb)) < 1e-5
    assert a[0] != a[2]  # the weights moved: the curve is not flat
    ck2, ck1 = read_checkpoint(two / "stage2.pt"), read_checkpoint(one / "stage2.pt")
    assert ck2["kind"] == "backbone" and ck2["step"] == 3 and ck2["meta"]["iterations_done"] == 3
    assert max(float((ck2["weights"][k] - ck1["weights"][k]).abs().max()) for k in ck1["weights"]) < 1e-5
    model = load_trained_model(two / "stage2.pt", n_bands=8)  # a DDP checkpoint in a 1-process run
    assert not any(k.startswith("module.") for k in model.state_dict())
    assert stdout.count("wrote ") == 1  # rank 0 reports, once


def test_stage1_two_processes_match_one(runs):
    """Stage I's contrastive terms compare tiles with each other: each process sees the global batch's
    features through the differentiable all-gather, so the 2-process loss is the 1-process loss."""
    from clippan_kit.supervisor import tiny_base

    two, one, _ = runs
    cols = ["loss", "inter", "intra", "fusion"]
    a, b = _curve(two / "stage1.loss.csv", cols), _curve(one / "stage1.loss.csv", cols)
    assert len(a) == len(b) == 3
    assert max(abs(x - y) for ra, rb in zip(a, b) for x, y in zip(ra, rb)) < 1e-5  # CSV keeps 6 decimals
    ck2, ck1 = read_checkpoint(two / "stage1.pt"), read_checkpoint(one / "stage1.pt")
    assert ck2["kind"] == "supervisor" and ck2["step"] == 3
    assert max(float((ck2["weights"][k] - ck1["weights"][k]).abs().max()) for k in ck1["weights"]) < 1e-5
    sup = load_supervisor(two / "stage1.pt", base=tiny_base(), n_bands=8)
    assert sup.checkpoint_step == 3


def test_share_splits_the_global_batch_disjointly():
    from clippan_kit.engine import Dist

    shares = [Dist(rank=r, world=2).share(4) for r in range(2)]
    assert [list(range(4))[s] for s in shares] == [[0, 1], [2, 3]]
    with pytest.raises(ValueError, match="multiple of the number of processes 2"):
        Dist(rank=0, world=2).share(3)


def test_a_share_of_the_tiles_is_that_part_of_the_one_process_batch(scene_file):
    import numpy as np

    from clippan_kit.io import load_scene
    from clippan_kit.train import SceneTiles

    data = SceneTiles([load_scene(scene_file("zpnn_wv3/WV3_example.mat"), sensor="wv3")], tile=32)
    whole = data.sample(4, np.random.default_rng(5))
    parts = [data.sample(4, np.random.default_rng(5), share=s) for s in (slice(0, 2), slice(2, 4))]
    for key in whole:
        assert torch.equal(torch.cat([p[key] for p in parts]), whole[key])
    from clippan_kit.supervisor import TileSampler

    scene = data.scenes[0]
    whole = TileSampler([scene], 32, seed=5).sample(4)
    parts = [TileSampler([scene], 32, seed=5).sample(4, share=s) for s in (slice(0, 2), slice(2, 4))]
    assert torch.equal(torch.cat([p.ms for p in parts]), whole.ms) and torch.equal(torch.cat([p.pan for p in parts]), whole.pan)
