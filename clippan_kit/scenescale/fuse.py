"""``fuse_blockwise``: a whole scene, bigger than memory, fused block by block into a GeoTIFF/COG.

Passes (each a map over the same ratio-aligned blocks, in this process or on a Dask cluster):

1. nodata scan (only when a file may hold nodata: float data or a nodata value): the fill values
   of :meth:`Scene.filled` (:class:`~clippan_kit.scenescale.blocks.FillValues`);
2. global statistics of the method, when it has any (:mod:`clippan_kit.scenescale.methods`);
3. fusion: each block is computed from its core plus the halo its filters need and written to
   its window of the output; nodata pixels get the output's nodata value.

Peak memory is a few blocks per worker plus the in-flight blocks of the client (see
:mod:`clippan_kit.scenescale.engine`), independent of the scene size.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..sensors import Sensor
from .blocks import BlockReader, FillValues, Window, block_grid, combine_fill, fill_partial
from .engine import Executor, executor
from .lazy import LazyPair, open_pair
from .methods import BlockMethod, block_method
from .writer import open_writer

__all__ = ["fuse_blockwise", "DEFAULT_BLOCK", "AUTO_BLOCKWISE_PIXELS", "needs_blockwise", "resolve_method", "prepare_reader"]

DEFAULT_BLOCK = 1024  # PAN pixels; a multiple of 32 * ratio for ratios 2, 4, 8 (block metrics exact) and of the tiles
# Above this many PAN pixels the in-memory path needs more than ~3 GiB for MTF-GLP-HPM-R on 4 bands
# (5.4 GiB at 4096², benchmarks/results/scenescale.md): the CLI switches to block-wise fusion.
AUTO_BLOCKWISE_PIXELS = 3072 * 3072


def needs_blockwise(pan_path: str | Path, threshold: int = AUTO_BLOCKWISE_PIXELS) -> bool:
    """True when the PAN file has more than ``threshold`` pixels (read from its header only)."""
    from ..io.geotiff import raster_info

    _, rows, cols = raster_info(pan_path).shape
    return rows * cols > threshold


@dataclass
class _Ctx:
    """What every block task needs (scattered once to each worker)."""

    reader: BlockReader
    method: BlockMethod
    stats: Any = None


def _fill_task(pair: LazyPair, win: Window):
    return fill_partial(pair, win)


def _stats_task(ctx: _Ctx, win: Window):
    return ctx.method.stats(ctx.reader, win)


def _apply_task(ctx: _Ctx, win: Window):
    block = ctx.method.apply(ctx.reader, win, ctx.stats).astype(np.float32)
    # The physical range, as classical.fuse and infer.fuse_scene clip their whole-scene output.
    np.clip(block, 0.0, float(ctx.reader.pair.max_value), out=block)
    return block, ctx.reader.valid(win)


def resolve_method(method, pair: LazyPair, checkpoint: str | Path | None = None, *, halo: int | None = None,
                   device: str = "cpu") -> BlockMethod:
    """A :class:`BlockMethod` for a classical method name, an ``nn.Module`` backbone, or a backbone
    name plus a trained ``checkpoint`` (loaded with :func:`clippan_kit.train.load_trained_model`)."""
    import torch.nn as nn

    from ..classical import METHODS
    from .backbone import Backbone

    if isinstance(method, BlockMethod):
        return method
    if isinstance(method, nn.Module):
        return Backbone(method, halo=halo, device=device)
    key = str(method).strip().lower().replace("_", "-")
    if key in METHODS:
        if checkpoint is not None:
            raise ValueError(f"checkpoint is for trained backbones; {method!r} is a classical method")
        return block_method(key)
    if checkpoint is None:
        raise ValueError(f"method {method!r} is not a classical method ({', '.join(METHODS)}); "
                         "for a backbone pass checkpoint=CKPT (from 'clippan train') or the model itself")
    from ..train import load_trained_model

    model = load_trained_model(checkpoint, n_bands=pair.n_bands)
    if model.checkpoint_meta.get("ratio", pair.ratio) != pair.ratio:
        raise ValueError(f"checkpoint {checkpoint} was trained at ratio {model.checkpoint_meta['ratio']}, "
                         f"the scene's ratio is {pair.ratio}")
    return Backbone(model, halo=halo, device=device)


def _blocks(pair: LazyPair, chunks: int | None) -> list[Window]:
    r = pair.ratio
    block = int(chunks or DEFAULT_BLOCK)
    block = max(r, block // r * r)
    return block_grid(pair.shape, block)


def ordered(results, windows: list[Window]) -> list:
    """Block results in grid order, whatever order a cluster returned them in: merged statistics
    then round identically in every run, so distributed output equals the single-process one bit for bit."""
    got = dict(results)
    return [got[w] for w in windows]


def prepare_reader(pair: LazyPair, windows: list[Window], ex: Executor, progress: bool) -> BlockReader:
    """A :class:`BlockReader` for the pair, with fill values from a nodata pass when one is needed."""
    fill: FillValues | None = None
    if pair.may_have_nodata:
        fill = combine_fill(ordered(ex.map(_fill_task, pair, windows, desc="nodata scan", progress=progress), windows))
    return BlockReader(pair, fill)


def fuse_blockwise(
    ms_path: str | Path | LazyPair,
    pan_path: str | Path | None = None,
    method: Any = "exp",
    out_path: str | Path | None = None,
    *,
    sensor: str | Sensor | None = None,
    bands: Sequence[str | int] | None = None,
    chunks: int | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    checkpoint: str | Path | None = None,
    progress: bool = True,
    cog: bool = False,
    dtype: str | None = None,
    halo: int | None = None,
    max_value: float | None = None,
) -> Path:
    """Pansharpen a GeoTIFF PAN + MS pair block by block into a tiled, compressed GeoTIFF (or COG).

    Equal, to float rounding and including the block seams, to ``classical.fuse`` (classical
    methods) or to the untiled model output (convolutional backbones; see
    :mod:`clippan_kit.scenescale.backbone`) on the same pair, with memory bounded by the block size.

    Args:
        ms_path, pan_path: the MS and PAN GeoTIFF/COG (aligned through their geotransforms, as
            :func:`clippan_kit.io.load_geotiff_pair`), or an opened :class:`LazyPair` as ``ms_path``.
        method: a classical method name (``exp``, ``bdsd``, ``mtf-glp-hpm-r``, ``gs``, ``gsa``,
            ``brovey``), a backbone ``nn.Module``, or a backbone name with ``checkpoint``.
        out_path: output ``.tif``; its folder must exist; replaced atomically.
        sensor, bands, max_value: as :func:`clippan_kit.io.load_geotiff_pair`.
        chunks: block side in PAN pixels (rounded down to the ratio; default 1024, 768 for backbones).
        workers: run blocks on a local Dask cluster of that many worker processes.
        scheduler: address of an existing Dask scheduler (``tcp://host:8786``) to run blocks on.
        progress: tqdm bars over the blocks of each pass.
        cog: write a Cloud-Optimised GeoTIFF (with overviews) instead of a plain tiled GeoTIFF.
        dtype: output dtype (default float32; integer types round and clip).
        halo: context for backbones, PAN pixels (default from the model's receptive field).

    Returns:
        The path written.
    """
    if out_path is None:
        raise ValueError("out_path is required")
    pair = ms_path if isinstance(ms_path, LazyPair) else open_pair(pan_path, ms_path, sensor, bands=bands,
                                                                      max_value=max_value)
    out_path = Path(out_path)
    bm = resolve_method(method, pair, checkpoint, halo=halo)
    windows = _blocks(pair, chunks or bm.block)
    with executor(workers, scheduler) as ex:
        reader = prepare_reader(pair, windows, ex, progress)
        ctx = _Ctx(reader, bm)
        if bm.needs_stats:
            parts = ex.map(_stats_task, ctx, windows, desc=f"{bm.name} statistics", progress=progress)
            ctx.stats = bm.combine(ordered(parts, windows))
        with open_writer(out_path, pair, dtype=dtype, cog=cog) as out:
            for win, (block, valid) in ex.map(_apply_task, ctx, windows, desc=f"fusing ({bm.name})", progress=progress):
                out.write(win, block, valid)
    return out_path
