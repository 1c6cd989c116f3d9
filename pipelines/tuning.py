"""Per-image generator tuning: GaNI (gradient adjusting networks) and the PTI baseline.

Both start from an inversion code W+ (the e4e code) and return per-layer kernel deltas
{conv layer: ΔW [O, I, k, k]}, never a copy of the network: `G.synthesis(ws, weight_deltas=Δ)`
renders through the tuned generator, so editing runs through it too.

- **PTI** (Roich et al. 2022): the deltas themselves are optimised (Adam), from zero.
- **GaNI** (Sheffi et al.): the deltas are ΔW = M(∇θ L), with ∇θ L the gradient of the
  reconstruction loss at the frozen generator θ and M the gradient modification modules of
  nets/gani.py; only M is optimised, and the result is θ + M(∇θ), one application.

Loss. GaNI: RefineStyle's Eq. 6 reconstruction terms (L2, perceptual, ID), its multi-layer
parsing loss (cosine distance over the parsing network's five feature layers) when a parsing
network is given, and its localisation regulariser on random codes w = f(z). PTI (its paper's
settings by default): L2 + LPIPS with weights 1 and 1 (`pti_lpips`, `pti_id`), lr 3e-4, and its
locality regulariser on codes between the pivot and f(z). Both regularisers are one construction:
codes w_r = w_p + r (w_z − w_p), w_z = f(z) = mapping(z), must render as before,
L_R = ‖G_θ*(w_r) − G_θ(w_r)‖² + d_perceptual(G_θ*(w_r), G_θ(w_r)); GaNI's codes are f(z) itself
(r = 1, `gani_locality_mix`), PTI's are part of the way (`pti_locality_mix`: PTI moves a fixed
distance α = 30 towards w_z in FFHQ's W; a fraction r of the way is the same construction without
a constant tied to one W space).

Randomness (GaNI's initial modules, the locality codes z) comes from one `torch.Generator` per run,
seeded from the run's seed and drawn on the CPU, so a seed gives the same result on any device and
torch's global generator is never read or reseeded.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import torch
from torch import Tensor

from nets.emojinet import cosine_feature_distance
from nets.gani import GradientAdjusters
from nets.stylegan2 import Generator

from .jobs import Cancel, Progress
from .losses import ReconstructionLoss
from .metrics import mse
from .settings import control

Features = Callable[[Tensor], list[Tensor]]
WeightDeltas = dict[int, Tensor]


@dataclass
class TuningSettings:
    """Iterations, learning rates and loss weights of GaNI and PTI (layers None: every conv layer)."""

    steps: int = field(default=300, metadata=control(0, 500, 10, "GaNI / PTI tuning steps"))  # GaNI's 300
    gani_lr: float = 1e-3
    pti_lr: float = 3e-4  # PTI's; the earlier 1e-2 is ours
    pti_lpips: float = 1.0  # PTI's λ_LPIPS (λ_L2 = 1 as in the shared loss)
    pti_id: float = 0.0  # PTI has no ID term; the shared loss's 0.1 is ours
    gani_blocks: int = 2
    gani_hidden: int = 256
    parsing: float = 1.0  # GaNI's multi-layer parsing loss
    locality: float = 0.1  # λ_R
    gani_locality_mix: float = 1.0  # r = 1: GaNI's codes w = f(z)
    pti_locality_mix: float = 0.5  # r: PTI's codes between the pivot and f(z)
    layers: list[int] | None = None


def parsing_loss(features: Features, x: Tensor, target_feats: list[Tensor]) -> Tensor:
    """GaNI's multi-layer parsing loss: mean over layers of the per-pixel cosine distance.  -> []"""
    return torch.stack([cosine_feature_distance(a, b).mean() for a, b in zip(features(x), target_feats)]).mean()


def locality_loss(g: Generator, ws: Tensor, deltas: WeightDeltas, loss: ReconstructionLoss, mix: float,
                  generator: torch.Generator, n: int = 1) -> Tensor:
    """The locality regulariser on n random codes a fraction `mix` of the way from the pivot ws to
    mapping(z) (GaNI: mix 1, the codes f(z); PTI: part of the way), z drawn from `generator`: the
    tuned and the frozen generator compared by `loss`'s L2 term (in its form) and perceptual distance.
    -> []"""
    with torch.no_grad():
        z = torch.randn(n, g.z_dim, generator=generator).to(ws.device)  # [n, z_dim]
        w_z = g.broadcast(g.mapping(z))  # [n, num_ws, w_dim]
        w_r = ws + mix * (w_z - ws)
        before = g.synthesis(w_r)
    after = g.synthesis(w_r, weight_deltas=deltas)
    return (loss.l2_term(after, before) + loss.perceptual(after, before)).mean()


def tuned_layers(g: Generator, layers: list[int] | None) -> list[int]:
    return list(range(len(g.synthesis.convs))) if layers is None else list(layers)


