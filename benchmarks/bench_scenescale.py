"""Benchmark of whole-scene block-wise fusion (issue 14): seconds and peak RSS, 1 and 2 workers.

1. Makes (once, cached, never committed) a synthetic georeferenced scene: PAN ``size`` x ``size``
   uint16 and a 4-band MS ``size/4`` squared (QuickBird-like, ratio 4), tiled 256 and deflate-compressed,
   written window by window from a seamless procedural field (sinusoids in map coordinates plus noise), so
   generation itself never holds the scene.
2. Fuses it with :func:`clippan_kit.scenescale.fuse_blockwise` for EXP, MTF-GLP-HPM-R, BDSD and
   λ-PNN small (random weights, eval mode: timing only), in this process (``workers=1``) and on a
   LocalCluster of 2 single-threaded worker processes (``workers=2``).
3. Side by side, the in-memory path (``load_geotiff_pair`` + ``classical.fuse`` + ``write_geotiff``) on a
   smaller scene (``--inmem-size``), to compare seconds per megapixel.
4. With ``--evaluate METHOD``: :func:`clippan_kit.scenescale.evaluate_blockwise` (every block-wise
   full-resolution index, the reprojected R-* included) of that method's block-wise fusion of the scene
   (fused once into the cache, not timed).

Each measurement runs in a fresh child process; peak RSS is the largest *sum* of resident set sizes over
that child and all its descendants (the Dask worker processes), sampled every 0.1 s from
``/proc/PID/smaps_rollup``. That sum counts the pages of shared libraries (torch's ~230 MB) once per
process; peak PSS (proportional set size: a shared page split among the processes mapping it) is what the
tree really occupies. CPU s is user + system time of the tree.

Usage:
    python benchmarks/bench_scenescale.py [--size 16384] [--inmem-size 4096] [--methods exp,mtf-glp-hpm-r]
        [--workers 1,2] [--evaluate exp] [--cache DIR] [--results benchmarks/results/scenescale.md]
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

RATIO, BANDS = 4, 4
SENSOR = "qb"
TILE = 256


# ----------------------------------------------------------------------------- scene
def _field(y: np.ndarray, x: np.ndarray, seed: int, periods) -> np.ndarray:
    """Seamless procedural texture on map coordinates (PAN pixels): a sum of oriented sinusoids."""
    rng = np.random.default_rng(seed)
    out = np.zeros((y.size, x.size))
    for p in periods:
        th, ph = rng.uniform(0, np.pi), rng.uniform(0, 2 * np.pi)
        out += np.sin(2 * np.pi * (np.cos(th) * x[None, :] + np.sin(th) * y[:, None]) / p + ph)
    return out / len(periods)


def make_scene(folder: Path, size: int) -> tuple[Path, Path]:
    """PAN + MS GeoTIFFs of a ``size``² scene in ``folder`` (reused when present)."""
    import rasterio
    from affine import Affine
    from rasterio.windows import Window

    folder.mkdir(parents=True, exist_ok=True)
    pan_path, ms_path = folder / f"pan_{size}.tif", folder / f"ms_{size}.tif"
    if pan_path.exists() and ms_path.exists():
        return pan_path, ms_path
    x0, y0 = 500000.0, 4200000.0
    common = dict(driver="GTiff", dtype="uint16", crs="EPSG:32633", tiled=True, blockxsize=TILE, blockysize=TILE,
                  compress="deflate", BIGTIFF="IF_SAFER")
    m = size // RATIO
    step = 2048
    gains = np.array([0.8, 1.0, 1.1, 0.9])
    with rasterio.open(ms_path.with_suffix(".part"), "w", height=m, width=m, count=BANDS,
                       transform=Affine(2.4, 0, x0, 0, -2.4, y0), **common) as ms_dst, \
            rasterio.open(pan_path.with_suffix(".part"), "w", height=size, width=size, count=1,
                          transform=Affine(0.6, 0, x0, 0, -0.6, y0), **common) as pan_dst:
        for r0 in range(0, size, step):
            for c0 in range(0, size, step):
                y, x = np.arange(r0, min(r0 + step, size)) + 0.5, np.arange(c0, min(c0 + step, size)) + 0.5
                land = _field(y, x, 1, (900, 350, 130))
                detail = _field(y, x, 2, (37, 17, 7))
                noise = np.random.default_rng(r0 * size + c0).normal(0, 0.02, (y.size, x.size))
                bands = np.stack([400 + 250 * g * (1 + land * (0.6 + 0.1 * b) + 0.3 * detail) for b, g in enumerate(gains)])
                pan = bands.mean(0) + 40 * noise * 10
                ms = bands.reshape(BANDS, y.size // RATIO, RATIO, x.size // RATIO, RATIO).mean((2, 4))
                pan_dst.write(np.clip(pan, 0, 2047).astype(np.uint16)[None], window=Window(c0, r0, x.size, y.size))
                ms_dst.write(np.clip(ms, 0, 2047).astype(np.uint16),
                             window=Window(c0 // RATIO, r0 // RATIO, x.size // RATIO, y.size // RATIO))
    ms_path.with_suffix(".part").rename(ms_path)
    pan_path.with_suffix(".part").rename(pan_path)
    return pan_path, ms_path


# ----------------------------------------------------------------------------- measurement
def _rollup(pid: int) -> tuple[int, int]:
    """(RSS, PSS) bytes of one process from /proc/PID/smaps_rollup (PSS splits shared pages among their users)."""
    rss = pss = 0
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Rss:"):
                rss = int(line.split()[1]) * 1024
            elif line.startswith("Pss:"):
                pss = int(line.split()[1]) * 1024
    return rss, pss


def _tree_memory(pid: int) -> dict[int, tuple[int, int, float]]:
    """{pid: (RSS, PSS, CPU seconds)} of a process and all its descendants (the Dask worker processes)."""
    import psutil

    try:
        p = psutil.Process(pid)
        procs = [p] + p.children(recursive=True)
    except psutil.NoSuchProcess:
        return {}
    out = {}
    for q in procs:
        try:
            t = q.cpu_times()
            out[q.pid] = (*_rollup(q.pid), t.user + t.system)
        except (psutil.NoSuchProcess, FileNotFoundError, ProcessLookupError):
            pass
    return out


def _child(job: dict, queue) -> None:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("GDAL_CACHEMAX", "256")  # MB, for the in-memory path (block-wise caps its own: scenescale.engine)
    import torch

    torch.set_num_threads(job.get("threads", 1))
    from clippan_kit.scenescale import fuse_blockwise

    t0 = time.perf_counter()
    if job["kind"] == "inmem":
        from clippan_kit.classical import fuse
        from clippan_kit.io import load_geotiff_pair, write_geotiff

        scene = load_geotiff_pair(job["pan"], job["ms"], SENSOR)
        write_geotiff(job["out"], fuse(scene, job["method"]), scene)
    elif job["kind"] == "evaluate":
        from clippan_kit.scenescale import evaluate_blockwise

        evaluate_blockwise(job["fused"], job["ms"], job["pan"], sensor=SENSOR, chunks=job["chunks"],
                           workers=job["workers"], progress=False)
    else:
        method = job["method"]
        if method == "lambda_pnn":
            from clippan_kit.models import create_model

            torch.manual_seed(0)
            method = create_model("lambda_pnn", BANDS, RATIO, size="small").eval()
        fuse_blockwise(job["ms"], job["pan"], method, job["out"], sensor=SENSOR, chunks=job["chunks"],
                       workers=job["workers"], progress=False)
    queue.put(time.perf_counter() - t0)


def measure(job: dict) -> dict:
    """Seconds, peak RSS and PSS (GiB) of the child's whole process tree, the per-process peak RSS
    (client first, then the worker processes) and the CPU seconds of the tree, for one job."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(job, queue))
    proc.start()
    peak_rss = peak_pss = 0
    per_pid: dict[int, int] = {}
    cpu: dict[int, float] = {}
    while proc.is_alive():
        tree = _tree_memory(proc.pid)
        peak_rss = max(peak_rss, sum(v[0] for v in tree.values()))
        peak_pss = max(peak_pss, sum(v[1] for v in tree.values()))
        for k, (rss, _, c) in tree.items():
            per_pid[k] = max(per_pid.get(k, 0), rss)
            cpu[k] = c
        time.sleep(0.1)
        if not queue.empty():
            break
    seconds = queue.get()
    proc.join()
    Path(job["out"]).unlink(missing_ok=True)
    big = [per_pid.get(proc.pid, 0)] + sorted(v for k, v in per_pid.items() if k != proc.pid and v > 2**27)
    return dict(seconds=seconds, rss=peak_rss / 2**30, pss=peak_pss / 2**30,
                per_process=" + ".join(f"{v / 2**30:.2f}" for v in big), cpu=sum(cpu.values()))


