"""clippan-kit: unsupervised full-resolution pansharpening with a CLIP supervisor (CLIPPan) and JESSE (λ-PNN)."""
from .errors import CheckpointError, ClippanError, SceneError, UnknownNameError
from .scene import Scene
from .sensors import SENSORS, Sensor, generic_sensor, get_sensor, list_sensors

__version__ = "0.1.0"
__all__ = ["Scene", "ClippanError", "SceneError", "CheckpointError", "UnknownNameError", "Sensor", "SENSORS", "get_sensor", "generic_sensor", "list_sensors", "__version__"]
