"""Quality gates of a supervisor: does its direction loss rank images the way a ground truth would?

On tiles with a reference HRMS (ground truth of a reduced-resolution set, or the original MS of a
Wald-reduced scene), per tile, in normalised units:

* **ordering** -- L_d(GT) < L_d(GT blurred, sigma=1) < L_d(sigma=2) < L_d(EXP) (23-tap upsampled MS). Reported
  as the *fraction of tiles* ordered (each neighbouring pair, GT vs EXP, and the whole chain), plus the means.
* **spectral sensitivity** -- band-reversed GT, the PAN copied into every band (with the GT's band means),
  and a hue-rotated GT (the sensor's red, green, blue bands cycled R<-G<-B<-R, others kept), each scored
  against GT: the fraction of tiles where the altered image has the *higher* L_d, and the mean gap.
* **gradient alignment** -- cosine between the gradient of L_d and the gradient of an oracle loss
  L1(out, GT) on a backbone's parameters, over ``n_batches`` random batches (issue #12 measured +0.13 for
  L_d, +0.70 for L_spec on λ-PNN over 10 batches). A positive mean says L_d pushes the backbone towards
  the truth.

All values are Python floats; ``variant`` selects the direction loss (:mod:`~clippan_kit.supervisor.direction`).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..physics import interp23tap
from .data import Tiles
from .direction import direction_loss_images
from .model import CLIPSupervisor

__all__ = ["gaussian_blur", "hue_rotate", "pan_all_bands", "per_tile_loss", "ordering_gates", "spectral_gates",
           "gradient_alignment", "quality_gates", "format_gates", "gate_tiles", "ORDER"]

#: the images of the ordering gate, best first
ORDER = ("gt", "blur1", "blur2", "exp")


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Per-band Gaussian blur of (N, B, H, W) (separable, kernel radius 3 sigma, reflect padding)."""
    radius = max(1, int(round(3 * sigma)))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    b = x.shape[1]
    y = F.pad(x, (radius, radius, radius, radius), mode="reflect")
    y = F.conv2d(y, k.view(1, 1, 1, -1).expand(b, 1, 1, -1), groups=b)
    return F.conv2d(y, k.view(1, 1, -1, 1).expand(b, 1, -1, 1), groups=b)


def hue_rotate(x: torch.Tensor, rgb: tuple[int, int, int]) -> torch.Tensor:
    """(N, B, H, W) with the red, green, blue bands (0-based indices ``rgb``) cycled: R<-G, G<-B, B<-R."""
    y = x.clone()
    r, g, b = rgb
    y[:, r], y[:, g], y[:, b] = x[:, g], x[:, b], x[:, r]
    return y


