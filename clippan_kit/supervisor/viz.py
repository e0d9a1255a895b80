"""Embedding-space figures for notebooks (matplotlib figures are returned, never shown), and the prompt
editor of the embedding-space tutorial: how the protocol text moves the text direction ΔV^T of L_d
(CLIPPan, Liu et al., AAAI 2026, Eq. 6-8)."""
from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np
import torch

from .losses import direction_loss
from .prompts import IMAGE_TYPES, PromptSet, make_prompts

if TYPE_CHECKING:
    from .model import CLIPSupervisor

__all__ = ["pca_2d", "plot_embeddings", "direction_vectors", "plot_directions", "plot_cosine_heatmap",
           "protocol_text_features", "prompt_shift", "PromptEditor"]

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


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine of each row of ``a`` (n, D) with the vector ``b`` (D,)."""
    return a @ b / (np.linalg.norm(a, axis=1) * np.linalg.norm(b) + 1e-12)


def plot_directions(feats: dict[str, torch.Tensor], fused_key: str = "hrms", other_text: torch.Tensor | None = None,
                    other_label: str = "edited prompt"):
    """ΔV^I of each tile next to ΔV^T, in the 2-D PCA plane of all direction vectors, plus their cosines.

    ``other_text``: optional (3, D) text features with another protocol prompt (:func:`protocol_text_features`);
    its ΔV^T is drawn too (dashed, red) and its mean cosine added to the titles.
    """
    import matplotlib.pyplot as plt

    d = direction_vectors(feats, fused_key)
    o2 = None if other_text is None else direction_vectors({**feats, "text": other_text}, fused_key)
    extra = [] if o2 is None else [o2["dT_ms"][None], o2["dT_pan"][None]]
    allv = np.concatenate([d["dI_ms"], d["dI_pan"], d["dT_ms"][None], d["dT_pan"][None], *extra])
    fig, axes = plt.subplots(1, 2, figsize=(9, 4))
    for ax, src in zip(axes, ("ms", "pan")):
        vi, vt = pca_2d(d[f"dI_{src}"], allv), pca_2d(d[f"dT_{src}"][None], allv)[0]
        o = np.zeros(len(vi))
        ax.quiver(o, o, vi[:, 0], vi[:, 1], angles="xy", scale_units="xy", scale=1, color="tab:orange", alpha=0.5,
                  width=0.004, label="ΔV^I (image)")
        ax.quiver(0, 0, vt[0], vt[1], angles="xy", scale_units="xy", scale=1, color="k", width=0.01, label="ΔV^T (text)")
        title = f"{fused_key} - {src}: mean cos(ΔV^I, ΔV^T) = {_cosines(d[f'dI_{src}'], d[f'dT_{src}']).mean():.3f}"
        pts = [vi, vt[None]]
        if o2 is not None:
            v2 = pca_2d(o2[f"dT_{src}"][None], allv)[0]
            ax.quiver(0, 0, v2[0], v2[1], angles="xy", scale_units="xy", scale=1, color="tab:red", width=0.01,
                      linestyle="--", label=f"ΔV^T ({other_label})")
            title += f"\n{other_label}: {_cosines(d[f'dI_{src}'], o2[f'dT_{src}']).mean():.3f}"
            pts.append(v2[None])
        lim = np.abs(np.concatenate(pts)).max() * 1.1 + 1e-9
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_title(title, fontsize=9)
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


# ---------------------------------------------------------------------- prompt editor
@contextmanager
def _prompts(sup: "CLIPSupervisor", prompts: PromptSet):
    """Temporarily give the supervisor another prompt set (its text cache is keyed by the texts)."""
    old = sup.prompts
    sup.prompts = prompts
    try:
        yield sup
    finally:
        sup.prompts = old


@torch.no_grad()
def protocol_text_features(sup: "CLIPSupervisor", hrms_text: str) -> torch.Tensor:
    """(3, D) adapted text features (rows ms, pan, hrms) with the HRMS/protocol prompt replaced by ``hrms_text``
    (a name of :data:`~clippan_kit.supervisor.prompts.HRMS_PROMPTS` or any sentence); the MS and PAN prompts
    and every adapter stay as trained. CPU tensor."""
    new = make_prompts(hrms_text, ms=sup.prompts.ms, pan=sup.prompts.pan)
    with _prompts(sup, new):
        return sup.text_features().cpu()


def prompt_shift(sup: "CLIPSupervisor", feats: dict[str, torch.Tensor], hrms_text: str,
                 fused_key: str = "hrms") -> dict:
    """How replacing the protocol prompt by ``hrms_text`` changes the text side of L_d (Eq. 6-8).

    Args:
        feats: features of held-out tiles (:func:`~clippan_kit.supervisor.evaluate.embed_tiles`), whose ``text``
            rows are the supervisor's own prompts.
        fused_key: which image features play F_out (``hrms`` = the pseudo-label, ``ms_up`` = plain upsampling).

    Returns:
        dict with ``text`` (3, D) new text features, ``text_cos`` the cosine between the new and the trained
        protocol text features, ``dT_cos_ms`` / ``dT_cos_pan`` the cosines between new and trained ΔV^T,
        ``agree_ms`` / ``agree_pan`` the mean cos(ΔV^I, new ΔV^T) over tiles, ``ld`` and ``ld_trained``:
        L_d of the ``fused_key`` images with the new and with the trained prompt.
    """
    text = protocol_text_features(sup, hrms_text)
    old, new = direction_vectors(feats, fused_key), direction_vectors({**feats, "text": text}, fused_key)
    out = {"text": text, "text_cos": float(torch.nn.functional.cosine_similarity(text[2], feats["text"][2], dim=0))}
    for src in ("ms", "pan"):
        out[f"dT_cos_{src}"] = float(_cosines(new[f"dT_{src}"][None], old[f"dT_{src}"])[0])
        out[f"agree_{src}"] = float(_cosines(new[f"dI_{src}"], new[f"dT_{src}"]).mean())
    out["ld"] = float(direction_loss(feats[fused_key], feats["ms"], feats["pan"], text))
    out["ld_trained"] = float(direction_loss(feats[fused_key], feats["ms"], feats["pan"], feats["text"]))
    return out


class PromptEditor:
    """An ipywidgets prompt editor: type a protocol sentence, see where its ΔV^T points (Jupyter).

    ``update(text)`` does the work and returns ``(numbers, figure)`` (see :func:`prompt_shift`) without
    touching any widget, so it can be called directly (tests, non-interactive runs); ``widget`` builds the
    text box, button and output area on first use and redraws the output on every submitted text.
    """

    def __init__(self, sup: "CLIPSupervisor", feats: dict[str, torch.Tensor], fused_key: str = "hrms"):
        self.sup, self.feats, self.fused_key = sup, feats, fused_key
        self._widget = None

    def update(self, text: str):
        numbers = prompt_shift(self.sup, self.feats, text, self.fused_key)
        fig = plot_directions(self.feats, self.fused_key, other_text=numbers["text"], other_label="edited prompt")
        return {k: v for k, v in numbers.items() if k != "text"}, fig

    @staticmethod
    def summary(numbers: dict) -> str:
        """One line per number of :meth:`update`, for printing."""
        return "\n".join(f"{k:<11} {v:8.4f}" for k, v in numbers.items())

    @property
    def widget(self):
        if self._widget is None:
            import ipywidgets as w

            box = w.Textarea(value=self.sup.prompts.hrms, description="protocol", layout=w.Layout(width="95%", height="4em"))
            button = w.Button(description="Update ΔV^T")
            out = w.Output()

            def redraw(_=None):
                import matplotlib.pyplot as plt
                from IPython.display import display

                with out:
                    out.clear_output(wait=True)
                    try:
                        numbers, fig = self.update(box.value)
                    except ValueError as exc:  # e.g. an empty prompt: say so in the output area
                        print(exc)
                        return
                    print(self.summary(numbers))
                    display(fig)
                    plt.close(fig)

            button.on_click(redraw)
            self._widget = w.VBox([box, button, out])
        return self._widget
