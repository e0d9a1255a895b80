"""The one place where the losses reach the metric cores of :mod:`clippan_kit.metrics`.

Losses never re-implement an index: they call the torch cores (differentiable, no integer rounding).
Cores whose final name in :mod:`clippan_kit.metrics` was not settled when the losses were written are
looked up by their expected names first (``local_corr_torch``, ``coregistration_shifts_torch``,
``reproject_torch`` in :mod:`clippan_kit.metrics`); the interim versions below are built from existing
primitives (window sums, the Wald filters) and go away when those names exist.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..sensors import Sensor
from ..wald import decimate, mtf_filter

__all__ = ["q2n", "ergas", "qnr_parts", "local_correlation", "lowpass_pan", "coregistration_shifts", "reproject"]


def _metric(name: str):
    import clippan_kit.metrics as metrics

    return getattr(metrics, name, None)


def q2n(fused: torch.Tensor, reference: torch.Tensor, block_size: int = 32) -> torch.Tensor:
    """Differentiable Q2n per image, (N,) (float convention, no rounding)."""
    from ..metrics.q2n import q2n_torch

    return q2n_torch(fused, reference, block_size=block_size)


def ergas(fused: torch.Tensor, reference: torch.Tensor, ratio: int) -> torch.Tensor:
    from ..metrics.reduced import ergas_torch

    return ergas_torch(fused, reference, ratio)


def _block(size: int, h: int, w: int) -> int:
    """Largest block side <= ``size`` dividing both h and w (the QNR cores need whole blocks)."""
    for b in range(min(size, h, w), 1, -1):
        if h % b == 0 and w % b == 0:
            return b
    raise ValueError(f"tile {h}x{w} has no common block size >= 2")


def qnr_parts(out: torch.Tensor, batch, sensor: Sensor, block_size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """(D_λ, D_s) per image, (N,) each, differentiable w.r.t. ``out`` (toolbox 1.0 convention, p = q = 1)."""
    from ..metrics.qnr import d_lambda_torch, d_s_torch

    ms_lr, pan, ms_up = batch["ms_lr"], batch["pan"], batch["ms_up"]
    bs = _block(block_size, *out.shape[-2:])
    return (d_lambda_torch(out, ms_lr, ratio=sensor.ratio, block_size=bs, ms_exp=ms_up),
            d_s_torch(out, ms_lr, pan, ratio=sensor.ratio, block_size=bs, ms_exp=ms_up))


def local_correlation(x: torch.Tensor, y: torch.Tensor, half_width: int) -> torch.Tensor:
    """Local Pearson correlation of x and y (N, C, H, W) in (2w+1)² windows, same size (replicate borders)."""
    fn = _metric("local_corr_torch")
    if fn is not None:
        return fn(x, y, half_width)
    from ..metrics._common import box_sum

    w = int(half_width)
    k = 2 * w + 1
    xp = F.pad(x, (w, w, w, w), mode="replicate")
    yp = F.pad(y, (w, w, w, w), mode="replicate")
    n = float(k * k)
    sx, sy = box_sum(xp, k), box_sum(yp, k)
    cov = box_sum(xp * yp, k) - sx * sy / n
    vx = (box_sum(xp * xp, k) - sx**2 / n).clamp(min=0)
    vy = (box_sum(yp * yp, k) - sy**2 / n).clamp(min=0)
    return cov / torch.sqrt(vx * vy + 1e-10)


def lowpass_pan(pan: torch.Tensor, sensor: Sensor) -> torch.Tensor:
    """PAN (N, 1, H, W) filtered with each MS band's MTF: (N, B, H, W) -- the PAN seen at MS resolution."""
    return mtf_filter(pan.expand(-1, sensor.n_bands, -1, -1), sensor.gnyq_ms, sensor.ratio)


@torch.no_grad()
def coregistration_shifts(ms_up: torch.Tensor, pan: torch.Tensor, sensor: Sensor) -> torch.Tensor:
    """(N, B, 2) integer row/col shift (PAN pixels) of each band relative to the PAN (Scarpa's co-registration):
    band content at PAN position p appears in the MS at p + shift.

    Uses the metrics' co-registration when available; the interim search maximises the correlation
    between each upsampled MS band and the PAN low-passed to MS resolution over shifts in [-r/2, r/2].
    """
    fn = _metric("coregistration_shifts_torch")
    if fn is not None:
        return fn(ms_up, pan, sensor)
    r = sensor.ratio
    lp = lowpass_pan(pan, sensor)
    m = r // 2 + 1
    core = (slice(None), slice(None), slice(m, -m), slice(m, -m))
    ref = lp[core]
    ref = ref - ref.mean((-1, -2), keepdim=True)
    best = torch.full(ms_up.shape[:2], -2.0, dtype=ms_up.dtype, device=ms_up.device)
    shifts = torch.zeros(*ms_up.shape[:2], 2, dtype=torch.long, device=ms_up.device)
    for dr in range(-(r // 2), r // 2 + 1):
        for dc in range(-(r // 2), r // 2 + 1):
            x = torch.roll(ms_up, shifts=(-dr, -dc), dims=(-2, -1))[core]
            x = x - x.mean((-1, -2), keepdim=True)
            c = (x * ref).sum((-1, -2)) / torch.sqrt((x * x).sum((-1, -2)) * (ref * ref).sum((-1, -2)) + 1e-20)
            better = c > best
            best = torch.where(better, c, best)
            shifts[..., 0] = torch.where(better, torch.full_like(shifts[..., 0], dr), shifts[..., 0])
            shifts[..., 1] = torch.where(better, torch.full_like(shifts[..., 1], dc), shifts[..., 1])
    return shifts


def reproject(out: torch.Tensor, sensor: Sensor, shifts: torch.Tensor | None = None) -> torch.Tensor:
    """Scarpa's reprojection: MTF filter, per-band shift, decimation. (N, B, H, W) -> (N, B, H/r, W/r)."""
    fn = _metric("reproject_torch")
    if fn is not None:
        return fn(out, sensor, shifts)
    r = sensor.ratio
    low = mtf_filter(out, sensor.gnyq_ms, r)
    if shifts is None or not bool(shifts.any()):
        return decimate(low, r)
    N, B, H, W = low.shape
    s = shifts.to(out.device).long()
    if s.shape[0] != N:
        s = s.expand(N, -1, -1)
    base_r = torch.arange(r // 2, H, r, device=out.device)
    base_c = torch.arange(r // 2, W, r, device=out.device)
    # A band whose content sits ``shift`` pixels after the PAN's is sampled ``shift`` pixels earlier.
    rows = (base_r[None, None, :] - s[..., 0:1]).clamp(0, H - 1)  # (N, B, h)
    cols = (base_c[None, None, :] - s[..., 1:2]).clamp(0, W - 1)  # (N, B, w)
    low = torch.gather(low, 2, rows[..., None].expand(-1, -1, -1, W))
    return torch.gather(low, 3, cols[:, :, None, :].expand(-1, -1, low.shape[2], -1))
