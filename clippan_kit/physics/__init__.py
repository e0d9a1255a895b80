"""The physics of pansharpening: every image-formation operator the methods, metrics and losses use.

One object per operator, with one interface (:class:`~clippan_kit.physics.base.Operator`): ``forward(x)``
on numpy arrays and torch tensors alike (same numbers; torch is differentiable), ``ratio``, ``linear``,
``output_shape(shape)``; each class docstring states its shape contract. ``tests/test_physics_operators.py``
runs one generic test over all of them.

=========================  =====================================================  ==========================
operator                   what it models                                         shapes
=========================  =====================================================  ==========================
:class:`WaldProtocol`      the degradation HRMS -> (LRMS, PAN): ``ms_branch``      (..., B, H, W) -> (..., B, h, w)
                           (MTF + decimation) and ``pan_branch`` (spectral
                           response); Wald's reduced-resolution protocol
:class:`MTF`               sensor-MTF-matched Gaussian low-pass per band          (..., B, H, W) -> same
:class:`Decimation`        one sample in r, phase r//2                            (..., H, W) -> (..., H/r, W/r)
:class:`SpectralResponse`  PAN = Σ_b w_b MS_b + c (fixed, band average, fitted)   (..., B, H, W) -> (..., H, W)
:class:`Interp23Tap`       the toolbox's 23-tap interpolator (EXP)                (..., h, w) -> (..., rh, rw)
:class:`Reprojection`      Scarpa's MTF -> sub-pixel shift -> decimation          (N, B, H, W) -> (N, B, h, w)
:class:`ImresizeDown`      MATLAB ``imresize(x, 1/r)`` (bicubic, antialiased)     (..., H, W) -> (..., H/r, W/r)
:class:`CoRegistration`    per-band MS-to-PAN shift estimate (not linear)         (B, h, w), (H, W) -> (B, 2)
=========================  =====================================================  ==========================

The functions behind them (:func:`mtf_filter`, :func:`interp23tap`, :func:`reproject_ms`, ...) are exported
too; :mod:`clippan_kit.wald` is the user-facing alias of the Wald's-protocol names.
"""
from .base import Chain, Operator
from .coregistration import COREGISTRATION_METHODS, CoRegistration, coregister, coregistration_phases
from .degradation import WaldProtocol, reduce_scene
from .interpolation import HALF_SHIFT_TAPS, INTERP23_TAPS, Interp23Tap, half_pixel_shift, interp23tap
from .mtf import KERNEL_SIZE, MTF, MTF_CONVENTIONS, Decimation, decimate, mtf_filter, mtf_filters, mtf_kernel
from .reprojection import Reprojection, phases_to_shifts, reproject_ms, shift_decimate
from .resize import ImresizeDown, imresize_down
from .spectral import SpectralResponse, band_wavelengths, pan_weights

__all__ = [
    "Operator", "Chain", "WaldProtocol", "reduce_scene", "MTF", "Decimation", "SpectralResponse", "Interp23Tap",
    "Reprojection", "ImresizeDown", "CoRegistration",
    "mtf_kernel", "mtf_filter", "mtf_filters", "decimate", "interp23tap", "half_pixel_shift", "shift_decimate", "phases_to_shifts",
    "reproject_ms", "imresize_down", "coregister", "coregistration_phases", "pan_weights", "band_wavelengths",
    "KERNEL_SIZE", "MTF_CONVENTIONS", "INTERP23_TAPS", "HALF_SHIFT_TAPS", "COREGISTRATION_METHODS",
]
