"""λ-PNN fast target adaptation (Ciotola, Poggi, Scarpa, IEEE TGRS 2023, Sec. III-D): fine-tune a trained
backbone with JESSE on a few representative tiles of the scene to be fused, then fuse the whole scene.

Tile selection: the scene is cut into non-overlapping tiles; each tile gets a feature vector, features
are reduced to 3 principal components and clustered with k-means (k = number of tiles wanted); the
tile nearest to each centroid is kept. The authors use ImageNet MobileNet-V3 features, which need a
download; ours are computed from the data alone, so nothing is fetched at run time: per-band mean and
standard deviation of the expanded MS, PAN mean, standard deviation and gradient energy, and the
PAN-to-band correlation (land cover, contrast, texture and spectral-spatial coupling of the tile).

Recipe (why the defaults differ from the released fine-tuning settings): the authors' learning rate
(3.5e-5 for WV2, :data:`clippan_kit.losses.JESSE_DEFAULTS`) fine-tunes *their pretrained* network; from
random weights it moves nothing in 100 steps (R-Q2n 0.956 / D_ρ 0.75 on WV2, i.e. EXP). From scratch we
use lr 2e-3 for 300 steps, from a pretrained checkpoint 2e-4 for 100 steps (the released code's
adaptation length) (:data:`ADAPT_LR`, :data:`ADAPT_EPOCHS`); the last convolution starts at zero so the
network starts exactly at EXP (the global skip) and learns only the detail. More steps trade D_ρ for
R-Q2n (both fall, then D_ρ rises again), measured by ``benchmarks/bench_stage2.py --part sweep``. The scene-level
constants (23-tap expansion, co-registration shifts, spatial threshold map) are computed once on the
whole scene and cut with the tiles; denormal floats are flushed (subnormal activations slow CPU kernels).
On a CPU shared with other processes, set ``OMP_WAIT_POLICY=PASSIVE`` before torch loads: spin-waiting
OpenMP threads made a 2-thread step 8x slower (3.7 s vs 0.5 s) in our measurements.
"""
from __future__ import annotations

import copy
import logging
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn as nn

from ..devices import select_device
from ..engine import Engine, Job
from ..losses import JesseLoss, jesse_scene_extras
from ..scene import Scene
from .data import SceneTiles

__all__ = ["tile_features", "kmeans", "select_tiles", "adapt", "AdaptationJob", "lambda_pnn_pipeline", "ADAPT_LR", "ADAPT_EPOCHS",
           "ADAPT_JESSE",
           "pretrained_path", "zero_last_layer"]

# Adam learning rates of target adaptation: from random weights / from a trained checkpoint.
# "pretrained": 1e-3 since the peer-grade co-registration (issue 11): on the WV3 example, from the network
# pretrained on Deng's WV3 scene (`--preset pretrain`), 100 epochs, our scorer (= the peer's to 4 decimals):
# lr 2e-4 / γ 5 -> R-Q2n 0.9456 / D_ρ 0.0792 (R-Q2n short of the released 0.9482), lr 2e-4 / γ 10 -> 0.9343 /
# 0.0623, lr 1e-3 / γ 5 -> 0.9595 / 0.0846 (D_ρ short), lr 1e-3 / γ 10 -> 0.9518 / 0.0671 (both better).
ADAPT_LR = {"scratch": 2e-3, "pretrained": 1e-3}
# Adaptation steps (one full batch each): from random weights / from a trained checkpoint.
ADAPT_EPOCHS = {"scratch": 300, "pretrained": 100}
# JESSE weights that differ from the release's when adapting from random weights (the release's were tuned
# to fine-tune its pretrained networks). WV3 example, 300 epochs, peer scorer: γ 5 -> R-Q2n 0.969 / D_ρ 0.091
# (D_ρ short of the released 0.0815), γ 10 -> 0.960 / 0.072, γ 20 -> 0.950 / 0.055
# (benchmarks/results/lambda_peer.md).
# The same γ serves adaptation from the pretrained network (see ADAPT_LR).
ADAPT_JESSE = {"wv3": {"gamma": 10.0}}


