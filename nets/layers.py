"""Equalised-learning-rate layers shared by every network (Karras et al. 2018, §4.1).

Each layer stores its weight at unit scale and multiplies by He's constant at run time, so
that Adam's per-parameter step sizes are equal across layers. The stored layout matches the
official StyleGAN2 checkpoints, so converting them copies values unchanged.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

SQRT2 = math.sqrt(2.0)


def lrelu(x: Tensor) -> Tensor:
    """Leaky ReLU (slope 0.2) with StyleGAN's √2 gain, which keeps unit variance."""
    return F.leaky_relu(x, 0.2) * SQRT2


def pixel_norm(x: Tensor, eps: float = 1e-8) -> Tensor:
    """Normalise each vector to unit root-mean-square.  [B, C] -> [B, C]"""
    return x * torch.rsqrt(x.square().mean(dim=1, keepdim=True) + eps)


class EqualLinear(nn.Module):
    """y = (W · c) x + b · lr_mul, with c = lr_mul / √in; optional scaled leaky ReLU."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias_init: float = 0.0,
        lr_mul: float = 1.0,
        activation: bool = False,
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_mul)  # [O, I]
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init)))      # [O]
        self.scale = lr_mul / math.sqrt(in_features)
        self.lr_mul = lr_mul
        self.activation = activation

    def forward(self, x: Tensor) -> Tensor:  # [B, I] -> [B, O]
        y = F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)
        return lrelu(y) if self.activation else y


class EqualConv2d(nn.Module):
    """A plain convolution with an equalised-lr weight, optional bias and scaled leaky ReLU."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        bias: bool = True,
        activation: bool = False,
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.scale = 1.0 / math.sqrt(in_channels * kernel_size**2)
        self.stride, self.padding, self.activation = stride, padding, activation

    def forward(self, x: Tensor) -> Tensor:  # [B, I, H, W] -> [B, O, H', W']
        y = F.conv2d(x, self.weight * self.scale, self.bias, self.stride, self.padding)
        return lrelu(y) if self.activation else y
