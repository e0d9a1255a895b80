"""Stage I trainer: tiles from scenes -> L_s1 (Eq. 1) -> adapters, stems, IFA, TFA, on the one training engine.

Output: a checkpoint ``S.pt`` (kind ``supervisor``, latest, atomic) with ``S.loss.csv`` beside it, or in a
folder ``supervisor.pt`` and ``loss.csv`` (:func:`output_paths`); the CSV has one row per step: step, loss,
inter, intra, fusion, lr, seconds. Device, AMP, logs, checkpoints, resume and ``torchrun`` runs are the
engine's (:mod:`clippan_kit.engine`); this module supplies the model, the tiles and the loss of a batch.
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from ..checkpoints import check_supervisor, supervisor_metadata
from ..devices import select_device
from ..engine import Engine, Job, TrainResult
from ..repro import seed_everything
from ..scene import Scene
from .base import FrozenBase, load_base
from .data import TileSampler, Tiles, resolve_pseudo_label_fn
from .losses import LossWeights, stage1_loss
from .model import CLIPSupervisor
from .prompts import make_prompts
from .scale import training_scale

__all__ = ["TrainConfig", "TrainResult", "train_supervisor", "build_supervisor", "pick_device", "hrms_targets",
           "output_paths", "SupervisorJob"]

log = logging.getLogger("clippan_kit.supervisor")
CSV_FIELDS = ["step", "loss", "inter", "intra", "fusion", "lr", "seconds"]
# Features with one row per tile: gathered over processes so the contrastive terms see the global batch.
_PER_TILE = ("ms", "pan", "hrms", "fused")


@dataclass
class TrainConfig:
    """Stage I options (CLI ``train-supervisor`` has the same names with dashes).

    Defaults are sized for a CPU run of a few minutes with the offline default base; the paper uses
    batch 32, 1000 iterations and Adam (CLIPPan, Training Details).
    """

    steps: int = 100
    batch_size: int = 8
    # PAN pixels; MS tiles are tile_size / ratio. 64 = the Stage II tile of the quick and paper presets
    # (clippan_kit.train.presets), so the supervisor learns at the scale it supervises (supervisor.scale).
    tile_size: int = 64
    input_size: int | None = 128  # image-tower input side; None = the base's own (224 for ViT-B/32)
    lr: float = 1e-3
    weight_decay: float = 0.0
    seed: int = 0
    ms_input: str = "conv"
    pan_input: str = "replicate"
    hrms_prompt: str = "wald"
    adapter_reduction: int = 4
    adapter_ratio: float = 0.2
    tau_inter: float = 0.07
    tau_intra: float = 0.07
    w_inter: float = 1.0
    w_intra: float = 1.0
    w_fusion: float = 1.0
    save_every: int = 50
    amp: bool = True  # only used on CUDA

    def loss_weights(self) -> LossWeights:
        return LossWeights(self.w_inter, self.w_intra, self.w_fusion, self.tau_inter, self.tau_intra)


def output_paths(out: str | Path) -> tuple[Path, Path]:
    """(checkpoint, loss CSV) of a Stage I run: ``out/supervisor.pt`` and ``out/loss.csv`` for a folder,
    ``out`` and ``<stem>.loss.csv`` beside it for a path ending in ``.pt``/``.pth``/``.ckpt``."""
    out = Path(out)
    if out.suffix.lower() in (".pt", ".pth", ".ckpt"):
        return out, out.with_name(f"{out.stem}.loss.csv")
    return out / "supervisor.pt", out / "loss.csv"


pick_device = select_device  # the former name; one picker for every loop (clippan_kit.devices)


def build_supervisor(base: FrozenBase, sensor, config: TrainConfig = TrainConfig()) -> CLIPSupervisor:
    """Fresh (untrained) supervisor for ``sensor`` with the options of ``config``."""
    size = config.input_size
    if size is not None and not base.model.visual.__class__.__name__.startswith("Timm") and size != base.image_size:
        log.info("input_size %s ignored: the %s image tower needs %d px", size, base.name, base.image_size)
        size = base.image_size
    sup = CLIPSupervisor(base, sensor, make_prompts(config.hrms_prompt), config.ms_input, config.pan_input, size,
                         config.adapter_reduction, config.adapter_ratio)
    sup.scale = training_scale(config.tile_size, sensor.ratio, sup.input_size)
    return sup


def hrms_targets(tiles: Tiles, pseudo_label_fn: Callable | None) -> torch.Tensor:
    """HRMS of a batch: the pseudo-label function's output (no grad), else the tiles' reference."""
    if pseudo_label_fn is None:
        if tiles.reference is None:
            raise ValueError("pseudo_label='reference' needs scenes with a reference (reduced-resolution data)")
        return tiles.reference
    with torch.no_grad():
        out = pseudo_label_fn(tiles.ms, tiles.pan)
    if out.shape != (tiles.ms.shape[0], tiles.ms.shape[1], *tiles.pan.shape[-2:]):
        raise ValueError(f"pseudo-label function returned {tuple(out.shape)}, expected "
                         f"{(tiles.ms.shape[0], tiles.ms.shape[1], *tiles.pan.shape[-2:])}")
    return out.float()


class SupervisorJob(Job):
    """Stage I on the engine: random tiles -> (MS, PAN, HRMS) features -> L_s1; checkpoints the trained parts."""

    kind, step_key, desc = "supervisor", "step", "Stage I"

    def __init__(self, sup: CLIPSupervisor, sampler: TileSampler, pseudo_fn: Callable | None, config: TrainConfig,
                 scene_names: list[str]):
        super().__init__()
        self.sup, self.sampler, self.pseudo_fn, self.config = sup, sampler, pseudo_fn, config
        self.loss_weights, self.scene_names = config.loss_weights(), scene_names

    def trained(self) -> CLIPSupervisor:
        return self.sup

    def batch(self, engine: Engine) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        n = self.config.batch_size
        tiles = self.sampler.sample(n, self.dist.share(n) if self.dist.active else None).to(self.device)
        return tiles.ms, tiles.pan, hrms_targets(tiles, self.pseudo_fn).to(self.device)

    def forward(self, batch) -> tuple[torch.Tensor, dict[str, float]]:
        ms, pan, hrms = batch
        with self.autocast():
            feats = self.sup(ms, pan, hrms)
        feats = {k: v.float() for k, v in feats.items()}
        if self.dist.active:
            feats.update({k: self.dist.gather(feats[k]) for k in _PER_TILE})
        return stage1_loss(feats, self.loss_weights)

    def row(self, step: int, logs: dict[str, float], lr: float, seconds: float) -> dict[str, float]:
        return {"step": step, **{k: round(v, 6) for k, v in logs.items()}, "lr": lr, "seconds": round(seconds, 4)}

    def postfix(self, logs: dict[str, float]) -> dict[str, str]:
        return {"loss": f"{logs['loss']:.3f}", "inter": f"{logs['inter']:.3f}", "intra": f"{logs['intra']:.3f}",
                "fusion": f"{logs['fusion']:.4f}"}

    def meta(self, engine: Engine) -> dict[str, Any]:
        return {**supervisor_metadata(self.sup), "config": dataclasses.asdict(self.config), "scenes": self.scene_names}

    def weights(self) -> dict[str, torch.Tensor]:
        return self.sup.trainable_state_dict()

    def load_weights(self, state: dict[str, torch.Tensor]) -> None:
        self.sup.load_trainable_state_dict(state)

    def check_resume(self, ckpt: dict[str, Any], path: Path) -> None:
        check_supervisor(ckpt, self.sup.base, self.sampler.n_bands, str(path))
        skip = ("steps", "save_every")
        old = {k: v for k, v in ckpt["meta"].get("config", {}).items() if k not in skip}
        new = {k: v for k, v in dataclasses.asdict(self.config).items() if k not in skip}
        if old != new:
            diff = {k: (old.get(k), new.get(k)) for k in new if old.get(k) != new.get(k)}
            raise ValueError(f"cannot resume {path}: options differ from the checkpoint's {diff}")
        log.info("resuming %s from step %d", path, ckpt["step"])


def train_supervisor(scenes: Sequence[Scene], out_dir: str | Path, config: TrainConfig = TrainConfig(),
                     base: FrozenBase | str = "auto", pseudo_label: str | Callable = "bdsd", resume: bool = False,
                     device: str | None = None, progress: bool | Callable[[float, str], None] = True) -> TrainResult:
    """Train Stage I of CLIPPan on random tiles of ``scenes``.

    Args:
        scenes: training scenes, one band count (normalised by ``scene.max_value``).
        out_dir: folder for ``supervisor.pt`` and ``loss.csv``, or a checkpoint path ``S.pt`` (log
            ``S.loss.csv`` beside it), see :func:`output_paths`.
        config: options (:class:`TrainConfig`).
        base: a loaded :class:`FrozenBase` or a base spec (``"auto"``, ``"offline"``, ``"tiny"`` ...).
        pseudo_label: ``"bdsd"`` (BDSD-PC on the fly, the paper's choice), ``"reference"`` (ground truth
            of reduced-resolution scenes) or a callable ``(ms (N,B,h,w), pan (N,1,H,W)) -> (N,B,H,W)``.
        resume: continue from ``out_dir/supervisor.pt`` (same base, bands and options required).
        device: ``"cpu"``, ``"cuda"`` ...; default CUDA when present (with AMP) else CPU.
        progress: a tqdm bar (True/False) or ``callback(fraction, message)``.

    Under ``torchrun --nproc_per_node N`` each process trains on its share of every batch of
    ``config.batch_size`` tiles (a multiple of N) and rank 0 writes the checkpoint and the log
    (:mod:`clippan_kit.engine.distributed`).

    Returns:
        :class:`~clippan_kit.engine.TrainResult`: ``supervisor`` (= ``model``), ``checkpoint``, ``log_csv``,
        ``history`` (the CSV rows), ``seconds_per_step`` (median).
    """
    ckpt_path, csv_path = output_paths(out_dir)
    ckpt_path.parent.mkdir(parents=True, exist_ok=True)
    dev = select_device(device)
    base = load_base(base) if isinstance(base, str) else base
    sensor = scenes[0].sensor
    seed_everything(config.seed)
    sampler = TileSampler(scenes, config.tile_size, seed=config.seed)
    sup = build_supervisor(base, sensor, config).to(dev)
    opt = torch.optim.AdamW(sup.trainable_parameters(), lr=config.lr, weight_decay=config.weight_decay)
    job = SupervisorJob(sup, sampler, resolve_pseudo_label_fn(pseudo_label, sensor), config, [s.name for s in scenes])
    engine = Engine(job, opt, steps=config.steps, device=dev, amp=config.amp, lr=config.lr, generator=sampler.rng,
                    checkpoint=ckpt_path, save_every=config.save_every, log_csv=csv_path, csv_fields=CSV_FIELDS,
                    progress=progress)
    log.info("%s on %s%s", sup.describe(), dev, " with AMP" if job.amp_dtype else "")
    if not base.towers_trained_together:
        log.info("base towers were not trained together: image-text alignment comes only from the trained adapters")
    return engine.fit(resume=ckpt_path if resume else None)
