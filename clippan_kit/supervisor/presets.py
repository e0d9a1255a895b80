"""Stage I presets, as data: :class:`~clippan_kit.supervisor.train.TrainConfig` fields a preset sets.

``quick`` is the :class:`TrainConfig` default (100 iterations of batch 8: minutes on a CPU with the offline
default base); ``paper`` is CLIPPan's recipe, 1000 iterations of batch 32 (Liu et al., AAAI 2026,
"Training Details"). Both train on 64-px PAN tiles with a 128-px tower input: the tile of Stage II's
``quick`` and ``paper`` presets (:data:`clippan_kit.train.presets.PRESETS`), so the supervisor learns at
the scale it supervises (:mod:`clippan_kit.supervisor.scale`). Both resume through ``--resume``.
"""
from __future__ import annotations

from typing import Any

from ..registry import Registry

__all__ = ["STAGE1_PRESETS", "stage1_config"]

STAGE1_PRESETS: Registry[dict[str, Any]] = Registry("Stage I preset", {
    "quick": {"steps": 100, "batch_size": 8, "tile_size": 64, "input_size": 128},
    "paper": {"steps": 1000, "batch_size": 32, "tile_size": 64, "input_size": 128},
})


def stage1_config(preset: str = "quick", **overrides: Any):
    """A :class:`TrainConfig` from a preset; ``overrides`` that are not None replace its fields."""
    from .train import TrainConfig

    fields = {**STAGE1_PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None}}
    return TrainConfig(**fields)
