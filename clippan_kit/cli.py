"""The ``clippan`` command line (also ``python -m clippan_kit``): thin, it parses, calls the library, prints.

Every command reports errors as one readable line on stderr and exits non-zero, with no traceback
(``--debug`` shows it) and no output file left behind.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path
from typing import Callable, Sequence

__all__ = ["main", "build_parser", "CLIError"]


class CLIError(Exception):
    """A user-facing error: printed as one line, exit code 2."""


# ----------------------------------------------------------------------------- shared options
BANDS_HELP = ("comma-separated band names of the MS file when it holds a subset of the sensor's bands "
              "(e.g. blue,green,red for a Landsat RGB stack)")


def parse_bands(text: str | None) -> list[str] | None:
    """``--bands`` text as a list of band names (None when not given or empty)."""
    names = [b.strip() for b in (text or "").split(",") if b.strip()]
    return names or None


def add_scene_options(parser: argparse.ArgumentParser) -> None:
    src = parser.add_argument_group("input scene (either --scene, or --ms and --pan)")
    src.add_argument("--scene", type=Path, help="single-file scene: PNN-style .mat, reduced-resolution .mat, PanCollection .h5")
    src.add_argument("--ms", type=Path, help="MS GeoTIFF (low resolution)")
    src.add_argument("--pan", type=Path, help="PAN GeoTIFF")
    src.add_argument("--sensor", help="sensor name (qb, ikonos, geoeye1, wv2, wv3, pleiades, landsat8, ...) when the file does not say")
    src.add_argument("--bands", help=BANDS_HELP)
    src.add_argument("--index", type=int, default=0, help="sample index inside a PanCollection .h5 file (default 0)")


def load_scene_from_args(args: argparse.Namespace):
    from .io import load_scene

    if args.scene is not None and (args.ms is not None or args.pan is not None):
        raise CLIError("give either --scene or --ms/--pan, not both")
    kwargs = {}
    if bands := parse_bands(getattr(args, "bands", None)):
        kwargs["bands"] = bands
    if args.scene is not None:
        if str(args.scene).lower().endswith((".h5", ".hdf5")):
            kwargs["index"] = args.index
        return load_scene(args.scene, sensor=args.sensor, **kwargs)
    if args.ms is None or args.pan is None:
        raise CLIError("an input scene is needed: --scene FILE, or both --ms MS.tif and --pan PAN.tif")
    return load_scene({"ms": args.ms, "pan": args.pan}, sensor=args.sensor, **kwargs)


def _fuse(scene, method: str, checkpoint: Path | None = None):
    from .classical import METHODS, fuse

    if method in METHODS:
        if checkpoint is not None:
            raise CLIError(f"--checkpoint is for trained backbones; {method!r} is a classical method")
        return fuse(scene, method)
    try:
        from .models import MODELS
    except ImportError:  # pragma: no cover - models are optional at this stage
        MODELS = {}
    if method in MODELS:
        if checkpoint is None:
            raise CLIError(f"method {method!r} is a trainable backbone: pass --checkpoint CKPT from 'clippan train'")
        from .train import load_trained_model  # noqa: F401 - provided by the Stage II trainer
        from .infer import fuse_scene

        model = load_trained_model(checkpoint, scene=scene)
        return fuse_scene(model, scene)
    names = sorted(METHODS) + sorted(MODELS)
    raise CLIError(f"unknown method {method!r}; choose one of: {', '.join(names)}")


# ----------------------------------------------------------------------------- commands
def cmd_fuse(args: argparse.Namespace) -> int:
    from .io import write_geotiff, write_quicklook_png

    out = Path(args.out)
    if out.suffix.lower() not in (".tif", ".tiff"):
        raise CLIError(f"--out must be a GeoTIFF path ending in .tif, got {out}")
    if not out.parent.exists():
        raise CLIError(f"output folder {out.parent} does not exist")
    scene = load_scene_from_args(args)
    fused = _fuse(scene, args.method, args.checkpoint)
    write_geotiff(out, fused, scene)
    if args.png:
        write_quicklook_png(out.with_suffix(".png"), fused, rgb=scene.sensor.rgb)
    print(f"wrote {out} ({fused.shape[0]} bands, {fused.shape[1]}x{fused.shape[2]}, method {args.method})")
    return 0


def _read_fused(path: Path, scene):
    from .io import read_raster

    fused = read_raster(path)
    expected = (scene.n_bands, *scene.shape)
    if fused.shape != expected:
        raise CLIError(f"{path}: fused image is {fused.shape} but the scene needs {expected} (bands, PAN rows, PAN cols)")
    return fused


def evaluate_scene(scene, *, method: str | None = None, fused=None, reduced: bool = False,
                   checkpoint: Path | None = None) -> dict[str, float]:
    """Metric name -> value for a fused image (given, or made by ``method``) of ``scene``.

    ``reduced``: Wald's protocol first, fuse the reduced scene with ``method`` and score against
    the original MS (Q2n, Q, SAM, ERGAS, PSNR, SSIM, SCC). Otherwise full-resolution indices
    (D_lambda, D_s, QNR, D_lambda_K, HQNR, D_rho, R_*), plus reduced-resolution indices against the
    scene's ground truth when it carries one.
    """
    from .metrics import full_resolution_metrics, reduced_resolution_metrics
    from .wald import reduce_scene

    if reduced:
        if method is None:
            raise CLIError("--reduced fuses the Wald-reduced scene itself: it needs --method, not --fused")
        small = reduce_scene(scene, crop=True)
        out = _fuse(small, method, checkpoint)
        return reduced_resolution_metrics(out, small.reference, ratio=scene.ratio, max_value=scene.max_value)
    if fused is None:
        fused = _fuse(scene, method, checkpoint)
    result = dict(full_resolution_metrics(fused, scene))
    if scene.reference is not None:
        result.update(reduced_resolution_metrics(fused, scene.reference, ratio=scene.ratio, max_value=scene.max_value))
    return result


def cmd_evaluate(args: argparse.Namespace) -> int:
    if (args.method is None) == (args.fused is None):
        raise CLIError("give exactly one of --method NAME or --fused F.tif")
    scene = load_scene_from_args(args)
    fused = _read_fused(args.fused, scene) if args.fused is not None else None
    result = evaluate_scene(scene, method=args.method, fused=fused, reduced=args.reduced, checkpoint=args.checkpoint)
    result = {k: float(v) for k, v in result.items()}
    if args.json:
        print(json.dumps(result))
    else:
        width = max(map(len, result))
        for k, v in result.items():
            print(f"{k:<{width}}  {v:.6f}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo_job import run_demo

    run_demo(Path(args.out), sample=args.sample)
    return 0


def cmd_sensors(args: argparse.Namespace) -> int:
    from .sensors import SENSORS

    for s in SENSORS.values():
        gains = ", ".join(f"{g:.3g}" for g in s.gnyq_ms)
        print(f"{s.name:<9} {s.long_name:<16} ratio {s.ratio}  {s.bits:>2} bit  bands {', '.join(s.bands)}")
        print(f"{'':<9} MTF at Nyquist: MS [{gains}], PAN {s.gnyq_pan:.3g}")
    return 0


# ----------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="clippan", description="clippan-kit: pansharpening with a CLIP supervisor and JESSE")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("fuse", help="pansharpen a scene and write a GeoTIFF on the PAN grid")
    add_scene_options(p)
    p.add_argument("--method", required=True, help="exp, bdsd, mtf-glp-hpm-r, gs, gsa, brovey, or a trained backbone")
    p.add_argument("--checkpoint", type=Path, help="trained backbone checkpoint (for backbone methods)")
    p.add_argument("--out", required=True, type=Path, help="output GeoTIFF path")
    p.add_argument("--png", action="store_true", help="also write a quick-look PNG next to the GeoTIFF")
    p.set_defaults(func=cmd_fuse)

    p = sub.add_parser("evaluate", help="quality indices of a fusion as JSON")
    add_scene_options(p)
    p.add_argument("--method", help="fuse with this method, then score")
    p.add_argument("--fused", type=Path, help="score this fused GeoTIFF instead")
    p.add_argument("--checkpoint", type=Path, help="trained backbone checkpoint (for backbone methods)")
    p.add_argument("--reduced", action="store_true", help="Wald's protocol: fuse the reduced scene, score against the original MS")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("demo", help="fuse the default scene with every classical method; write GeoTIFFs, a PNG comparison and metrics")
    p.add_argument("--out", default="outputs/demo", help="output folder (default outputs/demo)")
    p.add_argument("--sample", default=None, help="a sample scene name from the data folder instead of the built-in synthetic scene")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("sensors", help="list the known sensors and their MTF gains")
    p.set_defaults(func=cmd_sensors)

    for register in _plugin_registrars():
        register(sub)
    return parser


def _plugin_registrars() -> list[Callable]:
    """Sub-commands contributed by the training modules (Stage I supervisor, Stage II trainer)."""
    found = []
    for module in ("clippan_kit.supervisor.cli", "clippan_kit.train_cli"):
        try:
            mod = __import__(module, fromlist=["add_subcommands"])
        except ImportError:
            continue
        found.append(mod.add_subcommands)
    return found


def _format_warning(message, category, filename, lineno, line=None) -> str:
    return f"clippan: note: {message}\n"


def main(argv: Sequence[str] | None = None) -> int:
    # Before torch loads: spinning OpenMP waits slow torch several-fold when other work shares the cores.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    warnings.formatwarning = _format_warning  # library notes read as one line, not a source location
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("clippan: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # one readable line for users; --debug for developers
        if args.debug:
            raise
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"clippan {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
