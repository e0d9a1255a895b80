"""The one error hierarchy of clippan-kit.

Every error the library raises on purpose is a :class:`ClippanError`; the command line prints its
message as one line (exit status 2) and the demo shows it as is. Each also subclasses the built-in
type that callers caught before the hierarchy existed, so ``except ValueError`` / ``except KeyError``
keep working:

* :class:`SceneError` (``ValueError``): bad input data; the message names the file and the fix.
* :class:`CheckpointError` (``ValueError``): a checkpoint missing, unreadable, of another kind or
  incompatible with the data.
* :class:`UnknownNameError` (``KeyError`` and ``ValueError``): a name not in a registry; the message
  lists the valid names and, unlike a bare ``KeyError``, is never shown in quotes.
* :class:`UsageError` (``ValueError``): arguments or options that do not go together.
"""
from __future__ import annotations

from typing import Iterable

__all__ = ["ClippanError", "SceneError", "CheckpointError", "UnknownNameError", "UsageError"]


class ClippanError(Exception):
    """Base of every error clippan-kit raises on purpose: its message is meant for the user."""


class SceneError(ClippanError, ValueError):
    """Bad input data: the message names the problem and, where known, the file."""


class CheckpointError(ClippanError, ValueError):
    """A checkpoint that is missing, unreadable, of another kind, or incompatible with the data."""


class UsageError(ClippanError, ValueError):
    """Options or arguments that do not go together (the command line's errors)."""


class UnknownNameError(ClippanError, KeyError, ValueError):
    """A name that a registry does not hold.

    Args:
        kind: what the registry holds, for the message ("sensor", "classical method").
        name: the name asked for.
        valid: the valid names, listed in the message.
        hint: optional text appended to the message (e.g. "or generic_sensor(n)").
    """

    def __init__(self, kind: str, name: object, valid: Iterable[str], hint: str = "") -> None:
        self.kind, self.name, self.valid = kind, name, list(valid)
        message = f"unknown {kind} {name!r}; choose one of: {', '.join(self.valid)}"
        self.message = f"{message} {hint}".rstrip()
        super().__init__(self.message)

    def __str__(self) -> str:  # KeyError.__str__ would quote the message
        return self.message
