"""Quality indices for pansharpening, faithful to the reference toolboxes, with differentiable torch cores.

Reduced resolution (with a reference): :func:`q2n`, :func:`q_index`, :func:`sam`, :func:`ergas`,
:func:`psnr`, :func:`ssim`, :func:`scc`, all at once with :func:`reduced_resolution_metrics`.
Full resolution (no reference): :func:`d_lambda`, :func:`d_s`, :func:`qnr` (Alparone 2008, toolbox 1.0),
:func:`d_lambda_k`, :func:`hqnr` (Khan 2009 / Vivone), :func:`d_rho` and :func:`reprojected_metrics`
(Scarpa & Ciotola; λ-PNN), all at once with :func:`full_resolution_metrics`.

numpy functions take band-first (B, H, W) arrays and return floats; ``*_torch`` functions take (N, B, H, W)
tensors and return (N,) tensors with gradients (used by the Stage II / JESSE losses).
"""
from __future__ import annotations

from ..physics import coregister
from ._common import as_batch, cut_border
from .q2n import q2n, q2n_torch
from .qnr import d_lambda, d_lambda_k, d_lambda_k_torch, d_lambda_torch, d_s, d_s_torch, hqnr, qnr
from .reduced import (ergas, ergas_torch, mpsnr, psnr, psnr_torch, q_index, q_index_torch, sam, sam_torch, scc,
                      scc_torch, ssim, ssim_torch)
from .reprojected import coregistration_shifts, scene_shifts, d_rho, d_rho_torch, local_correlation_torch, reproject, reprojected_metrics
from .memo import clear_scene_memo
from .suite import evaluate_fused, evaluate_reduced, full_resolution_metrics, validation_metrics, wald_reduced

__all__ = [
    "evaluate_fused", "evaluate_reduced", "validation_metrics", "wald_reduced",
    "q2n", "q2n_torch", "q_index", "q_index_torch", "sam", "sam_torch", "ergas", "ergas_torch", "psnr", "mpsnr",
    "psnr_torch", "ssim", "ssim_torch", "scc", "scc_torch", "d_lambda", "d_lambda_torch", "d_s", "d_s_torch", "qnr",
    "d_lambda_k", "d_lambda_k_torch", "hqnr", "d_rho", "d_rho_torch", "local_correlation_torch",
    "coregister", "coregistration_shifts", "scene_shifts", "clear_scene_memo", "reproject", "reprojected_metrics", "reduced_resolution_metrics",
    "full_resolution_metrics",
]


def reduced_resolution_metrics(fused, reference, *, ratio: int, max_value: float, bits: int = 11,
                               block_size: int = 32, dim_cut: int = 0, q2n_convention: str = "toolbox") -> dict:
    """All reference-based indices of a fused (B, H, W) image vs its ground truth (B, H, W).

    Args:
        ratio: PAN/MS scale ratio (ERGAS).
        max_value: full scale of the data (1.0 normalised, 2047 for 11-bit DN): PSNR/SSIM peak, and the
            scale to which Q2n rescales before its ``2**bits - 1`` integer rounding.
        dim_cut: pixels dropped on each side first (the toolbox's ``flag_cut_bounds``/``dim_cut``, e.g. 21).
        q2n_convention: see :func:`q2n` (``"toolbox"`` default, ``"fr"``, ``"pancollection"``, ``"float"``).

    Returns:
        dict with keys ``Q2n, Q, SAM, ERGAS, PSNR, SSIM, SCC`` (floats; SAM in degrees, PSNR in dB).
    """
    f = cut_border(as_batch(fused, "fused"), dim_cut)
    r = cut_border(as_batch(reference, "reference"), dim_cut).to(f.dtype)
    return {
        "Q2n": q2n(f[0], r[0], block_size=block_size, max_value=max_value, bits=bits, convention=q2n_convention),
        "Q": float(q_index_torch(f, r, block_size=block_size)[0]),
        "SAM": float(sam_torch(f, r)[0]),
        "ERGAS": float(ergas_torch(f, r, ratio)[0]),
        "PSNR": float(psnr_torch(f, r, max_value=max_value)[0]),
        "SSIM": float(ssim_torch(f, r, max_value=max_value)[0]),
        "SCC": float(scc_torch(f, r)[0]),
    }
