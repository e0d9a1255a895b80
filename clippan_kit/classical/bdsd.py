"""BDSD-PC: band-dependent spatial detail with physical constraints, batched in torch.

Model (Vivone 2019, toolbox ``BDSD_PC.m``): for every band b,

    fused_b = EXP_b + gamma_0b * P + sum_k gamma_kb * EXP_k,

with the B+1 coefficients of band b fitted at MS scale by the constrained least squares

    min || gamma_0b * P_L + sum_k gamma_kb * M~_k - (M_b - M~_b) ||^2,
    gamma_0b >= 0,  gamma_kb <= 0 (k = 1..B),

where ``M`` is the low-resolution MS, ``M~`` the MS low-passed by its MTF filters at MS scale and
``P_L`` the PAN low-passed by its MTF filter and decimated to the MS grid. The signs encode the
physics: the detail is a positive multiple of the PAN minus a non-negative mix of the MS bands.

Solver: with ``D = diag(1, -1, ..., -1)`` the problem is a non-negative least squares in
``x = D gamma`` with n = B+1 unknowns. We form the (column-scaled) normal equations once per
image (the design matrix is shared by all bands) and solve the NNLS exactly by enumerating the
2^n - 1 candidate supports: on each support the unconstrained minimiser is one small linear
solve; the optimum is the feasible (x >= 0) candidate of lowest objective (the optimum's own
support is always among them). All supports, images and bands are solved as one batch, which is
fast on CPU and GPU for multispectral band counts (512 supports of 9x9 for 8 bands) and exact,
unlike projected-gradient schemes on these badly conditioned Gram matrices.

Differences from ``BDSD_PC.m``: the toolbox takes the EXP image and recovers the low-resolution
MS with a bicubic ``imresize(EXP, 1/ratio)``; we are given the low-resolution MS itself and use it
(the nearest-neighbour variant left commented in the toolbox, exact here because
``decimate(EXP) == MS``).
"""
from __future__ import annotations

import itertools

import numpy as np
import torch

from ..sensors import Sensor, get_sensor
from ..physics import decimate, interp23tap, mtf_filter
from ._inputs import prepare

__all__ = ["bdsd_pc", "bdsd_pc_torch", "bdsd_pc_coefficients", "nnls_gram"]

MAX_UNKNOWNS = 16  # 2^16 supports: beyond this (hyperspectral) enumeration is no longer sensible
_RIDGE = 1e-10  # relative to the unit diagonal of the scaled Gram: keeps duplicate bands solvable
_CHUNK = 4096  # supports solved per batch, bounds memory for large band counts


def _supports(n: int, device: torch.device) -> torch.Tensor:
    """(2^n - 1, n) bool: every non-empty subset of n unknowns."""
    masks = np.array(list(itertools.product((False, True), repeat=n))[1:], dtype=bool)
    return torch.as_tensor(masks, device=device)


def nnls_gram(gram: torch.Tensor, rhs: torch.Tensor) -> torch.Tensor:
    """Batched exact non-negative least squares in normal-equation form.

    Solves ``min_x 0.5 x^T G x - c^T x  s.t. x >= 0`` independently for every batch entry and
    every right-hand-side column, by enumeration of supports (see the module docstring).

    Args:
        gram: (..., n, n) symmetric positive (semi-)definite ``G = A^T A``, n <= 16.
        rhs: (..., n, m) ``c = A^T y`` for m right-hand sides.

    Returns:
        (..., n, m) non-negative minimisers, same dtype and device as ``gram``.
    """
    n = gram.shape[-1]
    if n > MAX_UNKNOWNS:
        raise ValueError(f"nnls_gram enumerates supports and handles at most {MAX_UNKNOWNS} unknowns, got {n}")
    # Scale to a unit diagonal: conditioning improves and the sign constraints are unchanged.
    d = torch.sqrt(torch.diagonal(gram, dim1=-2, dim2=-1)).clamp_min(torch.finfo(gram.dtype).tiny)
    g = gram / (d[..., :, None] * d[..., None, :])
    g = g + _RIDGE * torch.eye(n, dtype=g.dtype, device=g.device)
    c = rhs / d[..., :, None]
    batch = g.shape[:-2]
    best_obj = torch.zeros((*batch, rhs.shape[-1]), dtype=g.dtype, device=g.device)  # empty support: x = 0
    best_x = torch.zeros_like(c)
    supports = _supports(n, g.device)
    for start in range(0, supports.shape[0], _CHUNK):
        s = supports[start:start + _CHUNK]  # (S, n)
        inside = (s[:, :, None] & s[:, None, :]).to(g.dtype)
        outside = torch.diag_embed((~s).to(g.dtype))
        g_s = g[..., None, :, :] * inside + outside  # identity rows pin x = 0 off the support
        c_s = c[..., None, :, :] * s[:, :, None].to(g.dtype)
        chol, info = torch.linalg.cholesky_ex(g_s)  # SPD thanks to the ridge; 2x faster than LU here
        x = torch.cholesky_solve(c_s, chol)  # (..., S, n, m)
        obj = -0.5 * (c_s * x).sum(-2)  # objective at a support's unconstrained minimiser
        feasible = (x >= 0).all(-2) & (info == 0)[..., None]
        obj = torch.where(feasible, obj, torch.full_like(obj, torch.inf))
        chunk_obj, idx = obj.min(-2)  # (..., m)
        take = chunk_obj < best_obj
        pick = idx[..., None, None, :].expand(*idx.shape[:-1], 1, n, idx.shape[-1])
        chunk_x = torch.gather(x, -3, pick)[..., 0, :, :]  # each column's best support in this chunk
        best_x = torch.where(take[..., None, :], chunk_x, best_x)
        best_obj = torch.where(take, chunk_obj, best_obj)
    return best_x / d[..., :, None]


