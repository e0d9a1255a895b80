"""Benchmark of the classical pansharpening methods: seconds and peak memory.

1. Every method of ``clippan_kit.classical.METHODS`` on the full-resolution WorldView-2 scene
   ``pnn_grip_unina/imgWV2.mat`` (PAN 1280^2, MS 8 x 320^2, uint16), numpy front-ends.
2. ``bdsd_pc_torch`` on a batch of 32 tiles of 64^2 MS / 256^2 PAN cut from the same scene: the
   CLIPPan Stage I call that makes pseudo-HRMS targets on every training batch.

Peak memory: each CPU measurement runs in a fresh (spawned) child; we report the rise of its resident-set
high-water mark over its resident size just before the call (``ru_maxrss``), so it covers numpy
and torch allocations alike. On CUDA we report ``torch.cuda.max_memory_allocated``.

Usage:
    CLIPPAN_DATA=/path/to/data python benchmarks/bench_classical.py [--device cuda] [--repeats 5]
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import statistics
import time
from pathlib import Path

import numpy as np
import scipy.io as sio
import torch

from clippan_kit import config, get_sensor
from clippan_kit.classical import METHODS, bdsd_pc_torch

WV2_FILE = "pnn_grip_unina/imgWV2.mat"


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def load_wv2(data: Path) -> tuple[np.ndarray, np.ndarray]:
    """(ms (8, 320, 320) uint16, pan (1280, 1280) uint16), band-first."""
    d = sio.loadmat(data / WV2_FILE)
    return np.ascontiguousarray(d["I_MS"].transpose(2, 0, 1)), d["I_PAN"]


def stage1_tiles(ms: np.ndarray, pan: np.ndarray, n: int = 32, size: int = 64, ratio: int = 4, seed: int = 0):
    """n random co-located tiles: (n, B, size, size) MS and (n, 1, size*r, size*r) PAN, float32."""
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, ms.shape[1] - size + 1, n)
    cols = rng.integers(0, ms.shape[2] - size + 1, n)
    t_ms = np.stack([ms[:, r:r + size, c:c + size] for r, c in zip(rows, cols)])
    t_pan = np.stack([pan[None, r * ratio:(r + size) * ratio, c * ratio:(c + size) * ratio] for r, c in zip(rows, cols)])
    return torch.from_numpy(t_ms.astype(np.float32)), torch.from_numpy(t_pan.astype(np.float32))


def _job(kind: str, data: Path, name: str):
    """The callable to time and its arguments, built (and warmed up) in the child."""
    sensor = get_sensor("wv2")
    ms, pan = load_wv2(data)
    if kind == "method":
        METHODS[name](ms[:, :32, :32], pan[:128, :128], sensor)  # warm-up: thread pools, FFT plans, kernels
        return METHODS[name], (ms, pan, sensor)
    t_ms, t_pan = stage1_tiles(ms, pan)
    bdsd_pc_torch(t_ms[:2], t_pan[:2], sensor)
    return bdsd_pc_torch, (t_ms, t_pan, sensor)


def _child(kind: str, data: Path, name: str, queue) -> None:
    job, args = _job(kind, data, name)
    before = _rss_mib()
    t0 = time.perf_counter()
    job(*args)
    seconds = time.perf_counter() - t0
    queue.put((seconds, _peak_mib() - before))


def measure_cpu(kind: str, data: Path, name: str = "") -> tuple[float, float]:
    """(seconds, peak MiB above the resident size just before the call) in a fresh child process.

    Spawned, not forked: forking a process whose torch/OpenMP thread pool has run can deadlock.
    """
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(kind, data, name, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=config.data_dir(), help="real-data folder (CLIPPAN_DATA)")
    parser.add_argument("--device", default="cpu", help="device for the Stage I batch (cpu, cuda)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats (the median is reported)")
    args = parser.parse_args()
    if args.data is None or not (args.data / WV2_FILE).exists():
        raise SystemExit(f"{WV2_FILE} not found: set CLIPPAN_DATA or pass --data ({config.DATA_HELP})")
    ms, pan = load_wv2(args.data)
    print(f"WorldView-2 scene: PAN {pan.shape[0]}x{pan.shape[1]}, MS {ms.shape[0]}x{ms.shape[1]}x{ms.shape[2]}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, median of {args.repeats}")
    print(f"\n{'method':<16}{'seconds':>10}{'peak MiB':>11}")
    for name in METHODS:
        runs = [measure_cpu("method", args.data, name) for _ in range(args.repeats)]
        print(f"{name:<16}{statistics.median(r[0] for r in runs):>10.3f}{max(r[1] for r in runs):>11.0f}")

    print(f"\nbdsd_pc_torch, 32 x (8x64^2 MS, 256^2 PAN) float32, {args.device}")
    if args.device == "cpu":
        runs = [measure_cpu("stage1", args.data) for _ in range(args.repeats)]
        seconds, peak = statistics.median(r[0] for r in runs), max(r[1] for r in runs)
    else:
        sensor = get_sensor("wv2")
        t_ms, t_pan = (t.to(args.device) for t in stage1_tiles(ms, pan))
        bdsd_pc_torch(t_ms, t_pan, sensor)  # warm-up: kernels, FFT plans
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            bdsd_pc_torch(t_ms, t_pan, sensor)
            torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
        seconds, peak = statistics.median(times), torch.cuda.max_memory_allocated() / 2**20
    print(f"{'':<16}{seconds:>10.3f}{peak:>11.0f}")


if __name__ == "__main__":
    main()
