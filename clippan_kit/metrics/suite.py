"""The one metric suite: which indices every caller (CLI, demo, demo job, trainer) reports, and on what.

* :func:`evaluate_fused`: a fused image of a scene at full resolution (D_lambda, D_s, QNR, D_lambda_K,
  HQNR, D_rho, R_*), plus the reduced-resolution indices against the scene's ground truth when it has
  one (Q2n, Q, SAM, ERGAS, PSNR, SSIM, SCC).
* :func:`wald_reduced` and :func:`evaluate_reduced`: Wald's protocol (Wald, Ranchin, Mangolini, PE&RS
  63(6), 1997): the scene degraded by its sensor's MTF and decimated by the ratio -- cropped first to
  whole ratio² blocks, so every reduced MS pixel is whole -- is fused again and scored against the
  original MS.
* :func:`validation_metrics`: the in-training bundle on a batch of normalised tiles (torch, used by
  :class:`clippan_kit.train.Trainer` for its validation log).

Every value is a Python float.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..scene import Scene

__all__ = ["evaluate_fused", "wald_reduced", "evaluate_reduced", "validation_metrics"]


def evaluate_fused(fused: np.ndarray, scene: Scene) -> dict[str, float]:
    """Metric name -> value for ``fused`` ((B, H, W), scene units, on the PAN grid) of ``scene``.

    Full-resolution indices always; reduced-resolution ones against ``scene.reference`` when present.
    """
    from . import full_resolution_metrics, reduced_resolution_metrics

    result = {k: float(v) for k, v in full_resolution_metrics(fused, scene).items()}
    if scene.reference is not None:
        rr = reduced_resolution_metrics(fused, scene.reference, ratio=scene.ratio, max_value=scene.max_value)
        result.update({k: float(v) for k, v in rr.items()})
    return result


def wald_reduced(scene: Scene) -> Scene:
    """The Wald-reduced scene whose ``reference`` is the original MS (cropped to whole ratio² blocks)."""
    from ..physics import reduce_scene

    return reduce_scene(scene, crop=True)


def evaluate_reduced(scene: Scene, fuse: Callable[[Scene], np.ndarray],
                     small: Scene | None = None) -> dict[str, float]:
    """Wald's protocol: ``fuse`` the reduced scene, score against the original MS.

    Args:
        fuse: scene -> fused (B, h, w) in scene units (a method from :func:`clippan_kit.methods.run_method`).
        small: the reduced scene when already made (:func:`wald_reduced`).

    Returns ``Q2n, Q, SAM, ERGAS, PSNR, SSIM, SCC``.
    """
    from . import reduced_resolution_metrics

    small = small if small is not None else wald_reduced(scene)
    rr = reduced_resolution_metrics(fuse(small), small.reference, ratio=scene.ratio, max_value=scene.max_value)
    return {k: float(v) for k, v in rr.items()}


def validation_metrics(out, batch: dict, sensor) -> dict[str, float]:
    """Quality of a network output on a batch of normalised tiles (first tile), for training logs.

    Args:
        out: (N, B, H, W) float tensor, the network output (normalised units).
        batch: the tiles (``ms_lr``, ``pan``, ... of :class:`clippan_kit.train.SceneTiles`; ``shifts``
            when the JESSE constants are attached; ``target`` for supervised tiles).
        sensor: the scene's sensor.

    Returns ``D_lambda, D_s, QNR`` (omitted when the crop is too small for their blocks), ``R_Q2n,
    R_ERGAS`` (the output reprojected to the MS grid), and ``Q2n, ERGAS, SAM`` against ``target``.
    """
    from ..losses import _cores
    from .q2n import q2n_torch
    from .reduced import ergas_torch, sam_torch

    result: dict[str, float] = {}
    out = out.double()
    try:
        d_l, d_s = _cores.qnr_parts(out, {k: v.double() for k, v in batch.items()}, sensor)
        result.update(D_lambda=float(d_l[0]), D_s=float(d_s[0]), QNR=float((1 - d_l[0]) * (1 - d_s[0])))
    except ValueError:
        pass  # crop too small for QNR blocks
    low = _cores.reproject(out, sensor, batch.get("shifts"))
    ms = batch["ms_lr"].double()
    result.update(R_Q2n=float(q2n_torch(low, ms)[0]), R_ERGAS=float(ergas_torch(low, ms, sensor.ratio)[0]))
    if "target" in batch:
        t = batch["target"].double()
        result.update(Q2n=float(q2n_torch(out, t)[0]), ERGAS=float(ergas_torch(out, t, sensor.ratio)[0]),
                      SAM=float(sam_torch(out, t)[0]))
    return result
