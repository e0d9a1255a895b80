"""Mergeable first and second moments (Chan, Golub & LeVeque's pairwise update), for global
statistics gathered block by block without the cancellation of raw power sums."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Moments"]


@dataclass(frozen=True)
class Moments:
    """Count, means and centred co-moment matrix of V variables.

    Attributes:
        n: number of samples; mean: (V,); comoment: (V, V) sum of centred products, so
        ``comoment / n`` is the (ddof 0) covariance, as numpy's ``std``/``mean`` use.
    """

    n: int
    mean: np.ndarray
    comoment: np.ndarray

    @classmethod
    def of(cls, x: np.ndarray) -> "Moments":
        """Moments of the rows of ``x``: (V, N) float, one row per variable."""
        x = np.asarray(x, np.float64).reshape(x.shape[0], -1)
        mean = x.mean(axis=1)
        c = x - mean[:, None]
        return cls(x.shape[1], mean, c @ c.T)

    def __add__(self, other: "Moments") -> "Moments":
        if self.n == 0:
            return other
        n = self.n + other.n
        delta = other.mean - self.mean
        return Moments(n, self.mean + delta * (other.n / n),
                       self.comoment + other.comoment + np.outer(delta, delta) * (self.n * other.n / n))

    @staticmethod
    def total(parts) -> "Moments":
        parts = list(parts)
        out = parts[0]
        for p in parts[1:]:
            out = out + p
        return out
