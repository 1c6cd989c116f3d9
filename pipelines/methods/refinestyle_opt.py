"""RefineStyle by optimisation (ours): RefineStyle's residuals found per image by gradient descent.

Start from the e4e code (w_avg without an e4e), optimise W+, then the factors P, Q and scalings
A, B of rank-L residuals ΔW = (A⊙P)ᵀ(B⊙Q) on the refined layers (RefineStyle Eq. 3), under
RefineStyle's Eq. 6 reconstruction loss.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from nets.modconv import LowRankFactors

from ..settings import control
from .base import (GPU_SECONDS_PER_STEP, Cancel, InversionMethod, InversionNetworks, InversionResult, Progress,
                   register)
from .e4e import encode, kernel_result


@dataclass
class OptimisationSettings:
    """W+ steps, then residual steps on `layers` (None: every conv layer)."""

    w_steps: int = field(default=100, metadata=control(0, 500, 10, "W+ steps"))
    residual_steps: int = field(default=200, metadata=control(0, 1000, 10, "Residual steps (P, Q, A, B)"))
    w_lr: float = 0.01
    residual_lr: float = 0.01
    rank: int = field(default=8, metadata=control(1, 64, 1, "Rank L"))
    layers: list[int] | None = None
    scaling_init: float = 0.1


def optimise_refinestyle(nets: InversionNetworks, target: Tensor, s: OptimisationSettings, start: Tensor | None = None,
                         seed: int = 0, progress: Progress | None = None, cancel: Cancel | None = None
                         ) -> tuple[Tensor, dict[int, LowRankFactors]]:
    """W+ by Adam from `start` (the e4e code; None: w_avg), then rank-L residual factors with W+ fixed.

    P ~ N(0, 1), Q = 0 and A = B = scaling_init: ΔW = (A⊙P)ᵀ(B⊙Q) starts at exactly zero.
    A cancelled run returns what it has optimised so far.
    """
    g = nets.generator
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        start = g.broadcast(g.w_avg[None]) if start is None else start
        target_id = nets.loss.identity(target)
    ws = start.clone().requires_grad_(True)
    opt = torch.optim.Adam([ws], lr=s.w_lr)
    total = s.w_steps + s.residual_steps
    for step in range(s.w_steps):
        if cancel is not None and cancel():
            break
        loss, _ = nets.loss(g.synthesis(ws), target, target_id)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if progress is not None:
            progress((step + 1) / total, f"RefineStyle optimisation, W+ step {step + 1} of {s.w_steps} "
                                         f"(loss {loss.item():.4f})")
    ws = ws.detach()
    layers = s.layers if s.layers is not None else list(range(len(g.synthesis.convs)))
    convs = g.synthesis.convs
    p = {i: torch.randn(1, s.rank, convs[i].conv.out_channels, generator=gen).requires_grad_(True) for i in layers}
    q = {i: torch.zeros(1, s.rank, convs[i].conv.in_channels, requires_grad=True) for i in layers}
    a = {i: torch.full((s.rank,), s.scaling_init, requires_grad=True) for i in layers}
    b = {i: torch.full((s.rank,), s.scaling_init, requires_grad=True) for i in layers}

    def factors() -> dict[int, LowRankFactors]:
        return {i: (a[i][None, :, None] * p[i], b[i][None, :, None] * q[i]) for i in layers}

    opt = torch.optim.Adam([*p.values(), *q.values(), *a.values(), *b.values()], lr=s.residual_lr)
    for step in range(s.residual_steps):
        if cancel is not None and cancel():
            break
        loss, _ = nets.loss(g.synthesis(ws, residuals=factors()), target, target_id)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if progress is not None:
            progress((s.w_steps + step + 1) / total, f"RefineStyle optimisation, residual step {step + 1} of "
                                                     f"{s.residual_steps} (loss {loss.item():.4f})")
    with torch.no_grad():
        return ws, {i: (f[0].detach(), f[1].detach()) for i, f in factors().items()}


def run(nets: InversionNetworks, target: Tensor, settings: OptimisationSettings, seed: int,
        progress: Progress | None, cancel: Cancel | None) -> InversionResult:
    start = encode(nets, target) if nets.e4e is not None else None
    ws, residuals = optimise_refinestyle(nets, target, settings, start, seed, progress, cancel)
    return kernel_result("refinestyle_opt", nets, ws, residuals)


def parameters(nets: InversionNetworks, s: OptimisationSettings) -> int:
    """Per image: W+ and the rank-L factors with their scalings on each refined layer."""
    g = nets.generator
    convs = g.synthesis.convs
    layers = s.layers if s.layers is not None else range(len(convs))
    return g.num_ws * g.w_dim + sum(s.rank * (convs[i].conv.in_channels + convs[i].conv.out_channels + 2)
                                    for i in layers)


METHOD = register(InversionMethod("refinestyle_opt", "RefineStyle, per-image optimisation (ours)", (), run,
                                  parameters, OptimisationSettings,
                                  lambda s: GPU_SECONDS_PER_STEP * (s.w_steps + s.residual_steps)))
