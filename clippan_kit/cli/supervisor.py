"""``clippan train-supervisor`` and ``clippan evaluate-supervisor``: CLIPPan Stage I.

Option names follow the other commands: ``--iterations`` and ``--tile`` set
:class:`~clippan_kit.supervisor.train.TrainConfig`'s ``steps`` and ``tile_size``; ``--preset quick|paper``
(:data:`~clippan_kit.supervisor.presets.STAGE1_PRESETS`) gives the defaults that the options override.
"""
from __future__ import annotations

import dataclasses
import json
import logging

from .options import add_scene_options, add_training_options, check_out, load_scenes_from_args

__all__ = ["register"]

# TrainConfig field -> command-line option, where the shared vocabulary names it differently.
_RENAMED = {"steps": "iterations", "tile_size": "tile"}
# Fields already covered by the shared training options, or set through another option.
_SHARED = {"steps", "tile_size", "batch_size", "lr", "seed", "amp"}
_HELP = {
    "input_size": "image-tower input side in pixels ('base' = the base's own, 224 for ViT-B/32)",
    "weight_decay": "AdamW weight decay",
    "ms_input": "how MS tiles enter the image tower: conv (learned stem), pca, rgb or gbnir (paper Table 4)",
    "pan_input": "how the PAN enters the image tower: replicate (copied to three channels) or conv",
    "hrms_prompt": "HRMS text: a protocol name (wald, khan, I, II, noise) or any sentence",
    "adapter_reduction": "bottleneck reduction of the adapters",
    "adapter_ratio": "residual mixing ratio of the adapters",
    "tau_inter": "temperature of the inter-modal (image-text) contrastive loss",
    "tau_intra": "temperature of the intra-modal (image-image) contrastive loss",
    "w_inter": "weight of the inter-modal loss in L_s1",
    "w_intra": "weight of the intra-modal loss in L_s1",
    "w_fusion": "weight of the fusion-direction loss in L_s1",
    "save_every": "write the checkpoint every N iterations (and at the end)",
}


_BASE_SIZE = 0  # --input-size base: the base's own input size (TrainConfig.input_size None)


def _input_size(text: str) -> int:
    return _BASE_SIZE if text in ("none", "base") else int(text)


def register(sub) -> None:
    """Add ``train-supervisor`` and ``evaluate-supervisor`` to the ``clippan`` sub-parsers."""
    from ..supervisor.presets import STAGE1_PRESETS
    from ..supervisor.train import TrainConfig

    from .training import TORCHRUN

    t = sub.add_parser("train-supervisor", help="CLIPPan Stage I: adapt a frozen CLIP into a supervisor",
                       epilog=TORCHRUN % "train-supervisor")
    add_scene_options(t, several=True)
    add_training_options(t, STAGE1_PRESETS, out_help="supervisor checkpoint FILE.pt to write (loss log FILE.loss.csv beside it)",
                         preset_help="quick: 100 iterations of batch 8 (default); paper: 1000 iterations of batch 32")
    t.add_argument("--base", default="auto", help="frozen CLIP base: auto | offline | openai | MODEL:TAG | MODEL:/file | local-dir:/folder")
    t.add_argument("--pseudo-label", default="bdsd", choices=["bdsd", "reference"],
                   help="HRMS targets: BDSD-PC fusions (the paper's choice) or the scene's ground truth")
    t.add_argument("--holdout", type=float, default=0.0, help="fraction of rows of each scene kept out of training")
    for f in dataclasses.fields(TrainConfig):
        if f.name in _SHARED:
            continue
        name = "--" + f.name.replace("_", "-")
        if f.name == "input_size":
            t.add_argument(name, type=_input_size, help=_HELP[f.name])
        else:
            kind = {int: int, float: float, str: str}[type(f.default)]
            t.add_argument(name, type=kind, help=f"{_HELP[f.name]} (default {f.default})")
    t.set_defaults(func=run_train)

    e = sub.add_parser("evaluate-supervisor", help="metrics of a trained supervisor on a scene")
    e.add_argument("--checkpoint", required=True, help="supervisor checkpoint from 'clippan train-supervisor'")
    add_scene_options(e, several=True)
    e.add_argument("--pseudo-label", default="bdsd", choices=["bdsd", "reference"],
                   help="HRMS images scored: BDSD-PC fusions or the scene's ground truth")
    e.add_argument("--tile", type=int, default=None,
                   help="tile side in PAN pixels (default: the tile size the supervisor was trained on, else 64)")
    e.add_argument("--max-tiles", type=int, default=64, help="at most this many grid tiles per scene (default 64)")
    e.add_argument("--gate-batches", type=int, default=20,
                   help="batches for the gradient-alignment gate (cosine with an oracle L1-to-GT gradient); 0 skips it")
    e.add_argument("--variant", default="paper", choices=["paper", "spectral"],
                   help="direction loss the quality gates score: CLIPPan's L_d or our spectral variant")
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.set_defaults(func=run_evaluate)


