"""Sampling a generator, and the spectrum of its dynamic kernels (RefineStyle Fig. 3)."""
from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch import Tensor

from nets.stylegan2 import Generator

from .jobs import Progress


@dataclass
class GenerateResult:
    images: Tensor  # [N, 3, H, W] in about [-1, 1]
    ws: Tensor  # [N, num_ws, w_dim]
    seeds: list[int]
    seconds: float


@torch.no_grad()
def generate(
    generator: Generator,
    seed: int,
    count: int = 8,
    truncation: float = 1.0,
    mix_seed: int | None = None,
    inject_index: int | None = None,
    noise_mode: str = "const",
) -> GenerateResult:
    """Sample `count` images from seeds seed, seed+1, ...; optional style mixing from mix_seed onwards.

    With mixing, layers [0, inject_index) take the sample's own w and the rest take w of mix_seed,
    so every sample gets the same fine styles.
    """
    # 1. check inputs
    if not 1 <= count <= 64:
        raise ValueError(f"count must be 1..64, got {count}")
    if not 0.0 <= truncation <= 1.5:
        raise ValueError(f"truncation ψ must be in [0, 1.5], got {truncation}")
    if mix_seed is not None and not (inject_index is not None and 0 < inject_index < generator.num_ws):
        raise ValueError(f"style mixing needs an inject index in 1..{generator.num_ws - 1}")
    start = time.perf_counter()
    device = generator.w_avg.device
    # 2. latents
    seeds = [seed + i for i in range(count)]
    z = torch.stack([_gaussian(s, generator.z_dim) for s in seeds]).to(device)  # [N, z_dim]
    w = generator.truncate(generator.mapping(z), truncation)  # [N, w_dim]
    if mix_seed is None:
        ws = generator.broadcast(w)
    else:
        w2 = generator.truncate(generator.mapping(_gaussian(mix_seed, generator.z_dim)[None].to(device)), truncation)
        ws = generator.mix(w, w2.expand(count, -1), inject_index)
    # 3. synthesise (noise_mode "random": the noise drawn from `seed` on the generator's device)
    images = generator.synthesis(ws, noise_mode=noise_mode, noise_generator=torch.Generator(device).manual_seed(seed))
    return GenerateResult(images.cpu(), ws.cpu(), seeds, time.perf_counter() - start)


def _gaussian(seed: int, dim: int) -> Tensor:
    return torch.randn(dim, generator=torch.Generator().manual_seed(int(seed)))


@dataclass
class KernelSpectrum:
    layers: list[str]  # "conv 3 (16 px, 512→512)"
    singular_values: list[Tensor]  # per layer [min(C_out, C_in·k²)], sorted descending, normalised to σ₁ = 1
    samples: int
    seconds: float


@torch.no_grad()
def kernel_spectrum(generator: Generator, samples: int = 16, seed: int = 0,
                    progress: Progress | None = None) -> KernelSpectrum:
    """Sorted singular values of each conv layer's demodulated dynamic kernel [C_out, C_in·k²],
    averaged over `samples` random w (RefineStyle Fig. 3: the kernels are nearly low-rank, which
    motivates a low-rank residual)."""
    if not 1 <= samples <= 256:
        raise ValueError(f"samples must be 1..256, got {samples}")
    start = time.perf_counter()
    device = generator.w_avg.device
    z = torch.randn(samples, generator.z_dim, generator=torch.Generator().manual_seed(seed)).to(device)
    w = generator.mapping(z)  # [S, w_dim]
    names, spectra = [], []
    convs = generator.synthesis.convs
    for i, layer in enumerate(convs):
        conv = layer.conv
        sv = torch.zeros(min(conv.out_channels, conv.in_channels * conv.kernel_size**2), device=device)
        for j in range(samples):  # one kernel at a time: a 1024 px model has 512×512×9 per layer
            kernel = conv.dynamic_kernel(w[j : j + 1])[0].flatten(1)  # [O, I·k²]
            s = torch.linalg.svdvals(kernel)
            sv += s / s[0]
        spectra.append((sv / samples).cpu())
        kind = "up-conv" if conv.up else "conv"
        names.append(f"{kind} {i} ({layer.resolution} px, {conv.in_channels}→{conv.out_channels})")
        if progress is not None:
            progress((i + 1) / len(convs), names[-1])
    return KernelSpectrum(names, spectra, samples, time.perf_counter() - start)
