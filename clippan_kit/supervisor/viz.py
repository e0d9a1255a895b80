"""Embedding-space figures for notebooks (matplotlib figures are returned, never shown)."""
from __future__ import annotations

import numpy as np
import torch

from .prompts import IMAGE_TYPES

__all__ = ["pca_2d", "plot_embeddings", "direction_vectors", "plot_directions", "plot_cosine_heatmap"]

_COLORS = {"ms": "tab:blue", "pan": "tab:gray", "hrms": "tab:green", "fused": "tab:orange"}


def pca_2d(x: np.ndarray, fit: np.ndarray | None = None) -> np.ndarray:
    """(n, D) -> (n, 2) projection on the first two principal axes of ``fit`` (default ``x``)."""
    fit = x if fit is None else fit
    mu = fit.mean(0)
    _, _, vt = np.linalg.svd(fit - mu, full_matrices=False)
    return (x - mu) @ vt[:2].T


def plot_embeddings(feats: dict[str, torch.Tensor], title: str = "supervisor embedding space"):
    """2-D PCA of MS / PAN / HRMS / fused image embeddings and the three prompt embeddings.

    ``feats`` as returned by :func:`~clippan_kit.supervisor.evaluate.embed_tiles`.
    """
    import matplotlib.pyplot as plt

    kinds = [k for k in ("ms", "pan", "hrms", "fused") if k in feats]
    arrs = {k: feats[k].numpy() for k in kinds}
    text = feats["text"].numpy()
    allx = np.concatenate([*arrs.values(), text])
    fig, ax = plt.subplots(figsize=(5, 4.5))
    for k in kinds:
        p = pca_2d(arrs[k], allx)
        ax.scatter(p[:, 0], p[:, 1], s=12, alpha=0.7, c=_COLORS[k], label=f"{k} image")
    pt = pca_2d(text, allx)
    for i, k in enumerate(IMAGE_TYPES):
        ax.scatter(pt[i, 0], pt[i, 1], marker="*", s=250, c=_COLORS[k], edgecolors="k", label=f"{k} prompt")
    ax.set_title(title)
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def direction_vectors(feats: dict[str, torch.Tensor], fused_key: str = "hrms") -> dict[str, np.ndarray]:
    """Image-space ΔV^I (Eq. 7-8: fused - MS, fused - PAN; (N, D)) and text-space ΔV^T (Wald - MS, Wald - PAN; (D,))."""
    f = {k: v.numpy() for k, v in feats.items()}
    t = f["text"]
    return {"dI_ms": f[fused_key] - f["ms"], "dI_pan": f[fused_key] - f["pan"], "dT_ms": t[2] - t[0], "dT_pan": t[2] - t[1]}


def plot_directions(feats: dict[str, torch.Tensor], fused_key: str = "hrms"):
    """ΔV^I of each tile next to ΔV^T, in the 2-D PCA plane of all direction vectors, plus their cosines."""
    import matplotlib.pyplot as plt

    d = direction_vectors(feats, fused_key)
    allv = np.concatenate([d["dI_ms"], d["dI_pan"], d["dT_ms"][None], d["dT_pan"][None]])
    fig, axes = plt.subplots(1, 2, figsize=(9, 4))
    for ax, src in zip(axes, ("ms", "pan")):
        vi, vt = pca_2d(d[f"dI_{src}"], allv), pca_2d(d[f"dT_{src}"][None], allv)[0]
        o = np.zeros(len(vi))
        ax.quiver(o, o, vi[:, 0], vi[:, 1], angles="xy", scale_units="xy", scale=1, color="tab:orange", alpha=0.5,
                  width=0.004, label="ΔV^I (image)")
        ax.quiver(0, 0, vt[0], vt[1], angles="xy", scale_units="xy", scale=1, color="k", width=0.01, label="ΔV^T (text)")
        cos = d[f"dI_{src}"] @ d[f"dT_{src}"] / (np.linalg.norm(d[f"dI_{src}"], axis=1) * np.linalg.norm(d[f"dT_{src}"]) + 1e-12)
        lim = np.abs(np.concatenate([vi, vt[None]])).max() * 1.1 + 1e-9
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_title(f"{fused_key} - {src}: mean cos(ΔV^I, ΔV^T) = {cos.mean():.3f}")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_cosine_heatmap(a: torch.Tensor, b: torch.Tensor, a_labels=None, b_labels=None, title: str = "cosine similarity"):
    """Heatmap of cosines between rows of ``a`` (n, D) and ``b`` (m, D) (e.g. images vs prompts)."""
    import matplotlib.pyplot as plt

    a_n = torch.nn.functional.normalize(a, dim=-1)
    b_n = torch.nn.functional.normalize(b, dim=-1)
    c = (a_n @ b_n.t()).numpy()
    fig, ax = plt.subplots(figsize=(1 + 0.5 * c.shape[1], 1 + 0.25 * c.shape[0]))
    im = ax.imshow(c, cmap="viridis", aspect="auto")
    if b_labels is not None:
        ax.set_xticks(range(len(b_labels)), b_labels, rotation=45, ha="right", fontsize=7)
    if a_labels is not None:
        ax.set_yticks(range(len(a_labels)), a_labels, fontsize=7)
    fig.colorbar(im, ax=ax)
    ax.set_title(title)
    fig.tight_layout()
    return fig
