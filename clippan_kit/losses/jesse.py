"""JESSE: the λ-PNN loss (Ciotola, Poggi, Scarpa, "Unsupervised deep learning-based pansharpening with
jointly enhanced spectral and spatial fidelity", IEEE TGRS 61, 2023, Sec. II-B, III-C).

    L = α · R-ERGAS + β · D_λ^(K),align + γ · L_ρ

* Reprojection: the output goes through the R-metrics' operator (:func:`clippan_kit.physics.reproject_ms`:
  MTF filter, per-band shift in half-PAN-pixel steps compensating the MS-to-PAN misalignment estimated
  once per scene by the released code's co-registration (:mod:`clippan_kit.physics.coregistration`,
  loss-time alignment), decimation), then is compared with the original MS: R-ERGAS and
  D_λ^(K) = 1 - Q2n(reprojected, MS).
  Our Q2n is the differentiable float core (no integer rounding): the released λ-PNN code rounds inside
  its Q2n, which zeroes the gradient of the β term (``tests/test_losses.py`` shows ours is non-zero).
* L_ρ, correlation-based spatial loss: ``1 - ρ`` with ρ the local correlation (half-width ``ceil(r/2)``)
  between each output band and the PAN, counted only where it exceeds the pixel's threshold
  ``1 - ρ(LP(PAN), MS_up)`` (half-width 8): bands that are weakly correlated with the PAN by nature are
  not forced to copy it.

Per-sensor defaults of (α, β, γ) and the fine-tuning learning rate are those of the λ-PNN authors'
release (:data:`JESSE_DEFAULTS`); other sensors use the WorldView-3 values.
"""
from __future__ import annotations

from math import ceil

import torch

from ..sensors import Sensor, get_sensor
from . import _cores
from .terms import Batch, LossTerm

__all__ = ["JesseLoss", "JESSE_DEFAULTS", "jesse_defaults", "jesse_extras", "jesse_scene_extras"]

JESSE_DEFAULTS: dict[str, dict[str, float]] = {
    "wv3": {"alpha": 0.05, "beta": 1.25, "gamma": 5.0, "lr": 4e-5},
    "wv2": {"alpha": 0.05, "beta": 1.0, "gamma": 6.0, "lr": 3.5e-5},
    "geoeye1": {"alpha": 0.075, "beta": 1.5, "gamma": 7.0, "lr": 5e-5},
}
THRESHOLD_HALF_WIDTH = 8


def jesse_defaults(sensor: Sensor | str) -> dict[str, float]:
    """(α, β, γ, lr) for a sensor; sensors the paper did not tune use the WorldView-3 values."""
    return dict(JESSE_DEFAULTS.get(get_sensor(sensor).name, JESSE_DEFAULTS["wv3"]))


@torch.no_grad()
def jesse_extras(batch: Batch, sensor: Sensor | str, shifts: bool = True,
                 coregistration: str = "peer") -> dict[str, torch.Tensor]:
    """Per-scene (or per-tile) constants of JESSE, computed once without gradient.

    Args:
        batch: ``ms_lr`` (N, B, h, w), ``ms_up`` (N, B, H, W), ``pan`` (N, 1, H, W), normalised.
        shifts: also estimate the co-registration shifts (else only the threshold).
        coregistration: ``"peer"`` or ``"phase"`` (:func:`clippan_kit.physics.coregistration.coregister`).

    Returns:
        ``{"shifts": (N, B, 2) co-registration shift (r, c) of each band in half-PAN-pixel units,
        "rho_threshold": (N, B, H, W) threshold of the spatial term}``.
    """
    sensor = get_sensor(sensor)
    ms_up, pan = batch["ms_up"], batch["pan"]
    rho = _cores.local_correlation(_cores.lowpass_pan(pan, sensor), ms_up, THRESHOLD_HALF_WIDTH)
    out = {"rho_threshold": 1.0 - rho}
    if shifts:
        out["shifts"] = _cores.coregistration_shifts(batch["ms_lr"], pan, sensor, coregistration, ms_up)
    return out