def _row(method: str, path: str, size: int, workers: int, m: dict) -> str:
    s = m["seconds"]
    return (f"| {method} | {path} | {size}² | {workers} | {s:.1f} | {s / size**2 * 1e6:.3f} | {m['cpu']:.0f} | "
            f"{m['rss']:.2f} | {m['pss']:.2f} | {m['per_process']} |")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=16384)
    ap.add_argument("--inmem-size", type=int, default=4096)
    ap.add_argument("--methods", default="exp,mtf-glp-hpm-r,bdsd,lambda_pnn")
    ap.add_argument("--inmem-methods", default="exp,mtf-glp-hpm-r,bdsd", help="methods also run in memory on --inmem-size")
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--chunks", type=int, default=None, help="block side (default: the method's own, 1024 or 768 for networks)")
    ap.add_argument("--cache", type=Path, default=Path(os.environ.get("CLIPPAN_CACHE", Path.home() / ".cache" / "clippan-kit")) / "bench_scenescale")
    ap.add_argument("--evaluate", metavar="METHOD", help="also time evaluate_blockwise of METHOD's block-wise fusion")
    ap.add_argument("--results", type=Path)
    args = ap.parse_args(argv)

    lines = [f"`{' '.join([Path(sys.argv[0]).as_posix()] + sys.argv[1:])}`", "",
             f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.node()}, {os.cpu_count()} CPUs, "
             f"load average {os.getloadavg()[0]:.1f} at start", ""]
    t0 = time.perf_counter()
    big = make_scene(args.cache, args.size)
    small = make_scene(args.cache, args.inmem_size)
    lines += [f"scene generation (cached after the first run): {time.perf_counter() - t0:.0f} s", "",
              "| method | path | scene | workers | seconds | s / MPix | CPU s | peak RSS GiB | peak PSS GiB | RSS per process (client + workers) |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    print("\n".join(lines), flush=True)
    out = args.cache / "out.tif"
    rows = []
    for method in [m for m in args.methods.split(",") if m]:
        if method in args.inmem_methods.split(","):
            m = measure(dict(kind="inmem", method=method, pan=str(small[0]), ms=str(small[1]), out=str(out), threads=1))
            rows.append(_row(method, "in-memory", args.inmem_size, 1, m))
            print(rows[-1], flush=True)
        for w in (int(v) for v in args.workers.split(",")):
            job = dict(kind="block", method=method, pan=str(big[0]), ms=str(big[1]), out=str(out), chunks=args.chunks,
                       workers=None if w == 1 else w, threads=1)
            m = measure(job)
            rows.append(_row(method, "block-wise", args.size, w, m))
            print(rows[-1], flush=True)
    if args.evaluate:
        from clippan_kit.scenescale import fuse_blockwise

        fused = args.cache / f"fused_{args.evaluate}_{args.size}.tif"
        if not fused.exists():
            fuse_blockwise(big[1], big[0], args.evaluate, fused, sensor=SENSOR, chunks=args.chunks, progress=False)
        for w in (int(v) for v in args.workers.split(",")):
            job = dict(kind="evaluate", fused=str(fused), pan=str(big[0]), ms=str(big[1]), out=str(out),
                       chunks=args.chunks, workers=None if w == 1 else w, threads=1)
            rows.append(_row(f"evaluate ({args.evaluate} fused)", "block-wise", args.size, w, measure(job)))
            print(rows[-1], flush=True)
    if args.results:
        args.results.parent.mkdir(parents=True, exist_ok=True)
        with open(args.results, "a") as f:
            f.write("\n".join(lines + rows) + "\n\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
