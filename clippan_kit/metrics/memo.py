"""Per-scene memo of the metric terms that depend on the scene alone, never on the fused image.

Scoring several fused images of one scene (a table of methods, a demo comparison, a validation log) repeats
them otherwise: the co-registration search (~0.5 s on one core of the 1280² WV2 scene, the largest term),
the reference terms of D_λ (band-pair Q of EXP) and of D_s (Q of EXP against the degraded PAN).
Entries are small (shifts, a few Q values) and keyed by a hash of the scene's MS and PAN pixels, its
sensor and the term's own parameters, so a scene edited in place is computed anew. The last 64 entries
are kept.
"""
from __future__ import annotations

import copy
import hashlib
import threading
from collections import OrderedDict
from typing import Any, Callable

import numpy as np

from ..scene import Scene

__all__ = ["scene_key", "scene_memo", "clear_scene_memo"]

_KEPT = 64
_MEMO: OrderedDict[tuple, Any] = OrderedDict()
# Callers may score from several threads at once; compute() runs outside the lock (it takes seconds), so a
# term asked for twice at the same moment may be computed twice, never stored half-way.
_LOCK = threading.Lock()


def scene_key(scene: Scene) -> str:
    """A hash of the scene's MS and PAN pixels (shape, dtype, bytes), sensor and ratio (blake2b, ~1 ms/MB)."""
    h = hashlib.blake2b(digest_size=16)
    for a in (scene.ms, scene.pan):
        a = np.ascontiguousarray(a)
        h.update(f"{a.shape}{a.dtype.str}".encode())
        h.update(memoryview(a).cast("B"))
    h.update(f"{scene.sensor!r}|{scene.ratio}".encode())
    return h.hexdigest()


def scene_memo(scene: Scene | str, term: tuple, compute: Callable[[], Any]) -> Any:
    """``compute()`` once per (scene, ``term``); later calls return a copy of the kept value.

    ``scene``: the scene or its :func:`scene_key` (callers asking for several terms hash once).
    ``term``: the term's name and every parameter its value depends on, e.g. ``("shifts", "peer")``.
    """
    key = (scene if isinstance(scene, str) else scene_key(scene), *term)
    with _LOCK:
        found = key in _MEMO
        if found:
            _MEMO.move_to_end(key)
            value = _MEMO[key]
    if not found:
        value = compute()
        with _LOCK:
            _MEMO[key] = value
            while len(_MEMO) > _KEPT:
                _MEMO.popitem(last=False)
    return value.clone() if hasattr(value, "clone") else copy.deepcopy(value)


def clear_scene_memo() -> None:
    """Forget every kept term (benchmarks time the cold computation)."""
    with _LOCK:
        _MEMO.clear()