def tile_features(batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """(T, 3B + 3) feature vectors of T tiles (``ms_up`` (T,B,H,W), ``pan`` (T,1,H,W)), standardised."""
    ms, pan = batch["ms_up"].double(), batch["pan"].double()
    grad = (pan.diff(dim=-1).abs().mean((-1, -2, -3)) + pan.diff(dim=-2).abs().mean((-1, -2, -3)))
    msc = ms - ms.mean((-1, -2), keepdim=True)
    pc = pan - pan.mean((-1, -2), keepdim=True)
    corr = (msc * pc).mean((-1, -2)) / (msc.std((-1, -2)) * pc.std((-1, -2)) + 1e-12)
    f = torch.cat([ms.mean((-1, -2)), ms.std((-1, -2)), pan.mean((-1, -2)), pan.std((-1, -2)), grad[:, None], corr], 1)
    return (f - f.mean(0)) / (f.std(0) + 1e-12) if f.shape[0] > 1 else f


def kmeans(x: torch.Tensor, k: int, iterations: int = 100) -> tuple[torch.Tensor, torch.Tensor]:
    """Deterministic k-means (farthest-point initialisation, Lloyd iterations): (labels (T,), centers (k, F))."""
    centers = [x[((x - x.mean(0)) ** 2).sum(1).argmin()]]
    for _ in range(1, k):
        d = torch.cdist(x, torch.stack(centers)).min(1).values
        centers.append(x[d.argmax()])
    c = torch.stack(centers)
    for _ in range(iterations):
        labels = torch.cdist(x, c).argmin(1)
        new = torch.stack([x[labels == j].mean(0) if (labels == j).any() else c[j] for j in range(k)])
        if torch.allclose(new, c):
            break
        c = new
    return torch.cdist(x, c).argmin(1), c


def _scene_tiles(scene: Scene) -> SceneTiles:
    """The scene's normalised arrays with the JESSE constants attached (one 23-tap expansion, one co-registration)."""
    data = SceneTiles([scene], tile=min(scene.shape) // scene.ratio * scene.ratio, valid_fraction=0.95)
    data.attach(lambda s, a: jesse_scene_extras(a, s.sensor))
    return data


def select_tiles(scene: Scene, n_tiles: int = 8, tile: int = 128, data: SceneTiles | None = None
                 ) -> tuple[dict[str, torch.Tensor], list[int]]:
    """The ``n_tiles`` most representative ``tile``-sized tiles of a scene (all tiles when there are fewer).

    Returns the tiles as a batch (keys of :class:`SceneTiles`, plus the attached JESSE constants when
    ``data`` carries them) and their indices in the row-major grid of non-overlapping tiles.
    """
    tile = min(tile, *scene.shape) // scene.ratio * scene.ratio
    grid = (data or SceneTiles([scene], tile=tile)).grid(tile)
    T = grid["pan"].shape[0]
    if T <= n_tiles:
        return grid, list(range(T))
    f = tile_features(grid)
    # Exact PCA (T x F is small): torch.pca_lowrank is randomised and drew from the global torch RNG, so
    # two calls on the same scene could pick different tiles. k-means below only sees distances, which
    # do not depend on the basis chosen inside the top-3 subspace.
    fc = f - f.mean(0)
    v = torch.linalg.svd(fc, full_matrices=False).Vh.T
    z = fc @ v[:, :3]
    _, centers = kmeans(z, n_tiles)
    d = torch.cdist(centers, z)
    chosen: list[int] = []
    for j in range(n_tiles):  # nearest unused tile to each centroid
        chosen.append(_nearest_unused(d[j], chosen))
    return {k: v[chosen] for k, v in grid.items()}, chosen


def _nearest_unused(distances: torch.Tensor, used: list[int], rtol: float = 1e-9) -> int:
    """Index of the smallest of ``distances`` (T,) outside ``used``; ties within ``rtol`` go to the lowest index.

    A centroid of two tiles lies exactly half-way between them (on the 1280² WV2 scene one cluster is tiles 51
    and 52): a plain argsort then decides by the last bit of the distances, which depends on the CPU's vector
    kernels (AVX2 or AVX-512), so two machines picked different tiles.
    """
    free = torch.ones_like(distances, dtype=torch.bool)
    free[used] = False
    best = distances[free].min()
    return int(torch.nonzero(free & (distances <= best + rtol * best.abs()))[0])


def zero_last_layer(model: nn.Module) -> nn.Module:
    """Zero the last convolution of a residual backbone so that it starts at its global skip (EXP)."""
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        convs[-1].weight.zero_()
        if convs[-1].bias is not None:
            convs[-1].bias.zero_()
    return model


class AdaptationJob(Job):
    """Target adaptation on the engine: one full batch of selected tiles, JESSE on the clipped output, the
    weights of the best loss kept (snapshot before each update)."""

    kind, step_key, desc = "adapted", "epoch", "target adaptation"

    def __init__(self, model: nn.Module, loss: JesseLoss, batch: dict[str, torch.Tensor]):
        super().__init__()
        self.model, self.jesse, self.tiles = model, loss, batch
        self.best, self.best_state = float("inf"), copy.deepcopy(model.state_dict())

    def trained(self) -> nn.Module:
        return self.model

    def batch(self, engine) -> dict[str, torch.Tensor]:
        return self.tiles

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        # JESSE sees the output the user gets: clipped to the physical range [0, full scale]
        # (inputs are divided by the full scale), as :func:`clippan_kit.infer.fuse_scene` returns it.
        value = self.jesse(self.model(batch["ms_up"], batch["pan"], batch["ms_lr"]).clamp(0.0, 1.0), batch)
        v = float(value.detach())
        if v < self.best:  # keep the weights that produced the best loss (snapshot before the update)
            self.best, self.best_state = v, {k: t.detach().clone() for k, t in self.model.state_dict().items()}
        return value, {"total": v, **self.jesse.last_parts}


def adapt(model: nn.Module, scene: Scene, *, epochs: int = 100, n_tiles: int = 8, tile: int = 128,
          lr: float | None = None, weight_decay: float = 0.0, alpha: float | None = None, beta: float | None = None,
          gamma: float | None = None, device: str | None = None, progress: bool | Callable[[float, str], None] = True,
          data: SceneTiles | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """Fine-tune ``model`` on ``scene`` with JESSE (one full-batch Adam step per epoch, best weights kept).

    Args:
        model: backbone ``model(ms_up, pan, ms_lr)``; trained (has ``checkpoint_meta``) or fresh.
        epochs: Adam steps, each on all ``n_tiles`` selected ``tile``-sized tiles (8 x 128² by default:
            131k PAN pixels per step, 0.3-0.5 s on 2 CPU cores for the small λ-PNN).
        lr: None: :data:`ADAPT_LR` ("pretrained" when the model comes from a checkpoint, else "scratch").
        alpha, beta, gamma: JESSE weights (None: the sensor's defaults, or its
            :data:`ADAPT_JESSE` override where one exists).
        progress: a tqdm bar (True/False) or ``callback(fraction, message)``.
        data: the scene's :class:`SceneTiles` with the JESSE constants attached (built when None).

    Runs on the one training engine (:mod:`clippan_kit.engine`) in float32 (no mixed precision: the
    JESSE terms are ratios of small differences) and in one process.

    Returns the adapted model (eval mode) and a report: chosen tiles, co-registration shifts, loss history
    (one row per epoch: total, JESSE terms, lr, seconds), learning rate, seconds (``preprocessing_s``:
    expansion, co-registration, threshold, tile selection).
    """
    dev = select_device(device)
    t0 = time.perf_counter()
    data = data or _scene_tiles(scene)
    batch, chosen = select_tiles(scene, n_tiles, tile, data=data)
    batch = {k: v.to(dev) for k, v in batch.items()}
    prep = time.perf_counter() - t0
    pretrained = hasattr(model, "checkpoint_meta")
    if lr is None:
        lr = ADAPT_LR["pretrained" if pretrained else "scratch"]
    override = ADAPT_JESSE.get(scene.sensor.name, {})
    alpha = override.get("alpha") if alpha is None else alpha
    beta = override.get("beta") if beta is None else beta
    gamma = override.get("gamma") if gamma is None else gamma
    loss = JesseLoss(scene.sensor, alpha, beta, gamma)
    model = model.to(dev).train()
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    job = AdaptationJob(model, loss, batch)
    result = Engine(job, opt, steps=epochs, device=dev, amp=False, lr=lr, progress=progress, distributed=False).fit()
    model.load_state_dict(job.best_state)
    report = {"tiles": chosen, "shifts": batch["shifts"][0].tolist(), "history": result.history, "best_loss": job.best,
              "alpha": loss.alpha, "beta": loss.beta, "gamma": loss.gamma, "lr": lr, "preprocessing_s": prep,
              "adaptation_s": time.perf_counter() - t0 - prep}
    return model.eval(), report


def pretrained_path(sensor, backbone: str = "lambda_pnn", size: str = "small"):
    """Where ``clippan train --mode jesse --preset pretrain`` caches a backbone for a sensor (may not exist)."""
    from ..config import cache_dir
    from ..sensors import get_sensor

    return cache_dir() / "pretrained" / f"{backbone}-{size}-{get_sensor(sensor).name}-jesse.pt"


def lambda_pnn_pipeline(scene: Scene, checkpoint=None, *, epochs: int | None = None, n_tiles: int = 8,
                        tile: int = 128, lr: float | None = None, device: str | None = None, progress: bool = False,
                        backbone: str = "lambda_pnn", size: str = "small", use_cache: bool = True,
                        seed: int = 0, alpha: float | None = None, beta: float | None = None,
                        gamma: float | None = None, save_adapted: str | Path | None = None
                        ) -> tuple[np.ndarray, dict[str, Any]]:
    """λ-PNN on a scene: (trained checkpoint or fresh backbone) + target adaptation + tiled inference.

    Args:
        checkpoint: a trained checkpoint; None takes the cached pretrained one (:func:`pretrained_path`,
            made by ``clippan train --backbone lambda_pnn --mode jesse --preset pretrain``) when
            ``use_cache`` and it exists, else a fresh backbone (last layer zeroed: starts at EXP).
        epochs: adaptation steps; None: :data:`ADAPT_EPOCHS` (300 from scratch, 100 from a checkpoint).
        save_adapted: where to keep the adapted network (a checkpoint of kind ``"adapted"``, written
            atomically before inference), so that minutes of adaptation are not lost: ``clippan fuse
            --method lambda-pnn --checkpoint F --epochs 0`` applies it again, and it can start the adaptation
            to a neighbouring scene of the same sensor.

    Returns the fused image (B, H, W) float32 in scene units, in [0, full scale], and a report with timings
    (preprocessing including co-registration, adaptation, inference, total) and ``weights``: where the
    weights came from, or, when no pretrained network is cached, the message saying so and the one command
    that makes one (also logged at INFO level).
    """
    from ..infer import fuse_scene
    from ..models import create_model
    from ..checkpoints import load_trained_model

    t_start = time.perf_counter()
    cached = pretrained_path(scene.sensor, backbone, size)
    weights = None
    if checkpoint is None and use_cache and cached.exists():
        checkpoint = cached
    elif checkpoint is None:
        weights = (f"no pretrained {backbone} ({size}) for {scene.sensor.long_name} in {cached}: adapting from "
                   f"scratch ({ADAPT_EPOCHS['scratch'] if epochs is None else epochs} epochs). To adapt a pretrained "
                   f"network instead ({ADAPT_EPOCHS['pretrained']} epochs), make one once per sensor with "
                   f"`clippan train --scene SCENE.mat --backbone {backbone} --mode jesse --preset pretrain`")
        logging.getLogger(__name__).info(weights)
    if checkpoint is not None:
        model = load_trained_model(checkpoint, scene=scene)
    else:
        torch.manual_seed(seed)
        model = zero_last_layer(create_model(backbone, scene.n_bands, scene.ratio, size=size))
    if epochs is None:
        epochs = ADAPT_EPOCHS["pretrained" if checkpoint is not None else "scratch"]
    model, report = adapt(model, scene, epochs=epochs, n_tiles=n_tiles, tile=tile, lr=lr, device=device,
                          progress=progress, alpha=alpha, beta=beta, gamma=gamma)
    if save_adapted is not None:
        report["saved"] = str(_save_adapted(save_adapted, model, scene, report, backbone, size, checkpoint, epochs))
    t = time.perf_counter()
    denormals = torch.set_flush_denormal(True)
    try:
        fused = fuse_scene(model, scene, device=device, progress=progress)
    finally:
        if denormals:
            torch.set_flush_denormal(False)
    report.update(inference_s=time.perf_counter() - t, total_s=time.perf_counter() - t_start,
                  checkpoint=str(checkpoint) if checkpoint is not None else None, epochs=epochs,
                  weights=weights or f"adapted from {checkpoint}")
    return fused, report


def _save_adapted(path: str | Path, model: nn.Module, scene: Scene, report: dict[str, Any], backbone: str,
                  size: str, start: str | Path | None, epochs: int) -> Path:
    """Write the adapted network with the one checkpoint format (kind ``"adapted"``); returns the path.

    The metadata are the starting checkpoint's (backbone, size, options, bands, normalisation) when there
    is one, plus what the adaptation did: the scene, epochs, JESSE weights, learning rate, best loss.
    """
    from .. import __version__
    from ..checkpoints import save_backbone

    base = dict(getattr(model, "checkpoint_meta", None) or {})
    meta = {**base, "kind": "adapted", "backbone": base.get("backbone", backbone), "size": base.get("size", size),
            "model_options": base.get("model_options", {}), "n_bands": scene.n_bands,
            "bands": list(scene.sensor.bands), "ratio": scene.ratio, "sensor": scene.sensor.name,
            "normalisation": "inputs and outputs divided by the scene's max_value",
            "max_value": float(scene.max_value), "mode": "jesse-adaptation", "scenes": [scene.name],
            "adaptation": {"epochs": epochs, "lr": report["lr"], "alpha": report["alpha"], "beta": report["beta"],
                           "gamma": report["gamma"], "best_loss": report["best_loss"], "shifts": report["shifts"],
                           "tiles": report["tiles"]},
            "init": str(start) if start is not None else None, "clippan_kit": __version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
    return save_backbone(path, model, meta, iteration=epochs)
