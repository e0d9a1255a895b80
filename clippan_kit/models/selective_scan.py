"""Selective scan (the S6 recurrence of Mamba, Gu & Dao 2023) in pure PyTorch, CPU-friendly.

For every batch n, channel d and state s the recurrence along the sequence (length L) is

    h_t = exp(dt_t * A[d, s]) * h_{t-1} + dt_t * B_t[s] * u_t,      y_t = sum_s C_t[s] h_t[s] + D[d] u_t,

optionally gated by ``silu(z)``; ``dt = softplus(delta + delta_bias)`` when asked. Same argument
layout as ``mamba_ssm.ops.selective_scan_interface.selective_scan_fn``, which is used instead on
CUDA tensors when the package is installed (``use_fused``).

The pure-torch path is a chunked scan, vectorised over everything but the chunk boundaries.
Inside a chunk of T steps, with ``c_t`` the cumulative log-decay since the chunk's first step,
``h_t = exp(c_t) * sum_{s<=t} exp(-c_s) x_s`` (+ the decayed carried state): two cumsums. T is
chosen from the data so that ``(T - 1) * max|dt*A| <= 60`` and ``exp(-c)`` can never overflow
float32 (exact algebra, no
clamping; errors stay relative to the dominant recent terms). A short Python loop carries the
state across chunk ends, and the sequence is cut into segments so that the (N, D, S, L) state
tensor stays under ``max_elements``: memory is bounded for any length. When gradients are needed,
each segment is recomputed in the backward pass (activation checkpointing) instead of keeping its
dozen (N, D, S, segment) intermediates: without it, training the base Pan-Mamba on 8 tiles of 64²
needed over 24 GiB on a CPU; the recomputation costs one more forward pass of the scan.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

__all__ = ["selective_scan", "selective_scan_ref", "fused_scan_available"]

try:  # optional fused CUDA kernel
    from mamba_ssm.ops.selective_scan_interface import selective_scan_fn as _fused_scan  # type: ignore
except Exception:  # pragma: no cover - depends on the environment
    _fused_scan = None

_MAX_LOG_RANGE = 60.0  # exp(60) ~ 1e26 stays far below the float32 limit (~3e38)


def fused_scan_available() -> bool:
    """True when ``mamba_ssm``'s fused CUDA kernel can be imported."""
    return _fused_scan is not None


def _discretise(u, delta, A, B, delta_bias, delta_softplus):
    dt = delta.float()
    if delta_bias is not None:
        dt = dt + delta_bias.float()[None, :, None]
    if delta_softplus:
        dt = F.softplus(dt)
    return u.float(), dt, A.float(), B.float()


def _finish(y, u, D, z, dtype):
    if D is not None:
        y = y + D.float()[None, :, None] * u
    if z is not None:
        y = y * F.silu(z.float())
    return y.to(dtype)


def selective_scan_ref(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False):
    """Naive sequential reference scan (one Python step per position): for tests only.

    Shapes: u, delta, z (N, D, L); A (D, S); B, C (N, S, L); D, delta_bias (D,). Returns (N, D, L).
    """
    dtype = u.dtype
    u, dt, A, B = _discretise(u, delta, A, B, delta_bias, delta_softplus)
    N, Dd, L = u.shape
    h = u.new_zeros(N, Dd, A.shape[1])
    ys = []
    for t in range(L):
        h = torch.exp(dt[:, :, t, None] * A) * h + (dt[:, :, t] * u[:, :, t])[:, :, None] * B[:, None, :, t]
        ys.append((h * C[:, None, :, t]).sum(-1))
    return _finish(torch.stack(ys, dim=-1), u, D, z, dtype)


def _chunk_length(dA_max: float, limit: int = 64) -> int:
    T = limit
    while T > 1 and (T - 1) * dA_max > _MAX_LOG_RANGE:
        T //= 2
    return T


