"""The job of ``clippan demo`` (``make demo``): fuse a scene with every classical method, write each result
as a GeoTIFF, a PNG comparison figure, and a metrics table (JSON + printed). Part of the command line:
the library never imports it."""
from __future__ import annotations

import json
from pathlib import Path

__all__ = ["run_demo"]


def run_demo(out_dir: Path, sample: str | None = None, methods=None) -> dict[str, dict[str, float]]:
    """Fuse ``sample`` (a name from :mod:`clippan_kit.samples`, default: the built-in synthetic scene)
    with every classical method; returns method -> metrics."""
    from tqdm.auto import tqdm

    from ..classical import METHODS
    from ..io import write_geotiff
    from ..methods import resolve_method, run_method
    from ..metrics.suite import evaluate_fused
    from ..samples import default_scene, load_sample
    from ..viz import comparison_figure

    scene = default_scene() if sample is None else load_sample(sample)
    out_dir.mkdir(parents=True, exist_ok=True)
    print(f"scene: {scene}")
    methods = list(methods or METHODS)
    fused, metrics = {}, {}
    for name in tqdm(methods, desc="fusing", unit="method"):
        fused[name] = run_method(resolve_method(name), scene)
        write_geotiff(out_dir / f"{name}.tif", fused[name], scene)
        metrics[name] = evaluate_fused(fused[name], scene)
    images = {"PAN": scene.pan, **fused}
    if scene.reference is not None:
        images["reference"] = scene.reference
    size = min(scene.shape) // 4
    fig = comparison_figure(images, scene.sensor.rgb, zoom=(scene.shape[0] // 2 - size // 2, scene.shape[1] // 2 - size // 2, size),
                            reference_key="exp" if "exp" in fused else None, title=scene.name)
    fig.savefig(out_dir / "comparison.png", dpi=110)
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    keys = list(next(iter(metrics.values())))
    print(f"\n{'method':<14}" + "".join(f"{k:>11}" for k in keys))
    for name, m in metrics.items():
        print(f"{name:<14}" + "".join(f"{m[k]:>11.4f}" for k in keys))
    print(f"\nwrote {len(fused)} GeoTIFFs, comparison.png and metrics.json to {out_dir}")
    return metrics
