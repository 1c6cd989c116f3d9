"""Inversion: one entry point for every method -> images, W+ codes, residuals, metrics and seconds.

Methods (DESIGN §1), each available when the zoo has what it needs:
- `e4e`: the base encoder's W+ (Tov et al. 2021).
- `refinestyle_1s`: RefineStyle's one-stage encoder: W+ and per-image kernel residuals (§3.2).
- `refinestyle_2s`: RefineStyle's two-stage encoder: e4e's W+ kept, residuals from [I, Î₀] (§3.3).
- `refinestyle_opt` (ours): RefineStyle's residuals found per image by gradient descent — start
  from the e4e code (w_avg without an e4e), optimise W+, then the factors P, Q and scalings A, B
  of rank-L residuals on the refined layers, under RefineStyle's Eq. 6 loss.
- `gradstyle`: the e4e code with GradStyle's GRM residual features (the reconstruction stream);
  the stream is kept so that editing can run the GAM-aligned editing stream.
- `gani`: the e4e code through the generator tuned by GaNI's gradient adjusting networks.
- `pti`: the e4e code through the generator tuned directly (Pivotal Tuning, the baseline).
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from nets.e4e import E4EEncoder
from nets.gradstyle import GradStyle, Stream
from nets.modconv import LowRankFactors
from nets.refinestyle import RefineStyleEncoder
from nets.stylegan2 import Generator

from .losses import ReconstructionLoss
from .metrics import mse, ssim
from .tuning import Features, TuningSettings, WeightDeltas, tune_gani, tune_pti

Progress = Callable[[float, str], None]
METHODS = ("e4e", "refinestyle_1s", "refinestyle_2s", "refinestyle_opt", "gradstyle", "gani", "pti")
NEEDS = {"e4e": ("e4e",), "refinestyle_1s": ("refinestyle_1s",), "refinestyle_2s": ("e4e", "refinestyle_2s"),
         "refinestyle_opt": (), "gradstyle": ("e4e", "gradstyle"), "gani": ("e4e",), "pti": ("e4e",)}


@dataclass
class InversionNetworks:
    generator: Generator
    loss: ReconstructionLoss
    e4e: E4EEncoder | None = None
    refinestyle_1s: RefineStyleEncoder | None = None
    refinestyle_2s: RefineStyleEncoder | None = None
    gradstyle: GradStyle | None = None
    parsing: Features | None = None  # GaNI's parsing network: image -> feature maps

    @classmethod
    def build(cls, load: Callable[[str], nn.Module], available: Callable[[str], bool]) -> InversionNetworks:
        """From a slot loader (a zoo's or the app session's); optional slots the zoo lacks stay None."""
        net, ident = load("perceptual"), load("identity")
        optional = {s: load(s) if available(s) else None for s in ("e4e", "refinestyle_1s", "refinestyle_2s", "gradstyle")}
        parsing = load("parsing").features if available("parsing") else None
        return cls(load("generator"), ReconstructionLoss(net.perceptual_distance, ident.identity), parsing=parsing,
                   **optional)

    @classmethod
    def from_zoo(cls, zoo, device: str = "cpu") -> InversionNetworks:
        return cls.build(lambda slot: zoo.load(slot, device), zoo.available)


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
    residuals: dict[int, LowRankFactors] = field(default_factory=dict)  # RefineStyle: ΔW factors per conv layer
    weight_deltas: WeightDeltas = field(default_factory=dict)  # GaNI, PTI: kernel changes per conv layer
    stream: Stream = field(default_factory=dict)  # GradStyle: (F_m, f_m) per stage
    metrics: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0


def available_methods(nets: InversionNetworks) -> dict[str, str]:
    """Every method with "" when it can run, or the reason it cannot."""
    return {m: next((f"no {slot} network in this zoo" for slot in NEEDS[m] if getattr(nets, slot) is None), "")
            for m in METHODS}


@torch.no_grad()
def image_metrics(loss: ReconstructionLoss, x: Tensor, target: Tensor) -> dict[str, float]:
    """MSE and SSIM on [0, 1] images, the zoo's perceptual distance, and the identity cosine."""
    ident = (loss.identity(x) * loss.identity(target)).sum(1)
    return {"mse": mse(x, target).mean().item(), "ssim": ssim(x, target).mean().item(),
            "perceptual": loss.perceptual(x, target).mean().item(), "id": ident.mean().item()}


