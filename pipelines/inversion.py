"""Inversion: one entry point for every registered method -> images, W+ codes, details, metrics and seconds.

The methods live in pipelines/methods/, one module each (docs/architecture.md: the registry);
a method is available when the zoo has the slots it needs. `render` synthesises a result's code, or an
edited one, the way its method keeps details.
"""
from __future__ import annotations

import hashlib
import time

import torch
from torch import Tensor

from .losses import ReconstructionLoss
from .methods import REGISTRY, Cancel, InversionMethod, InversionNetworks, InversionResult, Progress
from .methods.refinestyle_opt import OptimisationSettings
from .metrics import mse, ssim

# the code an image gets before it is rendered in an adapted domain: e4e's, else a W+ fit
DOMAIN_CODE_METHODS = ("e4e", "refinestyle_opt")
DOMAIN_CODE_SETTINGS = OptimisationSettings(w_steps=100, residual_steps=0)


class InversionSettings:
    """The settings objects of one request; a method gets the one of its settings class, else its defaults."""

    def __init__(self, *parts: object) -> None:
        self.parts = parts

    def of(self, method: InversionMethod) -> object:
        found = next((p for p in self.parts if isinstance(p, method.settings)), None)
        return method.settings() if found is None else found

    def __repr__(self) -> str:
        return f"InversionSettings{self.parts!r}"


def lookup(name: str) -> InversionMethod:
    """A registered method by name (ValueError names the known ones)."""
    if name not in REGISTRY:
        raise ValueError(f"unknown method '{name}' (known: {', '.join(REGISTRY)})")
    return REGISTRY[name]


def available_methods(nets: InversionNetworks) -> dict[str, str]:
    """Every registered method with "" when it can run, or the reason it cannot."""
    return {name: m.unavailable(nets) for name, m in REGISTRY.items()}


@torch.no_grad()
def image_metrics(loss: ReconstructionLoss, x: Tensor, target: Tensor) -> dict[str, float]:
    """MSE and SSIM on [0, 1] images, the zoo's perceptual distance, and the identity cosine."""
    ident = (loss.identity(x) * loss.identity(target)).sum(1)
    return {"mse": mse(x, target).mean().item(), "ssim": ssim(x, target).mean().item(),
            "perceptual": loss.perceptual(x, target).mean().item(), "id": ident.mean().item()}


def render(nets: InversionNetworks, result: InversionResult, ws: Tensor | None = None,
           style_offsets: dict[int, Tensor] | None = None, use_gam: bool = True) -> Tensor:
    """Synthesise a result's code (or an edited code `ws`, StyleSpace `style_offsets`) through its
    method's renderer: with its residuals, its kernel deltas, or — GradStyle — the editing stream
    (use_gam=False adds the stored residuals unaligned). With neither ws nor offsets it is the
    result's own image.  -> [1, 3, R, R]
    """
    if ws is None and style_offsets is None:
        return result.image
    return lookup(result.method).render(nets, result, result.ws if ws is None else ws, style_offsets, use_gam)


def invert(nets: InversionNetworks, target: Tensor, methods: list[str], settings: InversionSettings | None = None,
           seed: int = 0, progress: Progress | None = None, cancel: Cancel | None = None) -> list[InversionResult]:
    """Invert one image [1, 3, R, R] in [-1, 1] with each method, in order; once cancelled, the
    running method returns what it has and the later ones do not start."""
    # 1. check inputs
    g = nets.generator
    if target.ndim != 4 or target.shape[0] != 1 or target.shape[1:] != (3, g.size, g.size):
        raise ValueError(f"expected one image [1, 3, {g.size}, {g.size}], got {list(target.shape)}")
    chosen = [lookup(m) for m in methods]
    for m in chosen:
        if why := m.unavailable(nets):
            raise ValueError(f"{m.name} is unavailable: {why}")
    settings = settings or InversionSettings()
    results = []
    for m in chosen:
        if results and cancel is not None and cancel():
            break
        start = time.perf_counter()
        # 2. encode or optimise, 3. synthesise
        result = m.run(nets, target, settings.of(m), seed, progress, cancel)
        # 4. score
        result.metrics = image_metrics(nets.loss, result.image, target)
        result.seconds = time.perf_counter() - start
        results.append(result)
    return results


class InversionCache:
    """The inversions of the last `size` requests, keyed by the image's pixels, the methods, the
    settings and the seed (the Editing tab re-edits one image without inverting it again)."""

    def __init__(self, size: int = 8) -> None:
        self.size = size
        self.entries: dict[tuple, list[InversionResult]] = {}

    @staticmethod
    def key(target: Tensor, methods: list[str], settings: InversionSettings, seed: int = 0) -> tuple:
        return (hashlib.sha256(target.detach().cpu().numpy().tobytes()).hexdigest(), tuple(methods), repr(settings),
                seed)

    def holds(self, target: Tensor, methods: list[str], settings: InversionSettings, seed: int = 0) -> bool:
        """Whether `invert` with these arguments would answer from the cache."""
        return self.key(target, methods, settings, seed) in self.entries

    def invert(self, nets: InversionNetworks, target: Tensor, methods: list[str], settings: InversionSettings,
               seed: int = 0, progress: Progress | None = None, cancel: Cancel | None = None
               ) -> list[InversionResult]:
        """`invert`'s results, computed once per key; a cancelled run is not kept."""
        key = self.key(target, methods, settings, seed)
        if key in self.entries:
            return self.entries[key]
        results = invert(nets, target, methods, settings, seed, progress, cancel)
        if cancel is None or not cancel():
            if len(self.entries) >= self.size:
                self.entries.pop(next(iter(self.entries)))
            self.entries[key] = results
        return results


def invert_for_domain(nets: InversionNetworks, image: Tensor, progress: Progress | None = None,
                      cancel: Cancel | None = None) -> InversionResult:
    """The code an image is rendered with in an adapted domain: the first available of DOMAIN_CODE_METHODS."""
    method = next(m for m in DOMAIN_CODE_METHODS if not lookup(m).unavailable(nets))
    (result,) = invert(nets, image, [method], InversionSettings(DOMAIN_CODE_SETTINGS), progress=progress,
                       cancel=cancel)
    return result
