"""Write the two checkpoint layouts of clippan-kit before the one format (tests/data/legacy/), with the
code of that time, so tests/test_engine.py can check that old files still load.

    git archive 21478da | tar -x -C /tmp/old      # the last commit before clippan_kit/checkpoints.py
    PYTHONPATH=/tmp/old python tests/data/make_legacy_checkpoints.py tests/data/legacy

Files: ``pnn_stage2_v1.pt`` ("clippan-kit/stage2": PNN small, 4 bands, ratio 4, 2 iterations, with its
optimiser state) and ``supervisor_v1.pt`` ("clippan-supervisor/1": tiny random base, 4 bands, step 2).
``expected.pt``: the output of each on fixed inputs, computed by that code.
"""
import sys
from pathlib import Path

import torch

from clippan_kit.supervisor import TrainConfig, tiny_base, train_supervisor
from clippan_kit.synthetic import synthetic_scene
from clippan_kit.train import train
from clippan_kit.wald import interp23tap

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
scene = synthetic_scene("ikonos", size=64)
torch.manual_seed(0)
pnn = train(scene, backbone="pnn", mode="unsup", preset="tiny", checkpoint=out / "pnn_stage2_v1.pt", progress=False).model
sup = train_supervisor([scene], out / "supervisor_v1.pt", TrainConfig(steps=2, batch_size=2, tile_size=32, save_every=2),
                       base=tiny_base(), pseudo_label=lambda ms, pan: interp23tap(ms, 4), progress=False).supervisor
g = torch.Generator().manual_seed(0)
x = torch.rand(1, 4, 32, 32, generator=g), torch.rand(1, 1, 32, 32, generator=g), torch.rand(1, 4, 8, 8, generator=g)
with torch.no_grad():
    expected = {"inputs": x, "pnn": pnn(*x), "supervisor_ms": sup.image_features(x[2], "ms")}
torch.save(expected, out / "expected.pt")
for p in out.glob("*.csv"):
    p.unlink()
for p in out.glob("*.json"):
    p.unlink()
print("wrote", sorted(p.name for p in out.iterdir()))
