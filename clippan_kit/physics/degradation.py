"""The degradation operator of pansharpening, HRMS -> (LRMS, PAN), and Wald's protocol built on it.

Wald, Ranchin, Mangolini, "Fusion of satellite images of different spatial resolutions: assessing the
quality of resulting images", PE&RS 63(6), 1997; the sensor-MTF-matched filters of Aiazzi et al. and
Vivone's toolbox (:mod:`clippan_kit.physics.mtf`).

* MS branch: ``lrms = decimate(MTF_ms(hrms))`` (:attr:`WaldProtocol.ms_branch`);
* PAN branch: ``pan = Σ_b w_b hrms_b + c`` (:attr:`WaldProtocol.pan_branch`, a
  :class:`~clippan_kit.physics.spectral.SpectralResponse`);
* the reduced-resolution protocol degrades a whole scene, its PAN with the PAN MTF
  (:meth:`WaldProtocol.reduce`).
"""
from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch

from ..scene import Scene, SceneError
from ..sensors import Sensor, get_sensor
from .base import Chain, Operator
from .interpolation import interp23tap
from .mtf import KERNEL_SIZE, MTF, Decimation
from .spectral import SpectralResponse

__all__ = ["WaldProtocol", "reduce_scene"]

Array = TypeVar("Array", np.ndarray, torch.Tensor)


class WaldProtocol(Operator):
    """Wald's-protocol degradation for one sensor: the forward operator of pansharpening.

    ``forward(hrms)`` (also ``op(hrms)``, ``op.A``, ``op.degrade_ms``) is the MS branch: the HRMS on the PAN
    grid -> the LRMS it should have produced. ``pan_branch(hrms)`` is the PAN it should have produced
    (default: :meth:`SpectralResponse.from_sensor`; pass ``spectral=`` for another response).
    ``degrade_pan`` low-passes and decimates a PAN with the PAN gain; ``reduce(scene)`` builds the
    reduced-resolution triplet (LRMS, PAN, reference = original MS).

    Shape contract: ``hrms: (..., B, H, W)`` float, scene units -> ``(..., B, H/r, W/r)`` (MS branch) and
    ``(..., H, W)`` (PAN branch); ``pan: (..., H, W)`` -> ``(..., H/r, W/r)``. numpy or torch
    (differentiable). The MS branch is linear; the PAN branch is linear when its bias is 0.

    Example:
        >>> op = WaldProtocol("wv2")
        >>> lrms = op(hrms)                   # (..., 8, H/4, W/4)
        >>> pan = op.pan_branch(hrms)         # (..., H, W)
        >>> reduced = op.reduce(scene)        # Scene with reference = scene.ms
    """

    def __init__(self, sensor: Sensor | str, kernel_size: int = KERNEL_SIZE, spectral: SpectralResponse | None = None):
        self.sensor = get_sensor(sensor)
        self.ratio = self.sensor.ratio
        self.kernel_size = kernel_size
        self.mtf_ms = MTF(self.sensor.gnyq_ms, self.ratio, kernel_size)
        self.mtf_pan = MTF(self.sensor.gnyq_pan, self.ratio, kernel_size)
        self.decimation = Decimation(self.ratio)
        self.ms_branch = Chain(self.mtf_ms, self.decimation)
        self.pan_branch = SpectralResponse.from_sensor(self.sensor) if spectral is None else spectral

    def lowpass_ms(self, x: Array) -> Array:
        return self.mtf_ms(x)

    def lowpass_pan(self, pan: Array) -> Array:
        return self.mtf_pan(pan)

    def degrade_ms(self, hrms: Array) -> Array:
        """(..., B, H, W) -> (..., B, H/r, W/r)."""
        return self.ms_branch(hrms)

    forward = degrade_ms
    A = degrade_ms

    def output_shape(self, shape):
        return self.ms_branch.output_shape(shape)

    def degrade_pan(self, pan: Array) -> Array:
        """(..., H, W) -> (..., H/r, W/r)."""
        return self.decimation(self.lowpass_pan(pan))

    def upsample(self, ms: Array) -> Array:
        """(..., B, h, w) -> (..., B, h*r, w*r) with the 23-tap interpolator (the EXP method)."""
        return interp23tap(ms, self.ratio)

    def reduce(self, scene: Scene, crop: bool = False) -> Scene:
        """Reduced-resolution scene: MS and PAN degraded by ``ratio``, reference = original MS.

        The MS must be a multiple of the ratio in size: with ``crop=True`` the scene is first cropped
        (top-left kept) to the largest such size, otherwise that is an error.
        Nodata: the reduced PAN pixel is valid where the original MS pixel was.
        """
        r = self.ratio
        if scene.ratio != r or scene.sensor.gnyq_ms != self.sensor.gnyq_ms:
            raise SceneError(f"scene sensor {scene.sensor.long_name} differs from the protocol's {self.sensor.long_name}")
        h, w = scene.ms.shape[1:]
        if (h % r or w % r) and crop:
            scene = scene.crop(0, 0, (h - h % r) * r, (w - w % r) * r)
            h, w = scene.ms.shape[1:]
        if h % r or w % r:
            raise SceneError(
                f"MS size {h}x{w} of {scene.name!r} is not a multiple of the ratio {r}: "
                f"crop the scene to {h - h % r}x{w - w % r} MS pixels first (or reduce(..., crop=True))"
            )
        filled = scene.filled()
        transform = None if scene.transform is None else scene.transform @ scene.transform.scale(r, r)
        return Scene(
            pan=self.degrade_pan(filled.pan.astype(np.float64)).astype(np.float32),
            ms=self.degrade_ms(filled.ms.astype(np.float64)).astype(np.float32),
            sensor=scene.sensor,
            reference=scene.ms,
            valid=scene.ms_valid,
            max_value=scene.max_value,
            crs=scene.crs,
            transform=transform,
            name=f"{scene.name} (reduced x{r})",
            source=scene.source,
        )

    def __repr__(self) -> str:
        return f"WaldProtocol({self.sensor.long_name}, ratio={self.ratio}, kernel={self.kernel_size})"


def reduce_scene(scene: Scene, crop: bool = False) -> Scene:
    """Wald's protocol on ``scene`` with its own sensor: see :meth:`WaldProtocol.reduce`."""
    return WaldProtocol(scene.sensor).reduce(scene, crop=crop)
