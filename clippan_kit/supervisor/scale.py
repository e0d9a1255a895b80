"""The scale a supervisor was trained at, and the check that Stage II feeds it the same scale.

A frozen image tower recognises textures at the scale it saw them. The supervisor resizes every image
to ``input_size`` pixels before the tower, so a PAN tile of ``tile`` pixels is magnified
``input_size / tile`` times and its MS tile (``tile / ratio`` pixels) ``input_size * ratio / tile`` times.
Stage I must use the tile size Stage II trains on: measured on Deng's WV3 set with a supervisor trained
on 128-px tiles and fed 64-px Stage II tiles, ground truth through the HRMS route was recognised in 8 of
16 tiles (4 of 4 at 128 px) and the ground-truth-vs-EXP gap of L_d fell from 0.25 to 0.09 (issue #12).

The scale is a dict ``{"tile": t, "ratio": r, "input_size": S, "pan_upsampling": S / t,
"ms_upsampling": S * r / t}`` stored in the supervisor checkpoint (``scale``).
"""
from __future__ import annotations

import logging
from typing import Any

from ..errors import ClippanError

__all__ = ["SupervisorScaleError", "training_scale", "check_scale", "ON_MISMATCH"]

log = logging.getLogger("clippan_kit.supervisor")

ON_MISMATCH = ("error", "warn", "ignore")


class SupervisorScaleError(ClippanError, ValueError):
    """Stage II feeds the supervisor tiles of another size than it was trained on."""


def training_scale(tile: int, ratio: int, input_size: int) -> dict[str, Any]:
    """The scale record of a supervisor trained on ``tile``-px PAN tiles resized to ``input_size`` px."""
    return {"tile": int(tile), "ratio": int(ratio), "input_size": int(input_size),
            "pan_upsampling": input_size / tile, "ms_upsampling": input_size * ratio / tile}


def check_scale(scale: dict[str, Any] | None, tile: int, ratio: int, on_mismatch: str = "error",
                source: str = "the supervisor") -> bool:
    """True when a Stage II tile of ``tile`` PAN pixels (ratio ``ratio``) matches ``scale``.

    On a mismatch: ``on_mismatch="error"`` raises :class:`SupervisorScaleError`, ``"warn"`` logs a warning
    and returns False, ``"ignore"`` returns False. A supervisor without a scale record (trained before
    the record existed, or never trained) gets a warning, never an error.
    """
    if on_mismatch not in ON_MISMATCH:
        raise ValueError(f"on_mismatch must be one of {ON_MISMATCH}, got {on_mismatch!r}")
    if scale is None:
        if on_mismatch != "ignore":
            log.warning("%s has no record of its training tile size: cannot check that Stage II's %d-px tiles "
                        "match it (retrain it with this version)", source, tile)
        return False
    if int(scale["tile"]) == int(tile) and int(scale["ratio"]) == int(ratio):
        return True
    msg = (f"{source} was trained on {scale['tile']}-px PAN tiles (ratio {scale['ratio']}, image tower "
           f"{scale['input_size']} px: PAN x{scale['pan_upsampling']:g}, MS x{scale['ms_upsampling']:g}) but Stage II "
           f"feeds it {tile}-px tiles (ratio {ratio}: PAN x{scale['input_size'] / tile:g}, MS "
           f"x{scale['input_size'] * ratio / tile:g}); L_d is unreliable at another scale: train the supervisor "
           f"with --tile {tile}, or train Stage II with --tile {scale['tile']}")
    if on_mismatch == "error":
        raise SupervisorScaleError(msg)
    if on_mismatch == "warn":
        log.warning("%s", msg)
    return False
