"""Stage II backbones: one registry, one call signature.

Every model is called as ``model(ms_up, pan, ms_lr) -> hrms`` with ``ms_up`` (N, B, H, W) the MS
upsampled by :func:`clippan_kit.wald.interp23tap`, ``pan`` (N, 1, H, W), ``ms_lr`` (N, B, H/r, W/r),
all normalised to about [0, 1] (e.g. divided by the scene's ``max_value``); the output is
(N, B, H, W) in the same units. Configurations are data (``MODEL_CONFIGS``); ``size="small"`` gives
a few-thousand-parameter version that trains in seconds on a CPU, ``"base"`` the paper's size.

Example:
    >>> from clippan_kit.models import create_model, list_models
    >>> list_models()
    ['arbrpn', 'lambda_pnn', 'lformer', 'panmamba', 'pnn', 'ship']
    >>> net = create_model("lambda_pnn", n_bands=8, ratio=4, size="small")
    >>> net.citation
"""
from __future__ import annotations

import copy
from typing import Any

import torch.nn as nn

from ..errors import UnknownNameError
from ..registry import Registry
from .arbrpn import ArbRPN
from .base import PansharpeningModel
from .lambda_pnn import LambdaPNN
from .lformer import LFormer
from .panmamba import PanMamba
from .pnn import PNN
from .selective_scan import fused_scan_available, selective_scan, selective_scan_ref
from .ship import SHIP

__all__ = [
    "MODELS", "MODEL_CONFIGS", "create_model", "list_models", "get_model_class", "PansharpeningModel",
    "PNN", "LambdaPNN", "ArbRPN", "LFormer", "PanMamba", "SHIP",
    "selective_scan", "selective_scan_ref", "fused_scan_available",
]

#: Backbone classes by name (case-insensitive; aliases such as "λ-PNN", "pan-mamba").
MODELS: Registry[type[PansharpeningModel]] = Registry(
    "model", ((cls.name, cls) for cls in (PNN, LambdaPNN, ArbRPN, LFormer, PanMamba, SHIP)),
    aliases={"λ-pnn": "lambda_pnn", "lambda-pnn": "lambda_pnn", "lpnn": "lambda_pnn", "l-pnn": "lambda_pnn",
             "pan-mamba": "panmamba", "pan_mamba": "panmamba", "z-pnn": "pnn", "zpnn": "pnn"})

# Keyword arguments of each class per size. "base" follows the papers (or the authors' code);
# "small" keeps the topology with fewer/narrower layers so that CPU training takes seconds.
MODEL_CONFIGS: dict[str, dict[str, dict[str, Any]]] = {
    "pnn": {
        "base": {"features": (64, 32), "kernels": (9, 5, 5)},
        "small": {"features": (32, 16), "kernels": (9, 5, 5)},
    },
    "lambda_pnn": {
        "base": {"features": 64, "reduction": 4},
        "small": {"features": 16, "reduction": 4},
    },
    "arbrpn": {
        "base": {"hidden": 64, "n_cycles": 5, "n_resblocks": 3},
        "small": {"hidden": 16, "n_cycles": 2, "n_resblocks": 1},
    },
    "lformer": {
        "base": {"dim": 32, "hp_dim": 32, "n_stages": 5, "heads": 8, "window": 8, "n_pre_res": 4},
        "small": {"dim": 16, "hp_dim": 16, "n_stages": 2, "heads": 4, "window": 8, "n_pre_res": 1},
    },
    "panmamba": {
        "base": {"features": 32, "n_hin": 3, "n_single": 8, "n_swap": 2, "n_cross": 5, "d_state": 16},
        "small": {"features": 8, "n_hin": 1, "n_single": 1, "n_swap": 1, "n_cross": 1, "d_state": 4},
    },
    "ship": {
        "base": {"features": 32, "n_blocks": 3, "order": 3},
        "small": {"features": 8, "n_blocks": 1, "order": 2},
    },
}



def list_models() -> list[str]:
    """Registered backbone names, sorted."""
    return sorted(MODELS)


def _key(name: str) -> str:
    return MODELS.key(name)


def get_model_class(name: str) -> type[PansharpeningModel]:
    return MODELS[_key(name)]


def create_model(name: str, n_bands: int, ratio: int, size: str = "base", **overrides: Any) -> nn.Module:
    """Build a registered backbone.

    Args:
        name: registry key (see :func:`list_models`; aliases such as "λ-PNN", "pan-mamba" work).
        n_bands: number of MS bands B (any positive integer).
        ratio: PAN/MS scale ratio (``sensor.ratio``).
        size: "base" (paper size) or "small" (fast CPU training).
        **overrides: replace any keyword of the chosen configuration.

    Returns:
        The model (train mode, float32, CPU), with ``citation``, ``inputs``, ``receptive_field``.
    """
    key = _key(name)
    configs = MODEL_CONFIGS[key]
    if size not in configs:
        raise UnknownNameError("size", size, sorted(configs), f"(for {key})")
    kwargs = copy.deepcopy(configs[size])
    kwargs.update(overrides)
    try:
        return MODELS[key](n_bands, ratio, **kwargs)
    except TypeError as err:
        raise TypeError(f"bad option for model {key!r}: {err}") from None
