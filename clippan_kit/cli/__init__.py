"""The ``clippan`` command line (also ``python -m clippan_kit``): thin, it parses, calls the library, prints.

Commands, by module (an explicit list, :data:`COMMAND_MODULES`; a module that fails to import fails loudly):

* :mod:`.scene_commands`: ``fuse``, ``evaluate``, ``demo``, ``sensors``;
* :mod:`.training`: ``train``, ``train-teacher`` (Stage II, λ-PNN pretraining);
* :mod:`.supervisor`: ``train-supervisor``, ``evaluate-supervisor`` (CLIPPan Stage I);
* :mod:`.tutorial`: ``tutorial-checkpoints`` (the notebooks' stored run, built once into the cache).

Every option of every command is in one vocabulary (:mod:`.options`). Every command reports errors as one
readable line on stderr and exits non-zero, with no traceback (``--debug`` shows it) and no output file
left behind.
"""
from __future__ import annotations

import argparse
import os
import sys
import warnings
from typing import Sequence

from ..errors import UsageError
from . import scene_commands, supervisor, training, tutorial
from .options import add_scene_options, load_scene_from_args, parse_bands

__all__ = ["main", "build_parser", "COMMAND_MODULES", "CLIError", "UsageError", "add_scene_options",
           "load_scene_from_args", "parse_bands"]

#: Modules whose ``register(subparsers)`` adds their commands, in help order.
COMMAND_MODULES = (scene_commands, training, supervisor, tutorial)

CLIError = UsageError  # the former name of the command line's error


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="clippan", description="clippan-kit: pansharpening with a CLIP supervisor and JESSE")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


def _format_warning(message, category, filename, lineno, line=None) -> str:
    return f"clippan: note: {message}\n"


def main(argv: Sequence[str] | None = None) -> int:
    # Before torch loads: spinning OpenMP waits slow torch several-fold when other work shares the cores.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    warnings.formatwarning = _format_warning  # library notes read as one line, not a source location
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("clippan: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # one readable line for users; --debug for developers
        if args.debug:
            raise
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"clippan {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
