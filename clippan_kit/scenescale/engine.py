"""Run block tasks in this process or on a Dask cluster, results streamed back in bounded memory.

Design: workers compute blocks and return them to the client, which alone writes the output file.
A (Geo)TIFF cannot be written by several processes at once (tiles and their offsets live in one
IFD), and a per-worker file plus a merge would write every pixel twice; returning blocks costs one
block-sized message each. Peak memory stays bounded because at most ``in_flight`` blocks are
submitted and not yet written (``2 x workers`` by default) — the client never holds the scene.
"""
from __future__ import annotations

import contextlib
import itertools
from typing import Any, Callable, Iterable, Iterator

from tqdm.auto import tqdm

__all__ = ["Executor", "executor"]


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
                    yield it, fn(ctx, it)
                    bar.update(1)
                return
            from distributed import as_completed

            ctx_f = self.client.scatter(ctx, broadcast=True, hash=False)
            todo = iter(items)
            pending = {}

            def submit(it):
                fut = self.client.submit(fn, ctx_f, it, pure=False)
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
    if workers is None and scheduler is None:
        yield Executor(None, in_flight)
        return
    from distributed import Client, LocalCluster

    with contextlib.ExitStack() as stack:
        if scheduler is not None:
            client = stack.enter_context(Client(scheduler))
        else:
            cluster = stack.enter_context(LocalCluster(n_workers=int(workers), threads_per_worker=threads_per_worker,
                                                       processes=True, dashboard_address=":0"))
            client = stack.enter_context(Client(cluster))
            client.run(_init_worker, threads_per_worker)  # our workers only: an existing cluster keeps its settings
        yield Executor(client, in_flight)
