"""Embedding-space figures for notebooks (matplotlib figures are returned, never shown), and the prompt
editor of the embedding-space tutorial: how the protocol text moves the text direction ΔV^T of L_d
(CLIPPan, Liu et al., AAAI 2026, Eq. 6-8)."""
from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Sequence

import numpy as np
import torch

from .losses import direction_loss
from .prompts import HRMS_PROMPTS, IMAGE_TYPES, PromptSet, make_prompts

if TYPE_CHECKING:
    from .model import CLIPSupervisor

__all__ = ["pca_2d", "plot_embeddings", "direction_vectors", "direction_plane", "plane_coords", "direction_planes",
           "direction_cosines", "plot_directions", "plot_direction_candidates", "plot_direction_histograms", "plot_cosine_heatmap",
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


def direction_plane(dT: np.ndarray, dI_mean: np.ndarray) -> np.ndarray:
    """(2, D) orthonormal basis of the plane spanned by the text direction ``dT`` (D,) and the mean image
    direction ``dI_mean`` (D,): row 0 along ``dT``, row 1 the part of ``dI_mean`` orthogonal to it
    (Gram-Schmidt). Both vectors lie in this plane, so the angle between their projections is exactly the
    angle between them in D dimensions (a 2-D PCA keeps no angle). If they are parallel, row 1 is any unit
    vector orthogonal to ``dT``."""
    e1 = dT / (np.linalg.norm(dT) + 1e-12)
    r = dI_mean - (dI_mean @ e1) * e1
    if np.linalg.norm(r) < 1e-9 * (np.linalg.norm(dI_mean) + 1e-12):
        r = np.eye(len(e1))[int(np.argmin(np.abs(e1)))]
        r = r - (r @ e1) * e1
    return np.stack([e1, r / np.linalg.norm(r)])


def plane_coords(v: np.ndarray, plane: np.ndarray) -> np.ndarray:
    """Coordinates (..., 2) of vectors ``v`` (..., D) projected onto ``plane`` (2, D) of :func:`direction_plane`."""
    return v @ plane.T


def direction_planes(feats: dict[str, torch.Tensor], fused_key: str = "hrms") -> dict[str, np.ndarray]:
    """``{"ms": plane, "pan": plane}``: for each source the plane of its ΔV^T and mean ΔV^I (:func:`direction_plane`)."""
    d = direction_vectors(feats, fused_key)
    return {src: direction_plane(d[f"dT_{src}"], d[f"dI_{src}"].mean(0)) for src in ("ms", "pan")}


def _angle(a: np.ndarray, b: np.ndarray) -> float:
    """Angle in degrees between two vectors (D,)."""
    return float(np.degrees(np.arccos(np.clip(_cosines(a[None], b)[0], -1, 1))))


def _arrow(ax, v, **kw):
    # annotate draws a real dashed arrow (quiver ignores linestyle)
    ax.annotate("", xy=(v[0], v[1]), xytext=(0, 0), arrowprops=dict(arrowstyle="-|>", shrinkA=0, shrinkB=0, **kw))


def _draw_directions(ax, d: dict, src: str, plane: np.ndarray, others: Sequence[tuple[str, np.ndarray]] = ()) -> str:
    """Draw one panel (per-tile ΔV^I, their mean, ΔV^T, optional other ΔV^T) in ``plane``; return its title text."""
    vi = plane_coords(d[f"dI_{src}"], plane)
    mean_i = d[f"dI_{src}"].mean(0)
    vm, vt = plane_coords(mean_i, plane), plane_coords(d[f"dT_{src}"], plane)
    o = np.zeros(len(vi))
    ax.quiver(o, o, vi[:, 0], vi[:, 1], angles="xy", scale_units="xy", scale=1, color="tab:orange", alpha=0.35,
              width=0.004)
    ax.plot([], [], color="tab:orange", alpha=0.5, label="ΔV^I per tile (projected)")
    _arrow(ax, vm, color="tab:brown", lw=2.2)
    ax.plot([], [], color="tab:brown", lw=2.2, label="mean ΔV^I")
    _arrow(ax, vt, color="k", lw=2.2)
    ax.plot([], [], color="k", lw=2.2, label="ΔV^T (trained prompt)")
    pts = [vi, vm[None], vt[None]]
    title = (f"mean cos(ΔV^I, ΔV^T) = {_cosines(d[f'dI_{src}'], d[f'dT_{src}']).mean():.3f}\n"
             f"angle(mean ΔV^I, ΔV^T) = {_angle(mean_i, d[f'dT_{src}']):.1f}° (exact)")
    for label, dT in others:
        v2 = plane_coords(dT, plane)
        _arrow(ax, v2, color="tab:red", lw=2.0, linestyle="--")
        ax.plot([], [], color="tab:red", lw=2.0, ls="--", label=f"ΔV^T ({label}, projected)")
        title += f"\n{label}: mean cos {_cosines(d[f'dI_{src}'], dT).mean():.3f}"
        pts.append(v2[None])
    allp = np.concatenate([np.zeros((1, 2)), *pts])
    lo, hi = allp.min(0), allp.max(0)
    pad = 0.08 * (hi - lo).max() + 1e-9
    ax.set_xlim(lo[0] - pad, hi[0] + pad)
    ax.set_ylim(lo[1] - pad, max(hi[1], lo[1] + 0.35 * (hi[0] - lo[0])) + pad)  # room for the legend
    ax.set_aspect("equal")  # equal units on both axes: drawn angles are true angles
    ax.axhline(0, color="0.8", lw=0.6, zorder=0)
    ax.axvline(0, color="0.8", lw=0.6, zorder=0)
    ax.set_xlabel("along ΔV^T")
    ax.set_ylabel("mean ΔV^I, part orthogonal to ΔV^T")
    return title


def plot_directions(feats: dict[str, torch.Tensor], fused_key: str = "hrms", other_text: torch.Tensor | None = None,
                    other_label: str = "edited prompt", planes: dict[str, np.ndarray] | None = None):
    """ΔV^I of each tile, their mean and ΔV^T, drawn in the plane of ΔV^T and the mean ΔV^I (left: from the
    MS, right: from the PAN), where the angle between the mean ΔV^I and ΔV^T is exact (:func:`direction_plane`);
    per-tile arrows are projections onto that plane.

    ``other_text``: optional (3, D) text features with another protocol prompt (:func:`protocol_text_features`);
    its ΔV^T is drawn projected (dashed, red) and its mean cosine added to the titles. ``planes``: the planes
    to draw in (:func:`direction_planes`; default: those of ``feats`` itself), so that figures stay comparable.
    """
    import matplotlib.pyplot as plt

    d = direction_vectors(feats, fused_key)
    planes = direction_planes(feats, fused_key) if planes is None else planes
    o2 = None if other_text is None else direction_vectors({**feats, "text": other_text}, fused_key)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.6), layout="constrained", dpi=100)
    for ax, src in zip(axes, ("ms", "pan")):
        others = [] if o2 is None else [(other_label, o2[f"dT_{src}"])]
        ax.set_title(f"{fused_key} − {src}: " + _draw_directions(ax, d, src, planes[src], others), fontsize=9)
        ax.legend(fontsize=7, loc="upper right")
    return fig


