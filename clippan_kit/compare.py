"""Side-by-side comparison of pansharpening methods on one scene: the logic behind the Gradio demo
(``demo/app.py``) and the evaluation notebook, kept free of any UI so that it can be tested and reused.

* Methods are :class:`~clippan_kit.methods.MethodChoice` objects from :mod:`clippan_kit.methods` (the one
  resolver; re-exported here): a classical method, λ-PNN with target adaptation (JESSE loss, Ciotola et
  al., IEEE TGRS 2023) or a trained backbone checkpoint (with or without the CLIPPan supervisor, AAAI 2026).
* :func:`compare` fuses a :class:`~clippan_kit.scene.Scene` with several choices and scores each with the
  one metric suite (:mod:`clippan_kit.metrics.suite`: full-resolution indices; reference-based indices
  when the scene carries ground truth; Wald's reduced-resolution protocol when asked), returning a
  :class:`Comparison`; :func:`metrics_table` lays it out as rows.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np

from .errors import ClippanError
from .methods import (CHECKPOINT_SUFFIXES, MethodChoice, available_methods, checkpoint_choice, checkpoint_choices,
                      classical_choices, describe_checkpoint, lambda_pnn_choice, run_method)
from .scene import Scene

# Columns the CLIPPan supervisor adds to the metrics table (supervisor_report).
SUPERVISOR_COLUMNS = ("L_d (supervisor)", "P(HRMS) (supervisor)")

__all__ = [
    "Comparison", "compare", "iter_compare", "metrics_table", "METRIC_GLOSSARY", "glossary_entry",
    "supervisor_report", "SUPERVISOR_COLUMNS",
    # re-exported from clippan_kit.methods
    "MethodChoice", "classical_choices", "checkpoint_choices", "checkpoint_choice", "describe_checkpoint",
    "lambda_pnn_choice", "available_methods", "run_method", "CHECKPOINT_SUFFIXES",
]


# ----------------------------------------------------------------------------- comparison
@dataclass
class Comparison:
    """Results of several methods on one scene.

    Attributes:
        scene: the scene that was fused.
        fused: label -> (B, H, W) float32 fused image, scene units, in run order.
        metrics: label -> metric name -> value. Full-resolution indices (D_lambda, D_s, QNR, ...),
            reference-based ones when the scene has ground truth, and Wald-protocol reduced-
            resolution ones suffixed `` (RR)`` when ``reduced`` was asked.
        seconds: label -> wall-clock seconds of the whole method at full resolution (λ-PNN: tile choice,
            target adaptation and inference; a checkpoint: loading and tiled inference), metrics not included.
        errors: label -> message for methods that failed (the others still ran).
        reduced: whether reduced-resolution metrics were computed.
        supervisor: :func:`supervisor_report` of a CLIPPan supervisor on the fused images, when one was given.
    """

    scene: Scene
    fused: dict[str, np.ndarray] = field(default_factory=dict)
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    reduced: bool = False
    supervisor: dict | None = None

    @property
    def labels(self) -> list[str]:
        return list(self.fused)


def _score(choice: MethodChoice, scene: Scene, fused: np.ndarray, reduced: bool) -> dict[str, float]:
    """The metric suite: full resolution (+ ground truth), and Wald's protocol suffixed `` (RR)``."""
    from .metrics.suite import evaluate_fused, evaluate_reduced

    metrics = evaluate_fused(fused, scene)
    if reduced:
        rr = evaluate_reduced(scene, lambda small: run_method(choice, small))
        metrics.update({f"{k} (RR)": v for k, v in rr.items()})
    return metrics


