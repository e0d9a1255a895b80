"""Run by tests/test_distributed.py under ``torchrun --nproc_per_node 2``: the two training commands, as a
user runs them (``torchrun -m clippan_kit train ...``), in one launch to pay the process start-up once.

    python -m torch.distributed.run --nproc_per_node 2 tests/ddp_worker.py OUT_DIR SCENE_FILE
"""
import sys

from clippan_kit.cli import main

out, scene = sys.argv[1], sys.argv[2]
common = ["--scene", scene, "--sensor", "wv3", "--iterations", "3", "--batch-size", "4", "--tile", "32", "--quiet"]
assert main(["train", *common, "--backbone", "pnn", "--preset", "tiny", "--out", f"{out}/stage2.pt"]) == 0
assert main(["train-supervisor", *common, "--base", "tiny", "--out", f"{out}/stage1.pt"]) == 0