CANDIDATES = ("hrms", "ms_up", "pan_hrms")


def plot_direction_candidates(feats: dict[str, torch.Tensor], candidates: Sequence[str] = CANDIDATES,
                              title: str | None = None):
    """One column per candidate F_out, rows from the MS and from the PAN: :func:`plot_directions` panels, each
    in the plane of ΔV^T and that candidate's mean ΔV^I (so every printed angle is exact)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(candidates), figsize=(4.2 * len(candidates), 8.4), layout="constrained",
                             dpi=100, squeeze=False)
    for j, key in enumerate(candidates):
        d = direction_vectors(feats, key)
        for i, src in enumerate(("ms", "pan")):
            plane = direction_plane(d[f"dT_{src}"], d[f"dI_{src}"].mean(0))
            axes[i, j].set_title(f"F_out = {key}, from the {src.upper()}\n" + _draw_directions(axes[i, j], d, src, plane),
                                 fontsize=8)
    axes[0, 0].legend(fontsize=7, loc="upper right")
    if title:
        fig.suptitle(title)
    return fig


def direction_cosines(feats: dict[str, torch.Tensor], fused_key: str) -> dict[str, np.ndarray]:
    """Per-tile cos(ΔV^I, ΔV^T): ``{"ms": (N,), "pan": (N,)}`` (L_d = 1 − mean of the two, Eq. 6)."""
    d = direction_vectors(feats, fused_key)
    return {src: _cosines(d[f"dI_{src}"], d[f"dT_{src}"]) for src in ("ms", "pan")}


def plot_direction_histograms(stages: dict[str, dict[str, torch.Tensor]], candidates: Sequence[str] = CANDIDATES,
                              bins: int = 16):
    """Histograms of the per-tile cosines cos(ΔV^I, ΔV^T), one row per stage (e.g. before / after Stage I),
    columns from the MS and from the PAN, one outline per candidate F_out; dashed lines at the means."""
    import matplotlib.pyplot as plt

    cos = {st: {k: direction_cosines(f, k) for k in candidates} for st, f in stages.items()}
    every = np.concatenate([c for st in cos.values() for k in st.values() for c in k.values()])
    edges = np.linspace(every.min() - 1e-6, every.max() + 1e-6, bins + 1)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    fig, axes = plt.subplots(len(stages), 2, figsize=(9, 2.8 * len(stages)), layout="constrained", dpi=100,
                             squeeze=False, sharex=True)
    for i, (st, per) in enumerate(cos.items()):
        for j, src in enumerate(("ms", "pan")):
            ax = axes[i, j]
            for c, (key, v) in zip(colours, per.items()):
                ax.hist(v[src], bins=edges, histtype="step", lw=1.6, color=c, label=f"{key} (mean {v[src].mean():.2f})")
                ax.axvline(v[src].mean(), color=c, ls="--", lw=1)
            ax.set_title(f"{st}: cos(ΔV^I_{src.upper()}, ΔV^T_{src.upper()}) per tile", fontsize=9)
            ax.set_ylabel("tiles")
            ax.legend(fontsize=7)
    for ax in axes[-1]:
        ax.set_xlabel("cosine")
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
    dropdown of the paper's Table-5 descriptors, the text box, button and output area on first use, draws
    once, and redraws the output on every submitted text or chosen descriptor. Every figure is drawn in the
    planes of the trained ΔV^T and mean ΔV^I (:func:`direction_planes`), fixed at creation.
    """

    def __init__(self, sup: "CLIPSupervisor", feats: dict[str, torch.Tensor], fused_key: str = "hrms"):
        self.sup, self.feats, self.fused_key = sup, feats, fused_key
        self.planes = direction_planes(feats, fused_key)  # fixed: the trained ΔV^T never moves between figures
        self._widget = None

    def update(self, text: str):
        numbers = prompt_shift(self.sup, self.feats, text, self.fused_key)
        fig = plot_directions(self.feats, self.fused_key, other_text=numbers["text"], other_label="edited prompt",
                              planes=self.planes)
        return {k: v for k, v in numbers.items() if k != "text"}, fig

    @staticmethod
    def summary(numbers: dict) -> str:
        """One line per number of :meth:`update`, for printing."""
        return "\n".join(f"{k:<11} {v:8.4f}" for k, v in numbers.items())

    @property
    def widget(self):
        if self._widget is None:
            import ipywidgets as w

            own = "(your own sentence)"
            choice = w.Dropdown(options=[own, *HRMS_PROMPTS], value=own, description="Table 5")
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

            def pick(change):
                if change["new"] != own:  # a Table-5 descriptor: put its sentence in the box and draw it
                    box.value = HRMS_PROMPTS[change["new"]]
                    redraw()

            button.on_click(redraw)
            choice.observe(pick, names="value")
            self._widget = w.VBox([choice, box, button, out])
            redraw()  # draw once on creation: the trained prompt, in the fixed planes
        return self._widget
