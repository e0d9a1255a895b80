"""Stage I losses of CLIPPan (Liu et al., AAAI 2026, Eq. 1-5) and the Stage II direction loss (Eq. 6-8).

All functions take L2-normalised features (N, D) / (3, D) and return scalar tensors.

Deviations from the printed equations, and why:

* InterMCL (Eq. 2): with one constant text per type, a batch-wise InfoNCE over N identical texts has
  logits that are equal across the batch, so its value is the constant log N and its gradient is zero.
  Following the paper's wording ("pushed from the other types' prompts"), each image is classified
  against the **three type prompts**: a softmax cross-entropy over {MS, PAN, HRMS} texts.
* IntraMCL (Eq. 3) is the multi-positive (supervised) contrastive form: the anchor's two other-type
  views of the same scene are positives; every other of the 3N-1 features is in the denominator.
* Fusion L1 (Eq. 5) is the mean absolute difference (``torch.nn.L1Loss`` convention); the reference
  features are detached so the fusion adapters learn to predict them rather than drag them along.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .prompts import IMAGE_TYPES

__all__ = ["inter_mcl", "intra_mcl", "fusion_alignment", "direction_loss", "LossWeights", "stage1_loss"]


def inter_mcl(image_feats: dict[str, torch.Tensor], text_feats: torch.Tensor, tau: float = 0.07) -> torch.Tensor:
    """InterMCL: mean over types of the cross-entropy of each image against the 3 type prompts.

    Args:
        image_feats: {"ms": (N, D), "pan": (N, D), "hrms": (N, D)} normalised image features.
        text_feats: (3, D) normalised text features, rows ordered ms, pan, hrms.
        tau: temperature tau_c.
    """
    losses = []
    for label, kind in enumerate(IMAGE_TYPES):
        f = image_feats[kind]
        logits = f @ text_feats.t() / tau
        target = torch.full((f.shape[0],), label, dtype=torch.long, device=f.device)
        losses.append(F.cross_entropy(logits, target))
    return torch.stack(losses).mean()


def intra_mcl(f_ms: torch.Tensor, f_pan: torch.Tensor, f_hrms: torch.Tensor, tau: float = 0.07) -> torch.Tensor:
    """IntraMCL (Eq. 3): the three views of scene i are positives, the other scenes' views negatives.

    For each of the 3N anchors: ``-mean_{p in pos} log( exp(s_ap/tau) / sum_{k != a} exp(s_ak/tau) )``,
    averaged over anchors. Needs N >= 2 scenes for any negative.
    """
    n = f_ms.shape[0]
    f = torch.cat([f_ms, f_pan, f_hrms], 0)  # (3N, D)
    scene = torch.arange(n, device=f.device).repeat(3)
    sim = f @ f.t() / tau
    self_mask = torch.eye(3 * n, dtype=torch.bool, device=f.device)
    sim = sim.masked_fill(self_mask, float("-inf"))
    log_prob = sim - torch.logsumexp(sim, dim=1, keepdim=True)
    pos = (scene[:, None] == scene[None, :]) & ~self_mask
    return -(log_prob.masked_fill(~pos, 0.0).sum(1) / pos.sum(1)).mean()


def fusion_alignment(f_fused: torch.Tensor, f_hrms: torch.Tensor, t_fused: torch.Tensor,
                     t_protocol: torch.Tensor) -> torch.Tensor:
    """Eq. 5: L1(TFA text, protocol text) + L1(IFA image, HRMS image); references detached."""
    return F.l1_loss(t_fused, t_protocol.detach()) + F.l1_loss(f_fused, f_hrms.detach())


def direction_loss(f_out: torch.Tensor, f_ms: torch.Tensor, f_pan: torch.Tensor, text_feats: torch.Tensor,
                   reduction: str = "mean") -> torch.Tensor:
    """Stage II semantic loss L_d (Eq. 6-8), averaged over the batch (``reduction="none"``: per image, (N,)).

    ``1 - (cos(F_out - F_MS, T_wald - T_MS) + cos(F_out - F_PAN, T_wald - T_PAN)) / 2``

    Args:
        f_out: (N, D) features of the fused images (HRMS route); f_ms, f_pan: (N, D) source features.
        text_feats: (3, D) text features, rows ms, pan, hrms(=protocol).
    """
    t_ms, t_pan, t_hrms = text_feats[0], text_feats[1], text_feats[2]
    cos_ms = F.cosine_similarity(f_out - f_ms, (t_hrms - t_ms)[None], dim=-1)
    cos_pan = F.cosine_similarity(f_out - f_pan, (t_hrms - t_pan)[None], dim=-1)
    loss = 1.0 - 0.5 * (cos_ms + cos_pan)
    return loss.mean() if reduction == "mean" else loss


@dataclass(frozen=True)
class LossWeights:
    """Weights of the Stage I terms (Eq. 1 uses 1, 1, 1) and the temperatures tau_c, tau_i."""

    inter: float = 1.0
    intra: float = 1.0
    fusion: float = 1.0
    tau_inter: float = 0.07
    tau_intra: float = 0.07


def stage1_loss(features: dict[str, torch.Tensor], weights: LossWeights = LossWeights()) -> tuple[torch.Tensor, dict[str, float]]:
    """L_s1 = L_inter + L_intra + L_fusion (Eq. 1) from :meth:`CLIPSupervisor.forward` features.

    Returns the total (a tensor to backpropagate) and the float value of each term.
    """
    text = features["text"]
    l_inter = inter_mcl(features, text, weights.tau_inter)
    l_intra = intra_mcl(features["ms"], features["pan"], features["hrms"], weights.tau_intra)
    l_fusion = fusion_alignment(features["fused"], features["hrms"], features["fused_text"], text[2])
    total = weights.inter * l_inter + weights.intra * l_intra + weights.fusion * l_fusion
    return total, {"loss": float(total.detach()), "inter": float(l_inter.detach()), "intra": float(l_intra.detach()),
                   "fusion": float(l_fusion.detach())}
