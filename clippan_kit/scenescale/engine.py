"""Run block tasks in this process or on a Dask cluster, results streamed back in bounded memory.

Design: workers compute blocks and return them to the client, which alone writes the output file.
A (Geo)TIFF cannot be written by several processes at once (tiles and their offsets live in one
IFD), and a per-worker file plus a merge would write every pixel twice; returning blocks costs one
block-sized message each. Peak memory stays bounded because at most ``in_flight`` blocks are
submitted and not yet written (``2 x workers`` by default) — the client never holds the scene.

Per-process memory (measured in ``benchmarks/results/scenescale.md``): every block task runs under
:func:`block_task_env`, which caps GDAL's raster block cache at :data:`GDAL_CACHE_MB` (GDAL's default,
5% of RAM, or a user's ``GDAL_CACHEMAX``, is a per-process cache that fills with every decompressed
tile a process ever read, so it grew with the scene: a block is read once, plus its halo) and
returns freed heap pages to the OS after each block (``malloc_trim``). Local workers are started
*without* Dask's default ``MALLOC_TRIM_THRESHOLD_=65536``: that setting also pins glibc's mmap
threshold at 128 KiB, so every temporary array of a block is a fresh ``mmap`` whose pages fault in
zeroed, which made a block cost 1.5-2x the CPU time of the same block in the client process; one
trim per block gives the memory back at a negligible cost.
"""
from __future__ import annotations

import contextlib
import ctypes
import itertools
from typing import Any, Callable, Iterable, Iterator

from tqdm.auto import tqdm

__all__ = ["Executor", "executor", "block_task", "gdal_cache", "GDAL_CACHE_MB"]


GDAL_CACHE_MB = 64  # per process; a 1024² block of a 256-tiled uint16 PAN plus halo spans ~5 MB of tiles


@contextlib.contextmanager
def gdal_cache(mb: int = GDAL_CACHE_MB) -> Iterator[None]:
    """Cap GDAL's raster block cache (a process-wide setting) while block reads and writes run."""
    import rasterio

    with rasterio.Env(GDAL_CACHEMAX=int(mb)):
        yield


def release_heap() -> None:
    """Return freed heap pages to the OS (glibc ``malloc_trim``; a no-op elsewhere)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def block_task(fn: Callable[[Any, Any], Any], ctx: Any, item: Any) -> Any:
    """``fn(ctx, item)`` with the block cache capped, then the block's freed memory returned."""
    try:
        with gdal_cache():
            return fn(ctx, item)
    finally:
        release_heap()


def _init_worker(threads: int) -> None:
    """Pin torch's intra-op threads: with one worker per core, more would oversubscribe."""
    import torch

    torch.set_num_threads(max(1, int(threads)))


class Executor:
    """Maps ``fn(ctx, item)`` over items, in-process (``client=None``) or on a ``distributed.Client``."""

    def __init__(self, client=None, in_flight: int | None = None):
        self.client = client
        n = len(client.scheduler_info()["workers"]) if client is not None else 1
        self.in_flight = in_flight or max(2, 2 * n)

    def map(self, fn: Callable[[Any, Any], Any], ctx: Any, items: Iterable, *, desc: str = "",
            progress: bool = True) -> Iterator[tuple[Any, Any]]:
        """Yield ``(item, fn(ctx, item))``; on a cluster in completion order, at most ``in_flight`` pending."""
        items = list(items)
        bar = tqdm(total=len(items), desc=desc, unit="block", disable=not progress)
        try:
            if self.client is None:
                for it in items:
                    yield it, block_task(fn, ctx, it)
                    bar.update(1)
                return
            from distributed import as_completed

            ctx_f = self.client.scatter(ctx, broadcast=True, hash=False)
            todo = iter(items)
            pending = {}

            def submit(it):
                fut = self.client.submit(block_task, fn, ctx_f, it, pure=False)
                pending[fut.key] = it
                return fut

            queue = as_completed([submit(it) for it in itertools.islice(todo, self.in_flight)])
            for fut in queue:
                it = pending.pop(fut.key)
                result = fut.result()
                fut.release()
                nxt = next(todo, None)
                if nxt is not None:
                    queue.add(submit(nxt))
                yield it, result
                bar.update(1)
        finally:
            bar.close()


@contextlib.contextmanager
def executor(workers: int | None = None, scheduler: str | None = None, *, threads_per_worker: int = 1,
             in_flight: int | None = None) -> Iterator[Executor]:
    """An :class:`Executor`: in-process when neither is given; ``workers=N`` starts a local Dask
    cluster of N single-threaded worker processes (closed on exit); ``scheduler=ADDRESS`` connects
    to an existing cluster (``tcp://host:8786``), left running."""
    with contextlib.ExitStack() as stack:
        stack.enter_context(gdal_cache())  # the client's own reads and the output writer
        if workers is None and scheduler is None:
            yield Executor(None, in_flight)
            return
        import dask
        from distributed import Client, LocalCluster

        if scheduler is not None:
            client = stack.enter_context(Client(scheduler))
        else:
            # None unsets Dask's MALLOC_TRIM_THRESHOLD_ for the spawned workers (see the module docstring);
            # a value the user exported in the environment still wins.
            with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
                cluster = stack.enter_context(LocalCluster(n_workers=int(workers), threads_per_worker=threads_per_worker,
                                                           processes=True, dashboard_address=":0"))
            client = stack.enter_context(Client(cluster))
            client.run(_init_worker, threads_per_worker)  # our workers only: an existing cluster keeps its settings
        yield Executor(client, in_flight)
