"""Make an 8-bit product from an 11-bit scene, the way 8-bit deliveries look, into the cache (never committed).

Commercial 8-bit products are the 11-bit DN passed through a per-band dynamic-range adjustment: a linear
stretch of each band (MS bands and PAN separately) that sends a low percentile to 0 and a high one to 255,
saturating outside, then rounding to uint8. Here: the 0.1 % and 99.9 % percentiles of each band. The file
keeps the source's layout (``I_MS``, ``I_PAN``, ``sensor``, ``ratio``) with ``L = 8``, so the toolbox
convention (and :func:`clippan_kit.metrics._common.dn_bits`) quantises it at 8-bit DN.

Usage::

    CLIPPAN_DATA=../shared/data python benchmarks/make_8bit_scene.py            # WV2 -> cache
    python benchmarks/make_8bit_scene.py --source pnn_grip_unina/imgIK.mat --out /tmp/ik8.mat
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import scipy.io as sio

LOW, HIGH = 0.1, 99.9


def stretch_to_8bit(band: np.ndarray, low: float = LOW, high: float = HIGH) -> np.ndarray:
    """(H, W) DN -> uint8 by a linear stretch of the [low, high] percentiles onto [0, 255], saturated."""
    lo, hi = np.percentile(band, [low, high])
    return np.clip(np.round((band.astype(np.float64) - lo) * 255.0 / max(hi - lo, 1e-12)), 0, 255).astype(np.uint8)


def make_8bit(source: Path, out: Path) -> Path:
    d = sio.loadmat(source)
    ms_key = "I_MS" if "I_MS" in d else "I_MS_LR"
    ms = np.stack([stretch_to_8bit(d[ms_key][..., b]) for b in range(d[ms_key].shape[-1])], -1)
    result = {ms_key: ms, "I_PAN": stretch_to_8bit(d["I_PAN"]), "L": np.uint8(8)}
    for key in ("sensor", "ratio", "RGB_indexes"):
        if key in d:
            result[key] = d[key]
    out.parent.mkdir(parents=True, exist_ok=True)
    sio.savemat(out, result)
    return out


def default_path(source: str = "pnn_grip_unina/imgWV2.mat") -> Path:
    from clippan_kit.config import cache_dir

    return cache_dir() / "scenes" / f"{Path(source).stem}_8bit.mat"


def main(argv=None) -> int:
    from clippan_kit.config import data_dir

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--source", default="pnn_grip_unina/imgWV2.mat", help="scene under CLIPPAN_DATA (or a path)")
    p.add_argument("--out", type=Path, help="default: <cache>/scenes/<stem>_8bit.mat")
    a = p.parse_args(argv)
    src = Path(a.source) if Path(a.source).exists() else data_dir() / a.source
    out = make_8bit(src, a.out or default_path(a.source))
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