def iter_compare(scene: Scene, choices: Sequence[MethodChoice], *, reduced: bool = False,
                 metrics: bool = True, bars: bool = False) -> Iterator[tuple[int, MethodChoice, Comparison]]:
    """Generator form of :func:`compare`: yields ``(i, choice, comparison)`` after each method, so
    that a UI can show progress and stop between methods. A method that raises is recorded in
    ``comparison.errors`` and the others go on. ``bars``: tqdm bars inside each method (λ-PNN's
    adaptation epochs, tiled inference), which a UI can mirror (Gradio's ``track_tqdm``)."""
    if not choices:
        raise ValueError("choose at least one method")
    labels = [c.label for c in choices]
    if len(set(labels)) != len(labels):
        raise ValueError(f"method labels must be unique, got {labels}")
    result = Comparison(scene=scene, reduced=reduced)
    for i, choice in enumerate(choices):
        # One bad method (e.g. a checkpoint for another sensor) must not sink the rest; a result
        # whose scoring fails is still shown.
        try:
            t0 = time.perf_counter()
            fused = run_method(choice, scene, progress=bars)
            result.seconds[choice.label] = time.perf_counter() - t0
            result.fused[choice.label] = fused
        except Exception as exc:
            result.errors[choice.label] = _message(exc)
            yield i, choice, result
            continue
        if metrics:
            try:
                result.metrics[choice.label] = _score(choice, scene, fused, reduced)
            except Exception as exc:
                result.errors[choice.label] = f"metrics failed: {_message(exc)}"
        yield i, choice, result


def _message(exc: Exception) -> str:
    """User errors (bad data, bad checkpoint) as their message; anything else with its type."""
    return str(exc) if isinstance(exc, (ClippanError, ValueError)) and str(exc) else f"{type(exc).__name__}: {exc}"


def compare(scene: Scene, choices: Sequence[MethodChoice], *, reduced: bool = False, metrics: bool = True,
            progress: Callable[[float, str], None] | None = None) -> Comparison:
    """Fuse ``scene`` with every choice and score each; ``progress(fraction, message)`` is called
    before each method and at the end."""
    result = None
    for _, _, result in _with_progress(iter_compare(scene, choices, reduced=reduced, metrics=metrics), choices, progress):
        pass
    if progress is not None:
        progress(1.0, "done")
    return result


def _with_progress(steps: Iterator, choices: Sequence[MethodChoice], progress) -> Iterable:
    n = len(choices)
    if progress is not None and n:
        progress(0.0, f"{choices[0].label} (1/{n})")
    for i, choice, result in steps:
        if progress is not None and i + 1 < n:
            progress((i + 1) / n, f"{choices[i + 1].label} ({i + 2}/{n})")
        yield i, choice, result


def metrics_table(comparison: Comparison, digits: int = 4, columns: Sequence[str] | None = None) -> tuple[list[str], list[list]]:
    """(headers, rows) for a table: one row per method, ``method``, ``time (s)`` then every metric
    in first-seen order (the supervisor's columns last, when the comparison has them); missing values
    are None; values rounded to ``digits`` decimals. ``columns``: keep only these metric columns."""
    per_method = {label: dict(comparison.metrics.get(label, {})) for label in comparison.fused}
    if comparison.supervisor is not None:
        for label, scores in comparison.supervisor.get("scores", {}).items():
            per_method.setdefault(label, {}).update(scores)
    keys: list[str] = []
    for m in per_method.values():
        keys.extend(k for k in m if k not in keys)
    if columns is not None:
        keys = [k for k in keys if k in columns]
    headers = ["method", "time (s)", *keys]
    rows = []
    for label in comparison.fused:
        m = per_method.get(label, {})
        row = [label, round(comparison.seconds.get(label, float("nan")), 2)]
        row += [None if k not in m else round(float(m[k]), digits) for k in keys]
        rows.append(row)
    return headers, rows


