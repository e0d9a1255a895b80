"""Loss configurations as data, and the weighted sum that the trainer optimises.

A configuration maps a term name to a weight or to a dict of options with a ``weight``::

    {"spec": 1.0, "spat": 1.0, "qnr": 1.0, "ship": {"weight": 1.0, "distance": "l1"}, "direction": 1.0}

Terms: ``spec`` (Eq. 9), ``spat`` (Eq. 10), ``qnr`` (Eq. 11), ``ship`` (Eq. 12, needs a teacher),
``direction`` (L_d, Eq. 6-8, needs a supervisor), ``jesse`` (λ-PNN; options alpha, beta, gamma),
``supervised`` (L1 to a reduced-resolution reference). A weight of 0 (or a missing key) switches a term
off, so every row of CLIPPan's Table 2 ablation is a named configuration in :data:`LOSS_CONFIGS`.
"""
from __future__ import annotations

import copy
from typing import Any, Callable, Mapping

import torch
import torch.nn as nn

from ..errors import UnknownNameError
from ..registry import Registry
from ..sensors import Sensor, get_sensor
from .jesse import JesseLoss
from .terms import (DirectionFn, DirectionLoss, QNRLoss, ShipLoss, SpatialLoss, SpectralLoss, SupervisedLoss)

__all__ = ["LOSS_CONFIGS", "TERMS", "CompositeLoss", "build_loss", "resolve_loss_config"]

_UNSUP = {"spec": 1.0, "spat": 1.0, "qnr": 1.0}

LOSS_CONFIGS: Registry[dict[str, Any]] = Registry("loss configuration", {
    # training modes
    "supervised": {"supervised": 1.0},
    "unsup": dict(_UNSUP),
    "clippan": {**_UNSUP, "ship": 1.0, "direction": 1.0},
    "jesse": {"jesse": 1.0},
    # CLIPPan Table 2 rows
    "spec+spat": {"spec": 1.0, "spat": 1.0},
    "qnr": {"qnr": 1.0},
    "unsup+ship": {**_UNSUP, "ship": 1.0},
    "unsup+d": {**_UNSUP, "direction": 1.0},
    "unsup+ship+d": {**_UNSUP, "ship": 1.0, "direction": 1.0},
})

TERMS = ("spec", "spat", "qnr", "ship", "direction", "jesse", "supervised")


def resolve_loss_config(config: str | Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Name or mapping -> ``{term: {"weight": w, **options}}`` with zero-weight terms dropped."""
    if isinstance(config, str):
        config = LOSS_CONFIGS[config]
    out: dict[str, dict[str, Any]] = {}
    for name, spec in config.items():
        if name not in TERMS:
            raise UnknownNameError("loss term", name, TERMS)
        spec = {"weight": float(spec)} if isinstance(spec, (int, float)) else copy.deepcopy(dict(spec))
        spec.setdefault("weight", 1.0)
        if float(spec["weight"]) != 0.0:
            out[name] = spec
    if not out:
        raise ValueError("the loss configuration switches every term off")
    return out


class CompositeLoss(nn.Module):
    """Weighted sum of loss terms: ``loss(out, batch) -> (total, {term: value})``.

    Trainable loss parameters (φ of L_spat) are in ``parameters()``; frozen helpers (teacher, supervisor)
    are not.
    """

    def __init__(self, terms: Mapping[str, nn.Module], weights: Mapping[str, float], config: Mapping[str, Any] | None = None):
        super().__init__()
        self.terms = nn.ModuleDict(dict(terms))
        self.weights = {k: float(weights[k]) for k in terms}
        self.config = copy.deepcopy(dict(config or {k: {"weight": w} for k, w in self.weights.items()}))

    @property
    def needs(self) -> set[str]:
        return {key for t in self.terms.values() for key in getattr(t, "needs", ())}

    def forward(self, out: torch.Tensor, batch: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        out = out.float()  # losses in float32 even under autocast
        total = out.new_zeros(())
        logs: dict[str, float] = {}
        for name, term in self.terms.items():
            value = term(out, batch)
            total = total + self.weights[name] * value
            logs[name] = float(value.detach())
            for k, v in getattr(term, "last_parts", {}).items():
                logs[f"{name}.{k}"] = v
        logs["total"] = float(total.detach())
        return total, logs


def build_loss(config: str | Mapping[str, Any], sensor: Sensor | str, *, teacher: nn.Module | None = None,
               direction_fn: DirectionFn | None = None, data_range: float = 1.0) -> CompositeLoss:
    """Build the loss of a configuration (a name of :data:`LOSS_CONFIGS` or a mapping).

    Args:
        sensor: the scene's sensor (degradation MTFs, ratio, band count, JESSE defaults).
        teacher: trained SHIP teacher for ``ship`` (required when that term is on).
        direction_fn: ``fn(fused, ms_lr, pan) -> scalar`` for ``direction``
            (:func:`clippan_kit.losses.supervisor_direction_fn`), required when that term is on.
        data_range: full scale of the normalised data (SSIM constants).
    """
    sensor = get_sensor(sensor)
    spec = resolve_loss_config(config)
    factories: dict[str, Callable[[dict], nn.Module]] = {
        "spec": lambda o: SpectralLoss(sensor, data_range=o.get("data_range", data_range)),
        "spat": lambda o: SpatialLoss(sensor.n_bands, data_range=o.get("data_range", data_range)),
        "qnr": lambda o: QNRLoss(sensor, block_size=o.get("block_size", 32)),
        "ship": lambda o: ShipLoss(_required(teacher, "ship", "a teacher (clippan train-teacher)"),
                                   distance=o.get("distance", "l1")),
        "direction": lambda o: DirectionLoss(_required(direction_fn, "direction", "a Stage I supervisor")),
        "jesse": lambda o: JesseLoss(sensor, alpha=o.get("alpha"), beta=o.get("beta"), gamma=o.get("gamma"),
                                     block_size=o.get("block_size", 32)),
        "supervised": lambda o: SupervisedLoss(distance=o.get("distance", "l1")),
    }
    terms = {name: factories[name](opts) for name, opts in spec.items()}
    return CompositeLoss(terms, {k: v["weight"] for k, v in spec.items()}, config=spec)


def _required(obj, term: str, what: str):
    if obj is None:
        raise ValueError(f"loss term {term!r} needs {what}; pass it or switch the term off")
    return obj
