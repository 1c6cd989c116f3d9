"""Differentiable augmentation for GAN training on small data (Zhao et al. 2020, "DiffAugment").

The same random transform family is applied to real and generated images before the
discriminator, and gradients flow through it to the generator, so D cannot overfit the ~1.6 k
training emoji while G still learns the un-augmented distribution. Every draw comes from the
`generator` the caller passes, on the images' device.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def diff_augment(x: Tensor, generator: torch.Generator,
                 policy: tuple[str, ...] = ("color", "translation", "cutout")) -> Tensor:
    """x [B, 3, H, W] in [-1, 1] -> augmented, same shape; each sample gets its own parameters."""
    for name in policy:
        x = _OPS[name](x, generator)
    return x


def _color(x: Tensor, generator: torch.Generator) -> Tensor:
    b = x.shape[0]
    x = x + (torch.rand(b, 1, 1, 1, device=x.device, generator=generator) - 0.5)  # brightness
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (torch.rand(b, 1, 1, 1, device=x.device, generator=generator) * 2) + mean  # saturation
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (torch.rand(b, 1, 1, 1, device=x.device, generator=generator) + 0.5) + mean  # contrast


def _translation(x: Tensor, generator: torch.Generator, ratio: float = 0.125) -> Tensor:
    """Shift by up to ratio·size pixels, filling with white (the emoji background is +1)."""
    b, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = torch.randint(-sh, sh + 1, (b,), device=x.device, generator=generator)
    dx = torch.randint(-sw, sw + 1, (b,), device=x.device, generator=generator)
    padded = F.pad(x, (sw, sw, sh, sh), value=1.0)  # [B, 3, H + 2sh, W + 2sw]
    rows = (torch.arange(h, device=x.device)[None, :] + sh - dy[:, None]).clamp(0, h + 2 * sh - 1)  # [B, H]
    cols = (torch.arange(w, device=x.device)[None, :] + sw - dx[:, None]).clamp(0, w + 2 * sw - 1)  # [B, W]
    idx = torch.arange(b, device=x.device)[:, None, None]
    return padded.permute(0, 2, 3, 1)[idx, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


def _cutout(x: Tensor, generator: torch.Generator, ratio: float = 0.5) -> Tensor:
    """Zero (grey, in [-1, 1]) a random ratio·size square; its centre is uniform, so it may be clipped."""
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = torch.randint(0, h + (1 - ch % 2), (b, 1, 1), device=x.device, generator=generator)
    cx = torch.randint(0, w + (1 - cw % 2), (b, 1, 1), device=x.device, generator=generator)
    ys = torch.arange(h, device=x.device)[None, :, None]
    xs = torch.arange(w, device=x.device)[None, None, :]
    top, left = cy - ch // 2, cx - cw // 2
    inside = (ys >= top) & (ys < top + ch) & (xs >= left) & (xs < left + cw)  # [B, H, W]
    return x * (~inside)[:, None].to(x.dtype)


_OPS = {"color": _color, "translation": _translation, "cutout": _cutout}


class AdaptiveAugment:
    """DiffAugment's transforms, each applied to a sample with probability p, and p steered by
    StyleGAN2-ADA's overfitting heuristic (Karras et al. 2020b, §3): r_t = E[sign(D(real))].

    Every `interval` steps p moves by ± batch·interval / (speed_kimg·1000) towards r_t = target,
    so p can go from 0 to 1 in `speed_kimg` thousand images; ADA's target is 0.6.
    """

    def __init__(self, target: float = 0.6, speed_kimg: float = 100.0, interval: int = 4, p: float = 0.0,
                 policy: tuple[str, ...] = ("color", "translation", "cutout")) -> None:
        self.target, self.speed_kimg, self.interval, self.p, self.policy = target, speed_kimg, interval, p, policy
        self._signs: list[Tensor] = []

    def __call__(self, x: Tensor, generator: torch.Generator) -> Tensor:  # [B, 3, H, W] -> same shape
        for name in self.policy:
            chosen = torch.rand(x.shape[0], 1, 1, 1, device=x.device, generator=generator) < self.p
            x = torch.where(chosen, _OPS[name](x, generator), x)
        return x

    def observe(self, sign_mean: Tensor, batch: int) -> float | None:
        """Accumulate E[sign(D(real))] of one step (over every process); every `interval` calls,
        adjust p and return r_t (else None)."""
        self._signs.append(sign_mean.detach().float())
        if len(self._signs) < self.interval:
            return None
        r_t = torch.stack(self._signs).mean().item()
        self._signs = []
        step = batch * self.interval / (self.speed_kimg * 1000)
        self.p = min(1.0, max(0.0, self.p + step * (1 if r_t > self.target else -1)))
        return r_t