def _objective(g: Generator, ws: Tensor, target: Tensor, loss: ReconstructionLoss, s: TuningSettings,
               parsing: Features | None, locality_mix: float, generator: torch.Generator):
    """The per-step loss of a set of deltas -> (loss, MSE); the target's embeddings are computed once,
    the locality codes (a fraction `locality_mix` of the way from ws to f(z)) drawn from `generator`."""
    with torch.no_grad():
        target_id = loss.identity(target) if loss.id else None
        target_feats = parsing(target) if parsing is not None else None

    def objective(deltas: WeightDeltas) -> tuple[Tensor, float]:
        image = g.synthesis(ws, weight_deltas=deltas)
        total, _ = loss(image, target, target_id)
        if target_feats is not None:
            total = total + s.parsing * parsing_loss(parsing, image, target_feats)
        if s.locality:
            total = total + s.locality * locality_loss(g, ws, deltas, loss, locality_mix, generator)
        return total, mse(image, target).item()

    return objective


def tune_pti(g: Generator, ws: Tensor, target: Tensor, loss: ReconstructionLoss, s: TuningSettings, seed: int = 0,
             progress: Progress | None = None, cancel: Cancel | None = None) -> WeightDeltas:
    """PTI: Adam on the kernel deltas themselves, with PTI's loss weights.
    ws [1, num_ws, w_dim], target [1, 3, R, R]."""
    pti_loss = replace(loss, lpips=s.pti_lpips, id=s.pti_id)
    objective = _objective(g, ws, target, pti_loss, s, None, s.pti_locality_mix, torch.Generator().manual_seed(seed))
    convs = g.synthesis.convs
    deltas = {i: torch.zeros_like(convs[i].conv.weight, requires_grad=True) for i in tuned_layers(g, s.layers)}
    opt = torch.optim.Adam(deltas.values(), lr=s.pti_lr)
    for step in range(s.steps):
        if cancel is not None and cancel():
            break
        total, err = objective(deltas)
        opt.zero_grad(set_to_none=True)
        total.backward()
        opt.step()
        if progress is not None:
            progress((step + 1) / s.steps, f"PTI, step {step + 1} of {s.steps} (MSE {err:.4f})")
    return {i: d.detach() for i, d in deltas.items()}


def kernel_gradients(g: Generator, ws: Tensor, target: Tensor, loss: ReconstructionLoss, layers: list[int],
                     parsing: Features | None = None, parsing_weight: float = 1.0) -> WeightDeltas:
    """∇θ L at the frozen generator for each tuned kernel (taken through zero deltas).  -> {i: [O, I, k, k]}"""
    convs = g.synthesis.convs
    zeros = {i: torch.zeros_like(convs[i].conv.weight, requires_grad=True) for i in layers}
    with torch.enable_grad():
        image = g.synthesis(ws, weight_deltas=zeros)
        total, _ = loss(image, target)
        if parsing is not None:
            with torch.no_grad():
                target_feats = parsing(target)
            total = total + parsing_weight * parsing_loss(parsing, image, target_feats)
        grads = torch.autograd.grad(total, list(zeros.values()))
    return dict(zip(zeros, grads))


def tune_gani(g: Generator, ws: Tensor, target: Tensor, loss: ReconstructionLoss, s: TuningSettings,
              parsing: Features | None = None, seed: int = 0, progress: Progress | None = None,
              cancel: Cancel | None = None) -> WeightDeltas:
    """GaNI: optimise the modules M so that θ + M(∇θ L) reconstructs the target.  -> ΔW per layer"""
    layers = tuned_layers(g, s.layers)
    grads = kernel_gradients(g, ws, target, loss, layers, parsing, s.parsing)
    gen = torch.Generator().manual_seed(seed)  # the modules' initial weights, then the locality codes
    adjusters = GradientAdjusters({i: g.synthesis.convs[i].conv.in_channels for i in layers}, s.gani_blocks,
                                  s.gani_hidden, generator=gen)
    adjusters = adjusters.to(ws.device)
    objective = _objective(g, ws, target, loss, s, parsing, s.gani_locality_mix, gen)
    opt = torch.optim.Adam(adjusters.parameters(), lr=s.gani_lr)
    for step in range(s.steps):
        if cancel is not None and cancel():
            break
        total, err = objective(adjusters(grads))
        opt.zero_grad(set_to_none=True)
        total.backward()
        opt.step()
        if progress is not None:
            progress((step + 1) / s.steps, f"GaNI, step {step + 1} of {s.steps} (MSE {err:.4f})")
    with torch.no_grad():
        return adjusters(grads)


@torch.no_grad()
def locality_drift(g: Generator, deltas: WeightDeltas, perceptual, n: int = 200, seed: int = 0,
                   batch: int = 50) -> float:
    """Mean perceptual distance between the frozen and the tuned generator on n random w."""
    gen = torch.Generator().manual_seed(seed)
    total = 0.0
    for start in range(0, n, batch):
        z = torch.randn(min(batch, n - start), g.z_dim, generator=gen).to(g.w_avg.device)
        ws = g.broadcast(g.mapping(z))
        total += perceptual(g.synthesis(ws, weight_deltas=deltas), g.synthesis(ws)).sum().item()
    return total / n