def _check_batch(ms_lr: torch.Tensor, pan: torch.Tensor, sensor: Sensor) -> None:
    if ms_lr.ndim != 4 or pan.ndim != 4 or pan.shape[1] != 1:
        raise ValueError(
            f"expected ms_lr (N, B, h, w) and pan (N, 1, H, W), got {tuple(ms_lr.shape)} and {tuple(pan.shape)}"
        )
    N, B, h, w = ms_lr.shape
    r = sensor.ratio
    if pan.shape != (N, 1, h * r, w * r):
        raise ValueError(
            f"pan must be {(N, 1, h * r, w * r)} for ms_lr {tuple(ms_lr.shape)} and ratio {r}, got {tuple(pan.shape)}"
        )
    if B != sensor.n_bands:
        raise ValueError(f"ms_lr has {B} bands but {sensor.long_name} has {sensor.n_bands}")


def _solve_dtype(device: torch.device) -> torch.dtype:
    return torch.float32 if device.type == "mps" else torch.float64  # MPS has no float64


@torch.no_grad()
def bdsd_pc_coefficients(ms_lr: torch.Tensor, pan: torch.Tensor, sensor: Sensor | str) -> torch.Tensor:
    """Constrained BDSD coefficients, one set per image and band.

    Args:
        ms_lr: (N, B, h, w) low-resolution MS, float tensor on any device.
        pan: (N, 1, H, W) PAN, same units, ``H = h * ratio``.
        sensor: gives the ratio and the MS / PAN MTF gains.

    Returns:
        (N, B+1, B) float64 (float32 on MPS): ``gamma[:, 0, b]`` >= 0 multiplies the PAN and
        ``gamma[:, 1 + k, b]`` <= 0 the EXP band k, for output band b.
    """
    sensor = get_sensor(sensor)
    _check_batch(ms_lr, pan, sensor)
    r = sensor.ratio
    dtype = _solve_dtype(ms_lr.device)
    pan = pan.to(ms_lr.dtype)
    ms_lp = mtf_filter(ms_lr, sensor.gnyq_ms, r)  # MTF at MS scale, as BDSD_PC.m
    pan_lr = decimate(mtf_filter(pan, sensor.gnyq_pan, r), r)
    N, B = ms_lr.shape[:2]
    design = torch.cat([pan_lr, ms_lp], dim=1).reshape(N, B + 1, -1).to(dtype)
    target = (ms_lr - ms_lp).reshape(N, B, -1).to(dtype)
    sign = torch.ones(B + 1, dtype=dtype, device=ms_lr.device)
    sign[1:] = -1.0
    design = design * sign[:, None]  # x = sign * gamma >= 0
    gram = design @ design.transpose(1, 2)
    rhs = design @ target.transpose(1, 2)
    return nnls_gram(gram, rhs) * sign[:, None]


@torch.no_grad()
def bdsd_pc_torch(ms_lr: torch.Tensor, pan: torch.Tensor, sensor: Sensor | str) -> torch.Tensor:
    """BDSD-PC on a batch of tiles (CLIPPan Stage I pseudo-HRMS), on the tensors' device.

    Args:
        ms_lr: (N, B, h, w) low-resolution MS, float32 or float64, any device.
        pan: (N, 1, H, W) PAN, same units, ``H = h * sensor.ratio``.
        sensor: a :class:`Sensor` or registry name (ratio, MTF gains).

    Returns:
        (N, B, H, W) fused tiles, dtype and device of ``ms_lr``, same units. Not differentiable
        (computed under ``no_grad``): a fixed target, not part of the graph.

    Reference:
        G. Vivone, "Robust band-dependent spatial-detail approaches for panchromatic sharpening",
        IEEE TGRS 57(9), 6421-6433, 2019.
    """
    sensor = get_sensor(sensor)
    gamma = bdsd_pc_coefficients(ms_lr, pan, sensor).to(ms_lr.dtype)
    up = interp23tap(ms_lr, sensor.ratio)
    pan = pan.to(ms_lr.dtype)
    return up + gamma[:, 0, :, None, None] * pan + torch.einsum("nkb,nkhw->nbhw", gamma[:, 1:], up)


def bdsd_pc(ms, pan, sensor: Sensor | str) -> np.ndarray:
    """BDSD-PC on one numpy PAN + MS pair (float64 through :func:`bdsd_pc_torch` on CPU).

    Args:
        ms: (B, h, w) low-resolution MS, any units.
        pan: (H, W) PAN, same units, ``H = h * sensor.ratio``.
        sensor: gives the ratio and the MS / PAN MTF gains.

    Returns:
        (B, H, W) float32 in the units of the inputs.

    Reference:
        G. Vivone, "Robust band-dependent spatial-detail approaches for panchromatic sharpening",
        IEEE TGRS 57(9), 6421-6433, 2019.
    """
    ms, pan, sensor = prepare(ms, pan, sensor)
    fused = bdsd_pc_torch(torch.from_numpy(ms)[None], torch.from_numpy(pan)[None, None], sensor)
    return fused[0].numpy().astype(np.float32)
