"""Paired multi-seed ablation of CLIPPan's direction loss L_d (issue #12).

For every scene and seed, every arm trains the same backbone from the **same initial weights on the same
tile sequence** (``clippan_kit.train.train`` seeds the weights and the tile sampler from ``seed``; the
first-iteration loss values of paired arms are checked to be identical). The table gives, for each
comparison, the mean over seeds of the paired difference (arm - baseline) with a 95 % Student-t interval.

Arms (λ-PNN, ``small``):

* ``U``        L_unsup + L_ship (spec + spat + QNR + SHIP teacher), the baseline of the L_d arms
* ``U+d``      + L_d through the Stage I supervisor (the paper's CLIPPan loss)
* ``U+d0``     + L_d through an *untrained* supervisor (control: random adapters on the frozen base)
* ``U+dN``     + L_d through a supervisor trained with the "noise" HRMS prompt (control: Table 5)
* ``U+rand``   + a random direction with L_d's gradient norm (control: "any extra gradient of that size")
* ``U+dS``     + our spectral direction loss (L_d + an MS-scale consistency route; beyond the paper)
* ``J``        λ-PNN's own loss JESSE;  ``J+d``: JESSE + L_d

Scenes: Deng's WV3 reduced-resolution set (trained *without* its ground truth; scored against it: Q2n,
ERGAS, SAM, and with the full-resolution indices), and 256² centre crops of WV2 and IKONOS (full
resolution: HQNR, D_ρ, QNR). Supervisor (Stage I, BDSD pseudo-labels) and SHIP teacher (Wald-reduced,
never a ground truth) are trained per sensor on the scene itself, once, shared by all seeds and arms.

Usage (budget: about 30 min on 2 shared CPU cores with the defaults)::

    CLIPPAN_DATA=../shared/data nice python benchmarks/bench_clippan_paired.py --results benchmarks/results/clippan_paired.md
    python benchmarks/bench_clippan_paired.py --seeds 2 --iterations 4 --stage1-steps 2 --scenes WV3  # smoke run
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see bench_stage2.py: spin-waiting threads on shared cores

import argparse
import copy
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch

SCENES = {"WV3": ("wv3-reduced", None), "WV2": ("wv2", 256), "IKONOS": ("ikonos", 256)}
ARMS = ("U", "U+d", "U+d0", "U+dN", "U+rand", "U+dS", "J", "J+d")
# (arm, baseline, label)
COMPARISONS = (("U+d", "U", "L_d (paper) vs L_unsup+L_ship"),
               ("U+d0", "U", "control: untrained supervisor"),
               ("U+dN", "U", "control: 'noise' prompt supervisor"),
               ("U+rand", "U", "control: random direction, L_d's gradient norm"),
               ("U+dS", "U", "spectral direction loss (ours) vs L_unsup+L_ship"),
               ("U+dS", "U+d", "spectral direction loss (ours) vs paper L_d"),
               ("J+d", "J", "JESSE + L_d vs JESSE"),
               ("U+d", "U+rand", "L_d vs the random direction of the same gradient norm"))
HIGHER_BETTER = {"Q2n": True, "ERGAS": False, "SAM": False, "HQNR": True, "D_rho": False, "QNR": True}
RR_KEYS, FR_KEYS = ("Q2n", "ERGAS", "SAM"), ("HQNR", "D_rho", "QNR")
OUT: list[str] = []


def emit(text: str = "") -> None:
    print(text)
    sys.stdout.flush()
    OUT.append(text)


def load_scene(name: str):
    from clippan_kit.samples import load_sample

    key, crop = SCENES[name]
    scene = load_sample(key)
    if crop:
        H, W = scene.shape
        r = scene.ratio
        scene = scene.crop((H - crop) // 2 // r * r, (W - crop) // 2 // r * r, crop, crop)
    blind = copy.copy(scene)  # what training sees: never the ground truth
    blind.reference = None
    return scene, blind


def t_interval(d: np.ndarray) -> tuple[float, float, float]:
    """(mean, low, high) of the 95 % Student-t interval of the mean of paired differences ``d``."""
    from scipy import stats

    n = len(d)
    m = float(d.mean())
    if n < 2:
        return m, float("nan"), float("nan")
    h = float(stats.t.ppf(0.975, n - 1) * d.std(ddof=1) / np.sqrt(n))
    return m, m - h, m + h


def prepare(name: str, blind, args) -> dict:
    """Supervisors (trained, untrained, noise prompt) and the SHIP teacher of a scene."""
    from clippan_kit.supervisor import TrainConfig, build_supervisor, train_supervisor
    from clippan_kit.train import train_teacher

    work = Path(args.work) / name
    t0 = time.perf_counter()
    cfg = TrainConfig(steps=args.stage1_steps, batch_size=args.stage1_batch, tile_size=args.tile,
                      input_size=args.input_size, save_every=10_000, seed=0)
    sup = train_supervisor([blind], work / "sup.pt", cfg, base=args.base_obj, pseudo_label="bdsd", progress=False).supervisor
    t1 = time.perf_counter()
    noise = train_supervisor([blind], work / "sup_noise.pt", TrainConfig(**{**cfg.__dict__, "hrms_prompt": "noise"}),
                             base=args.base_obj, pseudo_label="bdsd", progress=False).supervisor
    t2 = time.perf_counter()
    torch.manual_seed(0)
    untrained = build_supervisor(args.base_obj, blind.sensor, cfg)
    teacher = train_teacher(blind, preset="quick", iterations=args.teacher_iterations, tile=args.teacher_tile,
                            batch_size=8, progress=False, seed=0).model
    t3 = time.perf_counter()
    emit(f"- {name}: Stage I {t1 - t0:.0f} s (Wald prompt) + {t2 - t1:.0f} s (noise prompt), "
         f"SHIP teacher {t3 - t2:.0f} s")
    return {"sup": sup, "noise": noise, "untrained": untrained, "teacher": teacher}


def arm_spec(arm: str, parts: dict, seed: int) -> dict:
    """train() keyword arguments of an arm."""
    from clippan_kit.losses import supervisor_direction_fn

    unsup = {"spec": 1.0, "spat": 1.0, "qnr": 1.0, "ship": 1.0}
    d = {"direction": 1.0}
    if arm == "U":
        return {"mode": "unsup", "loss": unsup, "teacher": parts["teacher"]}
    if arm.startswith("U+"):
        fn = {"U+d": lambda: supervisor_direction_fn(parts["sup"]),
              "U+d0": lambda: supervisor_direction_fn(parts["untrained"]),
              "U+dN": lambda: supervisor_direction_fn(parts["noise"]),
              "U+rand": lambda: supervisor_direction_fn(parts["sup"], control="random", seed=1000 + seed),
              "U+dS": lambda: supervisor_direction_fn(parts["sup"], variant="spectral")}[arm]()
        return {"mode": "unsup", "loss": {**unsup, **d}, "teacher": parts["teacher"], "supervisor": fn}
    if arm == "J":
        return {"mode": "jesse", "loss": {"jesse": 1.0}}
    if arm == "J+d":
        return {"mode": "jesse", "loss": {"jesse": 1.0, **d}, "supervisor": supervisor_direction_fn(parts["sup"])}
    raise KeyError(arm)


def score(model, scene) -> dict:
    from clippan_kit.infer import fuse_scene
    from clippan_kit.metrics import full_resolution_metrics, reduced_resolution_metrics

    fused = fuse_scene(model, scene, progress=False)
    m = {k: float(v) for k, v in full_resolution_metrics(fused, scene).items() if k in FR_KEYS}
    if scene.reference is not None:
        rr = reduced_resolution_metrics(fused, scene.reference, ratio=scene.ratio, max_value=scene.max_value)
        m.update({k: float(rr[k]) for k in RR_KEYS})
    return m


def run_scene(name: str, args) -> dict:
    from clippan_kit.train import train

    scene, blind = load_scene(name)
    parts = prepare(name, blind, args)
    results: dict[str, list[dict]] = {a: [] for a in args.arms}
    first: dict[str, list[float]] = {a: [] for a in args.arms}
    t_arm = {a: 0.0 for a in args.arms}
    for seed in range(args.seeds):
        for arm in args.arms:
            t = time.perf_counter()
            r = train(blind, backbone=args.backbone, preset="quick", iterations=args.iterations,
                      batch_size=args.batch_size, tile=args.tile, lr=args.lr, val_every=0, seed=seed, progress=False,
                      **arm_spec(arm, parts, seed))
            results[arm].append(score(r.model, scene))
            h = r.history[0]
            first[arm].append(h.get("spec", h.get("jesse", float("nan"))))
            t_arm[arm] += time.perf_counter() - t
        emit(f"  - {name} seed {seed} done ({time.perf_counter() - T0:.0f} s since start)")
    # pairing check: the first iteration's loss (before any update) depends only on init and tiles
    for a, b, _ in COMPARISONS:
        if a in first and b in first:
            same = np.allclose(first[a], first[b], rtol=0, atol=1e-6)
            if not same:
                emit(f"  WARNING {name}: {a} and {b} differ at iteration 1 ({first[a]} vs {first[b]}): not paired")
    return {"results": results, "seconds": t_arm, "parts": parts, "scene": scene}


def gates_table(name: str, out: dict, args) -> None:
    from clippan_kit.supervisor.gates import gate_tiles, quality_gates

    tiles, where = gate_tiles([out["scene"]], args.tile)
    if tiles is None or len(tiles) < 4:  # a 256² crop Wald-reduces to one 64-px tile: no fraction to speak of
        emit(f"\nno gates for {name}: {where if tiles is None else f'{len(tiles)} tile(s) with a reference only'}")
        return
    rows = [("trained (Wald prompt)", out["parts"]["sup"], "paper"), ("untrained", out["parts"]["untrained"], "paper"),
            ("noise prompt", out["parts"]["noise"], "paper"), ("trained, spectral variant", out["parts"]["sup"], "spectral")]
    keys = ("ld_gt", "ld_exp", "frac_gt<blur1", "frac_blur1<blur2", "frac_blur2<exp", "frac_gt<exp", "frac_ordered",
            "frac_bands_reversed>gt", "frac_pan_all_bands>gt", "frac_hue_rotated>gt", "grad_cos_mean", "grad_cos_frac_pos")
    emit(f"\n### Supervisor quality gates, {name} ({int(len(tiles))} tiles of {args.tile} px, {where}; "
         f"gradient cosine over {args.gate_batches} batches of λ-PNN)\n")
    emit("| supervisor | " + " | ".join(keys) + " |")
    emit("|---|" + "---|" * len(keys))
    for label, sup, variant in rows:
        m = quality_gates(sup, tiles, variant=variant, grad_batches=args.gate_batches)
        emit(f"| {label} | " + " | ".join(f"{m[k]:.3f}" for k in keys) + " |")


def tables(name: str, out: dict, args) -> None:
    res = out["results"]
    keys = [k for k in (*RR_KEYS, *FR_KEYS) if k in res[args.arms[0]][0]]
    emit(f"\n### {name}: mean over {args.seeds} seeds (s = training + scoring seconds per run)\n")
    emit("| arm | " + " | ".join(keys) + " | s |")
    emit("|---|" + "---|" * (len(keys) + 1))
    for a in args.arms:
        vals = {k: np.mean([r[k] for r in res[a]]) for k in keys}
        emit(f"| {a} | " + " | ".join(f"{vals[k]:.4f}" for k in keys) + f" | {out['seconds'][a] / args.seeds:.1f} |")
    emit(f"\n### {name}: paired difference (arm - baseline), mean [95 % t-interval]; "
         "**bold** = interval excludes 0 (+ better / - worse)\n")
    emit("| comparison | " + " | ".join(f"Δ{k} ({'↑' if HIGHER_BETTER[k] else '↓'})" for k in keys) + " |")
    emit("|---|" + "---|" * len(keys))
    for a, b, label in COMPARISONS:
        if a not in res or b not in res:
            continue
        cells = []
        for k in keys:
            d = np.array([x[k] - y[k] for x, y in zip(res[a], res[b])])
            m, lo, hi = t_interval(d)
            txt = f"{m:+.4f} [{lo:+.4f}, {hi:+.4f}]"
            if lo > 0 or hi < 0:
                better = (m > 0) == HIGHER_BETTER[k]
                txt = f"**{txt}** {'+' if better else '-'}"
            cells.append(txt)
        emit(f"| {a} − {b}: {label} | " + " | ".join(cells) + " |")


def main(argv=None) -> int:
    global T0
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenes", nargs="+", default=list(SCENES), choices=list(SCENES))
    p.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--backbone", default="lambda_pnn")
    p.add_argument("--iterations", type=int, default=30, help="Stage II iterations per run")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--lr", type=float, default=2e-3, help="Adam lr (2e-3: the λ-PNN adaptation default)")
    p.add_argument("--tile", type=int, default=64, help="Stage II tile = Stage I tile (scale-matched)")
    p.add_argument("--input-size", type=int, default=64, help="supervisor image-tower input side")
    p.add_argument("--stage1-steps", type=int, default=40)
    p.add_argument("--stage1-batch", type=int, default=8)
    p.add_argument("--teacher-iterations", type=int, default=60)
    p.add_argument("--teacher-tile", type=int, default=32)
    p.add_argument("--gate-batches", type=int, default=20)
    p.add_argument("--base", default="offline")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--work", default="/tmp/clippan_paired")
    p.add_argument("--results", type=Path, help="markdown file the output is appended to")
    p.add_argument("--raw", type=Path, help="JSON file for the per-seed scores of every arm (for further pairing)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    T0 = time.perf_counter()
    from clippan_kit.supervisor import load_base

    emit(f"## `python benchmarks/bench_clippan_paired.py {shlex.join(sys.argv[1:] if argv is None else argv)}`\n")
    emit(f"{time.strftime('%Y-%m-%d %H:%M')} UTC, {args.threads} CPU threads, load average "
         f"{os.getloadavg()[0]:.1f} at start (shared machine), backbone {args.backbone} (small), "
         f"{args.seeds} seeds, Stage II {args.iterations} iterations x batch {args.batch_size} x {args.tile} px, lr {args.lr:g}, "
         f"Stage I {args.stage1_steps} steps x batch {args.stage1_batch} x {args.tile} px (tower input "
         f"{args.input_size} px), SHIP teacher {args.teacher_iterations} iterations, base {args.base}\n")
    args.base_obj = load_base(args.base)
    outs = {}
    for name in args.scenes:
        outs[name] = run_scene(name, args)
        gates_table(name, outs[name], args)
        tables(name, outs[name], args)
    cpu = time.process_time()
    emit(f"\nTotal {time.perf_counter() - T0:.0f} s wall, {cpu:.0f} s CPU of this process; load average at the end "
         f"{os.getloadavg()[0]:.1f}.")
    if args.raw:
        import json

        args.raw.write_text(json.dumps({n: o["results"] for n, o in outs.items()}, indent=1))
    if args.results:
        with open(args.results, "a") as f:
            f.write("\n".join(OUT) + "\n\n")
    return 0


T0 = 0.0

if __name__ == "__main__":
    raise SystemExit(main())
