"""How good is a supervisor? Metrics on held-out tiles, before vs after Stage I, and Stage II guidance.

All metrics take tiles the supervisor did not train on and their HRMS (pseudo-label or reference).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..physics import interp23tap
from .data import Tiles
from .direction import direction_loss_images  # noqa: F401 - re-exported (notebooks import it from here)
from .losses import direction_loss
from .model import CLIPSupervisor
from .prompts import IMAGE_TYPES

__all__ = ["embed_tiles", "supervisor_metrics", "compare_metrics", "format_comparison", "direction_loss_images"]


@torch.no_grad()
def embed_tiles(sup: CLIPSupervisor, tiles: Tiles, hrms: torch.Tensor, batch: int = 16) -> dict[str, torch.Tensor]:
    """Adapted features of every tile: ``ms``, ``pan``, ``hrms``, ``fused`` (N, D), ``text`` (3, D), ``fused_text`` (D,),
    and ``ms_up`` / ``pan_hrms``: the upsampled MS and the band-replicated PAN through the HRMS route."""
    dev = sup.mean.device
    out: dict[str, list] = {k: [] for k in ("ms", "pan", "hrms", "fused", "ms_up", "pan_hrms")}
    for i in range(0, len(tiles), batch):
        ms, pan, hr = (tiles.ms[i:i + batch].to(dev), tiles.pan[i:i + batch].to(dev), hrms[i:i + batch].to(dev))
        f = sup(ms, pan, hr)
        for k in ("ms", "pan", "hrms", "fused"):
            out[k].append(f[k])
        out["ms_up"].append(sup.image_features(interp23tap(ms, sup.sensor.ratio), "hrms"))
        out["pan_hrms"].append(sup.image_features(pan.expand(-1, sup.n_bands, -1, -1), "hrms"))
    res = {k: torch.cat(v).cpu() for k, v in out.items()}
    res["text"] = sup.text_features().cpu()
    res["fused_text"] = sup.fused_text_feature().cpu()
    return res


def _retrieval(a: torch.Tensor, b: torch.Tensor) -> float:
    """Fraction of rows of ``a`` whose nearest row of ``b`` is the same scene (same index)."""
    return float(((a @ b.t()).argmax(1) == torch.arange(a.shape[0])).float().mean())


def supervisor_metrics(sup: CLIPSupervisor, tiles: Tiles, hrms: torch.Tensor) -> dict[str, float]:
    """Metrics of ``sup`` on held-out tiles (values in [0, 1] unless said otherwise).

    * ``type_acc_{ms,pan,hrms}``, ``type_acc``: image-type recognition, each image through its own
      type route (as trained), labelled by the nearest of the three prompts.
    * ``hrms_route_acc``: harder and leak-free: upsampled MS, band-replicated PAN and the HRMS all go
      through the HRMS route (the route a fused output takes in Stage II) and must land on their own prompt.
    * ``retrieval``: scene retrieval across types (IntraMCL), mean over the 6 ordered type pairs; chance = 1/N.
    * ``fusion_cos``: mean cosine IFA(MS, PAN) vs HRMS features; ``fusion_text_cos``: TFA vs protocol text.
    * ``spread_{type}``: 1 - mean pairwise cosine of same-type embeddings across scenes (0 = collapsed).
    * ``ld_hrms`` / ``ld_upsampled``: Stage II direction loss L_d of the HRMS and of plain upsampled MS
      (a useful supervisor gives the true fusion the lower value).
    """
    f = embed_tiles(sup, tiles, hrms)
    text = f["text"]
    n = f["ms"].shape[0]
    m: dict[str, float] = {"n_tiles": float(n)}
    accs = []
    for label, kind in enumerate(IMAGE_TYPES):
        acc = float(((f[kind] @ text.t()).argmax(1) == label).float().mean())
        m[f"type_acc_{kind}"] = acc
        accs.append(acc)
    m["type_acc"] = sum(accs) / 3
    route = [(f["ms_up"], 0), (f["pan_hrms"], 1), (f["hrms"], 2)]
    m["hrms_route_acc"] = sum(float(((x @ text.t()).argmax(1) == lab).float().mean()) for x, lab in route) / 3
    pairs = [(a, b) for a in IMAGE_TYPES for b in IMAGE_TYPES if a != b]
    m["retrieval"] = sum(_retrieval(f[a], f[b]) for a, b in pairs) / len(pairs)
    m["retrieval_chance"] = 1.0 / n
    m["fusion_cos"] = float(F.cosine_similarity(f["fused"], f["hrms"], dim=-1).mean())
    m["fusion_text_cos"] = float(F.cosine_similarity(f["fused_text"], text[2], dim=0))
    for kind in IMAGE_TYPES:
        g = f[kind] @ f[kind].t()
        off = (g.sum() - g.diagonal().sum()) / max(n * (n - 1), 1)
        m[f"spread_{kind}"] = float(1.0 - off)
    m["ld_hrms"] = float(direction_loss(f["hrms"], f["ms"], f["pan"], text))
    m["ld_upsampled"] = float(direction_loss(f["ms_up"], f["ms"], f["pan"], text))
    return m


def compare_metrics(before: dict[str, float], after: dict[str, float]) -> dict[str, tuple[float, float]]:
    """{metric: (before, after)} for the metrics both dicts have."""
    return {k: (before[k], after[k]) for k in before if k in after}


def format_comparison(table: dict[str, tuple[float, float]]) -> str:
    """Plain-text table ``metric | before | after``."""
    lines = [f"{'metric':<18} {'before':>9} {'after':>9}", "-" * 38]
    lines += [f"{k:<18} {b:>9.4f} {a:>9.4f}" for k, (b, a) in table.items()]
    return "\n".join(lines)