# What each column of :func:`metrics_table` means: (section, better, explanation). Sections split the
# table into parts narrow enough to read: no reference needed, against ground truth, the supervisor.
METRIC_GLOSSARY: dict[str, tuple[str, str, str]] = {
    "time (s)": ("", "lower", "wall-clock seconds of the whole method on this scene, training/adaptation included, metrics not"),
    "D_lambda": ("full resolution, QNR family", "lower", "spectral distortion of QNR: how much the fused bands' mutual Q indices differ from the MS's (Alparone et al. 2008)"),
    "D_s": ("full resolution, QNR family", "lower", "spatial distortion of QNR: how much each band's Q index with the PAN changes between the two scales"),
    "QNR": ("full resolution, QNR family", "higher", "Quality with No Reference = (1 - D_lambda)(1 - D_s); 1 is ideal"),
    "D_lambda_K": ("full resolution, QNR family", "lower", "Khan's spectral distortion: 1 - Q2n between the MS and the fused image low-passed with the MTF and decimated"),
    "HQNR": ("full resolution, QNR family", "higher", "hybrid QNR = (1 - D_lambda_K)(1 - D_s) (Vivone et al.)"),
    "D_rho": ("full resolution, reprojected", "lower", "spatial distortion of Scarpa & Ciotola: 1 - local correlation between each fused band and the PAN"),
    "R_Q2n": ("full resolution, reprojected", "higher", "reprojected Q2n: the fused image degraded back to the MS scale, compared with the MS"),
    "R_Q": ("full resolution, reprojected", "higher", "reprojected Q: mean per-band universal image quality index at the MS scale"),
    "R_SAM": ("full resolution, reprojected", "lower", "reprojected spectral angle (degrees) at the MS scale"),
    "R_ERGAS": ("full resolution, reprojected", "lower", "reprojected ERGAS (relative global error) at the MS scale"),
    "Q2n": ("with ground truth", "higher", "Q4/Q8: hypercomplex universal image quality index against the reference (1 = identical)"),
    "Q": ("with ground truth", "higher", "mean per-band universal image quality index (Wang & Bovik) against the reference"),
    "SAM": ("with ground truth", "lower", "spectral angle mapper (degrees): mean angle between fused and reference pixel spectra"),
    "ERGAS": ("with ground truth", "lower", "relative dimensionless global error in synthesis, scaled by the ratio (Wald 2002)"),
    "PSNR": ("with ground truth", "higher", "peak signal-to-noise ratio (dB) against the reference"),
    "SSIM": ("with ground truth", "higher", "structural similarity index against the reference, mean over bands"),
    "SCC": ("with ground truth", "higher", "spatial correlation coefficient of high-pass details with the reference's"),
    SUPERVISOR_COLUMNS[0]: ("CLIPPan supervisor", "lower", "direction loss L_d of CLIPPan (Eq. 6-8): the MS→fused and PAN→fused steps in embedding space against the MS→HRMS and PAN→HRMS prompt steps"),
    SUPERVISOR_COLUMNS[1]: ("CLIPPan supervisor", "higher", "probability the supervisor gives the fused image of being of type HRMS (vs MS, PAN)"),
}
RR_SUFFIX = " (RR)"


def glossary_entry(column: str) -> tuple[str, str, str] | None:
    """(section, better, explanation) of a table column; `` (RR)`` columns are the reference-based ones
    computed by Wald's protocol (the scene degraded by the ratio, the original MS as reference)."""
    if column.endswith(RR_SUFFIX):
        base = METRIC_GLOSSARY.get(column[:-len(RR_SUFFIX)])
        return None if base is None else ("reduced resolution (Wald)", base[1], base[2] + ", on the degraded scene with the MS as reference")
    return METRIC_GLOSSARY.get(column)


# ----------------------------------------------------------------------------- the CLIPPan supervisor's view


