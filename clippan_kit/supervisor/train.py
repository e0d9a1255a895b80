"""Stage I trainer: tiles from scenes -> L_s1 (Eq. 1) -> adapters, stems, IFA, TFA; with CSV log, resume, checkpoints.

Output: a checkpoint ``S.pt`` (latest, atomic) with ``S.loss.csv`` beside it, or in a folder
``supervisor.pt`` and ``loss.csv`` (:func:`output_paths`); the CSV has one row per step: step, loss, inter,
intra, fusion, lr, seconds.
"""
from __future__ import annotations

import csv
import dataclasses
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from ..devices import select_device
from ..scene import Scene
from .base import FrozenBase, load_base
from .checkpoint import check_compatible, read_checkpoint, save_checkpoint
from .data import TileSampler, Tiles, resolve_pseudo_label_fn
from .losses import LossWeights, stage1_loss
from .model import CLIPSupervisor
from .prompts import make_prompts
from .scale import training_scale

__all__ = ["TrainConfig", "TrainResult", "train_supervisor", "build_supervisor", "pick_device", "hrms_targets",
           "output_paths"]

log = logging.getLogger("clippan_kit.supervisor")
CSV_FIELDS = ["step", "loss", "inter", "intra", "fusion", "lr", "seconds"]


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


@dataclass
class TrainResult:
    supervisor: CLIPSupervisor
    checkpoint: Path
    log_csv: Path
    history: list[dict] = field(default_factory=list)
    seconds_per_step: float = float("nan")


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


def train_supervisor(scenes: Sequence[Scene], out_dir: str | Path, config: TrainConfig = TrainConfig(),
                     base: FrozenBase | str = "auto", pseudo_label: str | Callable = "bdsd", resume: bool = False,
                     device: str | None = None, progress: bool = True) -> TrainResult:
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
    """
    ckpt_path, csv_path = output_paths(out_dir)
    ckpt_path.parent.mkdir(parents=True, exist_ok=True)
    dev = select_device(device)
    base = load_base(base) if isinstance(base, str) else base
    sensor = scenes[0].sensor
    torch.manual_seed(config.seed)
    sampler = TileSampler(scenes, config.tile_size, seed=config.seed)
    sup = build_supervisor(base, sensor, config).to(dev)
    params = sup.trainable_parameters()
    opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    use_amp = config.amp and dev.type == "cuda"
    amp_dtype = torch.bfloat16 if use_amp and torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and amp_dtype == torch.float16)
    pseudo_fn = resolve_pseudo_label_fn(pseudo_label, sensor)
    start = 0
    if resume:
        ckpt = read_checkpoint(ckpt_path)
        check_compatible(ckpt, base, sampler.n_bands, str(ckpt_path))
        old = {k: v for k, v in ckpt.get("config", {}).items() if k not in ("steps", "save_every")}
        new = {k: v for k, v in dataclasses.asdict(config).items() if k not in ("steps", "save_every")}
        if old != new:
            diff = {k: (old.get(k), new.get(k)) for k in new if old.get(k) != new.get(k)}
            raise ValueError(f"cannot resume {ckpt_path}: options differ from the checkpoint's {diff}")
        sup.load_trainable_state_dict(ckpt["trainable"])
        opt.load_state_dict(ckpt["optimizer"])
        sampler.rng.bit_generator.state = ckpt["rng"]["numpy"]
        torch.random.set_rng_state(ckpt["rng"]["torch"])
        start = int(ckpt["step"])
        log.info("resuming %s from step %d", ckpt_path, start)
    log.info("%s on %s%s", sup.describe(), dev, " with AMP" if use_amp else "")
    if not base.towers_trained_together:
        log.info("base towers were not trained together: image-text alignment comes only from the trained adapters")

    rows = _read_csv(csv_path)[:start] if resume else []
    _write_csv(csv_path, rows)

    def save(step: int) -> None:
        save_checkpoint(ckpt_path, sup, step=step, config=dataclasses.asdict(config), optimizer=opt.state_dict(),
                        rng={"numpy": sampler.rng.bit_generator.state, "torch": torch.random.get_rng_state()},
                        scenes=[s.name for s in scenes])

    weights = config.loss_weights()
    sup.train()
    bar = tqdm(range(start, config.steps), initial=start, total=config.steps, disable=not progress, desc="Stage I")
    t_steps = []
    for step in bar:
        t0 = time.perf_counter()
        tiles = sampler.sample(config.batch_size).to(dev)
        hrms = hrms_targets(tiles, pseudo_fn).to(dev)
        with torch.autocast(dev.type, dtype=amp_dtype, enabled=use_amp):
            feats = sup(tiles.ms, tiles.pan, hrms)
        total, parts = stage1_loss({k: v.float() for k, v in feats.items()}, weights)
        opt.zero_grad(set_to_none=True)
        scaler.scale(total).backward()
        scaler.step(opt)
        scaler.update()
        dt = time.perf_counter() - t0
        t_steps.append(dt)
        row = {"step": step + 1, **{k: round(v, 6) for k, v in parts.items()}, "lr": config.lr, "seconds": round(dt, 4)}
        rows.append(row)
        _append_csv(csv_path, row)
        bar.set_postfix(loss=f"{parts['loss']:.3f}", inter=f"{parts['inter']:.3f}", intra=f"{parts['intra']:.3f}",
                        fusion=f"{parts['fusion']:.4f}")
        if (step + 1) % config.save_every == 0 or step + 1 == config.steps:
            save(step + 1)
    if start >= config.steps and not ckpt_path.exists():
        save(start)
    sup.eval()
    sec = float(np.median(t_steps)) if t_steps else float("nan")
    return TrainResult(sup, ckpt_path, csv_path, rows, sec)


def _read_csv(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return [{k: float(v) for k, v in r.items()} for r in csv.DictReader(f)]


def _write_csv(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, CSV_FIELDS)
        w.writeheader()
        for r in rows:
            w.writerow({k: (int(r[k]) if k == "step" else r[k]) for k in CSV_FIELDS})


def _append_csv(path: Path, row: dict) -> None:
    with open(path, "a", newline="") as f:
        csv.DictWriter(f, CSV_FIELDS).writerow(row)
