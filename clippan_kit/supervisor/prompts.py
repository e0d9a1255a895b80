"""Text prompts of the CLIPPan supervisor (Liu et al., CLIPPan, AAAI 2026, Stage I and Table 5).

Each image type has one constant description. The HRMS description is the fusion *protocol*; the
paper's default is Wald's. ``"khan"`` paraphrases the Khan et al. (2008) full-resolution protocol
(spectral consistency of the degraded product with the MS, spatial detail consistent with the
PAN's high frequencies) -- the paper names it but does not print its wording, so ours is our own.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from ..registry import Registry

__all__ = ["PromptSet", "HRMS_PROMPTS", "MS_PROMPT", "PAN_PROMPT", "make_prompts", "IMAGE_TYPES"]

#: Image types, in the order used for every (3, D) text-feature tensor and every label.
IMAGE_TYPES = ("ms", "pan", "hrms")

MS_PROMPT = "a multispectral image"
PAN_PROMPT = "a panchromatic image"

HRMS_PROMPTS: Registry[str] = Registry("HRMS prompt", {
    # Paper, Stage I (default).
    "wald": "High-quality reference image adhering to Wald's protocol: spectrally consistent with original data and spatially sharp",
    # Our wording of Khan's full-resolution consistency protocol.
    "khan": ("High-resolution multispectral image adhering to Khan's protocol: once degraded by the sensor MTF it matches "
             "the original multispectral image, and its spatial details match those of the panchromatic image"),
    # Table 5 descriptors.
    "I": "This image is the fusion image of the input image",
    "II": "a fused product of the MS and PAN images",
    "noise": "an image independent of the inputs",
}, normalize=None)


@dataclass(frozen=True)
class PromptSet:
    """One constant text per image type (``ms``, ``pan``, ``hrms``); ``hrms_name`` says which protocol."""

    ms: str = MS_PROMPT
    pan: str = PAN_PROMPT
    hrms: str = HRMS_PROMPTS["wald"]
    hrms_name: str = "wald"

    def texts(self) -> list[str]:
        """[ms, pan, hrms], the row order of every text-feature tensor."""
        return [self.ms, self.pan, self.hrms]

    def to_dict(self) -> dict:
        return asdict(self)


def make_prompts(hrms: str = "wald", ms: str = MS_PROMPT, pan: str = PAN_PROMPT) -> PromptSet:
    """Prompt set whose HRMS text is a named protocol (``wald``, ``khan``, ``I``, ``II``, ``noise``) or any user text."""
    if hrms in HRMS_PROMPTS:
        return PromptSet(ms=ms, pan=pan, hrms=HRMS_PROMPTS[hrms], hrms_name=hrms)
    if not hrms.strip():
        raise ValueError("the HRMS prompt is empty: give a protocol name (" + ", ".join(HRMS_PROMPTS) + ") or a sentence")
    return PromptSet(ms=ms, pan=pan, hrms=hrms.strip(), hrms_name="custom")
