"""Multi-process training through ``torchrun``: process group, per-rank share of each batch, DDP wrapping.

``torchrun --nproc_per_node N -m clippan_kit train ...`` (or ``train-supervisor``) starts N processes with
``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` set; the engine reads them,
so no flag is needed. Backend ``nccl`` when the device is CUDA (rank r on ``cuda:LOCAL_RANK``,
:func:`clippan_kit.devices.select_device`), ``gloo`` on CPU.

How N processes reproduce one process with the same global batch B (B a multiple of N):

* every rank holds the same seeded generator, so every rank draws the same global tile order; rank r
  cuts only its share, tiles ``[r B/N, (r+1) B/N)`` (:meth:`Dist.share`);
* DistributedDataParallel averages the gradients, which for a loss that is a mean over tiles (every
  Stage II loss) is the gradient of the global-batch loss;
* a loss that compares tiles with each other (Stage I's contrastive terms) sees the features of the
  whole global batch through :meth:`Dist.gather`, a differentiable all-gather (as open_clip's
  ``gather_with_grad``), so each rank computes the global loss;
* logged loss values are averaged over ranks; only rank 0 writes checkpoints, logs and progress bars;
* DDP runs with ``static_graph=True``: every job uses the same parameters at every step, and a parameter
  that a loss configuration never touches needs no ``find_unused_parameters`` traversal.

BatchNorm: no backbone or supervisor part of clippan-kit has one (LayerNorm, InstanceNorm: per-tile
statistics, exact under any split). A user model with BatchNorm gets SyncBatchNorm on CUDA (statistics
of the global batch, as one process); SyncBatchNorm has no CPU kernel, so on CPU each rank normalises
with its own share's statistics and a warning says so.
"""
from __future__ import annotations

import atexit
import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn as nn

__all__ = ["Dist", "setup_distributed", "world_from_env", "is_main_process"]

log = logging.getLogger("clippan_kit.engine")


def world_from_env() -> tuple[int, int]:
    """(rank, world size) from torchrun's environment variables; (0, 1) outside torchrun."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def is_main_process() -> bool:
    """True outside torchrun and on rank 0: the process that prints, logs and writes files."""
    return world_from_env()[0] == 0


class _Gather(torch.autograd.Function):
    """All-gather along dim 0 whose backward sums every rank's gradient and returns this rank's slice."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        ctx.n = x.shape[0]
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.contiguous())
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad)
        r = dist.get_rank()
        return grad[r * ctx.n:(r + 1) * ctx.n]


@dataclass
class Dist:
    """This process's place in a multi-process run (rank 0 of 1 when not under torchrun)."""

    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def active(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def share(self, n: int) -> slice:
        """This rank's items of a global batch of ``n`` (``n`` a multiple of the world size)."""
        if n % self.world:
            raise ValueError(f"the batch size {n} must be a multiple of the number of processes {self.world}")
        k = n // self.world
        return slice(self.rank * k, (self.rank + 1) * k)

    def gather(self, x: torch.Tensor) -> torch.Tensor:
        """(world * n, ...) every rank's ``x`` (n, ...) in rank order, gradients flowing back to each rank."""
        return _Gather.apply(x) if self.active else x

    def mean(self, logs: dict[str, float]) -> dict[str, float]:
        """``logs`` averaged over the ranks (unchanged in one process)."""
        if not self.active or not logs:
            return logs
        v = torch.tensor(list(logs.values()), dtype=torch.float64, device=self.device)
        dist.all_reduce(v)
        return dict(zip(logs, (v / self.world).tolist()))

    def wrap(self, module: nn.Module) -> nn.Module:
        """``module`` in DistributedDataParallel (BatchNorm -> SyncBatchNorm on CUDA); as is in one process."""
        if not self.active:
            return module
        has_bn = any(isinstance(m, nn.modules.batchnorm._BatchNorm) and any(p.requires_grad for p in m.parameters())
                     for m in module.modules())
        if has_bn and self.device.type == "cuda":
            module = nn.SyncBatchNorm.convert_sync_batchnorm(module)
        elif has_bn:
            log.warning("BatchNorm on CPU: each of the %d processes normalises with its own share's statistics "
                        "(SyncBatchNorm needs CUDA); the run differs from one process", self.world)
        ids = [self.device.index] if self.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(module, device_ids=ids, static_graph=True)

    def barrier(self) -> None:
        if self.active:
            dist.barrier()

    def close(self) -> None:
        """End of a run: wait until every rank is done (rank 0's files are then complete). The process group
        stays for the process's lifetime (destroyed at exit): re-creating it under torchrun's store reuses the
        first group's rendezvous keys and can hang."""
        self.barrier()


def setup_distributed(device: torch.device, enabled: bool = True) -> Dist:
    """The :class:`Dist` of this process: joins (or starts) torchrun's process group when ``WORLD_SIZE`` > 1."""
    rank, world = world_from_env()
    if not enabled or world <= 1:
        return Dist(device=device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", init_method="env://",
                                rank=rank, world_size=world)
        atexit.register(_destroy)
    return Dist(dist.get_rank(), dist.get_world_size(), device)


def _destroy() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
