"""StyleGAN2 (Karras et al., "Analyzing and Improving the Image Quality of StyleGAN", 2020).

Config-f generator with skip connections to RGB, and the residual discriminator with a
minibatch-standard-deviation layer. One bottom-up file, read top to bottom: mapping network,
styled convolution, ToRGB, synthesis network, generator, discriminator.

The parameters keep the layout of the official checkpoints (see pipelines/converters.py), so a
converted FFHQ 1024 model and the project's own 64 px emoji model run the same code with a
different config. Interface in the manner of NVlabs' code:

    w   = G.mapping(z)                    # [B, z_dim] -> [B, w_dim]
    ws  = G.broadcast(G.truncate(w, 0.7))   # [B, num_ws, w_dim]
    img = G.synthesis(ws, noise_mode="const")   # [B, 3, size, size], about [-1, 1]

`synthesis` also takes the per-layer hooks later methods need, so nothing copies the network:
`residuals` (RefineStyle factors per conv layer), `weight_deltas` (GaNI / PTI kernel changes
per conv layer) and `feature_hook` (read or replace the features after a conv layer: GradStyle).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import torch
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin
from torch import Tensor, nn

from .filters import DEFAULT_TAPS, blur, fir_kernel, upsample2x
from .layers import SQRT2, EqualConv2d, EqualLinear, pixel_norm
from .modconv import LowRankFactors, ModulatedConv2d

NOISE_MODES = ("const", "random", "none")
FeatureHook = Callable[[int, Tensor], "Tensor | None"]


def stylegan2_channels(size: int, channel_multiplier: int = 2, max_channels: int = 512) -> list[int]:
    """The official channel table, one width per resolution 4, 8, ..., size."""
    table = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256 * channel_multiplier,
             128: 128 * channel_multiplier, 256: 64 * channel_multiplier,
             512: 32 * channel_multiplier, 1024: 16 * channel_multiplier}
    return [min(table[2**i], max_channels) for i in range(2, int(math.log2(size)) + 1)]


class MappingNetwork(nn.Module):
    """z -> w: pixel norm, then n_mlp equalised-lr layers (lr_mul 0.01) with scaled leaky ReLU."""

    def __init__(self, z_dim: int, w_dim: int, n_mlp: int, lr_mul: float = 0.01) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            EqualLinear(z_dim if i == 0 else w_dim, w_dim, lr_mul=lr_mul, activation=True) for i in range(n_mlp)
        )

    def forward(self, z: Tensor) -> Tensor:  # [B, z_dim] -> [B, w_dim]
        x = pixel_norm(z)
        for layer in self.layers:
            x = layer(x)
        return x


class StyledConv(nn.Module):
    """Modulated 3×3 conv, noise injection with a learned strength, bias and scaled leaky ReLU."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int,
                 up: bool = False, blur_taps: tuple[int, ...] = DEFAULT_TAPS) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, out_channels, 3, w_dim, up=up, blur_taps=blur_taps)
        self.noise_strength = nn.Parameter(torch.zeros(1))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.register_buffer("noise_const", torch.randn(1, 1, resolution, resolution))
        self.resolution = resolution

    def forward(self, x: Tensor, w: Tensor, noise_mode: str = "const",
                residual: LowRankFactors | None = None, weight_delta: Tensor | None = None,
                style_offset: Tensor | None = None, noise_generator: torch.Generator | None = None) -> Tensor:
        # lrelu(conv + noise + bias) · √2 = lrelu(√2 conv + √2 noise + √2 bias): the gain and the bias
        # ride on the convolution, leaving one noise pass and one activation pass.
        y = self.conv(x, w, residual, weight_delta, self.bias * SQRT2, SQRT2, style_offset)  # [B, O, R, R]
        if noise_mode == "const":
            y = y.add_(self.noise_const * (self.noise_strength * SQRT2))
        elif noise_mode == "random":
            noise = torch.randn(y.shape[0], 1, self.resolution, self.resolution, dtype=y.dtype, device=y.device,
                                generator=noise_generator)
            y = y.add_(noise * (self.noise_strength * SQRT2))
        return F.leaky_relu_(y, 0.2)


class ToRGB(nn.Module):
    """Modulated 1×1 conv to RGB (no demodulation), plus the up-sampled skip image."""

    def __init__(self, in_channels: int, w_dim: int, img_channels: int = 3,
                 blur_taps: tuple[int, ...] = DEFAULT_TAPS) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, img_channels, 1, w_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(img_channels))
        self.register_buffer("up_kernel", fir_kernel(blur_taps), persistent=False)

    def forward(self, x: Tensor, w: Tensor, skip: Tensor | None = None) -> Tensor:  # -> [B, 3, R, R]
        y = self.conv(x, w) + self.bias[None, :, None, None]
        return y if skip is None else y + upsample2x(skip, self.up_kernel)


