"""The command-line package: an explicit command list, one option vocabulary, help text on every option."""
import argparse

import pytest

from clippan_kit.cli import COMMAND_MODULES, build_parser

COMMANDS = {"fuse", "evaluate", "demo", "sensors", "train", "train-teacher", "train-supervisor", "evaluate-supervisor",
            "tutorial-checkpoints"}


def _subparsers(parser):
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices


def test_every_command_is_registered_explicitly():
    assert set(_subparsers(build_parser())) == COMMANDS
    assert all(callable(m.register) for m in COMMAND_MODULES)


def test_every_option_of_every_command_has_help():
    parser = build_parser()
    missing = [(name, a.option_strings) for name, p in [("clippan", parser), *_subparsers(parser).items()]
               for a in p._actions
               if a.option_strings and not isinstance(a, argparse._HelpAction) and not (a.help or "").strip()]
    assert missing == []


def test_one_vocabulary_across_commands():
    parser = build_parser()
    options = {name: {o for a in p._actions for o in a.option_strings} for name, p in _subparsers(parser).items()}
    for retired in ("--steps", "--tile-size"):
        assert not any(retired in opts for opts in options.values()), retired
    training = ("train", "train-teacher", "train-supervisor")
    shared = {"--out", "--preset", "--iterations", "--batch-size", "--lr", "--tile", "--seed", "--device", "--no-amp",
              "--resume", "--quiet"}
    for name in training:
        assert shared <= options[name], name
    scene = {"--scene", "--ms", "--pan", "--sensor", "--bands", "--index"}
    for name in ("fuse", "evaluate", *training, "evaluate-supervisor", "tutorial-checkpoints"):
        assert scene <= options[name], name
    assert {"--method", "--checkpoint", "--epochs"} <= options["fuse"] & options["evaluate"]


def test_stage1_presets_and_renamed_options_fill_the_config(tmp_path):
    from clippan_kit.cli.supervisor import _config

    parser = build_parser()
    args = parser.parse_args(["train-supervisor", "--scene", "x.mat", "--out", str(tmp_path / "s.pt"),
                              "--preset", "paper"])
    cfg = _config(args)
    assert (cfg.steps, cfg.batch_size, cfg.tile_size, cfg.input_size) == (1000, 32, 64, 128)
    args = parser.parse_args(["train-supervisor", "--scene", "x.mat", "--out", str(tmp_path / "s.pt"), "--iterations", "3",
                              "--tile", "64", "--no-amp", "--input-size", "base", "--hrms-prompt", "khan"])
    cfg = _config(args)
    assert (cfg.steps, cfg.batch_size, cfg.tile_size, cfg.amp, cfg.input_size, cfg.hrms_prompt) == (3, 8, 64, False, None, "khan")
    with pytest.raises(SystemExit):
        parser.parse_args(["train-supervisor", "--scene", "x.mat", "--preset", "pretrain"])


def test_stage1_output_paths_put_the_log_beside_the_checkpoint(tmp_path):
    from clippan_kit.supervisor.train import output_paths

    assert output_paths(tmp_path / "sup.pt") == (tmp_path / "sup.pt", tmp_path / "sup.loss.csv")
    assert output_paths(tmp_path / "run") == (tmp_path / "run" / "supervisor.pt", tmp_path / "run" / "loss.csv")


def test_tutorial_checkpoints_options():
    args = build_parser().parse_args(["tutorial-checkpoints", "--sample", "synthetic", "--retrain", "--quiet"])
    assert (args.sample, args.retrain, args.quiet, args.scene) == ("synthetic", True, True, None)
    args = build_parser().parse_args(["tutorial-checkpoints"])
    assert (args.sample, args.retrain) == (None, False)
