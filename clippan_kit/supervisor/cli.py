"""``clippan train-supervisor`` and ``clippan evaluate-supervisor`` (registered by :func:`add_subcommands`).

Errors reach ``clippan_kit.cli.main``, which prints them as one readable line (exit status 2).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging

__all__ = ["add_subcommands", "run_train", "run_evaluate"]


def _load_scenes(args) -> list:
    """Scenes from ``--scene FILE`` (repeatable) or one ``--ms/--pan`` pair, via clippan_kit.io."""
    from .. import io  # the project's loader (written separately); imported lazily
    from ..cli import parse_bands

    sensor = getattr(args, "sensor", None)
    kw = {"sensor": sensor} if sensor else {}
    if bands := parse_bands(getattr(args, "bands", None)):
        kw["bands"] = bands
    if getattr(args, "scene", None):
        return [io.load_scene(p, **kw) for p in args.scene]
    if args.ms and args.pan:
        return [io.load_scene({"ms": args.ms, "pan": args.pan}, **kw)]
    raise ValueError("give --scene FILE, or both --ms MS and --pan PAN")


def add_subcommands(subparsers) -> None:
    """Register ``train-supervisor`` and ``evaluate-supervisor`` on an argparse subparsers object."""
    from ..cli import BANDS_HELP
    from .train import TrainConfig

    t = subparsers.add_parser("train-supervisor", help="CLIPPan Stage I: adapt a frozen CLIP into a supervisor")
    t.add_argument("--scene", action="append", help="training scene file (repeatable)")
    t.add_argument("--ms", help="MS GeoTIFF (low resolution), with --pan, instead of --scene")
    t.add_argument("--pan", help="PAN GeoTIFF, with --ms")
    t.add_argument("--sensor", help="sensor name when the file does not say")
    t.add_argument("--bands", help=BANDS_HELP)
    t.add_argument("--out", required=True, help="output folder (supervisor.pt, loss.csv)")
    t.add_argument("--base", default="auto", help="auto | offline | openai | MODEL:TAG | MODEL:/file | local-dir:/folder")
    t.add_argument("--pseudo-label", default="bdsd", choices=["bdsd", "reference"])
    t.add_argument("--resume", action="store_true")
    t.add_argument("--device", default=None)
    t.add_argument("--holdout", type=float, default=0.0, help="fraction of rows of each scene kept out of training")
    for f in dataclasses.fields(TrainConfig):
        kind = {int: int, float: float, str: str, bool: None}.get(type(f.default))
        name = "--" + f.name.replace("_", "-")
        if f.name == "input_size":
            t.add_argument(name, type=lambda v: None if v in ("none", "base") else int(v), default=f.default,
                           help="image-tower input size ('base' = the base's own)")
        elif kind is None:
            t.add_argument(name, action=argparse.BooleanOptionalAction, default=f.default)
        else:
            t.add_argument(name, type=kind, default=f.default)
    t.set_defaults(func=run_train)

    e = subparsers.add_parser("evaluate-supervisor", help="metrics of a trained supervisor on a scene")
    e.add_argument("--checkpoint", required=True)
    e.add_argument("--scene", action="append")
    e.add_argument("--ms")
    e.add_argument("--pan")
    e.add_argument("--sensor")
    e.add_argument("--bands", help=BANDS_HELP)
    e.add_argument("--pseudo-label", default="bdsd", choices=["bdsd", "reference"])
    e.add_argument("--tile-size", type=int, default=128)
    e.add_argument("--max-tiles", type=int, default=64)
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.set_defaults(func=run_evaluate)


def run_train(args) -> int:
    from .data import split_scene
    from .train import TrainConfig, train_supervisor

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    cfg = TrainConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)})
    scenes = _load_scenes(args)
    if args.holdout:
        scenes = [split_scene(s, args.holdout)[0] for s in scenes]
    res = train_supervisor(scenes, args.out, cfg, base=args.base, pseudo_label=args.pseudo_label,
                           resume=args.resume, device=args.device)
    print(f"saved {res.checkpoint} ({len(res.history)} steps logged in {res.log_csv}, "
          f"{res.seconds_per_step:.2f} s/step)")
    return 0


def run_evaluate(args) -> int:
    from .checkpoint import load_supervisor
    from .data import grid_tiles, resolve_pseudo_label_fn
    from .evaluate import supervisor_metrics
    from .train import hrms_targets

    scenes = _load_scenes(args)
    sup = load_supervisor(args.checkpoint, n_bands=scenes[0].n_bands)
    import torch

    tiles = [grid_tiles(s, args.tile_size, max_tiles=args.max_tiles) for s in scenes]
    from .data import Tiles

    ref = None if any(t.reference is None for t in tiles) else torch.cat([t.reference for t in tiles])
    tiles = Tiles(torch.cat([t.ms for t in tiles]), torch.cat([t.pan for t in tiles]), ref)
    hrms = hrms_targets(tiles, resolve_pseudo_label_fn(args.pseudo_label, sup.sensor))
    m = supervisor_metrics(sup, tiles, hrms)
    if args.json:
        print(json.dumps({"checkpoint": args.checkpoint, "metrics": m}))
    else:
        for k, v in m.items():
            print(f"{k:<18} {v:.4f}")
    return 0
