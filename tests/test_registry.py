"""The one error hierarchy and the one registry type behind every name table."""
import pytest

from clippan_kit.errors import CheckpointError, ClippanError, SceneError, UnknownNameError
from clippan_kit.registry import Registry


def test_unknown_name_lists_the_valid_names_without_quotes():
    reg = Registry("colour", {"red": 1, "green": 2}, aliases={"rouge": "red"})
    with pytest.raises(UnknownNameError) as err:
        reg["blue"]
    # str() of a bare KeyError would be "\"unknown colour 'blue'...\"": the message must read as written.
    assert str(err.value) == "unknown colour 'blue'; choose one of: red, green"
    assert isinstance(err.value, KeyError) and isinstance(err.value, ValueError) and isinstance(err.value, ClippanError)
    assert err.value.valid == ["red", "green"]


def test_lookup_aliases_normalisation_and_listing():
    reg = Registry("colour", {"red": 1, "green": 2}, aliases={"rouge": "red"})
    assert reg["RED"] == 1 and reg[" Rouge "] == 1 and reg.key("rouge") == "red"
    assert "rouge" in reg and "blue" not in reg and 3 not in reg
    assert list(reg) == reg.names() == ["red", "green"] and len(reg) == 2
    assert dict(reg.items()) == {"red": 1, "green": 2}
    assert reg.aliases() == {"rouge": "red"}
    exact = Registry("prompt", {"I": 1}, normalize=None)
    assert "i" not in exact and exact["I"] == 1
    with pytest.raises(ValueError, match="twice"):
        reg.register("Red", 3)


def test_every_library_table_is_a_registry():
    from clippan_kit.classical import METHODS
    from clippan_kit.losses import LOSS_CONFIGS
    from clippan_kit.models import MODELS
    from clippan_kit.samples import SAMPLES
    from clippan_kit.sensors import SENSORS
    from clippan_kit.supervisor.prompts import HRMS_PROMPTS
    from clippan_kit.train import MODES, PRESETS

    for table in (METHODS, LOSS_CONFIGS, MODELS, SAMPLES, SENSORS, HRMS_PROMPTS, MODES, PRESETS):
        assert isinstance(table, Registry)
        with pytest.raises(UnknownNameError, match="choose one of: " + table.names()[0]):
            table["no-such-name"]
    assert SENSORS["WorldView 2"].name == "wv2" and MODELS.key("λ-PNN") == "lambda_pnn"
    assert METHODS["MTF_GLP_HPM_R"].name == "mtf-glp-hpm-r"


def test_scene_and_checkpoint_errors_share_the_base():
    from clippan_kit.scene import SceneError as FromScene
    from clippan_kit.train import CheckpointError as FromTrain

    assert FromScene is SceneError and FromTrain is CheckpointError
    assert issubclass(SceneError, ValueError) and issubclass(CheckpointError, ClippanError)
