"""The one training engine (Stage I, Stage II, the SHIP teacher, λ-PNN target adaptation).

``loop.py``: :class:`Engine` (device, AMP, optimiser step, progress, CSV/JSON logs, checkpoints, resume) and
the :class:`Job` a stage supplies (model, batches, loss of a batch, checkpoint contents);
``distributed.py``: multi-process runs under ``torchrun`` (DDP, per-rank batch shares, rank-0 files).
The checkpoint format itself is :mod:`clippan_kit.checkpoints`.
"""
from .distributed import Dist, is_main_process, setup_distributed, world_from_env
from .loop import CsvLog, Engine, Job, TrainResult, amp_dtype

__all__ = ["Engine", "Job", "TrainResult", "CsvLog", "amp_dtype", "Dist", "setup_distributed", "world_from_env",
           "is_main_process"]
