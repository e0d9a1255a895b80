"""``clippan tutorial-checkpoints``: build (or check) the tutorial's stored run in the cache
(:func:`clippan_kit.tutorial.stored_run`: supervisor, SHIP teacher, λ-PNN, λ-PNN-C, manifest)."""
from __future__ import annotations

import argparse
from pathlib import Path

from .options import add_scene_options, load_scene_from_args

__all__ = ["register"]


def register(sub) -> None:
    """Add ``tutorial-checkpoints`` to the ``clippan`` sub-parsers."""
    from ..samples import list_samples

    p = sub.add_parser("tutorial-checkpoints",
                       help="train the notebooks' stored run (supervisor, teacher, λ-PNN, λ-PNN-C) once into the cache",
                       description="Loads the run from CLIPPAN_CACHE/tutorial/ when it is there for this recipe, scene "
                                   "and training code; otherwise trains and saves it (a few minutes on 2 CPU cores).")
    p.add_argument("--sample", default=None, choices=[*list_samples(), "synthetic"],
                   help="sample scene from CLIPPAN_DATA (default wv2, the notebooks' scene; synthetic: the built-in "
                        "scene); or give --scene / --ms and --pan")
    add_scene_options(p)
    p.add_argument("--retrain", action="store_true", help="train again even when the cache holds the run")
    p.add_argument("--cache", type=Path, help="cache folder (default: CLIPPAN_CACHE, else ~/.cache/clippan-kit)")
    p.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=run)


def _scene_or_sample(args: argparse.Namespace):
    from ..errors import UsageError

    given = args.scene is not None or args.ms is not None or args.pan is not None
    if given and args.sample is not None:
        raise UsageError("give either --sample or a scene (--scene, or --ms/--pan), not both")
    return load_scene_from_args(args) if given else (args.sample or "wv2")


def run(args: argparse.Namespace) -> int:
    from ..tutorial import stored_run

    result = stored_run(_scene_or_sample(args), retrain=args.retrain, progress=not args.quiet, cache=args.cache,
                        device=args.device)
    m = result.manifest
    print(f"{'trained' if result.trained else 'loaded'} {result.folder} (built in {m['total_seconds']:.0f} s)")
    for name, row in m["metrics"].items():
        print(f"  {name:<13} " + "  ".join(f"{k} {v:.4f}" for k, v in row.items()))
    return 0
