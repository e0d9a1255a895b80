"""Scarpa & Ciotola's full-resolution protocol: reprojected indices R-Q2n, R-Q, R-SAM, R-ERGAS and D_ρ.

G. Scarpa, M. Ciotola, "Full-resolution quality assessment for pansharpening", Remote Sensing 14(8), 2022
(arXiv:2108.06144), and M. Ciotola, S. Vitale, A. Mazza, G. Poggi, G. Scarpa, "Pansharpening by
convolutional neural networks in the full resolution framework" / M. Ciotola, G. Poggi, G. Scarpa,
"Unsupervised deep learning-based pansharpening with jointly enhanced spectral and spatial fidelity",
IEEE TGRS 61, 2023 (λ-PNN). Conventions of the authors' NumPy tools:

* MTF filters: the authors' own ``gen_mtf`` variant of the toolbox's ``genMTF.m`` (Gaussian sampled
  in frequency, a 1-D Kaiser window (beta 0.5) applied along columns, negative taps clipped, unit
  sum): ``clippan_kit.wald.mtf_kernel(..., convention="lambda-pnn")``. With the toolbox filter R-Q2n moves by ~1e-4 (0.956143 vs 0.956255).
* Reprojection (:func:`clippan_kit.wald.reproject_ms`, shared with the JESSE loss): each fused band is
  low-passed with its MS MTF filter (replicate borders), shifted by its co-registration shift (half-PAN-
  pixel steps, :func:`clippan_kit.wald.shift_decimate`) and decimated, then compared with the LR MS:
  Q2n ("fr" convention), Q (sliding 32² windows), SAM, ERGAS. ``dim_cut`` pixels may be dropped on
  each side of the MS-scale images (0 by default, 21 in some papers).
* Co-registration (:mod:`clippan_kit.physics.coregistration`): ``"peer"`` (default) is the released
  λ-PNN code's search (MTF-filtered PAN vs each EXP band, 81 half-pixel shifts); ``"phase"`` the integer
  decimation phases of the authors' earlier NumPy tool.
* Local correlation (``local_cross_correlation``): windows of side 2w over zero-padded images, local
  means divided by the full window area, variance sums clipped below at 1e-20, rho = s_xy / (sqrt(s_xx
  s_yy) + 1e-20). The co-registration search also clips s_xy at 1e-20 (NumPy tool); D_ρ keeps its sign
  (λ-PNN torch code; 0.801787 for EXP on the WV2 scene, 0.724 with the clip).
* D_ρ = mean over pixels and bands of 1 - clip(rho(fused band, PAN), -1, 1) with w = ceil(ratio/2).
"""
from __future__ import annotations

from math import ceil

import numpy as np
import torch

from ..scene import Scene
from ..physics import coregister, coregistration_phases, reproject_ms, shift_decimate
from ..physics.windows import local_correlation_torch  # shared with the co-registration search
from ._common import as_batch, as_pan_batch, cut_border, dn_bits, strip_rows
from .memo import scene_memo
from .q2n import q2n
from .reduced import ergas_torch, q_index_torch, sam_torch

__all__ = ["local_correlation_torch", "d_rho_torch", "d_rho", "coregistration_shifts", "scene_shifts",
           "reproject", "reprojected_metrics"]


def d_rho_torch(fused, pan, *, ratio: int) -> torch.Tensor:
    """Differentiable D_ρ: fused (N, B, H, W), PAN (N, 1, H, W) -> (N,) in [0, 2]; 0 is best."""
    f = as_batch(fused, "fused")
    p = as_pan_batch(pan).to(f.dtype)
    rho = local_correlation_torch(f, p, ceil(ratio / 2)).clamp(-1.0, 1.0)
    return (1.0 - rho).mean((-1, -2, -3))


