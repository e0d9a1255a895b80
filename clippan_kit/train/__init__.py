"""Stage II training: one trainer for every mode, presets as data, λ-PNN target adaptation (all on the one
training engine, :mod:`clippan_kit.engine`; checkpoints: :mod:`clippan_kit.checkpoints`).

Example:
    >>> from clippan_kit.samples import default_scene
    >>> from clippan_kit.train import train, load_trained_model
    >>> result = train(default_scene(), backbone="pnn", mode="unsup", preset="quick", checkpoint="pnn.pt")
    >>> model = load_trained_model("pnn.pt", scene=default_scene())
"""
from .adaptation import adapt, lambda_pnn_pipeline, select_tiles
from .api import train, train_teacher
from ..checkpoints import CheckpointError, load_trained_model
from ..checkpoints import read_stage2 as read_checkpoint
from ..checkpoints import save_backbone as save_checkpoint
from .data import SceneTiles, prepare_inputs
from .presets import MODES, PRESETS, get_preset
from .trainer import Trainer, TrainResult, select_device

__all__ = [
    "train", "train_teacher", "adapt", "lambda_pnn_pipeline", "select_tiles", "load_trained_model", "read_checkpoint", "save_checkpoint", "CheckpointError",
    "SceneTiles", "prepare_inputs", "MODES", "PRESETS", "get_preset", "Trainer", "TrainResult", "select_device",
]