def _config(args):
    from ..supervisor.presets import stage1_config
    from ..supervisor.train import TrainConfig

    given = {f.name: getattr(args, _RENAMED.get(f.name, f.name), None) for f in dataclasses.fields(TrainConfig)
             if f.name != "amp"}
    if args.no_amp:
        given["amp"] = False
    cfg = stage1_config(args.preset, **given)
    return dataclasses.replace(cfg, input_size=None) if args.input_size == _BASE_SIZE else cfg


def run_train(args) -> int:
    from ..engine import is_main_process
    from ..supervisor.data import split_scene
    from ..supervisor.train import train_supervisor

    main = is_main_process()  # under torchrun only rank 0 logs and reports
    logging.basicConfig(level=logging.INFO if main else logging.WARNING, format="%(message)s")
    out = check_out(args.out, (".pt", ".pth", ".ckpt"))
    cfg = _config(args)
    scenes = load_scenes_from_args(args)
    if args.holdout:
        scenes = [split_scene(s, args.holdout)[0] for s in scenes]
    res = train_supervisor(scenes, out, cfg, base=args.base, pseudo_label=args.pseudo_label,
                           resume=args.resume, device=args.device, progress=not args.quiet)
    if not main:
        return 0
    sc = res.supervisor.scale
    print(f"saved {res.checkpoint} ({len(res.history)} steps logged in {res.log_csv}, "
          f"{res.seconds_per_step:.2f} s/step); trained at {sc['tile']}-px tiles, tower input {sc['input_size']} px "
          f"(PAN x{sc['pan_upsampling']:g}, MS x{sc['ms_upsampling']:g}): train Stage II with --tile {sc['tile']}")
    return 0


def run_evaluate(args) -> int:
    import torch

    from ..checkpoints import load_supervisor
    from ..supervisor.data import Tiles, grid_tiles, resolve_pseudo_label_fn
    from ..supervisor.evaluate import supervisor_metrics
    from ..supervisor.train import hrms_targets

    from ..supervisor.gates import format_gates, gate_tiles, quality_gates

    scenes = load_scenes_from_args(args)
    sup = load_supervisor(args.checkpoint, n_bands=scenes[0].n_bands)
    tile = args.tile or (sup.scale or {}).get("tile", 64)
    tiles = [grid_tiles(s, tile, max_tiles=args.max_tiles) for s in scenes]
    ref = None if any(t.reference is None for t in tiles) else torch.cat([t.reference for t in tiles])
    tiles = Tiles(torch.cat([t.ms for t in tiles]), torch.cat([t.pan for t in tiles]), ref)
    hrms = hrms_targets(tiles, resolve_pseudo_label_fn(args.pseudo_label, sup.sensor))
    m = supervisor_metrics(sup, tiles, hrms)
    gtiles, gsource = gate_tiles(scenes, tile, args.max_tiles)
    gates = None if gtiles is None else quality_gates(sup, gtiles, variant=args.variant, grad_batches=args.gate_batches)
    if args.json:
        print(json.dumps({"checkpoint": args.checkpoint, "tile": tile, "scale": sup.scale, "metrics": m,
                          "gates": gates, "gates_on": gsource}))
    else:
        for k, v in m.items():
            print(f"{k:<18} {v:.4f}")
        print(f"gates on {gsource}:\n{format_gates(gates)}" if gates is not None else f"no quality gates: {gsource}")
    return 0
