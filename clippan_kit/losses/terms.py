"""Stage II loss terms of CLIPPan (Liu et al., AAAI 2026, Eq. 6-12) on normalised tensors.

Every term is an ``nn.Module`` called as ``term(out, batch) -> scalar tensor`` where

* ``out``   (N, B, H, W) float: the backbone's fused output, normalised like its inputs (data / max_value,
  so values are about [0, 1]);
* ``batch`` a dict of tensors with ``ms_lr`` (N, B, H/r, W/r), ``pan`` (N, 1, H, W), ``ms_up`` (N, B, H, W)
  (23-tap upsampled MS) and, for some terms, ``target`` (N, B, H, W) (supervised reduced-resolution
  training) and per-term extras (see :mod:`clippan_kit.losses.jesse`).

Every metric-based term calls the differentiable torch core of :mod:`clippan_kit.metrics` (one
implementation per formula); the degradation is :class:`clippan_kit.physics.WaldProtocol`.

Deviations from the released CLIPPan code, and why:

* SSIM uses the data range of the normalised data (1.0). The released code passes 255 on [0, 1] data,
  which makes C1, C2 dominate so that SSIM is ~1 whatever the images: the "1 - SSIM" half of Eq. 9-10
  then has no gradient.
* Eq. 11 prints L_QNR = (1 - D_λ)(1 - D_s), which is QNR itself (higher is better); minimising it would
  worsen the fusion, so the loss is ``1 - QNR``.
* L_d (Eq. 6-8) keeps its graph: the gradient reaches the fused image and the backbone (the released
  code computes it under ``no_grad``, so it never trained anything).
* ↓ in Eq. 9 is the sensor-MTF-matched Wald degradation (filter + decimation), not bicubic resizing, so
  that the spectral term agrees with the protocol the evaluation uses.
"""
from __future__ import annotations

from typing import Callable, Mapping

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..sensors import Sensor, get_sensor
from ..physics import SpectralResponse, WaldProtocol

__all__ = [
    "LossTerm", "SpectralLoss", "SpatialLoss", "QNRLoss", "ShipLoss", "DirectionLoss", "SupervisedLoss",
    "supervisor_direction_fn", "ssim_loss_window",
]

Batch = Mapping[str, torch.Tensor]
DirectionFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def ssim_loss_window(size: int, preferred: int = 11) -> int:
    """Largest odd SSIM window <= ``preferred`` that fits an image side of ``size`` pixels."""
    w = min(preferred, size)
    return w if w % 2 else w - 1


def _ssim(x: torch.Tensor, y: torch.Tensor, data_range: float) -> torch.Tensor:
    from ..metrics.reduced import ssim_torch

    window = ssim_loss_window(min(x.shape[-2:]))
    return ssim_torch(x, y, max_value=data_range, window=window).mean()


class LossTerm(nn.Module):
    """Base class: ``forward(out, batch) -> scalar``. ``needs`` lists the batch keys it reads."""

    needs: tuple[str, ...] = ()

    def forward(self, out: torch.Tensor, batch: Batch) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


class SpectralLoss(LossTerm):
    """L_spec (Eq. 9): ``MSE(A(out), MS) + 1 - SSIM(A(out), MS)``, A = Wald degradation of ``sensor``.

    Args:
        sensor: sensor (MTF gains and ratio of the degradation).
        data_range: full scale of the normalised data for SSIM's constants (1.0 for data / max_value).
    """

    needs = ("ms_lr",)

    def __init__(self, sensor: Sensor | str, data_range: float = 1.0):
        super().__init__()
        self.protocol = WaldProtocol(get_sensor(sensor))
        self.data_range = float(data_range)

    def forward(self, out: torch.Tensor, batch: Batch) -> torch.Tensor:
        ms = batch["ms_lr"]
        low = self.protocol.degrade_ms(out)
        return F.mse_loss(low, ms) + 1.0 - _ssim(low, ms, self.data_range)


