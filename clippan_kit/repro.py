"""Reproducible numerics for notebooks and tests: one call fixes seeds and the CPU thread count.

Why the thread count: a CPU matmul, convolution or sum splits its reduction over the intra-op
threads, so 1, 2 or 16 threads add the same numbers in different orders and differ in the last
bits. A few dozen optimiser steps (e.g. the 40-step Stage I run of notebooks 3-4) amplify those
bits into the second decimal of a printed cosine. PyTorch's default is "one thread per core", so
the same code gave different numbers on machines with different core counts. Fixing the count
(default 2; ``CLIPPAN_THREADS`` overrides) makes a run repeat bit for bit on one machine and across
machines of one CPU type; across CPU types (AVX2 vs AVX-512 kernels of MKL/oneDNN) the last bits
may still move, which is why notebooks check trained numbers by assertions with tolerances.
"""
from __future__ import annotations

import os
import random

import numpy as np
import torch

__all__ = ["reproducible", "seed_everything", "DEFAULT_THREADS"]

DEFAULT_THREADS = 2


def seed_everything(seed: int) -> np.random.Generator:
    """Seed torch (model initialisation, CPU and CUDA) and return a numpy generator for batch draws:
    the seeding of every training run (:mod:`clippan_kit.engine`)."""
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


def reproducible(seed: int = 0, threads: int | None = None) -> int:
    """Seed Python, numpy's global generator and torch (CPU and CUDA); pin torch's intra-op threads.

    Args:
        seed: seed for every generator.
        threads: intra-op thread count; None reads ``CLIPPAN_THREADS`` (default 2).

    Returns:
        the thread count in use.
    """
    threads = int(threads or os.environ.get("CLIPPAN_THREADS", DEFAULT_THREADS))
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    torch.set_num_threads(threads)
    # CUDA: no autotuned (timing-dependent) kernel choice, deterministic cuDNN convolutions.
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    return threads
