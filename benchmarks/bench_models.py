"""Benchmark the Stage II backbones on this machine (CPU unless CUDA is visible).

For each backbone and size: parameter count; training seconds per iteration and peak RSS (batch 8 of
64x64 PAN tiles, 8 bands, ratio 4, Adam, L1 loss against a random target); inference seconds and peak
RSS for a synthetic 2048x2048 PAN / 8-band scene through :func:`clippan_kit.infer.fuse_scene`.

Each measurement runs in a fresh subprocess so its peak RSS (``ru_maxrss``) is its own.

    python benchmarks/bench_models.py                       # everything (long on CPU)
    python benchmarks/bench_models.py --models lambda_pnn --sizes base --scene 2048
    python benchmarks/bench_models.py --no-infer            # training timings only
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np
import torch


def train_child(name: str, size: str, iters: int = 3, batch: int = 8, tile: int = 64) -> dict:
    from clippan_kit.models import create_model
    from clippan_kit.wald import interp23tap

    torch.manual_seed(0)
    net = create_model(name, 8, 4, size=size)
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    ms_lr = torch.rand(batch, 8, tile // 4, tile // 4)
    ms_up, pan, target = interp23tap(ms_lr, 4), torch.rand(batch, 1, tile, tile), torch.rand(batch, 8, tile, tile)
    times = []
    for _ in range(iters + 1):  # first iteration is warm-up
        t0 = time.perf_counter()
        opt.zero_grad()
        torch.nn.functional.l1_loss(net(ms_up, pan, ms_lr), target).backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    return {"seconds": float(np.median(times[1:])), "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}


def _in_child(kind: str, name: str, size: str, args) -> dict | None:
    cmd = [sys.executable, __file__, f"--{kind}-child", name, size, str(args.scene), "--tile", str(args.tile),
           "--overlap", str(args.overlap)]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        print(f"{kind} of {name} {size}: over {args.timeout} s, stopped", file=sys.stderr)
        return None
    if res.returncode != 0:
        print(res.stderr[-2000:] or f"{kind} child exited with {res.returncode} (killed: out of memory?)", file=sys.stderr)
        return None
    return json.loads(res.stdout.strip().splitlines()[-1])


def infer_child(name: str, size: str, scene_size: int, tile: int, overlap: int) -> dict:
    from clippan_kit import Scene, generic_sensor
    from clippan_kit.infer import fuse_scene
    from clippan_kit.models import create_model

    rng = np.random.default_rng(0)
    pan = rng.uniform(0, 2047, (scene_size, scene_size)).astype(np.float32)
    ms = rng.uniform(0, 2047, (8, scene_size // 4, scene_size // 4)).astype(np.float32)
    scene = Scene(pan=pan, ms=ms, sensor=generic_sensor(8, ratio=4))
    torch.manual_seed(0)
    net = create_model(name, 8, 4, size=size)
    t0, c0 = time.perf_counter(), time.process_time()
    out = fuse_scene(net, scene, tile=tile, overlap=overlap, progress=False)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    assert out.shape == (8, scene_size, scene_size) and np.isfinite(out).all()
    return {"seconds": seconds, "cpu_seconds": cpu, "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}


def main() -> None:
    from clippan_kit.models import create_model, list_models

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="*", default=list_models())
    ap.add_argument("--sizes", nargs="*", default=["small", "base"])
    ap.add_argument("--scene", type=int, default=2048, help="PAN side of the synthetic scene")
    ap.add_argument("--tile", type=int, default=512)
    ap.add_argument("--overlap", type=int, default=32)
    ap.add_argument("--timeout", type=float, default=None, help="seconds allowed per measurement (default: none)")
    ap.add_argument("--no-train", action="store_true")
    ap.add_argument("--no-infer", action="store_true")
    ap.add_argument("--infer-child", nargs=3, metavar=("NAME", "SIZE", "SCENE"), help=argparse.SUPPRESS)
    ap.add_argument("--train-child", nargs=3, metavar=("NAME", "SIZE", "SCENE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.infer_child:
        name, size, scene = args.infer_child
        print(json.dumps(infer_child(name, size, int(scene), args.tile, args.overlap)))
        return
    if args.train_child:
        print(json.dumps(train_child(*args.train_child[:2])))
        return

    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"device {'cuda' if torch.cuda.is_available() else 'cpu'}")
    # CPU seconds (all threads) next to wall seconds: on a shared machine wall time overstates cost.
    header = (f"{'model':<11} {'size':<6} {'params':>10} {'train s/it':>11} {'train GiB':>10} {'infer s':>9} "
              f"{'infer cpu s':>12} {'infer GiB':>10}")
    print(header + "\n" + "-" * len(header))
    for name in args.models:
        for size in args.sizes:
            params = create_model(name, 8, 4, size=size).n_parameters()
            train = train_rss = infer_s = cpu = rss = "-"
            if not args.no_train:
                r = _in_child("train", name, size, args)
                train, train_rss = (f"{r['seconds']:.3f}", f"{r['peak_rss_gib']:.2f}") if r else ("failed", "-")
            if not args.no_infer:
                r = _in_child("infer", name, size, args)
                if r:
                    infer_s, cpu, rss = f"{r['seconds']:.1f}", f"{r['cpu_seconds']:.1f}", f"{r['peak_rss_gib']:.2f}"
                else:
                    infer_s = "failed"
            print(f"{name:<11} {size:<6} {params:>10,} {train:>11} {train_rss:>10} {infer_s:>9} {cpu:>12} {rss:>10}",
                  flush=True)

if __name__ == "__main__":
    main()
