"""One registry type behind every name table (sensors, classical methods, backbones, samples, presets,
modes, loss configurations, prompts).

A :class:`Registry` is a read-only mapping from canonical names to entries, in registration order, with
aliases and a key normaliser (e.g. case-insensitive). Looking up a name it does not hold raises
:class:`~clippan_kit.errors.UnknownNameError`, whose message lists the valid names. ``name in registry``
accepts aliases too; iteration and :meth:`names` give the canonical names only.
"""
from __future__ import annotations

from typing import Callable, Generic, Iterable, Iterator, Mapping, TypeVar

from .errors import UnknownNameError

__all__ = ["Registry", "lower_key"]

T = TypeVar("T")


def lower_key(name: str) -> str:
    """Case-insensitive, surrounding spaces ignored: the default normaliser."""
    return str(name).strip().lower()


class Registry(Mapping[str, T], Generic[T]):
    """Name -> entry table with aliases and one error type.

    Args:
        kind: what the entries are, for error messages ("sensor").
        entries: canonical name -> entry, in the order :meth:`names` lists them.
        aliases: alternative name -> canonical name.
        normalize: applied to every name before lookup (canonical names and aliases included);
            default :func:`lower_key`; ``None`` for exact names.
        hint: appended to the unknown-name message.
    """

    def __init__(self, kind: str, entries: Mapping[str, T] | Iterable[tuple[str, T]] = (), *,
                 aliases: Mapping[str, str] | None = None, normalize: Callable[[str], str] | None = lower_key,
                 hint: str = "") -> None:
        self.kind, self.hint = kind, hint
        self._norm = normalize or (lambda s: s)
        self._entries: dict[str, T] = {}
        self._keys: dict[str, str] = {}  # normalised name or alias -> canonical name
        for name, entry in (entries.items() if isinstance(entries, Mapping) else entries):
            self.register(name, entry)
        for alias, target in (aliases or {}).items():
            self.alias(alias, target)

    def register(self, name: str, entry: T, aliases: Iterable[str] = ()) -> T:
        """Add ``entry`` under ``name`` (and ``aliases``); returns the entry."""
        if self._norm(name) in self._keys:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = entry
        self._keys[self._norm(name)] = name
        for a in aliases:
            self.alias(a, name)
        return entry

    def alias(self, alias: str, target: str) -> None:
        """Make ``alias`` another name of the registered ``target``."""
        self._keys[self._norm(alias)] = self.key(target)

    def key(self, name: str) -> str:
        """The canonical name for ``name`` or one of its aliases; :class:`UnknownNameError` when unknown."""
        try:
            return self._keys[self._norm(name)]
        except (KeyError, TypeError, AttributeError):
            raise UnknownNameError(self.kind, name, self.names(), self.hint) from None

    def __getitem__(self, name: str) -> T:
        return self._entries[self.key(name)]

    def __contains__(self, name: object) -> bool:
        try:
            return self._norm(name) in self._keys  # type: ignore[arg-type]
        except (TypeError, AttributeError):
            return False

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def names(self) -> list[str]:
        """Canonical names in registration order."""
        return list(self._entries)

    def aliases(self) -> dict[str, str]:
        """Every accepted spelling (normalised) that is not itself a canonical name -> its canonical name."""
        canon = {self._norm(n) for n in self._entries}
        return {a: n for a, n in self._keys.items() if a not in canon}

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"