@torch.no_grad()
def jesse_scene_extras(arrays: dict, sensor: Sensor | str, coregistration: str = "peer") -> dict:
    """JESSE constants of a whole scene, computed once before training, then cut with the tiles.

    Args:
        arrays: normalised scene arrays (numpy or torch) ``ms_lr`` (B, h, w), ``pan`` (1, H, W),
            ``ms_up`` (B, H, W), as :func:`clippan_kit.train.data.prepare_inputs` returns.

    Returns:
        numpy ``{"rho_threshold": (B, H, W) float32, "shifts": (B, 2) int64}``. Computing the threshold
        on the whole scene (not per tile) avoids the zero-padded tile borders, and the shifts are those
        the R-metrics find on the same scene, so the loss and the evaluation use one alignment.
    """
    batch = {k: torch.as_tensor(arrays[k])[None].float() for k in ("ms_lr", "pan", "ms_up")}
    out = jesse_extras(batch, sensor, coregistration=coregistration)
    return {"rho_threshold": out["rho_threshold"][0].numpy().astype("float32"), "shifts": out["shifts"][0].numpy()}


class JesseLoss(LossTerm):
    """α · R-ERGAS + β · D_λ^(K) + γ · thresholded (1 - ρ) — see the module docstring.

    Args:
        sensor: sensor (MTF gains, ratio; per-sensor defaults of α, β, γ).
        alpha, beta, gamma: weights; None takes :func:`jesse_defaults`.
        block_size: Q2n block side at MS scale (32; tiles smaller than a block are one block).

    The batch may carry ``shifts`` and ``rho_threshold`` (from :func:`jesse_extras`, computed once per
    scene by the trainer); missing ones are computed from the batch itself.
    """

    needs = ("ms_lr", "pan", "ms_up")

    def __init__(self, sensor: Sensor | str, alpha: float | None = None, beta: float | None = None,
                 gamma: float | None = None, block_size: int = 32):
        super().__init__()
        self.sensor = get_sensor(sensor)
        d = jesse_defaults(self.sensor)
        self.alpha = d["alpha"] if alpha is None else float(alpha)
        self.beta = d["beta"] if beta is None else float(beta)
        self.gamma = d["gamma"] if gamma is None else float(gamma)
        self.block_size = int(block_size)
        self.last_parts: dict[str, float] = {}

    def parts(self, out: torch.Tensor, batch: Batch) -> dict[str, torch.Tensor]:
        """The three unweighted terms: ``r_ergas``, ``d_lambda_k``, ``d_rho`` (thresholded)."""
        if "shifts" not in batch or "rho_threshold" not in batch:
            extras = jesse_extras(batch, self.sensor, shifts="shifts" not in batch)
            batch = {**extras, **batch}
        ms = batch["ms_lr"]
        low = _cores.reproject(out, self.sensor, batch["shifts"])
        r_ergas = _cores.ergas(low, ms, self.sensor.ratio).mean()
        d_lambda_k = 1.0 - _cores.q2n(low, ms, self.block_size).mean()
        # PAN (N, 1, H, W) broadcasts against the bands: its local statistics are computed once, not B times.
        x = 1.0 - _cores.local_correlation(out, batch["pan"], ceil(self.sensor.ratio / 2)).clamp(min=-1.0)
        d_rho = (x * (x > batch["rho_threshold"]).to(x.dtype)).mean()
        return {"r_ergas": r_ergas, "d_lambda_k": d_lambda_k, "d_rho": d_rho}

    def forward(self, out: torch.Tensor, batch: Batch) -> torch.Tensor:
        p = self.parts(out, batch)
        self.last_parts = {k: float(v.detach()) for k, v in p.items()}
        return self.alpha * p["r_ergas"] + self.beta * p["d_lambda_k"] + self.gamma * p["d_rho"]
