"""Classical pansharpening methods, vectorised, following Vivone's MATLAB toolbox conventions.

Every method has the signature ``method(ms (B, h, w), pan (H, W), sensor) -> (B, H, W) float32``
(same units as the inputs) and is listed in :data:`METHODS` with its citation:

=================  ==========================================================
``exp``            23-tap interpolation of the MS (the baseline)
``bdsd``           BDSD-PC (Vivone, IEEE TGRS 2019); batched torch core :func:`bdsd_pc_torch`
``mtf-glp-hpm-r``  MTF-GLP-HPM with full-scale regression (Vivone et al., IEEE TIP 2018)
``gs``             Gram-Schmidt (Laben & Brower 2000)
``gsa``            Gram-Schmidt adaptive (Aiazzi et al., IEEE TGRS 2007)
``brovey``         Brovey transform (Gillespie et al. 1987)
=================  ==========================================================

Example:
    >>> from clippan_kit.classical import fuse, METHODS
    >>> hrms = fuse(scene, "bdsd")                 # (B, H, W) float32
    >>> METHODS["gsa"].citation
"""
from .bdsd import bdsd_pc, bdsd_pc_coefficients, bdsd_pc_torch, nnls_gram
from .component_substitution import brovey, gs, gsa
from .mra import exp, mtf_glp_hpm_r
from .registry import METHODS, ClassicalMethod, fuse, get_method

__all__ = [
    "METHODS", "ClassicalMethod", "fuse", "get_method",
    "exp", "bdsd_pc", "bdsd_pc_torch", "bdsd_pc_coefficients", "nnls_gram",
    "mtf_glp_hpm_r", "gs", "gsa", "brovey",
]
