"""Stage II direction losses of images through a frozen supervisor: the paper's L_d and our variants.

All functions take normalised tensors (data / max_value, ~[0, 1]): ``fused`` (N, B, H, W) (keeps its
graph), ``ms`` (N, B, H/r, W/r) low-resolution MS, ``pan`` (N, 1, H, W). MS, PAN and text features are
constants (computed without gradient); the supervisor's parameters are never updated here.

Variants (:data:`DIRECTION_VARIANTS`):

* ``paper`` -- CLIPPan's L_d (Liu et al., AAAI 2026, Eq. 6-8): the fused image's HRMS-route feature must
  move from the MS and PAN features along the text directions T_HRMS - T_MS and T_HRMS - T_PAN.
  Measured on Deng's WV3 set it is spectrally blind: PAN copied into every band scores like the ground
  truth (issue #12).
* ``spectral`` -- ours: the paper's L_d plus a spectral-consistency route
  ``1 - cos(E_ms(A(fused)), E_ms(MS))``, where A is the sensor-MTF Wald degradation (filter + decimate by
  the ratio) and E_ms the supervisor's MS route: the fused image reprojected to MS scale must look, to
  the supervisor, like the MS it came from (Khan's consistency property, in embedding space). Band
  permutations or a PAN copied into every band change A(fused) and so the MS-route feature.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..registry import Registry
from .losses import direction_loss
from .model import CLIPSupervisor

__all__ = ["DIRECTION_VARIANTS", "direction_loss_images", "RandomDirection"]

DIRECTION_VARIANTS: Registry[str] = Registry("direction-loss variant", {
    "paper": "CLIPPan L_d (Eq. 6-8)",
    "spectral": "L_d + 1 - cos(E_ms(MTF-degraded fused), E_ms(MS))",
})


def _constants(sup: CLIPSupervisor, ms: torch.Tensor, pan: torch.Tensor):
    with torch.no_grad():
        return sup.image_features(ms, "ms"), sup.image_features(pan, "pan"), sup.text_features()


def direction_loss_images(sup: CLIPSupervisor, fused: torch.Tensor, ms: torch.Tensor, pan: torch.Tensor,
                          variant: str = "paper", reduction: str = "mean") -> torch.Tensor:
    """Direction loss of fused images: a scalar (``reduction="mean"``) or one value per image (``"none"``, (N,)).

    Differentiable w.r.t. ``fused``. Values: ``paper`` in [0, 2]; ``spectral`` in [0, 4].
    """
    variant = DIRECTION_VARIANTS.key(variant)
    f_ms, f_pan, text = _constants(sup, ms, pan)
    loss = direction_loss(sup.image_features(fused, "hrms"), f_ms, f_pan, text, reduction="none")
    if variant == "spectral":
        from ..physics import WaldProtocol

        low = WaldProtocol(sup.sensor).degrade_ms(fused)
        loss = loss + 1.0 - F.cosine_similarity(sup.image_features(low, "ms"), f_ms, dim=-1)
    return loss.mean() if reduction == "mean" else loss


class RandomDirection:
    """Control for L_d: a random direction in output space with the gradient norm of the real L_d.

    Each call computes the real direction loss (``variant``) and its gradient g w.r.t. ``fused``, then
    returns a value whose gradient w.r.t. ``fused`` is ``|g| u`` with ``u`` a fresh random unit tensor
    (own seeded generator, so the global torch RNG and the paired arms' tile order are untouched). The
    returned value equals the real L_d, so logs stay comparable. If the real L_d helps only through
    "some extra gradient of that size", this control helps as much.
    """

    def __init__(self, sup: CLIPSupervisor, seed: int = 0, variant: str = "paper"):
        self.sup, self.variant = sup, variant
        self.generator = torch.Generator().manual_seed(int(seed))

    def __call__(self, fused: torch.Tensor, ms: torch.Tensor, pan: torch.Tensor) -> torch.Tensor:
        probe = fused.detach().requires_grad_(True)
        with torch.enable_grad():
            real = direction_loss_images(self.sup, probe, ms, pan, self.variant)
            (g,) = torch.autograd.grad(real, probe)
        u = torch.randn(fused.shape, generator=self.generator).to(fused.device, fused.dtype)
        u = u * (g.norm() / u.norm().clamp_min(1e-12))
        linear = (fused * u).sum()
        return linear - linear.detach() + real.detach()
