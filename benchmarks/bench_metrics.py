"""Time of the full-resolution metrics on the 1280² WorldView-2 scene, fused = EXP; optionally side by side
with an older revision of the package.

Usage:
    CLIPPAN_DATA=/work/shared/data .venv/bin/python benchmarks/bench_metrics.py [--repeat 5]
        per-metric seconds (median of ``--repeat``) and peak memory, in this process.
    git archive REV clippan_kit | tar -x -C /tmp/base
    CLIPPAN_DATA=... .venv/bin/python benchmarks/bench_metrics.py --baseline /tmp/base [--rounds 3 --repeat 5]
        the whole suite (``full_resolution_metrics``) of REV and of this tree in alternating worker processes
        (the machine is shared, so the two are measured under the same load), median of rounds x repeat
        timed runs each after one warm-up run, and the largest relative difference between their values.
    --results FILE appends the table, with the command, date, threads and load average, to FILE.

Every row but the last is cold: the per-scene memo of :mod:`clippan_kit.metrics.memo` is cleared before
each call. The last row scores the scene's EXP after another fused image of the scene was scored (its
co-registration and EXP terms kept), the cost of each further method in a table.

Peak memory is the process's peak RSS growth during each call (ru_maxrss is monotone: a metric that
needs less than an earlier one shows 0). Torch uses ``torch.get_num_threads()`` threads.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import scipy.io as sio
import torch


# Seconds the public Python ports need for the same computation on a 2-core machine
# (shared/reference_values.md).
PUBLIC_PORTS_SECONDS = {"D_lambda": 11.9, "D_s": 1.4, "D_lambda_K": 16.5, "D_rho": 2.4, "R-metrics": 8.7, "whole suite": 40.0,
                        "whole suite, scene already scored": 40.0}
ROOT = Path(__file__).resolve().parents[1]


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _wv2():
    from clippan_kit import Scene, config, get_sensor
    from clippan_kit.wald import interp23tap

    root = config.data_dir()
    if root is None:
        raise SystemExit(config.DATA_HELP)
    d = sio.loadmat(root / "pnn_grip_unina" / "imgWV2.mat")
    scene = Scene(pan=d["I_PAN"].astype(np.float32), ms=d["I_MS"].transpose(2, 0, 1).astype(np.float32),
                  sensor=get_sensor("wv2"))
    return scene, interp23tap(scene.ms.astype(np.float64), scene.ratio)


def _timed(fn, repeat: int) -> tuple[list[float], object]:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - t)
    return times, value


def _cold(fn):
    """``fn`` with the per-scene memo cleared first (a scene never scored before), where the tree has one."""
    from clippan_kit import metrics

    clear = getattr(metrics, "clear_scene_memo", lambda: None)
    return lambda: (clear(), fn())[1]


def per_metric(repeat: int) -> list[str]:
    from clippan_kit.metrics import (d_lambda, d_lambda_k, d_rho, d_s, full_resolution_metrics, hqnr, qnr,
                                     reprojected_metrics)

    scene, exp = _wv2()
    other = np.repeat(scene.pan[None].astype(np.float64), scene.n_bands, 0)  # another fused image of the scene
    cases = {
        "D_lambda": lambda: d_lambda(exp, scene), "D_s": lambda: d_s(exp, scene), "QNR": lambda: qnr(exp, scene),
        "D_lambda_K": lambda: d_lambda_k(exp, scene), "HQNR": lambda: hqnr(exp, scene),
        "D_rho": lambda: d_rho(exp, scene), "R-metrics": lambda: reprojected_metrics(exp, scene),
        "whole suite": lambda: full_resolution_metrics(exp, scene),
    }
    cases = {name: _cold(fn) for name, fn in cases.items()}
    # The scene's own terms (co-registration, EXP terms of D_lambda and D_s) kept from scoring another
    # fused image of it: the cost of each further image of a table of methods.
    cases["whole suite, scene already scored"] = lambda: full_resolution_metrics(exp, scene)
    full_resolution_metrics(other, scene)
    lines = [f"WV2 1280x1280x8, fused = EXP, torch threads {torch.get_num_threads()}, median of {repeat}", "",
             "| metric | median (s) | min (s) | public ports (s) | peak +MiB | value |", "|---|---|---|---|---|---|"]
    for name, fn in cases.items():
        before = _peak_mib()
        times, value = _timed(fn, repeat)
        shown = value if not isinstance(value, dict) else {k: round(v, 6) for k, v in value.items()}
        ports = PUBLIC_PORTS_SECONDS.get(name, "")
        lines.append(f"| {name} | {statistics.median(times):.2f} | {min(times):.2f} | {ports} | "
                     f"{_peak_mib() - before:.0f} | {shown} |")
        print(lines[-1], flush=True)
    return lines


def worker(repeat: int) -> None:
    """One warm-up and ``repeat`` timed runs of the whole suite; JSON on stdout."""
    from clippan_kit.metrics import full_resolution_metrics

    scene, exp = _wv2()
    full_resolution_metrics(exp, scene)
    times, value = _timed(_cold(lambda: full_resolution_metrics(exp, scene)), repeat)
    print(json.dumps({"times": times, "values": value, "package": __import__("clippan_kit").__file__}))


def side_by_side(baseline: Path, rounds: int, repeat: int) -> list[str]:
    runs = {"baseline": [], "this tree": []}
    values = {}
    for _ in range(rounds):
        for name, src in (("baseline", baseline), ("this tree", ROOT)):
            env = dict(os.environ, PYTHONPATH=str(src))
            out = subprocess.run([sys.executable, __file__, "--worker", "--repeat", str(repeat)], env=env,
                                 check=True, capture_output=True, text=True, cwd=str(src)).stdout
            got = json.loads(out.strip().splitlines()[-1])
            if not got["package"].startswith(str(src)):
                raise SystemExit(f"worker imported {got['package']}, not the tree under {src}")
            runs[name] += got["times"]
            values[name] = got["values"]
            print(f"{name}: {[round(t, 2) for t in got['times']]}", flush=True)
    a, b = values["baseline"], values["this tree"]
    rel = max(abs(a[k] - b[k]) / max(abs(a[k]), 1.0) for k in a)  # relative above 1, absolute below (D_lambda of EXP is 0)
    med = {k: statistics.median(v) for k, v in runs.items()}
    lines = [f"WV2 1280x1280x8, fused = EXP, whole suite (full_resolution_metrics, co-registration included), "
             f"torch threads {torch.get_num_threads()}, {rounds} alternating rounds x {repeat} runs each", "",
             "| code | median (s) | min (s) | max (s) | runs |", "|---|---|---|---|---|"]
    for k, v in runs.items():
        lines.append(f"| {k} | {med[k]:.2f} | {min(v):.2f} | {max(v):.2f} | {len(v)} |")
    lines += ["", f"speed-up (median) {med['baseline'] / med['this tree']:.2f}x; largest difference between the two "
              f"trees' values {rel:.1e} (relative for values above 1)", "", "values (this tree): "
              + ", ".join(f"{k} {v:.6f}" for k, v in b.items())]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--baseline", type=Path, help="source tree (holding clippan_kit/) of the revision to compare")
    parser.add_argument("--results", type=Path, help="append the table to this markdown file")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    if args.worker:
        return worker(args.repeat)
    lines = side_by_side(args.baseline.resolve(), args.rounds, args.repeat) if args.baseline else per_metric(args.repeat)
    print("\n".join(lines))
    if args.results:
        head = [f"## {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC", "",
                "`" + " ".join(["python", "benchmarks/bench_metrics.py"] + sys.argv[1:]) + "`", "",
                f"load average at the start: {load:.1f}; OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '')}", ""]
        with open(args.results, "a") as fh:
            fh.write("\n".join(head + lines) + "\n\n")


if __name__ == "__main__":
    main()
