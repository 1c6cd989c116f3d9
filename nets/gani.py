"""GaNI's gradient modification modules (Sheffi et al., "Gradient Adjusting Networks").

GaNI tunes a generator to one image without touching its weights by gradient descent: a small
network M reads the gradient of the reconstruction loss with respect to a layer's kernel and
returns the kernel's correction, and the tuned generator is θ + M(∇θ L), applied once.  M is
optimised per image; θ stays frozen.

Each M is a stack of residual blocks over the gradient's rows, one vector of length C_in·k·k per
output channel (the whole kernel slice that output channel reads, taps included):

    h ← h + W₂ · LeakyReLU(W₁ · ScaleNorm(h) + b),       ScaleNorm(h) = g · h / ‖h‖

with W₁ [hidden, C_in·k·k] and W₂ [C_in·k·k, hidden] (a bottleneck, so that the modules stay
small at 512 channels)
(Nguyen & Salazar 2019), starting from h = ∇θ L / rms(∇θ L) (the layer's gradient at unit
root-mean-square, so one module serves layers and images whose gradients differ in scale, while
the fibres keep their relative sizes) and ending with a learnable step size η per layer
(initialised at 0, so the tuned generator starts as the frozen one):  ΔW = −η_layer · h.  At initialisation every
block is the identity, so M starts as a normalised gradient-descent step and learns to bend it.
Layers with the same C_in share one module, as in the paper. The modules take their initial
weights from a `torch.Generator` when given one (nn.Linear's initialisation, drawn from it in the
order nn.Linear draws them), so a seeded tuning run never touches torch's global generator.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class ScaleNorm(nn.Module):
    """g · x / ‖x‖ over the last dimension, one learnable scalar g (init √d)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.tensor(math.sqrt(dim)))

    def forward(self, x: Tensor) -> Tensor:
        return self.gain * F.normalize(x, dim=-1, eps=1e-12)


def _linear(in_features: int, out_features: int, bias: bool, generator: torch.Generator | None) -> nn.Linear:
    """nn.Linear with its default initialisation (Kaiming-uniform weight, bias uniform in ±1/√fan_in)
    drawn from `generator` (None: torch's global generator, as nn.Linear itself)."""
    layer = nn.utils.skip_init(nn.Linear, in_features, out_features, bias=bias)
    nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=generator)
    if bias:
        bound = 1 / math.sqrt(in_features)
        nn.init.uniform_(layer.bias, -bound, bound, generator=generator)
    return layer


class AdjusterBlock(nn.Module):
    """h + W₂ LeakyReLU(W₁ ScaleNorm(h) + b).  [N, D] -> [N, D]"""

    def __init__(self, dim: int, hidden: int, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.norm = ScaleNorm(dim)
        self.w1 = _linear(dim, hidden, True, generator)
        self.w2 = _linear(hidden, dim, False, generator)  # drawn as nn.Linear draws, so later blocks get the
        nn.init.zeros_(self.w2.weight)  # same W₁ from a seed; zero: each block starts as the identity

    def forward(self, h: Tensor) -> Tensor:
        return h + self.w2(F.leaky_relu(self.w1(self.norm(h)), 0.2))


class GradientAdjuster(nn.Module):
    """M: a kernel gradient [O, I, k, k] -> the correction's direction h [O, I, k, k]."""

    def __init__(self, in_channels: int, blocks: int = 2, hidden: int = 256, kernel_size: int = 3,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.in_channels, self.kernel_size = in_channels, kernel_size
        dim = in_channels * kernel_size**2
        self.blocks = nn.Sequential(*(AdjusterBlock(dim, hidden, generator) for _ in range(blocks)))

    def forward(self, grad: Tensor) -> Tensor:
        o, i, kh, kw = grad.shape
        assert (i, kh, kw) == (self.in_channels, self.kernel_size, self.kernel_size), \
            f"module for [*, {self.in_channels}, {self.kernel_size}, {self.kernel_size}] got {list(grad.shape)}"
        rows = grad.reshape(o, i * kh * kw)  # [O, I·k·k]
        h = self.blocks(rows * torch.rsqrt(rows.square().mean() + 1e-24))
        return h.reshape(o, i, kh, kw)


class GradientAdjusters(nn.Module):
    """One GradientAdjuster per distinct C_in among the tuned conv layers, and a step η per layer."""

    def __init__(self, in_channels: dict[int, int], blocks: int = 2, hidden: int = 256,
                 generator: torch.Generator | None = None) -> None:
        """in_channels: {conv layer index: C_in}; generator: the initial weights' draws (None: torch's global one)."""
        super().__init__()
        widths = sorted(set(in_channels.values()))
        self.modules_by_width = nn.ModuleDict({str(c): GradientAdjuster(c, blocks, hidden, generator=generator)
                                               for c in widths})
        self.steps = nn.ParameterDict({str(i): nn.Parameter(torch.zeros(())) for i in in_channels})

    def forward(self, grads: dict[int, Tensor]) -> dict[int, Tensor]:
        """{conv layer: ∇W [O, I, k, k]} -> {conv layer: ΔW = −η · M(∇W) [O, I, k, k]}"""
        return {i: -self.steps[str(i)] * self.modules_by_width[str(g.shape[1])](g) for i, g in grads.items()}
