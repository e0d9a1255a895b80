"""The one option vocabulary of the ``clippan`` commands: scene options, method options, training options.

Every command that reads a scene takes the same :func:`add_scene_options`; every command that trains
takes :func:`add_training_options` (``--out FILE.pt`` with its logs beside it, ``--preset``,
``--iterations``, ``--batch-size``, ``--lr``, ``--tile``, ``--seed``, ``--device``, ``--no-amp``,
``--resume``, ``--quiet``).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import UsageError

__all__ = ["BANDS_HELP", "parse_bands", "add_scene_options", "load_scene_from_args", "load_scenes_from_args",
           "add_method_options", "method_from_args", "add_training_options", "check_out"]

BANDS_HELP = ("comma-separated band names of the MS file when it holds a subset of the sensor's bands "
              "(e.g. blue,green,red for a Landsat RGB stack)")


def parse_bands(text: str | None) -> list[str] | None:
    """``--bands`` text as a list of band names (None when not given or empty)."""
    names = [b.strip() for b in (text or "").split(",") if b.strip()]
    return names or None


def add_scene_options(parser: argparse.ArgumentParser, *, several: bool = False) -> None:
    """``--scene`` (repeatable when ``several``) or ``--ms``/``--pan``; ``--sensor``, ``--bands``, ``--index``."""
    src = parser.add_argument_group("input scene (either --scene, or --ms and --pan)")
    src.add_argument("--scene", type=Path, action="append" if several else "store",
                     help="single-file scene: PNN-style .mat, reduced-resolution .mat, PanCollection .h5"
                          + (" (repeatable)" if several else ""))
    src.add_argument("--ms", type=Path, help="MS GeoTIFF (low resolution)")
    src.add_argument("--pan", type=Path, help="PAN GeoTIFF")
    src.add_argument("--sensor", help="sensor name (qb, ikonos, geoeye1, wv2, wv3, pleiades, landsat8, ...) when the file does not say")
    src.add_argument("--bands", help=BANDS_HELP)
    src.add_argument("--index", type=int, default=0, help="sample index inside a PanCollection .h5 file (default 0)")


def _load_one(path: Path | None, args: argparse.Namespace):
    from ..io import load_scene

    kwargs = {}
    if bands := parse_bands(getattr(args, "bands", None)):
        kwargs["bands"] = bands
    if path is not None:
        if str(path).lower().endswith((".h5", ".hdf5")):
            kwargs["index"] = args.index
        return load_scene(path, sensor=args.sensor, **kwargs)
    return load_scene({"ms": args.ms, "pan": args.pan}, sensor=args.sensor, **kwargs)


def load_scenes_from_args(args: argparse.Namespace) -> list:
    """Every scene the scene options name (one or more ``--scene``, or one ``--ms``/``--pan`` pair)."""
    scenes = args.scene if isinstance(args.scene, list) else ([] if args.scene is None else [args.scene])
    if scenes and (args.ms is not None or args.pan is not None):
        raise UsageError("give either --scene or --ms/--pan, not both")
    if scenes:
        return [_load_one(p, args) for p in scenes]
    if args.ms is None or args.pan is None:
        raise UsageError("an input scene is needed: --scene FILE, or both --ms MS.tif and --pan PAN.tif")
    return [_load_one(None, args)]


def load_scene_from_args(args: argparse.Namespace):
    """The one scene the scene options name."""
    scenes = load_scenes_from_args(args)
    if len(scenes) != 1:
        raise UsageError("this command takes one scene")
    return scenes[0]


def add_method_options(parser: argparse.ArgumentParser, *, required: bool) -> None:
    """``--method``, ``--checkpoint``, ``--epochs``: resolved by :func:`clippan_kit.methods.resolve_method`."""
    parser.add_argument("--method", required=required,
                        help="exp, bdsd, mtf-glp-hpm-r, gs, gsa, brovey; lambda-pnn (λ-PNN with target adaptation); "
                             "or a backbone name (pnn, lambda_pnn, arbrpn, lformer, panmamba, ship) with --checkpoint")
    parser.add_argument("--checkpoint", type=Path,
                        help="trained checkpoint: applied as is for a backbone name, adapted from for lambda-pnn "
                             "(default for lambda-pnn: the cached pretrained network, else fresh weights)")
    parser.add_argument("--epochs", type=int,
                        help="lambda-pnn target-adaptation epochs (default 300 from scratch, 100 from a checkpoint; "
                             "0 applies the checkpoint as is)")
    parser.add_argument("--save-adapted", type=Path, metavar="CKPT",
                        help="lambda-pnn: keep the adapted network in CKPT (apply it again with --checkpoint CKPT "
                             "--epochs 0)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def method_from_args(args: argparse.Namespace):
    from ..methods import resolve_method

    extra = {} if getattr(args, "save_adapted", None) is None else {"save_adapted": args.save_adapted}
    return resolve_method(args.method, args.checkpoint, epochs=args.epochs, **extra)


def add_training_options(parser: argparse.ArgumentParser, presets, *, out_help: str, default_preset: str = "quick",
                         preset_help: str) -> None:
    """The training options every ``train*`` command shares; ``None`` defaults mean "the preset's value"."""
    parser.add_argument("--out", type=Path, help=out_help)
    parser.add_argument("--preset", default=default_preset, choices=list(presets), help=preset_help)
    parser.add_argument("--iterations", type=int, help="override the preset's iteration count")
    parser.add_argument("--batch-size", type=int, help="override the preset's batch size")
    parser.add_argument("--lr", type=float, help="override the preset's learning rate")
    parser.add_argument("--tile", type=int, help="training tile side in PAN pixels (multiple of the ratio)")
    parser.add_argument("--seed", type=int, default=0, help="random seed of weights and tile sampling (default 0)")
    parser.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--no-amp", action="store_true", help="disable mixed precision on CUDA")
    parser.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def check_out(out: Path | None, suffixes: tuple[str, ...] = (".pt",), what: str = "checkpoint") -> Path:
    """``--out`` must be given, end in one of ``suffixes`` and sit in an existing folder."""
    if out is None:
        raise UsageError(f"--out FILE{suffixes[0]} is required")
    out = Path(out)
    if out.suffix.lower() not in suffixes:
        raise UsageError(f"--out must be a {what} path ending in {' or '.join(suffixes)}, got {out}")
    if not out.parent.exists():
        raise UsageError(f"output folder {out.parent} does not exist")
    return out
