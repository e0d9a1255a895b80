"""Registry of the classical methods (name -> callable with its citation) and :func:`fuse` on a Scene."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..registry import Registry
from ..scene import Scene
from .bdsd import bdsd_pc
from .component_substitution import brovey, gs, gsa
from .mra import exp, mtf_glp_hpm_r

__all__ = ["ClassicalMethod", "METHODS", "fuse", "get_method"]


@dataclass(frozen=True)
class ClassicalMethod:
    """A classical pansharpening method: call it as ``method(ms, pan, sensor) -> (B, H, W) float32``.

    Attributes:
        name: registry key.
        title: human-readable name.
        family: ``"baseline"``, ``"CS"`` (component substitution; BDSD-PC is classed there by the
            2021 benchmark) or ``"MRA"`` (multiresolution analysis).
        citation: the paper the implementation follows.
        func: the implementation.
    """

    name: str
    title: str
    family: str
    citation: str
    func: Callable[..., np.ndarray]

    def __call__(self, ms, pan, sensor, **kw) -> np.ndarray:
        return self.func(ms, pan, sensor, **kw)


def _method_key(name: str) -> str:
    return str(name).strip().lower().replace("_", "-")


#: The classical methods: name (case-insensitive, ``_`` accepted for ``-``) -> :class:`ClassicalMethod`.
METHODS: Registry[ClassicalMethod] = Registry("classical method", (
    (m.name, m)
    for m in (
        ClassicalMethod(
            "exp", "EXP (23-tap interpolation)", "baseline",
            "B. Aiazzi, L. Alparone, S. Baronti, A. Garzelli, IEEE TGRS 40(10), 2300-2312, 2002", exp,
        ),
        ClassicalMethod(
            "bdsd", "BDSD-PC", "CS",
            "G. Vivone, 'Robust band-dependent spatial-detail approaches for panchromatic sharpening', "
            "IEEE TGRS 57(9), 6421-6433, 2019", bdsd_pc,
        ),
        ClassicalMethod(
            "mtf-glp-hpm-r", "MTF-GLP-HPM-R", "MRA",
            "G. Vivone, R. Restaino, J. Chanussot, 'Full scale regression-based injection coefficients for "
            "panchromatic sharpening', IEEE TIP 27(7), 3418-3431, 2018", mtf_glp_hpm_r,
        ),
        ClassicalMethod(
            "gs", "Gram-Schmidt", "CS",
            "C. A. Laben, B. V. Brower, 'Process for enhancing the spatial resolution of multispectral imagery "
            "using pan-sharpening', U.S. Patent 6 011 875, 2000", gs,
        ),
        ClassicalMethod(
            "gsa", "Gram-Schmidt adaptive", "CS",
            "B. Aiazzi, S. Baronti, M. Selva, 'Improving component substitution pansharpening through "
            "multivariate regression of MS+Pan data', IEEE TGRS 45(10), 3230-3239, 2007", gsa,
        ),
        ClassicalMethod(
            "brovey", "Brovey transform", "CS",
            "A. R. Gillespie, A. B. Kahle, R. E. Walker, 'Color enhancement of highly correlated images. II.', "
            "Remote Sensing of Environment 22(3), 343-365, 1987", brovey,
        ),
    )
), normalize=_method_key)


def get_method(name: str) -> ClassicalMethod:
    """The registry entry for ``name`` (case-insensitive, ``_`` accepted for ``-``)."""
    return METHODS[name]


def fuse(scene: Scene, method: str, **kw) -> np.ndarray:
    """Pansharpen a :class:`Scene` with a classical method.

    Nodata pixels are filled first (``scene.filled()``: band means of the valid pixels) because
    filters and global statistics need finite values. The result is finite everywhere, nodata
    pixels included; writers and metrics must use ``scene.valid`` to mask them (we do not write
    NaN, so that the output can be fed to further processing unchanged).

    Args:
        scene: PAN + MS scene; its sensor gives the ratio and the MTF gains.
        method: a key of :data:`METHODS` (``exp``, ``bdsd``, ``mtf-glp-hpm-r``, ``gs``, ``gsa``, ``brovey``).
        **kw: passed to the method.

    Returns:
        (B, H, W) float32 on the PAN grid, in the units of the scene, clipped to the physical range
        ``[0, scene.max_value]`` (interpolation overshoot and detail injection can leave it: EXP reaches
        -248 DN on the WV3 example, Gram-Schmidt -817 on the WV2 scene). The registry's functions
        themselves (``METHODS[name](ms, pan, sensor)``) return the unclipped result.

    Raises:
        UnknownNameError: unknown method (the message lists the names; a ValueError).
    """
    entry = get_method(method)
    filled = scene.filled()
    out = entry(filled.ms, filled.pan, scene.sensor, **kw)
    return np.clip(out, 0.0, float(scene.max_value), out=out)
