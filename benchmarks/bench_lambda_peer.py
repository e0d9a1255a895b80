"""λ-PNN/JESSE against the released λ-PNN, scored by BOTH scorers on the same images (issue 11).

For each scene and run, the fused image is written (H x W x B .npy, the scene's DN) to ``--out`` (a cache
folder, never committed) and scored by

* ours: :func:`clippan_kit.metrics.full_resolution_metrics` (R-metrics with the default "peer"
  co-registration, D_ρ, Vivone's D_λ^(K) at PAN scale, QNR's D_λ and D_s, HQNR), and
* the released code's own metrics, through ``../shared/tools/peer_lambda_score.py`` (``--peer-scorer``;
  needs ``LPNN_DIR`` = a copy of matciotola/Lambda-PNN and scikit-image; skipped when absent).

Usage (2 CPU cores; WV3 example ~1 min per run, WV2 ~3-5 min per run)::

    CLIPPAN_DATA=../shared/data LPNN_DIR=/path/Lambda-PNN PEER_WORK=/tmp/peer \\
        python benchmarks/bench_lambda_peer.py --scenes WV3-ex WV2 WV2-8bit --results benchmarks/results/lambda_peer.md
    python benchmarks/bench_lambda_peer.py --scenes WV3-ex --runs 300:2e-3 600:2e-3 300:4e-3   # sweep epochs:lr
    python benchmarks/bench_lambda_peer.py --scenes WV2 --baselines --runs none                  # EXP etc. only

``WV2-8bit`` is made by ``benchmarks/make_8bit_scene.py`` into the cache when missing.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see benchmarks/bench_stage2.py

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
SCENES = {"WV3-ex": ("zpnn_wv3/WV3_example.mat", "wv3", "WV3"), "WV2": ("pnn_grip_unina/imgWV2.mat", None, "WV2"),
          "WV2-8bit": (None, None, "WV2")}
# The released λ-PNN under its own scorer (../shared/reference_values.md) and the other indices.
RELEASED = {"WV2": {"R_Q2n": 0.9817, "R_ERGAS": 2.012, "R_SAM": 2.966, "D_rho": 0.1077, "D_lambda_K": 0.027,
                    "D_lambda": 0.063},
            "WV3-ex": {"R_Q2n": 0.9482, "R_ERGAS": 4.465, "R_SAM": 6.482, "D_rho": 0.0815, "D_lambda_K": 0.144}}
OURS = ("R_Q2n", "R_ERGAS", "R_SAM", "D_rho", "D_lambda_K", "D_lambda", "HQNR", "neg")
PEER = ("R-Q2n", "R-ERGAS", "R-SAM_deg", "D_rho")
TIMES = ("pre_s", "adapt_s", "infer_s")


def load(name: str):
    from clippan_kit.config import data_dir
    from clippan_kit.io import load_scene

    rel, sensor, _ = SCENES[name]
    if rel is None:
        sys.path.insert(0, str(HERE))
        from make_8bit_scene import default_path, make_8bit

        path = default_path()
        if not path.exists():
            make_8bit(data_dir() / "pnn_grip_unina/imgWV2.mat", path)
    else:
        path = data_dir() / rel
    return load_scene(path, sensor=sensor) if sensor else load_scene(path), path


def ours(fused: np.ndarray, scene) -> dict:
    from clippan_kit.metrics import full_resolution_metrics

    m = {k: float(v) for k, v in full_resolution_metrics(fused, scene).items()}
    m["neg"] = float((fused < 0).mean())
    return m


def peer(fused: np.ndarray, scene_path: Path, sensor: str, out: Path, scorer: Path) -> dict:
    """The released code's scores of ``fused`` (B, H, W): runs its scorer in a subprocess; {} when unavailable."""
    if not os.environ.get("LPNN_DIR") or not scorer.exists():
        return {}
    npy = out.with_suffix(".npy")
    np.save(npy, np.ascontiguousarray(np.moveaxis(fused, 0, -1)).astype(np.float32))
    res = out.with_suffix(".peer.json")
    cmd = [sys.executable, str(scorer), "--scene", str(scene_path), "--sensor", sensor, "--fused", str(npy),
           "--json", str(res)]
    r = subprocess.run(cmd, cwd=scorer.parent, capture_output=True, text=True)
    if r.returncode != 0:
        print(r.stderr[-2000:], file=sys.stderr)
        return {}
    return json.loads(res.read_text())["metrics"]