def render(nets: InversionNetworks, result: InversionResult, ws: Tensor | None = None,
           style_offsets: dict[int, Tensor] | None = None, use_gam: bool = True) -> Tensor:
    """Synthesise a result's code (or an edited code `ws`, StyleSpace `style_offsets`) the way its
    method preserves details: with its residuals, its kernel deltas, or — GradStyle — the editing
    stream, whose GAM aligns the stored residuals to the new code's features (use_gam=False adds
    them unaligned). With neither ws nor offsets it is the result's own image.  -> [1, 3, R, R]
    """
    g = nets.generator
    if ws is None and style_offsets is None:
        return result.image
    ws = result.ws if ws is None else ws
    with torch.no_grad():
        if result.stream:
            image, _ = nets.gradstyle.edit(g, ws, result.stream, use_gam, style_offsets)
        else:
            image = g.synthesis(ws, residuals=result.residuals, weight_deltas=result.weight_deltas,
                                style_offsets=style_offsets)
        return image.clamp(-1, 1)


def invert(nets: InversionNetworks, target: Tensor, methods: list[str], settings: OptimisationSettings | None = None,
           seed: int = 0, progress: Progress | None = None, tuning: TuningSettings | None = None
           ) -> list[InversionResult]:
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
    settings, tuning = settings or OptimisationSettings(), tuning or TuningSettings()
    results = []
    for m in methods:
        start = time.perf_counter()
        # 2. encode or optimise, 3. synthesise
        result = _run(nets, m, target, settings, tuning, seed, progress)
        # 4. score
        result.metrics = image_metrics(nets.loss, result.image, target)
        result.seconds = time.perf_counter() - start
        results.append(result)
    return results


def _run(nets: InversionNetworks, m: str, target: Tensor, settings: OptimisationSettings, tuning: TuningSettings,
         seed: int, progress: Progress | None) -> InversionResult:
    g = nets.generator
    with torch.no_grad():
        ws = nets.e4e(target) if nets.e4e is not None else None
    if m == "gradstyle":
        with torch.no_grad():
            image, stream, _ = nets.gradstyle.reconstruct(g, ws, nets.e4e.features(target))
        return InversionResult(m, image.clamp(-1, 1), ws, stream=stream)
    residuals, deltas = {}, {}
    if m == "refinestyle_1s":
        with torch.no_grad():
            ws, residuals = nets.refinestyle_1s(target)
    elif m == "refinestyle_2s":
        with torch.no_grad():
            _, residuals = nets.refinestyle_2s(torch.cat([target, g.synthesis(ws).clamp(-1, 1)], dim=1))
    elif m == "refinestyle_opt":
        ws, residuals = optimise_refinestyle(nets, target, settings, ws, seed, progress)
    elif m == "gani":
        deltas = tune_gani(g, ws, target, nets.loss, tuning, nets.parsing, seed, progress)
    elif m == "pti":
        deltas = tune_pti(g, ws, target, nets.loss, tuning, progress)
    with torch.no_grad():
        image = g.synthesis(ws, residuals=residuals, weight_deltas=deltas).clamp(-1, 1)
    return InversionResult(m, image, ws, residuals, deltas)


def optimise_refinestyle(nets: InversionNetworks, target: Tensor, s: OptimisationSettings, start: Tensor | None = None,
                         seed: int = 0, progress: Progress | None = None) -> tuple[Tensor, dict[int, LowRankFactors]]:
    """W+ by Adam from `start` (the e4e code; None: w_avg), then rank-L residual factors with W+ fixed.

    P ~ N(0, 1), Q = 0 and A = B = scaling_init: ΔW = (A⊙P)ᵀ(B⊙Q) starts at exactly zero.
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
