"""Stage II losses: CLIPPan's L_spec, L_spat, L_QNR, L_ship, L_d (Liu et al., AAAI 2026) and λ-PNN's JESSE
(Ciotola, Poggi, Scarpa, IEEE TGRS 2023), switchable and weighted through configurations as data.

Example:
    >>> from clippan_kit.losses import build_loss
    >>> loss = build_loss("unsup", "wv2")            # L_spec + L_spat + L_QNR
    >>> total, logs = loss(out, {"ms_lr": ms, "pan": pan, "ms_up": ms_up})
"""
from .composite import LOSS_CONFIGS, TERMS, CompositeLoss, build_loss, resolve_loss_config
from .jesse import JESSE_DEFAULTS, JesseLoss, jesse_defaults, jesse_extras, jesse_scene_extras
from .terms import (DirectionLoss, LossTerm, QNRLoss, ShipLoss, SpatialLoss, SpectralLoss, SupervisedLoss,
                    supervisor_direction_fn)

__all__ = [
    "LOSS_CONFIGS", "TERMS", "CompositeLoss", "build_loss", "resolve_loss_config",
    "JESSE_DEFAULTS", "JesseLoss", "jesse_defaults", "jesse_extras", "jesse_scene_extras",
    "LossTerm", "SpectralLoss", "SpatialLoss", "QNRLoss", "ShipLoss", "DirectionLoss", "SupervisedLoss",
    "supervisor_direction_fn",
]
