"""λ-PNN fast target adaptation (Ciotola, Poggi, Scarpa, IEEE TGRS 2023, Sec. III-D): fine-tune a trained
backbone with JESSE on a few representative tiles of the scene to be fused, then fuse the whole scene.

Tile selection: the scene is cut into non-overlapping tiles; each tile gets a feature vector, features
are reduced to 3 principal components and clustered with k-means (k = number of tiles wanted); the
tile nearest to each centroid is kept. The authors use ImageNet MobileNet-V3 features, which need a
download; ours are computed from the data alone, so nothing is fetched at run time: per-band mean and
standard deviation of the expanded MS, PAN mean, standard deviation and gradient energy, and the
PAN-to-band correlation (land cover, contrast, texture and spectral-spatial coupling of the tile).
"""
from __future__ import annotations

import copy
import time
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from ..losses import JesseLoss, jesse_defaults, jesse_extras
from ..losses import _cores
from ..scene import Scene
from .data import SceneTiles
from .trainer import select_device

__all__ = ["tile_features", "kmeans", "select_tiles", "adapt", "lambda_pnn_pipeline"]


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


def select_tiles(scene: Scene, n_tiles: int = 16, tile: int = 256) -> tuple[dict[str, torch.Tensor], list[int]]:
    """The ``n_tiles`` most representative ``tile``-sized tiles of a scene (all tiles when there are fewer)."""
    tile = min(tile, *scene.shape) // scene.ratio * scene.ratio
    grid = SceneTiles([scene], tile=tile).grid(tile)
    T = grid["pan"].shape[0]
    if T <= n_tiles:
        return grid, list(range(T))
    f = tile_features(grid)
    _, _, v = torch.pca_lowrank(f, q=min(3, f.shape[1]), center=True)
    z = (f - f.mean(0)) @ v[:, :3]
    _, centers = kmeans(z, n_tiles)
    d = torch.cdist(centers, z)
    chosen: list[int] = []
    for j in range(n_tiles):  # nearest unused tile to each centroid
        order = d[j].argsort()
        chosen.append(int(next(i for i in order.tolist() if i not in chosen)))
    return {k: v[chosen] for k, v in grid.items()}, chosen


def adapt(model: nn.Module, scene: Scene, *, epochs: int = 100, n_tiles: int = 16, tile: int = 256,
          lr: float | None = None, weight_decay: float = 1e-4, alpha: float | None = None, beta: float | None = None,
          gamma: float | None = None, device: str | None = None, progress: bool = True) -> tuple[nn.Module, dict[str, Any]]:
    """Fine-tune ``model`` on ``scene`` with JESSE (one full-batch Adam step per epoch, best weights kept).

    Returns the adapted model (eval mode) and a report: chosen tiles, co-registration phases, loss history, seconds.
    """
    from tqdm.auto import tqdm

    dev = select_device(device)
    t0 = time.perf_counter()
    batch, chosen = select_tiles(scene, n_tiles, tile)
    full = SceneTiles([scene], tile=min(scene.shape) // scene.ratio * scene.ratio)
    c = full.center(512)
    phases = _cores.coregistration_phases(c["ms_lr"], c["pan"], scene.sensor)
    batch = {k: v.to(dev) for k, v in batch.items()}
    batch["phases"] = phases.to(dev).expand(batch["pan"].shape[0], -1, -1)
    batch["rho_threshold"] = jesse_extras(batch, scene.sensor, phases=False)["rho_threshold"]
    prep = time.perf_counter() - t0
    loss = JesseLoss(scene.sensor, alpha, beta, gamma)
    model = model.to(dev).train()
    opt = torch.optim.Adam(model.parameters(), lr=lr or jesse_defaults(scene.sensor)["lr"], weight_decay=weight_decay)
    best, best_state, history = float("inf"), copy.deepcopy(model.state_dict()), []
    for _ in tqdm(range(epochs), disable=not progress, desc="target adaptation"):
        opt.zero_grad(set_to_none=True)
        value = loss(model(batch["ms_up"], batch["pan"], batch["ms_lr"]), batch)
        v = float(value.detach())
        history.append({"total": v, **loss.last_parts})
        if v < best:  # keep the weights that produced the best loss (snapshot before the update)
            best, best_state = v, {k: t.detach().clone() for k, t in model.state_dict().items()}
        value.backward()
        opt.step()
    model.load_state_dict(best_state)
    report = {"tiles": chosen, "phases": phases[0].tolist(), "history": history, "best_loss": best,
              "preprocessing_s": prep, "adaptation_s": time.perf_counter() - t0 - prep}
    return model.eval(), report


def lambda_pnn_pipeline(scene: Scene, checkpoint=None, *, epochs: int = 100, n_tiles: int = 16, tile: int = 256,
                        device: str | None = None, progress: bool = False, backbone: str = "lambda_pnn",
                        size: str = "base") -> tuple[np.ndarray, dict[str, Any]]:
    """λ-PNN on a scene: (trained checkpoint or fresh backbone) + target adaptation + tiled inference.

    Returns the fused image (B, H, W) float32 in scene units and timings (preprocessing, adaptation, inference).
    """
    from ..infer import fuse_scene
    from ..models import create_model
    from .checkpoints import load_trained_model

    model = (load_trained_model(checkpoint, scene=scene) if checkpoint is not None
             else create_model(backbone, scene.n_bands, scene.ratio, size=size))
    model, report = adapt(model, scene, epochs=epochs, n_tiles=n_tiles, tile=tile, device=device, progress=progress)
    t = time.perf_counter()
    fused = fuse_scene(model, scene, device=device, progress=progress)
    report["inference_s"] = time.perf_counter() - t
    return fused, report
