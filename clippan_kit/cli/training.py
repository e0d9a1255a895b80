"""``clippan train`` and ``clippan train-teacher``: Stage II training (and λ-PNN pretraining)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import UsageError
from .options import add_scene_options, add_training_options, check_out, load_scene_from_args

__all__ = ["register"]

CHECKPOINT = (".pt", ".pth", ".ckpt")
TORCHRUN = """Several processes (CPUs or GPUs, one machine or several): torchrun --nproc_per_node N -m clippan_kit %s ...
runs DistributedDataParallel (gloo on CPU, nccl on CUDA, one GPU per process); --batch-size is the global
batch (a multiple of N), each process trains on its share of the same tiles, and rank 0 writes the checkpoint
and the logs, in the same format as one process (loss curve equal to a 1-process run with that batch)."""


def _common(p: argparse.ArgumentParser) -> None:
    from ..train.presets import PRESETS

    add_scene_options(p)
    add_training_options(p, PRESETS, out_help="checkpoint FILE.pt to write (logs go next to it); optional with "
                         "--preset pretrain (default: the cache, where the λ-PNN pipeline finds it)",
                         preset_help="paper: Adam lr 3e-3, batch 32, 1000 iterations, base size; quick: minutes on a "
                                     "CPU (default); pretrain: λ-PNN JESSE pretraining; tiny: smoke tests")
    p.add_argument("--size", choices=["small", "base"], help="backbone size (preset default)")
    p.add_argument("--val-every", type=int, help="validate and checkpoint every N iterations (0: at the end)")
    p.add_argument("--ignore-reference", action="store_true", help="drop a ground truth the scene file carries: "
                   "supervised training then uses Wald's protocol, so a GT kept for evaluation stays unseen")


def _training_scene(args: argparse.Namespace):
    scene = load_scene_from_args(args)
    return scene.replace(reference=None) if args.ignore_reference and scene.reference is not None else scene


def _overrides(args: argparse.Namespace) -> dict:
    return {"iterations": args.iterations, "batch_size": args.batch_size, "lr": args.lr, "tile": args.tile,
            "size": args.size, "val_every": args.val_every}


def _report(result, out: Path) -> None:
    from ..engine import is_main_process

    if not is_main_process():  # under torchrun only rank 0 reports
        return
    last = result.validation[-1] if result.validation else {}
    summary = {k: round(v, 6) for k, v in last.items() if isinstance(v, float)}
    print(f"wrote {out} ({len(result.history)} iterations this run, {result.seconds:.1f} s); "
          f"validation: {json.dumps(summary)}")


def cmd_train(args: argparse.Namespace) -> int:
    from ..losses import LOSS_CONFIGS
    from ..train import train

    if args.out is None:
        if args.preset != "pretrain":
            raise UsageError("--out CKPT is required (only --preset pretrain has a default: the cache)")
        from ..train.adaptation import pretrained_path
        from ..train.presets import get_preset

        scene = load_scene_from_args(args)
        args.out = pretrained_path(scene.sensor, args.backbone, args.size or get_preset("pretrain")["size"])
        args.out.parent.mkdir(parents=True, exist_ok=True)
    check_out(args.out, CHECKPOINT)
    if args.mode == "clippan" and args.supervisor is None and (args.loss is None or "direction" in str(args.loss)):
        raise UsageError("mode clippan needs --supervisor CKPT (from 'clippan train-supervisor') for L_d, "
                         "and --teacher CKPT (from 'clippan train-teacher') for L_ship")
    loss = args.loss
    if loss is not None and loss not in LOSS_CONFIGS:
        try:
            loss = json.loads(loss)
        except json.JSONDecodeError:
            raise UsageError(f"--loss must be one of {', '.join(LOSS_CONFIGS)} or a JSON object like "
                             '\'{"spec": 1, "qnr": 0.5}\'') from None
    scene = _training_scene(args)
    result = train(scene, backbone=args.backbone, mode=args.mode, preset=args.preset, loss=loss,
                   teacher=args.teacher, supervisor=args.supervisor, checkpoint=args.out, resume=args.resume,
                   init=args.init, seed=args.seed, device=args.device, amp=False if args.no_amp else None,
                   progress=not args.quiet, **_overrides(args))
    _report(result, args.out)
    return 0


def cmd_train_teacher(args: argparse.Namespace) -> int:
    from ..train import train_teacher

    check_out(args.out, CHECKPOINT)
    scene = _training_scene(args)
    result = train_teacher(scene, backbone=args.backbone, preset=args.preset, checkpoint=args.out, resume=args.resume,
                           seed=args.seed, device=args.device, amp=False if args.no_amp else None,
                           progress=not args.quiet, **_overrides(args))
    _report(result, args.out)
    return 0


def register(sub) -> None:
    """Add ``train`` and ``train-teacher`` to the ``clippan`` sub-parsers."""
    from ..train.presets import MODES

    p = sub.add_parser("train", help="train a backbone (supervised, unsup, clippan or jesse) on a scene",
                       epilog=TORCHRUN % "train")
    _common(p)
    p.add_argument("--backbone", default="lambda_pnn", help="pnn, lambda_pnn, arbrpn, lformer, panmamba, ship (default lambda_pnn)")
    p.add_argument("--mode", default="unsup", choices=list(MODES),
                   help="supervised (reduced resolution), unsup (L_spec+L_spat+L_QNR, default), clippan (+L_ship+L_d), jesse")
    p.add_argument("--loss", help="loss configuration replacing the mode's: a name (e.g. unsup+d) or JSON {term: weight}")
    p.add_argument("--teacher", type=Path, help="SHIP teacher checkpoint for L_ship (clippan train-teacher)")
    p.add_argument("--supervisor", type=Path, help="Stage I supervisor checkpoint for L_d (clippan train-supervisor)")
    p.add_argument("--init", type=Path, help="start from this checkpoint's weights (fine-tuning)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("train-teacher", help="train the L_ship teacher (SHIP) with supervision at reduced resolution",
                       epilog=TORCHRUN % "train-teacher")
    _common(p)
    p.add_argument("--backbone", default="ship", help="teacher backbone (default ship)")
    p.set_defaults(func=cmd_train_teacher)