def pan_all_bands(pan: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """The PAN (N, 1, H, W) copied into every band of ``like`` (N, B, H, W), rescaled to each band's mean
    (so only the spectral shape, not the brightness, differs from ``like``)."""
    scale = like.mean((-2, -1), keepdim=True) / pan.mean((-2, -1), keepdim=True).clamp_min(1e-6)
    return pan * scale


@torch.no_grad()
def per_tile_loss(sup: CLIPSupervisor, images: torch.Tensor, tiles: Tiles, variant: str = "paper",
                  batch: int = 16) -> torch.Tensor:
    """(N,) direction loss of each image (N, B, H, W) against its tile's MS and PAN."""
    dev = sup.mean.device
    out = [direction_loss_images(sup, images[i:i + batch].to(dev), tiles.ms[i:i + batch].to(dev),
                                 tiles.pan[i:i + batch].to(dev), variant, reduction="none").cpu()
           for i in range(0, len(tiles), batch)]
    return torch.cat(out)


def _need_reference(tiles: Tiles) -> torch.Tensor:
    if tiles.reference is None:
        raise ValueError("quality gates need tiles with a reference HRMS (ground truth or a Wald-reduced scene)")
    return tiles.reference


def ordering_gates(sup: CLIPSupervisor, tiles: Tiles, variant: str = "paper") -> dict[str, float]:
    """``ld_{gt,blur1,blur2,exp}`` means, ``frac_{gt<blur1,blur1<blur2,blur2<exp,gt<exp}`` and ``frac_ordered``
    (the whole chain GT < sigma1 < sigma2 < EXP on a tile)."""
    gt = _need_reference(tiles)
    images = {"gt": gt, "blur1": gaussian_blur(gt, 1.0), "blur2": gaussian_blur(gt, 2.0),
              "exp": interp23tap(tiles.ms, sup.sensor.ratio)}
    ld = {k: per_tile_loss(sup, v, tiles, variant) for k, v in images.items()}
    m = {f"ld_{k}": float(v.mean()) for k, v in ld.items()}
    chain = torch.ones(len(tiles), dtype=torch.bool)
    for a, b in zip(ORDER, ORDER[1:]):
        ok = ld[a] < ld[b]
        m[f"frac_{a}<{b}"] = float(ok.float().mean())
        chain &= ok
    m["frac_gt<exp"] = float((ld["gt"] < ld["exp"]).float().mean())
    m["frac_ordered"] = float(chain.float().mean())
    return m


def spectral_gates(sup: CLIPSupervisor, tiles: Tiles, variant: str = "paper") -> dict[str, float]:
    """For each spectral alteration of GT (``bands_reversed``, ``pan_all_bands``, ``hue_rotated``):
    ``frac_{name}>gt`` (tiles where it scores worse than GT: the supervisor noticed) and ``gap_{name}``
    (mean L_d(altered) - L_d(GT); > 0 is right)."""
    gt = _need_reference(tiles)
    base = per_tile_loss(sup, gt, tiles, variant)
    altered = {"bands_reversed": gt.flip(1), "pan_all_bands": pan_all_bands(tiles.pan, gt),
               "hue_rotated": hue_rotate(gt, sup.sensor.rgb)}
    m: dict[str, float] = {}
    for name, img in altered.items():
        ld = per_tile_loss(sup, img, tiles, variant)
        m[f"frac_{name}>gt"] = float((ld > base).float().mean())
        m[f"gap_{name}"] = float((ld - base).mean())
    return m


def _flat_grad(loss: torch.Tensor, params: list[torch.nn.Parameter]) -> torch.Tensor:
    grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
    return torch.cat([(g if g is not None else torch.zeros_like(p)).reshape(-1) for g, p in zip(grads, params)])


def gradient_alignment(sup: CLIPSupervisor, tiles: Tiles, backbone: str = "lambda_pnn", n_batches: int = 20,
                       batch_size: int = 4, seed: int = 0, variant: str = "paper") -> dict[str, float]:
    """Cosine between grad L_d and grad L1(out, GT) on the parameters of a freshly initialised (seeded)
    ``small`` backbone, on ``n_batches`` random batches of ``batch_size`` tiles.

    Returns ``grad_cos_mean``, ``grad_cos_min``, ``grad_cos_max``, ``grad_cos_frac_pos`` (batches with a
    positive cosine), ``grad_norm_ratio`` (median |grad L_d| / |grad L1|) and ``grad_batches``.
    """
    from ..models import create_model

    gt = _need_reference(tiles)
    dev = sup.mean.device
    torch.manual_seed(seed)
    net = create_model(backbone, sup.n_bands, sup.sensor.ratio, size="small").to(dev).train()
    params = [p for p in net.parameters() if p.requires_grad]
    rng = np.random.default_rng(seed)
    ms_up_all = interp23tap(tiles.ms, sup.sensor.ratio)
    cos, ratio = [], []
    for _ in range(n_batches):
        idx = torch.from_numpy(rng.choice(len(tiles), size=min(batch_size, len(tiles)), replace=False))
        ms, pan, ref, ms_up = (t[idx].to(dev) for t in (tiles.ms, tiles.pan, gt, ms_up_all))
        out = net(ms_up, pan, ms)
        g_d = _flat_grad(direction_loss_images(sup, out, ms, pan, variant), params)
        g_o = _flat_grad(F.l1_loss(out, ref), params)
        cos.append(float(F.cosine_similarity(g_d, g_o, dim=0)))
        ratio.append(float(g_d.norm() / g_o.norm().clamp_min(1e-12)))
    c = np.array(cos)
    return {"grad_cos_mean": float(c.mean()), "grad_cos_min": float(c.min()), "grad_cos_max": float(c.max()),
            "grad_cos_frac_pos": float((c > 0).mean()), "grad_norm_ratio": float(np.median(ratio)),
            "grad_batches": float(n_batches)}


def quality_gates(sup: CLIPSupervisor, tiles: Tiles, *, variant: str = "paper", grad_batches: int = 20,
                  backbone: str = "lambda_pnn", seed: int = 0) -> dict[str, float]:
    """All gates on tiles with a reference (``grad_batches=0`` skips the gradient alignment)."""
    m = {"gate_tiles": float(len(tiles)), **ordering_gates(sup, tiles, variant), **spectral_gates(sup, tiles, variant)}
    if grad_batches:
        m.update(gradient_alignment(sup, tiles, backbone, grad_batches, seed=seed, variant=variant))
    return m


def format_gates(m: dict[str, float]) -> str:
    """Human-readable summary of :func:`quality_gates` (one line per gate)."""
    n = int(m["gate_tiles"])
    lines = [f"quality gates on {n} tiles with a reference (L_d, lower = more HRMS-like):",
             "  means: " + ", ".join(f"{k} {m[f'ld_{k}']:.4f}" for k in ORDER),
             "  ordered tiles: " + ", ".join(f"{a}<{b} {m[f'frac_{a}<{b}']:.0%}" for a, b in zip(ORDER, ORDER[1:]))
             + f", gt<exp {m['frac_gt<exp']:.0%}, whole chain {m['frac_ordered']:.0%}",
             "  spectral (altered GT scores worse than GT): " + ", ".join(
                 f"{k} {m[f'frac_{k}>gt']:.0%} (gap {m[f'gap_{k}']:+.4f})"
                 for k in ("bands_reversed", "pan_all_bands", "hue_rotated"))]
    if "grad_cos_mean" in m:
        lines.append(f"  gradient vs oracle L1-to-GT over {int(m['grad_batches'])} batches: cosine mean "
                     f"{m['grad_cos_mean']:+.3f} (min {m['grad_cos_min']:+.3f}, max {m['grad_cos_max']:+.3f}, "
                     f"positive in {m['grad_cos_frac_pos']:.0%}), |grad L_d| / |grad L1| {m['grad_norm_ratio']:.3g}")
    return "\n".join(lines)


def gate_tiles(scenes, tile: int, max_tiles: int | None = 64) -> tuple[Tiles | None, str]:
    """Tiles with a reference for the gates, and where they come from.

    Scenes with a ground truth are used as they are; a scene without one is reduced by Wald's protocol
    (its original MS becomes the reference). Returns ``(None, reason)`` when no scene gives a tile.
    """
    from ..metrics.suite import wald_reduced
    from ..scene import SceneError
    from .data import grid_tiles

    parts, names, skipped = [], [], []
    for s in scenes:
        g = s if s.reference is not None else (wald_reduced(s) if min(s.shape) >= tile * s.ratio else None)
        if g is None:
            skipped.append(f"{s.name} (Wald-reduced {min(s.shape) // s.ratio} px < tile {tile})")
            continue
        try:
            parts.append(grid_tiles(g, tile, max_tiles=max_tiles))
        except SceneError as exc:
            skipped.append(f"{s.name} ({exc})")
            continue
        names.append(s.name + (" (ground truth)" if s.reference is not None else " (Wald-reduced, reference = MS)"))
    if not parts:
        return None, "no scene has a ground truth or is large enough to Wald-reduce: " + "; ".join(skipped)
    tiles = Tiles(torch.cat([t.ms for t in parts]), torch.cat([t.pan for t in parts]),
                  torch.cat([t.reference for t in parts]))
    return tiles, ", ".join(names)
