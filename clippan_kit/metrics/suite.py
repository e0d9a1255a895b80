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

from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import warnings

import numpy as np

from ..scene import Scene

__all__ = ["evaluate_fused", "full_resolution_metrics", "wald_reduced", "evaluate_reduced", "validation_metrics"]


def evaluate_fused(fused: np.ndarray, scene: Scene) -> dict[str, float]:
    """Metric name -> value for ``fused`` ((B, H, W), scene units, on the PAN grid) of ``scene``.

    Full-resolution indices always; reduced-resolution ones against ``scene.reference`` when present.
    """
    from . import reduced_resolution_metrics

    result = {k: float(v) for k, v in full_resolution_metrics(fused, scene).items()}
    if scene.reference is not None:
        rr = reduced_resolution_metrics(fused, scene.reference, ratio=scene.ratio, max_value=scene.max_value)
        result.update({k: float(v) for k, v in rr.items()})
    return result


def full_resolution_metrics(fused, scene: Scene, *, block_size: int = 32, dim_cut: int = 0) -> dict:
    """All no-reference indices of a fused (B, H, W) image on the PAN grid of ``scene``.

    Defaults: QNR with toolbox-1.0 D_λ and D_s, D_λ^(K) at PAN scale (Vivone's HQNR), D_ρ of λ-PNN, and
    Scarpa's reprojected R-Q2n/R-Q/R-SAM/R-ERGAS (``dim_cut`` at MS scale). Every image is made once and
    shared: EXP (D_λ, D_s and the co-registration search), the toolbox-MTF-filtered fused image (D_λ^(K));
    the reprojection filters only at the samples it keeps. The terms that depend on the scene only (the
    co-registration shifts, the EXP terms of D_λ and D_s) are kept per scene (:mod:`~clippan_kit.metrics.memo`),
    so scoring a second fused image of the scene skips them. Scenes with nodata are filled first
    (:meth:`Scene.filled`); D_ρ excludes invalid pixels. A second thread computes part of the indices beside
    the rest (same values as one after the other).

    Returns:
        dict with keys ``D_lambda, D_s, QNR, D_lambda_K, HQNR, D_rho, R_Q2n, R_Q, R_SAM, R_ERGAS``.
    """
    from ..physics import interp23tap, mtf_filter
    from ._common import as_batch, dn_bits
    from .memo import scene_key, scene_memo
    from .q2n import q2n
    from .qnr import d_lambda_torch, d_s_torch, fused_qnr_terms, qnr_references
    from .reprojected import d_rho, reprojected_metrics, scene_shifts

    scene = scene.filled()
    f = as_batch(fused, "fused")
    if f.shape[1:] != (scene.n_bands, *scene.shape):
        raise ValueError(f"fused {tuple(f.shape[1:])} does not match the scene {(scene.n_bands, *scene.shape)}")
    H, W = scene.shape
    if H % block_size or W % block_size:
        # The toolbox's D_lambda.m / D_s.m require whole blocks; score the largest whole-block part.
        h, w = H - H % block_size, W - W % block_size
        if h == 0 or w == 0:
            raise ValueError(f"scene {H}x{W} is smaller than one {block_size}x{block_size} block")
        warnings.warn(f"full-resolution indices computed on the top-left {h}x{w} pixels of the {H}x{W} scene "
                      f"(whole {block_size}x{block_size} blocks, as the toolbox requires)", stacklevel=2)
        scene, f = scene.crop(0, 0, h, w), f[..., :h, :w]
    s, r = scene.sensor, scene.ratio
    ms = as_batch(scene.ms).to(f.dtype)
    # Two chains share the cores (torch releases the GIL): a second thread computes D_ρ, the co-registration
    # search (the largest term of the scene alone, a compute-bound grouped convolution) and the fused image's
    # terms of D_λ and D_s, while this one makes EXP, the scene's terms of D_λ and D_s, the MTF filtering and
    # D_λ^(K), which are bound by memory passes, then the reprojected indices once the shifts are known (D_ρ
    # alone beside the rest: 2.19 -> 2.02 s on the WV2 scene, session 8; the two chains take ~1.2 s each on
    # one core, session 9: benchmarks/results/metrics.md).
    # The terms of the scene alone are kept per scene (memo): a second fused image computes only its own.
    with ThreadPoolExecutor(1, thread_name_prefix="clippan-metrics") as pool:
        rho = pool.submit(d_rho, f[0], scene)
        exp = interp23tap(ms, r)
        key = scene_key(scene)
        shifts = pool.submit(scene_shifts, scene, ms_exp=exp[0], key=key)
        fused_terms = pool.submit(fused_qnr_terms, f, scene.pan, block_size=block_size)
        # D_λ and D_s: one Gram pass over [EXP, degraded PAN] for the scene's terms, one over [fused, PAN].
        q_ref, q_low = scene_memo(key, ("qnr_references", block_size, f.dtype),
                                  lambda: qnr_references(exp, scene.pan, ratio=r, block_size=block_size))
        filtered = mtf_filter(f, s.gnyq_ms, r)
        dlk = 1.0 - q2n(filtered[0], exp[0], block_size=block_size, max_value=scene.max_value, bits=dn_bits(scene))
        del filtered, exp
        # The λ-PNN kernels are separable: the reprojection never makes a full-size filtered image (reproject_ms).
        rm = reprojected_metrics(f[0], scene, dim_cut=dim_cut, block_size=block_size, shifts=shifts.result())
        q_pairs, q_pan = fused_terms.result()
        dl = float(d_lambda_torch(f, ms, ratio=r, block_size=block_size, q_ref=q_ref, q_fused=q_pairs)[0])
        ds = float(d_s_torch(f, ms, scene.pan, ratio=r, block_size=block_size, q_low=q_low, q_fused=q_pan)[0])
        return {"D_lambda": dl, "D_s": ds, "QNR": (1 - dl) * (1 - ds), "D_lambda_K": dlk, "HQNR": (1 - dlk) * (1 - ds),
                "D_rho": rho.result(), **rm}


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
