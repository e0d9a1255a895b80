"""How much the default λ-PNN run moves with the CPU's vector kernels: one run per kernel set, one table.

The same seed, code and thread count give bit-identical runs on one machine, but not across CPU types:
PyTorch's own kernels (``ATEN_CPU_CAPABILITY``), oneDNN's convolutions (``ONEDNN_MAX_CPU_ISA``) and MKL
(``MKL_CBWR``) pick AVX2 or AVX-512 code by CPU, which rounds differently in the last bits, and 300 Adam
steps of target adaptation carry that into the 3rd-4th decimal of the scores. Forcing each kernel set on
one machine shows the spread a user sees across machines, i.e. how large a difference between two λ-PNN
rows must be before it means anything. Each setting runs in its own process (the variables are read at
start-up); scores are ours (:func:`clippan_kit.metrics.full_resolution_metrics`).

Usage (2 CPU cores; WV3 example ~15 s per setting, WV2 ~2.5 min)::

    CLIPPAN_DATA=../shared/data python benchmarks/bench_cpu_kernels.py --scenes wv3-example wv2 \\
        --results benchmarks/results/lambda_peer.md
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

KEYS = ("R_Q2n", "D_rho", "R_SAM", "R_ERGAS", "D_lambda_K", "D_lambda", "HQNR")
# label -> environment; the first is the machine's own choice.
SETTINGS = {
    "native": {},
    "ATen AVX2": {"ATEN_CPU_CAPABILITY": "avx2"},
    "ATen default (no SIMD)": {"ATEN_CPU_CAPABILITY": "default"},
    "oneDNN AVX2": {"ONEDNN_MAX_CPU_ISA": "AVX2"},
    "MKL AVX2": {"MKL_CBWR": "AVX2"},
    "MKL compatible": {"MKL_CBWR": "COMPATIBLE"},
    "all AVX2": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "AVX2"},
    "1 thread": {"OMP_NUM_THREADS": "1", "CLIPPAN_THREADS": "1"},
}
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_lambda_peer import RELEASED as _RELEASED  # noqa: E402  the released λ-PNN's numbers, kept in one place

# The released λ-PNN under its own scorer (../shared/reference_values.md): the numbers every row must beat.
RELEASED = {"wv2": _RELEASED["WV2"], "wv3-example": _RELEASED["WV3-ex"]}


def one_run(scene_name: str) -> dict:
    """The pipeline's defaults (from scratch, the cached network ignored) on a sample scene, scored."""
    from clippan_kit.methods import resolve_method
    from clippan_kit.metrics import full_resolution_metrics
    from clippan_kit.repro import reproducible
    from clippan_kit.samples import load_sample
    from clippan_kit.train import lambda_pnn_pipeline

    reproducible(0)
    scene = load_sample(scene_name)
    choice = resolve_method("lambda-pnn")
    t = time.perf_counter()
    fused, report = lambda_pnn_pipeline(scene, choice.checkpoint, **choice.options, use_cache=False, progress=False)
    m = full_resolution_metrics(fused, scene)
    return {"tiles": report["tiles"], "best_loss": report["best_loss"], "s": time.perf_counter() - t,
            **{k: float(m[k]) for k in KEYS}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenes", nargs="+", default=["wv3-example"], choices=sorted(RELEASED))
    p.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    p.add_argument("--results", type=Path, help="append the table (with this command) to this markdown file")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:  # one run in this process, whose environment the parent set
        print("RESULT " + json.dumps(one_run(args.child)))
        return
    lines = [f"## `python benchmarks/bench_cpu_kernels.py {shlex.join(sys.argv[1:])}`", "",
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average {os.getloadavg()[0]:.1f} at the start; "
             "seed 0, 2 threads unless said; scores: ours", ""]
    for scene in args.scenes:
        lines += [f"### {scene} (released λ-PNN: R-Q2n {RELEASED[scene]['R_Q2n']}, D_ρ {RELEASED[scene]['D_rho']})", "",
                  "| kernels | best loss | " + " | ".join(KEYS) + " | tiles | s |", "|---" * (len(KEYS) + 4) + "|"]
        rows = []
        for label in args.settings:
            env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", **SETTINGS[label]}
            out = subprocess.run([sys.executable, __file__, "--child", scene], env=env, capture_output=True, text=True)
            found = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")]
            if out.returncode or not found:
                raise SystemExit(f"{label} on {scene} failed:\n{out.stderr[-2000:]}")
            r = json.loads(found[-1][7:])
            rows.append(r)
            lines.append(f"| {label} | {r['best_loss']:.4f} | " + " | ".join(f"{r[k]:.4f}" for k in KEYS)
                         + f" | {r['tiles']} | {r['s']:.0f} |")
            print(lines[-1], flush=True)
        spread = {k: (min(r[k] for r in rows), max(r[k] for r in rows)) for k in KEYS}
        beats = all(r["R_Q2n"] > RELEASED[scene]["R_Q2n"] and r["D_rho"] < RELEASED[scene]["D_rho"] for r in rows)
        lines += ["", "range: " + ", ".join(f"{k} {lo:.4f}-{hi:.4f}" for k, (lo, hi) in spread.items())
                  + f"; every row beats the released network on R-Q2n and D_ρ: {'yes' if beats else 'NO'}", ""]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.results:
        with open(args.results, "a") as fh:
            fh.write("\n" + text)


if __name__ == "__main__":
    main()
