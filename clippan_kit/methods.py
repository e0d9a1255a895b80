"""The one method resolver: a method name means one algorithm everywhere (command line, demo, notebooks).

Names (:func:`method_names`):

* a classical method of :data:`clippan_kit.classical.METHODS` (``exp``, ``bdsd``, ``mtf-glp-hpm-r``,
  ``gs``, ``gsa``, ``brovey``): applied to the scene as is;
* ``lambda-pnn`` (also ``λ-pnn``, ``lpnn``): λ-PNN with the JESSE loss **and target adaptation**
  (Ciotola, Poggi, Scarpa, IEEE TGRS 61, 2023), i.e. :func:`clippan_kit.train.lambda_pnn_pipeline`:
  a trained checkpoint (or the cached pretrained network, or fresh weights starting at EXP) fine-tuned
  on representative tiles of the scene for ``epochs`` steps, then applied to the whole scene.
  ``epochs=0`` applies the checkpoint as is; ``epochs=None`` takes the pipeline's defaults (300 from
  scratch, 100 from a checkpoint);
* a backbone name of :data:`clippan_kit.models.MODELS` (``pnn``, ``lambda_pnn``, ``arbrpn``, ``lformer``,
  ``panmamba``, ``ship``) or ``checkpoint``, with a trained checkpoint: the checkpoint applied as is
  (tiled inference, :func:`clippan_kit.infer.fuse_scene`). The architecture comes from the checkpoint.

:func:`resolve_method` turns a name (+ checkpoint, epochs) into a :class:`MethodChoice`;
:func:`run_method` fuses a scene with one. The demo's checkbox list is :func:`available_methods`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import CheckpointError, SceneError, UnknownNameError, UsageError
from .scene import Scene

__all__ = [
    "MethodChoice", "LAMBDA_PNN", "LAMBDA_PNN_ALIASES", "CHECKPOINT_SUFFIXES", "method_names", "resolve_method",
    "run_method", "classical_choices", "checkpoint_choice", "checkpoint_choices", "describe_checkpoint",
    "lambda_pnn_choice", "available_methods",
]

CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt")
LAMBDA_PNN = "lambda-pnn"
LAMBDA_PNN_ALIASES = ("lambda-pnn", "λ-pnn", "lpnn", "l-pnn")
KINDS = ("classical", "lambda-pnn", "checkpoint")


@dataclass(frozen=True)
class MethodChoice:
    """One way of fusing a scene.

    Attributes:
        key: unique identifier (``"bdsd"``, ``"lambda-pnn"``, ``"ckpt:/path/model.pt"``).
        label: short human-readable name shown in tables and plots (unique within a comparison).
        kind: ``"classical"``, ``"lambda-pnn"`` or ``"checkpoint"``.
        checkpoint: the checkpoint file (required for ``"checkpoint"``, optional for ``"lambda-pnn"``).
        description: one line on what it is and where it comes from.
        options: keyword options of :func:`clippan_kit.train.lambda_pnn_pipeline` for ``"lambda-pnn"``
            (``epochs``, ``n_tiles``, ``tile``, ``lr``, ``size``, ``seed``, ``use_cache``, ``device``).
    """

    key: str
    label: str
    kind: str
    checkpoint: Path | None = None
    description: str = ""
    options: dict = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise UnknownNameError("method kind", self.kind, KINDS)
        if self.kind == "checkpoint" and self.checkpoint is None:
            raise UsageError("a checkpoint method needs its checkpoint path")


def method_names() -> list[str]:
    """Every method name :func:`resolve_method` accepts: classical, ``lambda-pnn``, backbones, ``checkpoint``."""
    from .classical import METHODS
    from .models import MODELS

    return [*METHODS, LAMBDA_PNN, *MODELS, "checkpoint"]


def resolve_method(name: str, checkpoint: str | Path | None = None, *, epochs: int | None = None,
                   **options) -> MethodChoice:
    """The :class:`MethodChoice` a method name means (see the module docstring).

    Args:
        name: a name of :func:`method_names` (case-insensitive).
        checkpoint: trained checkpoint (backbones: required; ``lambda-pnn``: optional; classical: refused).
        epochs: target-adaptation epochs of ``lambda-pnn`` (0: apply the checkpoint as is).
        **options: further :func:`clippan_kit.train.lambda_pnn_pipeline` keywords for ``lambda-pnn``.

    Raises:
        UnknownNameError: the name is none of :func:`method_names` (the message lists them).
        UsageError: a checkpoint or epochs given to a method that takes none, or a backbone without checkpoint.
    """
    from .classical import METHODS
    from .models import MODELS

    key = str(name).strip().lower()
    if key in LAMBDA_PNN_ALIASES:
        return lambda_pnn_choice(epochs, checkpoint=checkpoint, **options)
    if epochs is not None or options:
        raise UsageError(f"epochs and adaptation options are for {LAMBDA_PNN}, not for method {name!r}")
    if key in METHODS:
        if checkpoint is not None:
            raise UsageError(f"a checkpoint is for trained backbones; {name!r} is a classical method")
        return next(c for c in classical_choices() if c.key == METHODS.key(key))
    if key in MODELS or key == "checkpoint":
        if checkpoint is None:
            raise UsageError(f"method {name!r} applies a trained backbone: give its checkpoint "
                             f"(--checkpoint CKPT from 'clippan train'), or use {LAMBDA_PNN}")
        return checkpoint_choice(checkpoint)
    raise UnknownNameError("method", name, method_names())


def classical_choices() -> list[MethodChoice]:
    """Every method of :data:`clippan_kit.classical.METHODS`, in registry order."""
    from .classical import METHODS

    return [MethodChoice(name, m.title, "classical", description=f"{m.family}: {m.citation}") for name, m in METHODS.items()]


_MODE_LABELS = {"clippan": "with CLIPPan", "unsup": "without CLIPPan", "jesse": "JESSE", "supervised": "supervised"}


def describe_checkpoint(path: str | Path) -> str | None:
    """``"backbone, with CLIPPan"`` (etc.) from a Stage II checkpoint's metadata; None when unreadable."""
    try:
        from .train import read_checkpoint

        meta = read_checkpoint(path)["meta"]
    except Exception:  # not ours, or the training modules are absent: the file name must do
        return None
    mode = meta.get("mode")
    return f"{meta.get('backbone', '?')}, {_MODE_LABELS.get(mode, mode or 'unknown training')}"


