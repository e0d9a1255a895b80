"""Same seed, same numbers: tiny runs of the four training loops, dumped and compared across code versions.

Used to check that moving Stage I, Stage II, the SHIP teacher and target adaptation onto the one
training engine (clippan_kit/engine/) changed no number. Run it once with the old code on the path and
once with the new, then compare:

    git archive <old-commit> | tar -x -C /tmp/old
    PYTHONPATH=/tmp/old python benchmarks/engine_equivalence.py dump /tmp/eq_old
    PYTHONPATH=$PWD     python benchmarks/engine_equivalence.py dump /tmp/eq_new
    python benchmarks/engine_equivalence.py compare /tmp/eq_old /tmp/eq_new

``dump`` writes ``runs.pt`` (loss curves, validation, fused image, every tensor of every checkpoint) and
keeps the checkpoints it wrote (``ckpt/``), so the new code can also be asked to load the old files
(``compare`` does: it loads each old checkpoint with the code on the path and fuses / rebuilds with it).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import torch


def _tensors(obj, prefix=""):
    """Flatten nested dicts/lists to {path: float64 numpy array} (numbers and tensors only)."""
    out = {}
    if isinstance(obj, torch.Tensor):
        out[prefix] = obj.detach().double().cpu().numpy()
    elif isinstance(obj, np.ndarray) and obj.dtype.kind in "fiub":
        out[prefix] = obj.astype(np.float64)
    elif isinstance(obj, (bool, int, float)) and not isinstance(obj, bool):
        out[prefix] = np.asarray(float(obj))
    elif isinstance(obj, dict):
        for k, v in obj.items():
            out.update(_tensors(v, f"{prefix}/{k}"))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            out.update(_tensors(v, f"{prefix}/{i}"))
    return out


def _strip_time(rows):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


def _ckpt_numbers(path: Path) -> dict:
    """Weights, optimizer state and loss state of a checkpoint, by a layout-independent name."""
    ck = torch.load(path, map_location="cpu", weights_only=False)
    state = ck.get("train_state", ck)
    weights = ck.get("weights", ck.get("trainable", ck.get("model")))
    out = {"weights": weights, "optimizer": state["optimizer"]["state"]}
    if "loss" in state:
        out["loss"] = state["loss"]
    return _tensors(out)


def dump(out: Path) -> None:
    from clippan_kit.repro import reproducible
    from clippan_kit.supervisor import TrainConfig, tiny_base, train_supervisor
    from clippan_kit.synthetic import synthetic_scene
    from clippan_kit.train import lambda_pnn_pipeline, train, train_teacher
    from clippan_kit.wald import interp23tap

    out.mkdir(parents=True, exist_ok=True)
    ck = out / "ckpt"
    os.environ["CLIPPAN_CACHE"] = str(out / "cache")  # no cached pretrained network: adapt from scratch
    scene = synthetic_scene("wv3", size=128)
    runs = {}

    reproducible(0)
    s1 = train_supervisor([scene], ck / "sup.pt", TrainConfig(steps=4, batch_size=3, tile_size=32, save_every=2),
                          base=tiny_base(), pseudo_label=lambda ms, pan: interp23tap(ms, 4), progress=False)
    runs["stage1"] = {"history": _strip_time(s1.history), "ckpt": _ckpt_numbers(s1.checkpoint)}

    reproducible(0)
    s2 = train(scene, backbone="pnn", mode="unsup", preset="tiny", iterations=4, val_every=2, checkpoint=ck / "pnn.pt",
               progress=False, seed=1)
    runs["stage2"] = {"history": _strip_time(s2.history), "validation": s2.validation, "ckpt": _ckpt_numbers(s2.checkpoint)}

    reproducible(0)
    j = train(scene, backbone="lambda_pnn", mode="jesse", preset="tiny", iterations=3, checkpoint=ck / "jesse.pt",
              progress=False, seed=2)
    runs["jesse"] = {"history": _strip_time(j.history), "ckpt": _ckpt_numbers(j.checkpoint)}

    reproducible(0)
    t = train_teacher(scene, preset="tiny", iterations=3, checkpoint=ck / "ship.pt", progress=False)
    runs["teacher"] = {"history": _strip_time(t.history), "ckpt": _ckpt_numbers(t.checkpoint)}

    reproducible(0)
    fused, report = lambda_pnn_pipeline(scene, epochs=5, n_tiles=2, tile=64, use_cache=False)
    runs["adaptation"] = {"history": _strip_time(report["history"]), "best_loss": report["best_loss"], "fused": fused}
    torch.save({k: _tensors(v) for k, v in runs.items()}, out / "runs.pt")
    print(f"wrote {out / 'runs.pt'} and checkpoints in {ck}")


def compare(a: Path, b: Path) -> int:
    ra, rb = torch.load(a / "runs.pt", weights_only=False), torch.load(b / "runs.pt", weights_only=False)
    worst = 0.0
    print("| loop | numbers compared | max abs difference |\n|---|---|---|")
    for loop in ra:
        ka, kb = set(ra[loop]), set(rb[loop])
        if ka - kb:  # a number the old code produced and the new one lost
            print(f"{loop}: missing in the new run: {sorted(ka - kb)[:5]}")
            return 1
        d = max((float(np.max(np.abs(ra[loop][k] - rb[loop][k]))) if ra[loop][k].size else 0.0) for k in ka)
        n = sum(ra[loop][k].size for k in ka)
        worst = max(worst, d)
        added = sorted({k.rsplit("/", 1)[-1] for k in kb - ka})
        print(f"| {loop} | {n} | {d:.3g} |" + (f" (new fields: {', '.join(added)})" if added else ""))
    # the code on the path loads the checkpoints the old code wrote
    from clippan_kit.supervisor import load_supervisor, tiny_base
    from clippan_kit.synthetic import synthetic_scene
    from clippan_kit.train import load_trained_model

    scene = synthetic_scene("wv3", size=128)
    sup = load_supervisor(a / "ckpt" / "sup.pt", base=tiny_base())
    print(f"old supervisor checkpoint loads: step {sup.checkpoint_step}")
    for name in ("pnn", "jesse", "ship"):
        old, new = load_trained_model(a / "ckpt" / f"{name}.pt", scene=scene), load_trained_model(b / "ckpt" / f"{name}.pt", scene=scene)
        x = torch.rand(1, 8, 32, 32), torch.rand(1, 1, 32, 32), torch.rand(1, 8, 8, 8)
        with torch.no_grad():
            diff = float((old(*x) - new(*x)).abs().max())
        print(f"old {name} checkpoint loads; output vs the new checkpoint's: max abs difference {diff:.3g}")
        worst = max(worst, diff)
    print(f"worst difference: {worst:.3g}")
    return 0 if worst < 1e-6 else 1


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("dump").add_argument("out", type=Path)
    c = sub.add_parser("compare")
    c.add_argument("old", type=Path)
    c.add_argument("new", type=Path)
    args = p.parse_args(argv)
    return dump(args.out) or 0 if args.cmd == "dump" else compare(args.old, args.new)


if __name__ == "__main__":
    sys.exit(main())