def _scene_tiles(scene: Scene, images: dict[str, np.ndarray], tile: int, max_tiles: int):
    """Co-located tiles of the scene on a regular grid, normalised (data / max_value, nodata as 0):
    ``ms`` (N, B, t/r, t/r), ``pan`` (N, 1, t, t) and each image of ``images`` (N, B, t, t), torch float32."""
    import torch

    r, (H, W) = scene.ratio, scene.shape
    t = max(r, min(tile, H, W) // r * r)
    per_side = max(1, int(np.sqrt(max_tiles)))
    rows = np.unique(np.linspace(0, H - t, per_side).astype(int) // r * r)
    cols = np.unique(np.linspace(0, W - t, per_side).astype(int) // r * r)
    corners = [(i, j) for i in rows for j in cols]
    scale = np.float32(1.0 / float(scene.max_value))

    def cut(a: np.ndarray, f: int) -> "torch.Tensor":
        a = np.nan_to_num(np.asarray(a, np.float32) * scale)
        a = a[None] if a.ndim == 2 else a
        return torch.from_numpy(np.stack([a[:, i // f:(i + t) // f, j // f:(j + t) // f] for i, j in corners]))

    return cut(scene.ms, r), cut(scene.pan, 1), {k: cut(v, 1) for k, v in images.items()}


def supervisor_report(checkpoint, scene: Scene, fused: dict[str, np.ndarray], *, tile: int = 128,
                      max_tiles: int = 16, tau: float = 0.07) -> dict:
    """What a Stage I CLIPPan supervisor (Xiong et al., AAAI 2026) says about each fused image.

    The scene is cut into up to ``max_tiles`` co-located tiles of ``tile`` PAN pixels; each fused image's
    tiles go through the supervisor's HRMS route. Per method (``scores[label]``):

    * ``L_d (supervisor)``: the direction loss L_d (CLIPPan Eq. 6-8,
      :func:`clippan_kit.losses.terms.direction_loss_images`), mean over tiles; lower = the step from the
      MS and PAN embeddings to the fused one points like the step from their prompts to the HRMS prompt.
    * ``P(HRMS) (supervisor)``: the probability, mean over tiles, that the fused image is of type HRMS among
      the three prompts (softmax of cosine / ``tau``, the temperature of Stage I's InterMCL).

    ``points``: name → (x, y), the mean embedding of every fused image, of the MS and PAN tiles (and of the
    ground truth when the scene has one) and the three text anchors, projected onto the plane through the
    three text anchors (centroid at 0; x along PAN−MS prompt), so the anchors' triangle is drawn exactly;
    ``kinds``: name → ``"text"``, ``"input"`` or ``"method"``; ``about``: the supervisor in one line.

    Raises:
        CheckpointError: unreadable checkpoint, or one for another band count.
    """
    import torch
    import torch.nn.functional as F

    from .supervisor.direction import direction_loss_images
    from .supervisor import load_supervisor

    sup = load_supervisor(checkpoint, n_bands=scene.n_bands).requires_grad_(False)
    images = dict(fused)
    if scene.reference is not None:
        images["reference (ground truth)"] = scene.reference
    ms, pan, tiles = _scene_tiles(scene, images, tile, max_tiles)
    scores, means = {}, {}
    with torch.no_grad():
        text = sup.text_features()
        means["MS"] = sup.image_features(ms, "ms").mean(0)
        means["PAN"] = sup.image_features(pan, "pan").mean(0)
        for name, x in tiles.items():
            f = sup.image_features(x, "hrms")
            means[name] = f.mean(0)
            if name in fused:
                p = F.softmax(f @ text.t() / tau, dim=1)[:, 2]
                scores[name] = {SUPERVISOR_COLUMNS[0]: float(direction_loss_images(sup, x, ms, pan)),
                                SUPERVISOR_COLUMNS[1]: float(p.mean())}
    anchors = {"MS prompt": text[0], "PAN prompt": text[1], "HRMS prompt": text[2]}
    origin = text.mean(0)
    e1 = F.normalize(text[1] - text[0], dim=0)
    v = text[2] - text[0]
    e2 = F.normalize(v - (v @ e1) * e1, dim=0)
    pts = {**anchors, **means}
    points = {k: (float((p - origin) @ e1), float((p - origin) @ e2)) for k, p in pts.items()}
    kinds = {k: "text" if k in anchors else "method" if k in fused else "input" for k in pts}
    return {"scores": scores, "points": points, "kinds": kinds, "about": sup.describe()}
