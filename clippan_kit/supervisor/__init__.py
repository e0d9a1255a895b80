"""CLIPPan Stage I: a frozen open_clip model adapted into a pansharpening supervisor.

Liu et al., "CLIPPan: Adapting CLIP as a supervisor for unsupervised pansharpening", AAAI 2026.
"""
from .base import BaseLoadError, FrozenBase, load_base, offline_default_base, tiny_base
from ..checkpoints import CheckpointError, load_supervisor
from ..checkpoints import read_supervisor as read_checkpoint
from ..checkpoints import save_supervisor as save_checkpoint
from .data import Tiles, TileSampler, grid_tiles, split_scene
from .direction import DIRECTION_VARIANTS, RandomDirection, direction_loss_images
from .losses import LossWeights, direction_loss, fusion_alignment, inter_mcl, intra_mcl, stage1_loss
from .model import CLIPSupervisor
from .prompts import HRMS_PROMPTS, IMAGE_TYPES, PromptSet, make_prompts
from .scale import SupervisorScaleError, check_scale, training_scale
from .train import TrainConfig, TrainResult, build_supervisor, train_supervisor

__all__ = [
    "BaseLoadError", "FrozenBase", "load_base", "offline_default_base", "tiny_base", "CheckpointError",
    "load_supervisor", "read_checkpoint", "save_checkpoint", "Tiles", "TileSampler", "grid_tiles", "split_scene",
    "LossWeights", "direction_loss", "fusion_alignment", "inter_mcl", "intra_mcl", "stage1_loss", "CLIPSupervisor",
    "HRMS_PROMPTS", "IMAGE_TYPES", "PromptSet", "make_prompts", "TrainConfig", "TrainResult", "build_supervisor",
    "train_supervisor", "DIRECTION_VARIANTS", "RandomDirection", "direction_loss_images", "SupervisorScaleError",
    "check_scale", "training_scale",
]