class SpatialLoss(LossTerm):
    """L_spat (Eq. 10): ``MSE(φ(out), PAN) + 1 - SSIM(φ(out), PAN)`` with φ a learned 1x1 convolution
    from the B bands to one (trained jointly with the backbone; starts as the band average).

    φ is the PAN branch of the degradation, learned: :meth:`spectral_response` reads it out as a
    :class:`~clippan_kit.physics.SpectralResponse` (in normalised units). It stays a convolution here so
    that checkpoints keep their ``phi.weight`` / ``phi.bias`` entries.
    """

    needs = ("pan",)

    def __init__(self, n_bands: int, data_range: float = 1.0):
        super().__init__()
        self.phi = nn.Conv2d(n_bands, 1, 1)
        nn.init.constant_(self.phi.weight, 1.0 / n_bands)
        nn.init.zeros_(self.phi.bias)
        self.data_range = float(data_range)

    def spectral_response(self) -> SpectralResponse:
        """The current φ as a spectral response (weights (B,), bias), detached."""
        return SpectralResponse(self.phi.weight.detach().double().cpu().numpy().ravel(), float(self.phi.bias.detach()))

    def forward(self, out: torch.Tensor, batch: Batch) -> torch.Tensor:
        pan = batch["pan"]
        syn = self.phi(out)
        return F.mse_loss(syn, pan) + 1.0 - _ssim(syn, pan, self.data_range)


class QNRLoss(LossTerm):
    """L_QNR = 1 - QNR = 1 - (1 - D_λ)(1 - D_s) (Alparone et al., PE&RS 2008; CLIPPan Eq. 11, see module
    docstring), with the differentiable D_λ and D_s cores of :mod:`clippan_kit.metrics` (toolbox 1.0
    convention: D_λ against the upsampled MS, D_s against the low-passed PAN). The block size shrinks to
    the tile so that a 64x64 training tile is two blocks per side (``block_size``).
    """

    needs = ("ms_lr", "pan", "ms_up")

    def __init__(self, sensor: Sensor | str, block_size: int = 32):
        super().__init__()
        self.sensor = get_sensor(sensor)
        self.block_size = int(block_size)

    def forward(self, out: torch.Tensor, batch: Batch) -> torch.Tensor:
        from . import _cores

        d_lambda, d_s = _cores.qnr_parts(out, batch, self.sensor, self.block_size)
        return 1.0 - ((1.0 - d_lambda) * (1.0 - d_s)).mean()


class ShipLoss(LossTerm):
    """L_ship (CLIPPan Eq. 12): distance between the output and a frozen SHIP teacher's output.

    The teacher is a backbone trained by ``clippan train-teacher`` with supervision at reduced resolution
    (Wald's protocol); it is kept outside the module tree, so its weights are neither optimised nor
    saved with the student (the student's checkpoint records the teacher's path and hash).

    Args:
        teacher: the trained teacher (any registered backbone; SHIP in the paper).
        distance: ``"l1"`` (default) or ``"mse"``; the paper does not state it.
    """

    needs = ("ms_up", "pan", "ms_lr")

    def __init__(self, teacher: nn.Module, distance: str = "l1"):
        super().__init__()
        if distance not in ("l1", "mse"):
            raise ValueError(f"distance must be 'l1' or 'mse', got {distance!r}")
        teacher.eval()
        for p in teacher.parameters():
            p.requires_grad_(False)
        self.__dict__["teacher"] = teacher  # not a submodule: frozen, not in state_dict
        self.distance = distance

    def forward(self, out: torch.Tensor, batch: Batch) -> torch.Tensor:
        ref = batch.get("teacher")
        if ref is None:
            teacher = self.teacher
            p = next(teacher.parameters(), None)
            if p is not None and p.device != out.device:
                teacher.to(out.device)
            with torch.no_grad():
                ref = teacher(batch["ms_up"].float(), batch["pan"].float(), batch["ms_lr"].float()).to(out.dtype)
        return F.l1_loss(out, ref) if self.distance == "l1" else F.mse_loss(out, ref)


class DirectionLoss(LossTerm):
    """L_d (CLIPPan Eq. 6-8) through a Stage I supervisor: ``direction_fn(out, ms_lr, pan) -> scalar``.

    Build ``direction_fn`` from a trained :class:`clippan_kit.supervisor.model.CLIPSupervisor` with
    :func:`supervisor_direction_fn`. The gradient flows into ``out`` (and so into the backbone).
    """

    needs = ("ms_lr", "pan")

    def __init__(self, direction_fn: DirectionFn):
        super().__init__()
        self.direction_fn = direction_fn
        if isinstance(direction_fn, nn.Module):  # keep it out of the optimiser and the student's state
            self.__dict__["direction_fn"] = direction_fn

    def forward(self, out: torch.Tensor, batch: Batch) -> torch.Tensor:
        return self.direction_fn(out, batch["ms_lr"], batch["pan"])


