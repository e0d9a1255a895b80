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

__all__ = [
    "Comparison", "compare", "iter_compare", "metrics_table",
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
        seconds: label -> wall-clock seconds of the fusion alone.
        errors: label -> message for methods that failed (the others still ran).
        reduced: whether reduced-resolution metrics were computed.
    """

    scene: Scene
    fused: dict[str, np.ndarray] = field(default_factory=dict)
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    reduced: bool = False

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


def metrics_table(comparison: Comparison, digits: int = 4) -> tuple[list[str], list[list]]:
    """(headers, rows) for a table: one row per method, ``method``, ``time (s)`` then every metric
    in first-seen order; missing values are None; values rounded to ``digits`` decimals."""
    keys: list[str] = []
    for m in comparison.metrics.values():
        keys.extend(k for k in m if k not in keys)
    headers = ["method", "time (s)", *keys]
    rows = []
    for label in comparison.fused:
        m = comparison.metrics.get(label, {})
        row = [label, round(comparison.seconds.get(label, float("nan")), 2)]
        row += [None if k not in m else round(float(m[k]), digits) for k in keys]
        rows.append(row)
    return headers, rows