def checkpoint_choice(path: str | Path, label: str | None = None) -> MethodChoice:
    """A trained-backbone checkpoint applied as is, labelled ``stem (backbone, training mode)`` when its
    metadata can be read (so runs with and without CLIPPan are told apart), else by file stem."""
    path = Path(path)
    if path.suffix.lower() not in CHECKPOINT_SUFFIXES:
        raise SceneError(f"{path.name}: a checkpoint must end in {', '.join(CHECKPOINT_SUFFIXES)}")
    about = describe_checkpoint(path) if path.is_file() else None
    if label is None:
        label = f"{path.stem} ({about})" if about else path.stem
    return MethodChoice(f"ckpt:{path}", label, "checkpoint", checkpoint=path,
                        description=f"trained backbone checkpoint {path.name}" + (f": {about}" if about else ""))


def checkpoint_choices(folder: str | Path | None) -> list[MethodChoice]:
    """Checkpoints (``*.pt``, ``*.pth``, ``*.ckpt``) directly inside ``folder``, sorted by name; [] when absent."""
    if folder is None or not Path(folder).is_dir():
        return []
    files = sorted(p for p in Path(folder).iterdir() if p.is_file() and p.suffix.lower() in CHECKPOINT_SUFFIXES)
    return [checkpoint_choice(p) for p in files]


def lambda_pnn_choice(epochs: int | None = None, *, checkpoint: str | Path | None = None, **options) -> MethodChoice:
    """λ-PNN with target adaptation (:func:`clippan_kit.train.lambda_pnn_pipeline`): ``checkpoint`` (None:
    the cached pretrained network when present, else fresh weights starting at EXP) adapted to the
    scene for ``epochs`` JESSE steps (None: 300 from scratch, 100 from a checkpoint; 0: as is).
    Nothing is downloaded. On a CPU each epoch takes 0.3-0.5 s (8 tiles of 128²)."""
    opts = {**options, "epochs": None if epochs is None else int(epochs)}
    steps = "the default number of" if epochs is None else f"{int(epochs)}"
    start = f"checkpoint {Path(checkpoint).name}" if checkpoint is not None else "the cached pretrained network or EXP"
    return MethodChoice(
        LAMBDA_PNN, "λ-PNN (JESSE)", "lambda-pnn", checkpoint=None if checkpoint is None else Path(checkpoint),
        options=opts,
        description=f"λ-PNN from {start}, {steps} target-adaptation epochs with the JESSE loss on this scene "
                    "(Ciotola, Poggi, Scarpa, IEEE TGRS 61, 2023)",
    )


def _lambda_pnn_available() -> bool:
    try:
        from .models import list_models
        from .train import lambda_pnn_pipeline  # noqa: F401
    except ImportError:
        return False
    return "lambda_pnn" in list_models()


def available_methods(checkpoint_dir: str | Path | None = None) -> list[MethodChoice]:
    """Classical methods, λ-PNN (when the training modules are installed) and the checkpoints in ``checkpoint_dir``."""
    choices = classical_choices()
    if _lambda_pnn_available():
        choices.append(lambda_pnn_choice())
    return choices + checkpoint_choices(checkpoint_dir)


def run_method(choice: MethodChoice, scene: Scene, *, progress: bool = False) -> np.ndarray:
    """Fuse ``scene`` with ``choice``: (B, H, W) float32 on the PAN grid, in the scene's units.

    ``progress``: tqdm bars over λ-PNN's adaptation epochs and over inference tiles.
    """
    if choice.kind == "classical":
        from .classical import fuse

        out = fuse(scene, choice.key)
    elif choice.kind == "lambda-pnn":
        from .train import lambda_pnn_pipeline

        if choice.checkpoint is not None and not Path(choice.checkpoint).is_file():
            raise CheckpointError(f"checkpoint {choice.checkpoint} not found")
        out, _ = lambda_pnn_pipeline(scene, choice.checkpoint, progress=progress, **choice.options)
    else:
        if not Path(choice.checkpoint).is_file():
            raise CheckpointError(f"checkpoint {choice.checkpoint} not found")
        from .infer import fuse_scene
        from .train import load_trained_model

        model = load_trained_model(choice.checkpoint, scene=scene)
        out = fuse_scene(model, scene, progress=progress)
    out = np.asarray(out, dtype=np.float32)
    expected = (scene.n_bands, *scene.shape)
    if out.shape != expected:
        raise RuntimeError(f"{choice.label} returned shape {out.shape}, expected {expected}")
    return out