class SupervisedLoss(LossTerm):
    """Reduced-resolution supervised baseline: L1 (or MSE) to the reference ``batch["target"]``."""

    needs = ("target",)

    def __init__(self, distance: str = "l1"):
        super().__init__()
        if distance not in ("l1", "mse"):
            raise ValueError(f"distance must be 'l1' or 'mse', got {distance!r}")
        self.distance = distance

    def forward(self, out: torch.Tensor, batch: Batch) -> torch.Tensor:
        if "target" not in batch:
            raise ValueError("the supervised loss needs a reference: train on a Wald-reduced scene (mode 'supervised')")
        target = batch["target"]
        return F.l1_loss(out, target) if self.distance == "l1" else F.mse_loss(out, target)


class _SupervisorDirection:
    """Callable wrapper of a frozen CLIPSupervisor: fused features keep their graph; MS, PAN and text
    features are constants (computed without gradient).

    While gradients are on (training), the tile size fed to it is checked against the scale the supervisor
    was trained at (:func:`clippan_kit.supervisor.scale.check_scale`; ``on_scale_mismatch`` = ``error``,
    ``warn`` or ``ignore``); validation on larger crops runs without gradients and is not checked.
    """

    def __init__(self, supervisor: nn.Module, variant: str = "paper", on_scale_mismatch: str = "error",
                 control: str | None = None, seed: int = 0):
        from ..supervisor.direction import DIRECTION_VARIANTS, RandomDirection
        from ..supervisor.scale import ON_MISMATCH

        DIRECTION_VARIANTS.key(variant)
        if on_scale_mismatch not in ON_MISMATCH:
            raise ValueError(f"on_scale_mismatch must be one of {ON_MISMATCH}, got {on_scale_mismatch!r}")
        if control not in (None, "random"):
            raise ValueError(f"control must be None or 'random', got {control!r}")
        supervisor.eval()
        for p in supervisor.parameters():
            p.requires_grad_(False)
        self.supervisor, self.variant, self.on_scale_mismatch = supervisor, variant, on_scale_mismatch
        self._random = RandomDirection(supervisor, seed, variant) if control == "random" else None
        self._checked: set[tuple[int, int]] = set()

    def __call__(self, fused: torch.Tensor, ms_lr: torch.Tensor, pan: torch.Tensor) -> torch.Tensor:
        from ..supervisor.direction import direction_loss_images
        from ..supervisor.scale import check_scale

        sup = self.supervisor
        p = next(sup.parameters(), None)
        if p is not None and p.device != fused.device:
            sup.to(fused.device)
        tile, ratio = int(fused.shape[-1]), int(fused.shape[-1] // ms_lr.shape[-1])
        if torch.is_grad_enabled() and (tile, ratio) not in self._checked:
            check_scale(getattr(sup, "scale", None), tile, ratio, self.on_scale_mismatch)
            self._checked.add((tile, ratio))
        if self._random is not None:
            return self._random(fused.float(), ms_lr.float(), pan.float())
        return direction_loss_images(sup, fused.float(), ms_lr.float(), pan.float(), self.variant)


def supervisor_direction_fn(supervisor: nn.Module, variant: str = "paper", on_scale_mismatch: str = "error",
                            control: str | None = None, seed: int = 0) -> DirectionFn:
    """``direction_fn(fused, ms_lr, pan)`` through a Stage I supervisor (frozen here).

    Args:
        variant: ``paper`` (CLIPPan L_d, default) or ``spectral``
            (:mod:`clippan_kit.supervisor.direction`).
        on_scale_mismatch: what to do when training tiles differ from the supervisor's training tiles.
        control: ``"random"``: the gradient is replaced by a random direction of the same norm
            (:class:`clippan_kit.supervisor.direction.RandomDirection`, seeded by ``seed``).
    """
    return _SupervisorDirection(supervisor, variant, on_scale_mismatch, control, seed)