class SynthesisNetwork(nn.Module):
    """ws -> image. Conv layer i reads ws[:, i]; the ToRGB after conv layer i reads ws[:, i + 1].

    Conv layers: index 0 at 4×4, then two per resolution (the first up-samples); a resolution
    block ends at every even index, where its ToRGB adds to the skip image.
    """

    def __init__(self, size: int, w_dim: int, channels: list[int], img_channels: int = 3,
                 blur_taps: tuple[int, ...] = DEFAULT_TAPS) -> None:
        super().__init__()
        log_size = int(math.log2(size))
        assert 2**log_size == size and size >= 4, f"size must be a power of two >= 4, got {size}"
        assert len(channels) == log_size - 1, f"need {log_size - 1} channel widths (4..{size}), got {len(channels)}"
        self.size, self.w_dim = size, w_dim
        self.const = nn.Parameter(torch.randn(channels[0], 4, 4))
        convs = [StyledConv(channels[0], channels[0], w_dim, 4, blur_taps=blur_taps)]
        to_rgbs = [ToRGB(channels[0], w_dim, img_channels, blur_taps)]
        for i in range(1, log_size - 1):
            res = 2 ** (i + 2)
            convs.append(StyledConv(channels[i - 1], channels[i], w_dim, res, up=True, blur_taps=blur_taps))
            convs.append(StyledConv(channels[i], channels[i], w_dim, res, blur_taps=blur_taps))
            to_rgbs.append(ToRGB(channels[i], w_dim, img_channels, blur_taps))
        self.convs = nn.ModuleList(convs)
        self.to_rgbs = nn.ModuleList(to_rgbs)
        self.num_ws = len(convs) + 1

    def forward(
        self,
        ws: Tensor,
        noise_mode: str = "const",
        residuals: Mapping[int, LowRankFactors] | None = None,
        weight_deltas: Mapping[int, Tensor] | None = None,
        feature_hook: FeatureHook | None = None,
        style_offsets: Mapping[int, Tensor] | None = None,
        noise_generator: torch.Generator | None = None,
    ) -> Tensor:
        """ws [B, num_ws, w_dim] -> img [B, 3, size, size].

        residuals / weight_deltas / style_offsets: keyed by conv layer index (0 .. num_ws - 2);
        style_offsets [B|1, C_in] move that layer's style vector s (StyleSpace's S).
        feature_hook(i, x): called after conv layer i with its output [B, C, R, R]; a returned
        tensor replaces the features that flow on (to the next layer and the ToRGB).
        noise_generator: draws the noise of noise_mode "random" (on the activations' device; None:
        torch's global generator).
        """
        assert ws.ndim == 3 and ws.shape[1:] == (self.num_ws, self.w_dim), \
            f"ws must be [B, {self.num_ws}, {self.w_dim}], got {list(ws.shape)}"
        assert noise_mode in NOISE_MODES, f"noise_mode must be one of {NOISE_MODES}"
        residuals, weight_deltas, style_offsets = residuals or {}, weight_deltas or {}, style_offsets or {}
        # channels-last activations: oneDNN's convolutions run fastest in that layout on CPU
        x = self.const.expand(ws.shape[0], -1, -1, -1).contiguous(memory_format=torch.channels_last)  # [B, C4, 4, 4]
        img = None
        for i, layer in enumerate(self.convs):
            x = layer(x, ws[:, i], noise_mode, residuals.get(i), weight_deltas.get(i), style_offsets.get(i),
                      noise_generator)
            if feature_hook is not None:
                replaced = feature_hook(i, x)
                x = x if replaced is None else replaced
            if i % 2 == 0:
                img = self.to_rgbs[i // 2](x, ws[:, i + 1], img)
        return img


class Generator(nn.Module, PyTorchModelHubMixin):
    """StyleGAN2 generator: mapping network, synthesis network and the running mean w_avg.

    `channels` lists one width per resolution 4, 8, ..., size (default: the official table).
    """

    def __init__(self, size: int = 1024, style_dim: int = 512, n_mlp: int = 8,
                 channels: list[int] | None = None, channel_multiplier: int = 2,
                 lr_mlp: float = 0.01, blur_taps: list[int] | None = None, img_channels: int = 3) -> None:
        super().__init__()
        channels = list(channels) if channels is not None else stylegan2_channels(size, channel_multiplier)
        taps = tuple(blur_taps) if blur_taps is not None else DEFAULT_TAPS
        self.size, self.z_dim, self.w_dim = size, style_dim, style_dim
        self.channels = channels
        self.mapping = MappingNetwork(style_dim, style_dim, n_mlp, lr_mlp)
        self.synthesis = SynthesisNetwork(size, style_dim, channels, img_channels, taps)
        self.register_buffer("w_avg", torch.zeros(style_dim))
        self.num_ws = self.synthesis.num_ws

    def truncate(self, w: Tensor, psi: float, w_avg: Tensor | None = None) -> Tensor:
        """w' = w_avg + ψ (w − w_avg), for w [B, w_dim] or ws [B, num_ws, w_dim]."""
        if psi == 1:
            return w
        centre = self.w_avg if w_avg is None else w_avg.reshape(-1)
        return centre + psi * (w - centre)

    def broadcast(self, w: Tensor) -> Tensor:
        """The same w at every layer.  [B, w_dim] -> [B, num_ws, w_dim]"""
        return w[:, None, :].expand(-1, self.num_ws, -1)

    def mix(self, w1: Tensor, w2: Tensor, inject_index: int) -> Tensor:
        """Style mixing: layers [0, inject_index) from w1, the rest from w2.  -> [B, num_ws, w_dim]"""
        assert 0 < inject_index < self.num_ws, f"inject_index must be in 1..{self.num_ws - 1}"
        ws = self.broadcast(w1).clone()
        ws[:, inject_index:] = w2[:, None, :]
        return ws

    def forward(self, z: Tensor, truncation: float = 1.0, z_mix: Tensor | None = None,
                inject_index: int | None = None, noise_mode: str = "const",
                noise_generator: torch.Generator | None = None) -> Tensor:
        """z [B, z_dim] -> img [B, 3, size, size], with optional truncation and style mixing."""
        w = self.truncate(self.mapping(z), truncation)
        if z_mix is None:
            ws = self.broadcast(w)
        else:
            assert inject_index is not None, "style mixing needs inject_index"
            ws = self.mix(w, self.truncate(self.mapping(z_mix), truncation), inject_index)
        return self.synthesis(ws, noise_mode=noise_mode, noise_generator=noise_generator)

    @torch.no_grad()
    def estimate_w_avg(self, n: int = 4096, seed: int = 0) -> Tensor:
        """Mean of mapping(z) over n Gaussian z.  -> [w_dim]"""
        g = torch.Generator().manual_seed(seed)
        z = torch.randn(n, self.z_dim, generator=g).to(self.w_avg)
        return self.mapping(z).mean(0)


class _DownConv(nn.Module):
    """Blur then a stride-2 equalised conv (the discriminator's anti-aliased down-sampling)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, activation: bool,
                 bias: bool, taps: tuple[int, ...]) -> None:
        super().__init__()
        self.register_buffer("blur_kernel", fir_kernel(taps), persistent=False)
        self.pad = (len(taps) - 2 + kernel_size - 1) // 2
        self.conv = EqualConv2d(in_channels, out_channels, kernel_size, stride=2, bias=bias, activation=activation)

    def forward(self, x: Tensor) -> Tensor:  # [B, I, H, W] -> [B, O, H/2, W/2]
        return self.conv(blur(x, self.blur_kernel, self.pad))


class _ResBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, taps: tuple[int, ...]) -> None:
        super().__init__()
        self.conv1 = EqualConv2d(in_channels, in_channels, 3, padding=1, activation=True)
        self.conv2 = _DownConv(in_channels, out_channels, 3, activation=True, bias=True, taps=taps)
        self.skip = _DownConv(in_channels, out_channels, 1, activation=False, bias=False, taps=taps)

    def forward(self, x: Tensor) -> Tensor:  # [B, I, H, W] -> [B, O, H/2, W/2]
        return (self.conv2(self.conv1(x)) + self.skip(x)) / SQRT2


class Discriminator(nn.Module, PyTorchModelHubMixin):
    """Residual StyleGAN2 discriminator with minibatch standard deviation (Karras et al. 2018, §3)."""

    def __init__(self, size: int = 1024, channels: list[int] | None = None, channel_multiplier: int = 2,
                 mbstd_group: int = 4, blur_taps: list[int] | None = None, img_channels: int = 3) -> None:
        super().__init__()
        channels = list(channels) if channels is not None else stylegan2_channels(size, channel_multiplier)
        taps = tuple(blur_taps) if blur_taps is not None else DEFAULT_TAPS
        self.mbstd_group = mbstd_group
        self.from_rgb = EqualConv2d(img_channels, channels[-1], 1, activation=True)
        self.blocks = nn.Sequential(*(_ResBlock(channels[i], channels[i - 1], taps)
                                      for i in range(len(channels) - 1, 0, -1)))
        c4 = channels[0]
        self.final_conv = EqualConv2d(c4 + 1, c4, 3, padding=1, activation=True)
        self.final_linear = EqualLinear(c4 * 16, c4, activation=True)
        self.out = EqualLinear(c4, 1)

    def minibatch_stddev(self, x: Tensor) -> Tensor:
        """Append the mean over features of the per-group std of x.  [B, C, H, W] -> [B, C+1, H, W]"""
        b, c, h, w = x.shape
        g = min(self.mbstd_group, b)
        assert b % g == 0, f"batch {b} must be divisible by the stddev group {g}"
        y = x.view(g, b // g, c, h, w)
        std = (y.var(0, unbiased=False) + 1e-8).sqrt().mean((1, 2, 3))  # [B/g]
        return torch.cat([x, std.repeat(g)[:, None, None, None].expand(b, 1, h, w)], dim=1)

    def forward(self, img: Tensor) -> Tensor:  # [B, 3, size, size] -> [B, 1] logits
        x = self.blocks(self.from_rgb(img))  # [B, C4, 4, 4]
        x = self.final_conv(self.minibatch_stddev(x))
        return self.out(self.final_linear(x.flatten(1)))
