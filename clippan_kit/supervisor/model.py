"""The CLIPPan supervisor: frozen open_clip base + trained stems, six adapters, IFA and TFA.

Image inputs are torch tensors in normalised units (data / ``scene.max_value``, so ~[0, 1]):
``ms`` (N, B, h, w) low-resolution MS, ``pan`` (N, 1, H, W), ``hrms`` (N, B, H, W) (pseudo-label, ground
truth, or a network's fused output). All returned features are L2-normalised, (N, D) or (3, D).
Text rows are ordered as :data:`~clippan_kit.supervisor.prompts.IMAGE_TYPES` (ms, pan, hrms).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..sensors import Sensor
from .base import FrozenBase
from .modules import Adapter, FusionAdapter, MSInput, PanInput
from .prompts import IMAGE_TYPES, PromptSet

__all__ = ["CLIPSupervisor"]


class CLIPSupervisor(nn.Module):
    """Frozen CLIP + trainable input stems, 3 image adapters, 3 text adapters, IFA and TFA (CLIPPan Stage I).

    Args:
        base: the frozen open_clip base (:func:`~clippan_kit.supervisor.base.load_base`).
        sensor: sensor of the MS data (band count, RGB / NIR band indices).
        prompts: constant texts per image type (default Wald's protocol for HRMS).
        ms_input: ``conv`` (default), ``pca``, ``rgb`` or ``gbnir`` (paper Table 4).
        pan_input: ``replicate`` (default) or ``conv``.
        input_size: side of the image fed to the image tower; default the base's own size.
            Convolutional towers (the offline default) accept smaller sizes, which is much faster on CPU.
        adapter_reduction, adapter_ratio: CLIP-Adapter bottleneck factor and residual ratio.
    """

    def __init__(self, base: FrozenBase, sensor: Sensor, prompts: PromptSet | None = None, ms_input: str = "conv",
                 pan_input: str = "replicate", input_size: int | None = None, adapter_reduction: int = 4,
                 adapter_ratio: float = 0.2):
        super().__init__()
        self.base = base
        self.base_model = base.model  # registered so .to(device) moves it; frozen and kept in eval mode
        self.sensor = sensor
        self.prompts = prompts or PromptSet()
        self.input_size = int(input_size or base.image_size)
        d = base.embed_dim
        self.ms_stem = MSInput(sensor, ms_input)
        self.pan_stem = PanInput(pan_input)
        self.image_adapters = nn.ModuleDict({t: Adapter(d, adapter_reduction, adapter_ratio) for t in IMAGE_TYPES})
        self.text_adapters = nn.ModuleDict({t: Adapter(d, adapter_reduction, adapter_ratio) for t in IMAGE_TYPES})
        self.ifa = FusionAdapter(d, adapter_reduction)
        self.tfa = FusionAdapter(d, adapter_reduction)
        self.register_buffer("mean", torch.tensor(base.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(base.std).view(1, 3, 1, 1), persistent=False)
        self._text_cache: dict[tuple, torch.Tensor] = {}
        #: scale it was trained at (:func:`~clippan_kit.supervisor.scale.training_scale`); None = unknown
        self.scale: dict | None = None

    # ------------------------------------------------------------------ bookkeeping
    @property
    def n_bands(self) -> int:
        return self.sensor.n_bands

    @property
    def embed_dim(self) -> int:
        return self.base.embed_dim

    def train(self, mode: bool = True) -> "CLIPSupervisor":
        super().train(mode)
        self.base_model.eval()  # frozen base: BatchNorm statistics and dropout stay as pretrained
        return self

    def trainable_modules(self) -> dict[str, nn.Module]:
        """The parts that Stage I trains (and checkpoints hold)."""
        return {"ms_stem": self.ms_stem, "pan_stem": self.pan_stem, "image_adapters": self.image_adapters,
                "text_adapters": self.text_adapters, "ifa": self.ifa, "tfa": self.tfa}

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for m in self.trainable_modules().values() for p in m.parameters()]

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        return {f"{name}.{k}": v.detach().cpu() for name, m in self.trainable_modules().items()
                for k, v in m.state_dict().items()}

    def load_trainable_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        for name, m in self.trainable_modules().items():
            sub = {k[len(name) + 1:]: v for k, v in state.items() if k.startswith(name + ".")}
            m.load_state_dict(sub)

    # ------------------------------------------------------------------ text side
    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        """Frozen base text features of arbitrary texts, (n, D), L2-normalised, no adapter, no grad."""
        device = self.mean.device
        with torch.no_grad():
            tokens = self.base.tokenizer(texts).to(device)
            return F.normalize(self.base_model.encode_text(tokens).float(), dim=-1)

    def base_text_features(self) -> torch.Tensor:
        """(3, D) frozen features of the MS, PAN, HRMS prompts; encoded once per device, then cached."""
        key = (tuple(self.prompts.texts()), str(self.mean.device))
        if key not in self._text_cache:
            self._text_cache[key] = self.encode_texts(self.prompts.texts())
        return self._text_cache[key]

    def text_features(self) -> torch.Tensor:
        """(3, D) adapted text features (rows ms, pan, hrms), each through its own text adapter."""
        base = self.base_text_features()
        return F.normalize(torch.stack([self.text_adapters[t](base[i]) for i, t in enumerate(IMAGE_TYPES)]), dim=-1)

    def fused_text_feature(self, text: torch.Tensor | None = None) -> torch.Tensor:
        """(D,) TFA(MS text, PAN text) -- should match the HRMS/protocol text feature after training."""
        text = self.text_features() if text is None else text
        return F.normalize(self.tfa(text[0:1], text[1:2])[0], dim=-1)

    # ------------------------------------------------------------------ image side
    def to_rgb(self, x: torch.Tensor, kind: str) -> torch.Tensor:
        """Image of type ``kind`` -> (N, 3, S, S) normalised input of the image tower."""
        if kind == "pan":
            if x.ndim != 4 or x.shape[1] != 1:
                raise ValueError(f"PAN must be (N, 1, H, W), got {tuple(x.shape)}")
            rgb = self.pan_stem(x)
        elif kind in ("ms", "hrms"):
            rgb = self.ms_stem(x)
        else:
            raise ValueError(f"image kind must be one of {IMAGE_TYPES}, got {kind!r}")
        s = self.input_size
        if rgb.shape[-2:] != (s, s):
            down = rgb.shape[-1] > s
            rgb = F.interpolate(rgb, size=(s, s), mode="bilinear", align_corners=False, antialias=down)
        return (rgb - self.mean) / self.std

    def base_image_features(self, x: torch.Tensor, kind: str) -> torch.Tensor:
        """(N, D) frozen-tower features (after the input stem, before the type adapter), L2-normalised."""
        return F.normalize(self.base_model.encode_image(self.to_rgb(x, kind)).float(), dim=-1)

    def image_features(self, x: torch.Tensor, kind: str) -> torch.Tensor:
        """(N, D) adapted features of images of type ``kind`` (``ms``, ``pan`` or ``hrms``)."""
        return F.normalize(self.image_adapters[kind](self.base_image_features(x, kind)), dim=-1)

    def fused_image_features(self, f_ms: torch.Tensor, f_pan: torch.Tensor) -> torch.Tensor:
        """(N, D) IFA(F_MS, F_PAN), L2-normalised (Eq. 4)."""
        return F.normalize(self.ifa(f_ms, f_pan), dim=-1)

    def forward(self, ms: torch.Tensor, pan: torch.Tensor, hrms: torch.Tensor) -> dict[str, torch.Tensor]:
        """All Stage I features of a batch of (MS, PAN, HRMS) triplets of the same scenes.

        Returns a dict with ``ms``, ``pan``, ``hrms``, ``fused`` (N, D) image features and ``text``
        (3, D), ``fused_text`` (D,) text features.
        """
        f = {k: self.image_features(x, k) for k, x in (("ms", ms), ("pan", pan), ("hrms", hrms))}
        f["fused"] = self.fused_image_features(f["ms"], f["pan"])
        f["text"] = self.text_features()
        f["fused_text"] = self.fused_text_feature(f["text"])
        return f

    def describe(self) -> str:
        n = sum(p.numel() for p in self.trainable_parameters())
        return (f"CLIPSupervisor({self.base.describe()}; sensor {self.sensor.name}, {self.n_bands} bands, "
                f"ms_input={self.ms_stem.mode}, pan_input={self.pan_stem.mode}, input {self.input_size}px, "
                f"trained on {self.scale['tile'] if self.scale else '?'}-px tiles, "
                f"HRMS prompt '{self.prompts.hrms_name}', {n} trainable parameters)")
