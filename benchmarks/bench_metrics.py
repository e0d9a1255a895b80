"""Time and peak memory of the full-resolution metrics on the 1280² WorldView-2 scene, fused = EXP.

Usage: CLIPPAN_DATA=/work/shared/data .venv/bin/python benchmarks/bench_metrics.py [--repeat 2]
Peak memory is the process's peak RSS growth during each call (ru_maxrss is monotone: a metric that
needs less than an earlier one shows 0). Torch uses ``torch.get_num_threads()`` threads.
"""
from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import scipy.io as sio
import torch

from clippan_kit import Scene, config, get_sensor
from clippan_kit.metrics import (d_lambda, d_lambda_k, d_rho, d_s, full_resolution_metrics, hqnr, qnr,
                                 reprojected_metrics)
from clippan_kit.wald import interp23tap


# Seconds the public Python ports need for the same computation on a 2-core machine
# (shared/reference_values.md): the target is the whole suite ten times faster, under 4 s.
PUBLIC_PORTS_SECONDS = {"D_lambda": 11.9, "D_s": 1.4, "D_lambda_K": 16.5, "D_rho": 2.4, "R-metrics": 8.7, "whole suite": 40.0}


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    root = config.data_dir()
    if root is None:
        raise SystemExit(config.DATA_HELP)
    d = sio.loadmat(root / "pnn_grip_unina" / "imgWV2.mat")
    scene = Scene(pan=d["I_PAN"].astype(np.float32), ms=d["I_MS"].transpose(2, 0, 1).astype(np.float32),
                  sensor=get_sensor("wv2"))
    exp = interp23tap(scene.ms.astype(np.float64), scene.ratio)
    cases = {
        "D_lambda": lambda: d_lambda(exp, scene), "D_s": lambda: d_s(exp, scene), "QNR": lambda: qnr(exp, scene),
        "D_lambda_K": lambda: d_lambda_k(exp, scene), "HQNR": lambda: hqnr(exp, scene),
        "D_rho": lambda: d_rho(exp, scene), "R-metrics": lambda: reprojected_metrics(exp, scene),
        "whole suite": lambda: full_resolution_metrics(exp, scene),
    }
    print(f"WV2 1280x1280x8, torch threads {torch.get_num_threads()}")
    print(f"{'metric':<12} " + " ".join(f"{'run ' + str(i + 1) + ' (s)':>10}" for i in range(args.repeat))
          + f" {'ports (s)':>10} {'peak +MiB':>10}  value")
    for name, fn in cases.items():
        times = []
        before = _peak_mib()
        for _ in range(args.repeat):
            t = time.perf_counter()
            value = fn()
            times.append(time.perf_counter() - t)
        shown = value if not isinstance(value, dict) else {k: round(v, 6) for k, v in value.items()}
        ports = PUBLIC_PORTS_SECONDS.get(name)
        ports_txt = f"{ports:10.1f}" if ports is not None else f"{'':>10}"
        print(f"{name:<12} " + " ".join(f"{s:10.2f}" for s in times) + f" {ports_txt} {_peak_mib() - before:10.0f}  {shown}")


if __name__ == "__main__":
    main()
