"""clippan-kit: unsupervised full-resolution pansharpening with a CLIP supervisor (CLIPPan) and JESSE (λ-PNN)."""
from .scene import Scene, SceneError
from .sensors import SENSORS, Sensor, generic_sensor, get_sensor, list_sensors

__version__ = "0.1.0"
__all__ = ["Scene", "SceneError", "Sensor", "SENSORS", "get_sensor", "generic_sensor", "list_sensors", "__version__"]