def row(label: str, m: dict, p: dict, t: dict | None = None) -> str:
    def f(d, k, fmt="{:.4f}"):
        return fmt.format(d[k]) if k in d else "-"

    cells = [f(m, k) for k in OURS] + [f(p, k) for k in PEER] + [f(t or {}, k, "{:.1f}") for k in TIMES]
    return f"| {label} | " + " | ".join(cells) + " |"


def header() -> str:
    cols = [f"{k} (ours)" for k in OURS] + [f"{k} (peer)" for k in PEER] + list(TIMES)
    return "| run | " + " | ".join(cols) + " |\n|---|" + "---|" * len(cols)


def main(argv=None) -> int:
    from clippan_kit.classical import fuse
    from clippan_kit.config import cache_dir
    from clippan_kit.train import lambda_pnn_pipeline

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scenes", nargs="+", default=["WV3-ex", "WV2"], choices=list(SCENES))
    p.add_argument("--runs", nargs="+", default=["default"], help="'default' (the pipeline's defaults), "
                   "EPOCHS:LR[:GAMMA] (JESSE's γ), or 'none'")
    p.add_argument("--baselines", nargs="*", help="also score these classical methods (no name: EXP, BDSD, "
                   "MTF-GLP-HPM-R)")
    p.add_argument("--checkpoint", type=Path, help="adapt this checkpoint instead of the pipeline's choice")
    p.add_argument("--no-cache", action="store_true", help="ignore a cached pretrained λ-PNN (from scratch)")
    p.add_argument("--out", type=Path, default=cache_dir() / "bench_lambda_peer")
    p.add_argument("--peer-scorer", type=Path, default=HERE.parent.parent / "shared/tools/peer_lambda_score.py")
    p.add_argument("--results", type=Path, help="append the table (with this command) to this markdown file")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    a.out.mkdir(parents=True, exist_ok=True)
    lines = [header()]
    print(lines[0])
    for name in a.scenes:
        scene, path = load(name)
        psensor = SCENES[name][2]
        jobs: list[tuple[str, object]] = []
        if a.baselines is not None:
            jobs += [(m.upper(), m) for m in (a.baselines or ("exp", "bdsd", "mtf-glp-hpm-r"))]
        jobs += [(r, r) for r in a.runs if r != "none"]
        for label, job in jobs:
            t = None
            if a.baselines is not None and job in (a.baselines or ("exp", "bdsd", "mtf-glp-hpm-r")):
                fused = fuse(scene, job)
                tag = job
            else:
                kw = {}
                if job != "default":
                    parts = job.split(":")
                    kw = {"epochs": int(parts[0]), "lr": float(parts[1])}
                    if len(parts) > 2:
                        kw["gamma"] = float(parts[2])
                torch.manual_seed(a.seed)
                fused, rep = lambda_pnn_pipeline(scene, a.checkpoint, use_cache=not a.no_cache, seed=a.seed, **kw)
                origin = "scratch" if rep["checkpoint"] is None else Path(rep["checkpoint"]).name
                label = f"λ-PNN ours, {rep['epochs']} ep, lr {rep['lr']:g}, γ {rep['gamma']:g}, {origin}"
                t = {"pre_s": rep["preprocessing_s"], "adapt_s": rep["adaptation_s"], "infer_s": rep["inference_s"]}
                tag = f"lpnn_{job.replace(':', '_')}"
            m = ours(fused, scene)
            pm = peer(fused, path, psensor, a.out / f"{name}_{tag}", a.peer_scorer)
            lines.append(row(f"{name} {label}", m, pm, t))
            print(lines[-1])
            sys.stdout.flush()
        if name in RELEASED:
            rel = RELEASED[name]
            lines.append(row(f"{name} released λ-PNN (issue / reference_values.md)",
                             {k: rel[k] for k in ("D_lambda_K", "D_lambda") if k in rel},
                             {"R-Q2n": rel["R_Q2n"], "R-ERGAS": rel["R_ERGAS"], "R-SAM_deg": rel["R_SAM"],
                              "D_rho": rel["D_rho"]}))
            print(lines[-1])
    if a.results:
        cmd = "python benchmarks/bench_lambda_peer.py " + " ".join(shlex.quote(x) for x in (argv or sys.argv[1:]))
        with open(a.results, "a") as f:
            f.write(f"\n## `{cmd}`\n\n{time.strftime('%Y-%m-%d %H:%M')}, {torch.get_num_threads()} CPU threads, "
                    f"load average {os.getloadavg()[0]:.1f}\n\n" + "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
