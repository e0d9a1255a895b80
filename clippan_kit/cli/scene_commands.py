"""``clippan fuse``, ``clippan evaluate``, ``clippan sensors`` and ``clippan demo``."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import UsageError
from .options import (add_method_options, add_scene_options, check_out, load_scene_from_args, method_from_args,
                      parse_bands)

__all__ = ["register"]


def cmd_fuse(args: argparse.Namespace) -> int:
    from ..io import write_geotiff, write_quicklook_png
    from ..methods import run_method

    out = check_out(args.out, (".tif", ".tiff"), "GeoTIFF")
    if _blockwise(args):
        return _fuse_blockwise(args, out)
    choice = method_from_args(args)
    scene = load_scene_from_args(args)
    fused = run_method(choice, scene, progress=not args.quiet)
    write_geotiff(out, fused, scene)
    if args.png:
        write_quicklook_png(out.with_suffix(".png"), fused, rgb=scene.sensor.rgb)
    print(f"wrote {out} ({fused.shape[0]} bands, {fused.shape[1]}x{fused.shape[2]}, method {args.method})")
    if args.save_adapted is not None:
        print(f"kept the adapted network in {args.save_adapted} (apply it again: --method lambda-pnn "
              f"--checkpoint {args.save_adapted} --epochs 0)")
    return 0


def _blockwise(args: argparse.Namespace) -> bool:
    """Block-wise path: asked for (--chunks/--workers/--scheduler/--cog), or a GeoTIFF pair above the size threshold."""
    asked = bool(args.chunks or args.workers or args.scheduler or getattr(args, "cog", False))
    if args.ms is None or args.pan is None:
        if asked:
            raise UsageError("block-wise processing (--chunks, --workers, --scheduler, --cog) reads a GeoTIFF pair: "
                             "give --ms MS.tif and --pan PAN.tif")
        return False
    from ..scenescale import needs_blockwise

    return asked or needs_blockwise(args.pan)


def _fuse_blockwise(args: argparse.Namespace, out: Path) -> int:
    from ..scenescale import fuse_blockwise

    if args.png:
        raise UsageError("--png is not available on the block-wise path (the fused scene is never held whole)")
    if args.method.replace("_", "-").lower() in ("lambda-pnn", "lpnn", "λ-pnn") and args.checkpoint is None:
        raise UsageError("block-wise lambda-pnn applies a trained network: pass --checkpoint C "
                         "(target adaptation needs the whole scene in memory)")
    fuse_blockwise(args.ms, args.pan, args.method.replace("-", "_") if args.checkpoint else args.method, out,
                   sensor=args.sensor, bands=parse_bands(args.bands), chunks=args.chunks, workers=args.workers,
                   scheduler=args.scheduler, checkpoint=args.checkpoint, progress=not args.quiet, cog=args.cog)
    print(f"wrote {out} (block-wise, method {args.method})")
    return 0


def _read_fused(path: Path, scene):
    from ..io import read_raster

    fused = read_raster(path)
    expected = (scene.n_bands, *scene.shape)
    if fused.shape != expected:
        raise UsageError(f"{path}: fused image is {fused.shape} but the scene needs {expected} (bands, PAN rows, PAN cols)")
    return fused


def cmd_evaluate(args: argparse.Namespace) -> int:
    from ..methods import run_method
    from ..metrics.suite import evaluate_fused, evaluate_reduced

    if (args.method is None) == (args.fused is None):
        raise UsageError("give exactly one of --method NAME or --fused F.tif")
    if args.reduced and args.method is None:
        raise UsageError("--reduced fuses the Wald-reduced scene itself: it needs --method, not --fused")
    if args.fused is not None and _blockwise(args):
        from ..scenescale import evaluate_blockwise

        result = evaluate_blockwise(args.fused, args.ms, args.pan, sensor=args.sensor, bands=parse_bands(args.bands),
                                    chunks=args.chunks, workers=args.workers, scheduler=args.scheduler,
                                    progress=not args.quiet)
        return _print_result(result, args.json)
    choice = method_from_args(args) if args.method is not None else None
    scene = load_scene_from_args(args)
    if args.reduced:
        result = evaluate_reduced(scene, lambda small: run_method(choice, small, progress=not args.quiet))
    else:
        fused = _read_fused(args.fused, scene) if args.fused is not None else run_method(choice, scene, progress=not args.quiet)
        result = evaluate_fused(fused, scene)
    return _print_result(result, args.json)


def _print_result(result: dict, as_json: bool) -> int:
    if as_json:
        print(json.dumps(result))
    else:
        width = max(map(len, result))
        for k, v in result.items():
            print(f"{k:<{width}}  {v:.6f}")
    return 0


def _add_blockwise_options(p: argparse.ArgumentParser, *, cog: bool) -> None:
    g = p.add_argument_group("whole scenes, block by block (GeoTIFF pairs; automatic above 3072x3072 PAN pixels)")
    g.add_argument("--chunks", type=int, help="process block by block, blocks of N PAN pixels (default 1024 on that path, 768 for networks)")
    g.add_argument("--workers", type=int, help="run the blocks on a local Dask cluster of N worker processes")
    g.add_argument("--scheduler", help="address of an existing Dask scheduler (e.g. tcp://host:8786) to run the blocks on")
    if cog:
        g.add_argument("--cog", action="store_true", help="write a Cloud-Optimised GeoTIFF (with overviews)")


def cmd_demo(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")  # the job writes PNGs; no window
    from .demo import run_demo

    run_demo(Path(args.out), sample=args.sample)
    return 0


def cmd_sensors(args: argparse.Namespace) -> int:
    from ..sensors import SENSORS

    for s in SENSORS.values():
        gains = ", ".join(f"{g:.3g}" for g in s.gnyq_ms)
        print(f"{s.name:<9} {s.long_name:<16} ratio {s.ratio}  {s.bits:>2} bit  bands {', '.join(s.bands)}")
        print(f"{'':<9} MTF at Nyquist: MS [{gains}], PAN {s.gnyq_pan:.3g}")
    return 0


def register(sub) -> None:
    """Add ``fuse``, ``evaluate``, ``demo`` and ``sensors`` to the ``clippan`` sub-parsers."""
    p = sub.add_parser("fuse", help="pansharpen a scene and write a GeoTIFF on the PAN grid")
    add_scene_options(p)
    add_method_options(p, required=True)
    p.add_argument("--out", required=True, type=Path, help="output GeoTIFF path (.tif)")
    p.add_argument("--png", action="store_true", help="also write a quick-look PNG next to the GeoTIFF")
    _add_blockwise_options(p, cog=True)
    p.set_defaults(func=cmd_fuse)

    p = sub.add_parser("evaluate", help="quality indices of a fusion (full resolution, + ground truth, or Wald's protocol)")
    add_scene_options(p)
    add_method_options(p, required=False)
    p.add_argument("--fused", type=Path, help="score this fused GeoTIFF instead of fusing with --method")
    p.add_argument("--reduced", action="store_true", help="Wald's protocol: fuse the reduced scene, score against the original MS")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    _add_blockwise_options(p, cog=False)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("demo", help="fuse the default scene with every classical method; write GeoTIFFs, a PNG comparison and metrics")
    p.add_argument("--out", default="outputs/demo", help="output folder (default outputs/demo)")
    p.add_argument("--sample", default=None, help="a sample scene name from the data folder instead of the built-in synthetic scene")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("sensors", help="list the known sensors and their MTF gains")
    p.set_defaults(func=cmd_sensors)
