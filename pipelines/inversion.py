"""Inversion: one entry point for every method -> images, W+ codes, residuals, metrics and seconds.

Methods (DESIGN §1):
- `e4e`: the base encoder's W+ (Tov et al. 2021).
- `refinestyle_opt` (ours): RefineStyle's residuals found per image by gradient descent — start
  from the e4e code (w_avg without an e4e), optimise W+, then the factors P, Q and scalings A, B
  of rank-L residuals on the refined layers, under RefineStyle's Eq. 6 loss.
Trained RefineStyle, GradStyle and GaNI methods join as their checkpoints ship.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from nets.e4e import E4EEncoder
from nets.modconv import LowRankFactors
from nets.stylegan2 import Generator

from .losses import ReconstructionLoss
from .metrics import mse, ssim

Progress = Callable[[float, str], None]
METHODS = ("e4e", "refinestyle_opt")


@dataclass
class InversionNetworks:
    generator: Generator
    loss: ReconstructionLoss
    e4e: E4EEncoder | None = None

    @classmethod
    def from_zoo(cls, zoo, device: str = "cpu") -> InversionNetworks:
        net = zoo.load("perceptual", device)
        ident = zoo.load("identity", device)
        return cls(zoo.load("generator", device), ReconstructionLoss(net.perceptual_distance, ident.identity),
                   zoo.load("e4e", device) if zoo.available("e4e") else None)


@dataclass
class OptimisationSettings:
    """RefineStyle-by-optimisation: W+ steps, then residual steps on `layers` (None: every conv layer)."""

    w_steps: int = 100
    residual_steps: int = 200
    w_lr: float = 0.01
    residual_lr: float = 0.01
    rank: int = 8
    layers: list[int] | None = None
    scaling_init: float = 0.1


@dataclass
class InversionResult:
    method: str
    image: Tensor  # [1, 3, R, R] in [-1, 1]
    ws: Tensor  # [1, num_ws, w_dim]
    residuals: dict[int, LowRankFactors] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0


def available_methods(nets: InversionNetworks) -> dict[str, str]:
    """Every method with "" when it can run, or the reason it cannot."""
    return {"e4e": "" if nets.e4e is not None else "no e4e encoder in this zoo", "refinestyle_opt": ""}


@torch.no_grad()
def image_metrics(loss: ReconstructionLoss, x: Tensor, target: Tensor) -> dict[str, float]:
    """MSE and SSIM on [0, 1] images, the zoo's perceptual distance, and the identity cosine."""
    ident = (loss.identity(x) * loss.identity(target)).sum(1)
    return {"mse": mse(x, target).mean().item(), "ssim": ssim(x, target).mean().item(),
            "perceptual": loss.perceptual(x, target).mean().item(), "id": ident.mean().item()}


def invert(nets: InversionNetworks, target: Tensor, methods: list[str], settings: OptimisationSettings | None = None,
           seed: int = 0, progress: Progress | None = None) -> list[InversionResult]:
    """Invert one image [1, 3, R, R] in [-1, 1] with each method, in order."""
    # 1. check inputs
    g = nets.generator
    if target.ndim != 4 or target.shape[0] != 1 or target.shape[1:] != (3, g.size, g.size):
        raise ValueError(f"expected one image [1, 3, {g.size}, {g.size}], got {list(target.shape)}")
    reasons = available_methods(nets)
    for m in methods:
        if m not in reasons:
            raise ValueError(f"unknown method '{m}' (known: {', '.join(METHODS)})")
        if reasons[m]:
            raise ValueError(f"{m} is unavailable: {reasons[m]}")
    settings = settings or OptimisationSettings()
    results = []
    for m in methods:
        start = time.perf_counter()
        # 2. encode or optimise
        if m == "e4e":
            with torch.no_grad():
                ws, residuals = nets.e4e(target), {}
        else:
            ws, residuals = optimise_refinestyle(nets, target, settings, seed, progress)
        # 3. synthesise and score
        with torch.no_grad():
            image = g.synthesis(ws, residuals=residuals).clamp(-1, 1)
        results.append(InversionResult(m, image, ws, residuals, image_metrics(nets.loss, image, target),
                                       time.perf_counter() - start))
    return results


def optimise_refinestyle(nets: InversionNetworks, target: Tensor, s: OptimisationSettings, seed: int = 0,
                         progress: Progress | None = None) -> tuple[Tensor, dict[int, LowRankFactors]]:
    """W+ by Adam from the e4e code (or w_avg), then rank-L residual factors with W+ fixed.

    P ~ N(0, 1), Q = 0 and A = B = scaling_init: ΔW = (A⊙P)ᵀ(B⊙Q) starts at exactly zero.
    """
    g = nets.generator
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        start = nets.e4e(target) if nets.e4e is not None else g.broadcast(g.w_avg[None])
        target_id = nets.loss.identity(target)
    ws = start.clone().requires_grad_(True)
    opt = torch.optim.Adam([ws], lr=s.w_lr)
    total = s.w_steps + s.residual_steps
    for step in range(s.w_steps):
        loss, _ = nets.loss(g.synthesis(ws), target, target_id)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if progress is not None and step % 10 == 0:
            progress(step / total, f"W+ {step}/{s.w_steps}: loss {loss.item():.4f}")
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
        loss, _ = nets.loss(g.synthesis(ws, residuals=factors()), target, target_id)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if progress is not None and step % 10 == 0:
            progress((s.w_steps + step) / total, f"residuals {step}/{s.residual_steps}: loss {loss.item():.4f}")
    with torch.no_grad():
        return ws, {i: (f[0].detach(), f[1].detach()) for i, f in factors().items()}
