"""Training presets and modes, as data.

``paper`` is the CLIPPan recipe (Adam, lr 3e-3, batch 32, 1000 iterations; Liu et al., AAAI 2026,
"Training Details") on 64x64 PAN tiles (16x16 MS, the PanCollection tile size) with the paper-size
backbone. ``quick`` finishes in a few minutes on 2 CPU cores with the ``small`` backbones. ``tiny`` is
for smoke tests. ``pretrain`` trains the small λ-PNN with JESSE (``--mode jesse``) from scratch on
whole scenes, to be cached (:func:`clippan_kit.train.adaptation.pretrained_path`) and adapted from
(lr 1e-3, as from-scratch target adaptation needs; 128² tiles as the adaptation uses). Any field can be overridden (``train(..., iterations=2)``, ``--iterations 2``).
"""
from __future__ import annotations

import copy
from typing import Any

from ..registry import Registry

__all__ = ["PRESETS", "MODES", "get_preset"]

PRESETS: Registry[dict[str, Any]] = Registry("preset", {
    "paper": {"iterations": 1000, "batch_size": 32, "lr": 3e-3, "tile": 64, "size": "base",
              "val_every": 100, "val_size": 256, "weight_decay": 0.0},
    "quick": {"iterations": 150, "batch_size": 8, "lr": 1e-3, "tile": 64, "size": "small",
              "val_every": 50, "val_size": 128, "weight_decay": 0.0},
    "pretrain": {"iterations": 400, "batch_size": 8, "lr": 1e-3, "tile": 128, "size": "small",
                 "val_every": 100, "val_size": 256, "weight_decay": 0.0},
    "tiny": {"iterations": 2, "batch_size": 2, "lr": 1e-3, "tile": 32, "size": "small",
             "val_every": 0, "val_size": 64, "weight_decay": 0.0},
})

# mode -> loss configuration name (clippan_kit.losses.LOSS_CONFIGS) and whether tiles are Wald-reduced.
MODES: Registry[dict[str, Any]] = Registry("mode", {
    "supervised": {"loss": "supervised", "reduced": True},
    "unsup": {"loss": "unsup", "reduced": False},
    "clippan": {"loss": "clippan", "reduced": False},
    "jesse": {"loss": "jesse", "reduced": False},
})


def get_preset(name: str, **overrides: Any) -> dict[str, Any]:
    cfg = copy.deepcopy(PRESETS[name])
    cfg.update({k: v for k, v in overrides.items() if v is not None})
    return cfg