def d_rho(fused, scene: Scene) -> float:
    """Correlation-based spatial distortion D_ρ of the λ-PNN paper (window from ``scene.ratio``); 0 is best.

    Pixels outside ``scene.valid`` are excluded from the mean. Computed on row strips with a halo of
    2w rows (the local means of the window's rows reach w rows further), which give the whole image's
    correlation map exactly (zero padding only at the image border) at a fraction of the memory traffic.
    """
    f = as_batch(fused, "fused")
    p = as_pan_batch(scene.pan).to(f.dtype)
    w = ceil(scene.ratio / 2)
    valid = None if scene.valid.all() else torch.from_numpy(np.asarray(scene.valid, bool))
    H = f.shape[-2]
    step, halo = strip_rows(f.shape), 2 * w
    total, count = 0.0, 0
    for r0 in range(0, H, step):
        r1 = min(H, r0 + step)
        a0, a1 = max(0, r0 - halo), min(H, r1 + halo)
        rho = local_correlation_torch(f[..., a0:a1, :], p[..., a0:a1, :], w)[0, :, r0 - a0:r1 - a0].clamp_(-1.0, 1.0)
        if valid is None:
            total, count = total + float(rho.sum()), count + rho.numel()
        else:
            v = valid[r0:r1]
            total, count = total + float(rho[:, v].sum()), count + int(v.sum()) * rho.shape[0]
    return 1.0 - total / count if count else float("nan")


def coregistration_shifts(ms_lr, pan, gnyq_first: float, ratio: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer decimation phases (rows, cols) of the ``"phase"`` co-registration (kept for callers of the
    first API); see :func:`clippan_kit.physics.coregistration.coregister` for the shifts both methods give."""
    return coregistration_phases(ms_lr, pan, gnyq_first, ratio)


def scene_shifts(scene: Scene, coregistration: str = "peer", *, ms_exp=None, key: str | None = None) -> np.ndarray:
    """Per-band shifts (B, 2) int64 in half-PAN-pixel units of a scene (:func:`coregister`).

    Kept per scene (:func:`clippan_kit.metrics.memo.scene_memo`): the search depends on the scene only, so a
    second fused image of the same scene skips it. ``ms_exp``: the scene's EXP when already computed;
    ``key``: its :func:`~clippan_kit.metrics.memo.scene_key` when already computed. Returns a copy.
    """
    return scene_memo(scene if key is None else key, ("shifts", coregistration),
                      lambda: coregister(scene.ms, scene.pan, scene.sensor, method=coregistration, ms_exp=ms_exp))


def reproject(fused, scene: Scene, *, filtered=None, shifts=None, coregistration: str = "peer") -> torch.Tensor:
    """Fused (B, H, W) -> (1, B, h, w): MTF-filtered (λ-PNN kernels), shifted by the co-registration, decimated.

    ``shifts`` (B, 2) half-PAN-pixel units (:func:`scene_shifts` when None); ``filtered``: the fused image
    already filtered with the λ-PNN-convention kernels. The operator is :func:`clippan_kit.wald.reproject_ms`
    (the JESSE loss uses the same one).
    """
    r = scene.ratio
    f = as_batch(fused, "fused")
    sh = scene_shifts(scene, coregistration) if shifts is None else shifts
    if filtered is None:
        out = reproject_ms(f, scene.sensor.gnyq_ms, r, sh)
    else:
        out = shift_decimate(as_batch(filtered), sh, r)
    h, w = scene.ms.shape[1:]
    return out[..., :h, :w]


def reprojected_metrics(fused, scene: Scene, *, dim_cut: int = 0, block_size: int = 32, filtered=None,
                        shifts=None, coregistration: str = "peer") -> dict[str, float]:
    """R-Q2n, R-Q, R-SAM (degrees), R-ERGAS of a fused (B, H, W) image (Scarpa & Ciotola 2022).

    Keys ``R_Q2n, R_Q, R_SAM, R_ERGAS``. ``dim_cut`` crops the MS-scale images (e.g. 21) before scoring.
    ``coregistration``: ``"peer"`` (default; the released λ-PNN code's half-pixel shifts; with it EXP on
    the WV2 scene scores R-Q2n 0.96549 as under their own scorer) or ``"phase"`` (integer phases of the
    authors' earlier NumPy tool: 0.956255). Optional ``filtered`` (the fused image filtered with the
    λ-PNN-convention MTF kernels) and ``shifts`` let callers reuse work.
    """
    x = cut_border(reproject(fused, scene, filtered=filtered, shifts=shifts, coregistration=coregistration), dim_cut)
    ms = cut_border(as_batch(scene.ms).to(x.dtype), dim_cut)
    return {
        "R_Q2n": q2n(x[0], ms[0], block_size=block_size, convention="fr", max_value=scene.max_value,
                     bits=dn_bits(scene)),
        "R_Q": float(q_index_torch(x, ms, block_size=block_size)[0]),
        "R_SAM": float(sam_torch(x, ms)[0]),
        "R_ERGAS": float(ergas_torch(x, ms, scene.ratio)[0]),
    }
