"""The common interface of the physics operators (deepinv's ``Physics`` in spirit, kept small)."""
from __future__ import annotations

from typing import Sequence

__all__ = ["Operator", "Chain"]


class Operator:
    """An image-formation step ``y = A(x)``.

    * ``forward(x)`` (also ``op(x)``): numpy arrays or torch tensors alike, same numbers (numpy is computed
      in float64 and returned in its float dtype; torch keeps dtype, device and the autograd graph).
    * ``ratio``: the PAN/MS scale ratio the operator is built for.
    * ``linear``: whether ``A(a x + b y) = a A(x) + b A(y)`` holds exactly (up to rounding); each class
      says why when it does not.
    * ``output_shape(shape)``: the shape ``forward`` returns for an input of ``shape``; the shape contract
      of each operator is in its class docstring.
    """

    ratio: int = 1
    linear: bool = True

    def forward(self, x):  # pragma: no cover - abstract
        raise NotImplementedError

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def output_shape(self, shape: Sequence[int]) -> tuple[int, ...]:
        return tuple(shape)


class Chain(Operator):
    """``Chain(a, b)(x) = b(a(x))``: operators applied in the order given (e.g. MTF then decimation)."""

    def __init__(self, *ops: Operator):
        if not ops:
            raise ValueError("Chain needs at least one operator")
        self.ops = tuple(ops)
        self.ratio = max(op.ratio for op in ops)
        self.linear = all(op.linear for op in ops)

    def forward(self, x):
        for op in self.ops:
            x = op.forward(x)
        return x

    def output_shape(self, shape: Sequence[int]) -> tuple[int, ...]:
        for op in self.ops:
            shape = op.output_shape(shape)
        return tuple(shape)

    def __repr__(self) -> str:
        return " -> ".join(map(repr, self.ops))
