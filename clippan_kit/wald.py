"""Wald's protocol, the user-facing name: the degradation operator and its filters and interpolator.

The code lives in :mod:`clippan_kit.physics` (one home for every operator: the MS branch here, the PAN
branch, reprojection and co-registration beside it); this module keeps the names users and notebooks
import (``from clippan_kit.wald import WaldProtocol, interp23tap``) as the same objects. The library itself
imports from :mod:`clippan_kit.physics`.
"""
from .physics import (HALF_SHIFT_TAPS, INTERP23_TAPS, KERNEL_SIZE, MTF_CONVENTIONS, WaldProtocol, decimate,
                      half_pixel_shift, interp23tap, mtf_filter, mtf_kernel, phases_to_shifts, reduce_scene,
                      reproject_ms, shift_decimate)

__all__ = [
    "mtf_kernel",
    "mtf_filter",
    "decimate",
    "interp23tap",
    "WaldProtocol",
    "reduce_scene",
    "KERNEL_SIZE",
    "half_pixel_shift",
    "shift_decimate",
    "reproject_ms",
    "phases_to_shifts",
]
