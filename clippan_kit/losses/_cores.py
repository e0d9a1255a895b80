"""The one place where the losses reach the metric cores of :mod:`clippan_kit.metrics`.

Losses never re-implement an index: they call the torch cores (differentiable, no integer rounding).
"""
from __future__ import annotations

import torch

from ..sensors import Sensor
from ..physics import mtf_filter, reproject_ms

__all__ = ["q2n", "ergas", "qnr_parts", "local_correlation", "lowpass_pan", "coregistration_shifts", "reproject"]


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
    """Local correlation map (N, C, H, W) of x with y (broadcastable), 2w x 2w windows (the D_ρ core)."""
    from ..metrics.reprojected import local_correlation_torch

    return local_correlation_torch(x, y, half_width)


def lowpass_pan(pan: torch.Tensor, sensor: Sensor) -> torch.Tensor:
    """PAN (N, 1, H, W) filtered with each MS band's MTF: (N, B, H, W) -- the PAN seen at MS resolution."""
    return mtf_filter(pan.expand(-1, sensor.n_bands, -1, -1), sensor.gnyq_ms, sensor.ratio)


@torch.no_grad()
def coregistration_shifts(ms_lr: torch.Tensor, pan: torch.Tensor, sensor: Sensor, method: str = "peer",
                          ms_up: torch.Tensor | None = None) -> torch.Tensor:
    """(N, B, 2) per-band shifts (r, c) in half-PAN-pixel units of each image of a batch
    (:func:`clippan_kit.physics.coregistration.coregister`, the R-metrics' co-registration)."""
    from ..physics import coregister

    out = [torch.as_tensor(coregister(ms_lr[n].double().cpu(), pan[n, 0].double().cpu(), sensor, method=method,
                                      ms_exp=None if ms_up is None else ms_up[n].double().cpu()))
           for n in range(ms_lr.shape[0])]
    return torch.stack(out).long().to(ms_lr.device)


def reproject(out: torch.Tensor, sensor: Sensor, shifts: torch.Tensor | None = None) -> torch.Tensor:
    """Scarpa's reprojection (differentiable), the R-metrics' operator :func:`clippan_kit.physics.reproject_ms`.

    (N, B, H, W) -> (N, B, H/r, W/r); ``shifts`` (N or 1, B, 2) from :func:`coregistration_shifts`
    (None: no shift, the toolbox's decimation phase r//2 for every band).
    """
    return reproject_ms(out, sensor.gnyq_ms, sensor.ratio, shifts)