def _scan_segment(dA: torch.Tensor, x: torch.Tensor, C: torch.Tensor, h0: torch.Tensor):
    """dA, x: (N, D, S, l) log-decays and inputs; C: (N, S, l); h0: (N, D, S). Returns y (N, D, l), h_end."""
    l = dA.shape[-1]
    T = _chunk_length(float(dA.detach().abs().amax()) if l else 0.0)
    pad = (-l) % T
    if pad:  # zero decay and input: the state passes through unchanged
        dA, x, C = F.pad(dA, (0, pad)), F.pad(x, (0, pad)), F.pad(C, (0, pad))
    n_chunks = dA.shape[-1] // T
    dA = dA.unflatten(-1, (n_chunks, T))
    x = x.unflatten(-1, (n_chunks, T))
    cum = dA.cumsum(-1)
    # Decay from s to t is exp(cum_t - cum_s); anchoring at the chunk's first step keeps every
    # exponent within (T - 1) * max|dA| (a single huge step never overflows).
    rel = cum - cum[..., :1]
    local = torch.exp(rel) * torch.cumsum(torch.exp(-rel) * x, dim=-1)  # chunk states from h=0
    # unbind once: indexing inside the loop would cost a full-size gradient buffer per chunk
    decay_end, local_end = torch.exp(cum[..., -1]).unbind(-1), local[..., -1].unbind(-1)
    starts, carry = [], h0
    for decay, loc in zip(decay_end, local_end):  # the only sequential part: one step per chunk
        starts.append(carry)
        carry = decay * carry + loc
    h = local + torch.exp(cum) * torch.stack(starts, dim=-1)[..., None]
    y = torch.einsum("ndsct,nsct->ndct", h, C.unflatten(-1, (n_chunks, T))).flatten(-2)
    return y[..., :l], carry


def _segment(dt, u, A, B, C, h0):
    """One segment: dt, u (N, D, l); A (D, S); B, C (N, S, l); h0 (N, D, S). Returns y (N, D, l), h_end."""
    dA = dt[:, :, None, :] * A[None, :, :, None]
    x = (dt * u)[:, :, None, :] * B[:, None, :, :]
    return _scan_segment(dA, x, C, h0)


def selective_scan(
    u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False, *,
    use_fused: bool | None = None, max_elements: int = 2**22, checkpoint_segments: bool | None = None,
):
    """Selective scan, shapes as :func:`selective_scan_ref`; differentiable; any device.

    Args:
        use_fused: True forces the ``mamba_ssm`` kernel, False forbids it, None uses it on CUDA
            when installed.
        max_elements: bound on N*D*S*segment, i.e. on the state tensor materialised at once.
        checkpoint_segments: None (default) or True recomputes each segment in the backward pass when a
            gradient is needed (memory O(N*D*L) instead of O(N*D*S*L)); False keeps the intermediates.
    """
    if use_fused or (use_fused is None and _fused_scan is not None and u.is_cuda):
        if _fused_scan is None:
            raise RuntimeError("use_fused=True but mamba_ssm is not installed")
        return _fused_scan(u, delta, A, B, C, D, z, delta_bias, delta_softplus)
    dtype = u.dtype
    u, dt, A, B = _discretise(u, delta, A, B, delta_bias, delta_softplus)
    C = C.float()
    N, Dd, L = u.shape
    S = A.shape[1]
    seg = max(1, max_elements // max(1, N * Dd * S))
    h = u.new_zeros(N, Dd, S)
    needs_grad = torch.is_grad_enabled() and any(t.requires_grad for t in (u, dt, A, B, C))
    recompute = needs_grad and checkpoint_segments is not False
    ys = []
    for start in range(0, L, seg):
        sl = slice(start, start + seg)
        args = (dt[:, :, sl], u[:, :, sl], A, B[:, :, sl], C[:, :, sl], h)
        y, h = checkpoint(_segment, *args, use_reentrant=False) if recompute else _segment(*args)
        ys.append(y)
    return _finish(torch.cat(ys, dim=-1), u, D, z, dtype)
