"""FIR filters for StyleGAN2's anti-aliased resampling (Karras et al. 2020, §2, App. B).

All filters are the separable [1, 3, 3, 1] low-pass, applied per channel. They are written as
depthwise (transposed) convolutions so that PyTorch's native kernels run them without the
pad/reshape dance of a generic upfirdn2d.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

DEFAULT_TAPS = (1, 3, 3, 1)


def fir_kernel(taps: tuple[int, ...] = DEFAULT_TAPS, gain: float = 1.0) -> Tensor:
    """Outer product of the 1-D taps, normalised to sum `gain`.  # [K, K]"""
    k = torch.tensor(taps, dtype=torch.float32)
    k2 = k[:, None] * k[None, :]
    return k2 / k2.sum() * gain


def _depthwise(kernel: Tensor, channels: int, like: Tensor) -> Tensor:
    # [K, K] -> [C, 1, K, K], in the dtype and device of `like`
    return kernel.to(like).expand(channels, 1, *kernel.shape)


def blur(x: Tensor, kernel: Tensor, pad: int, bias: Tensor | None = None) -> Tensor:
    """Low-pass `x` with `kernel` and symmetric zero padding `pad`, then add `bias` [C].

    [B, C, H, W] -> [B, C, H', W'], H' = H + 2 pad - K + 1. The kernel is symmetric, so
    correlation equals convolution.
    """
    c = x.shape[1]
    return F.conv2d(x, _depthwise(kernel, c, x), bias, padding=pad, groups=c)


def upsample2x(x: Tensor, kernel: Tensor) -> Tensor:
    """Zero-insertion 2x up-sampling followed by the low-pass (gain 4).  [B, C, H, W] -> [B, C, 2H, 2W]

    Equals upfirdn2d(x, 4 k, up=2, pad=(2, 1)) for a symmetric 4-tap k: a depthwise transposed
    convolution with stride 2 and padding 1 places x at even positions and filters in one op.
    """
    c = x.shape[1]
    assert kernel.shape[-1] == 4, "upsample2x expects a 4-tap kernel"
    return F.conv_transpose2d(x, _depthwise(kernel * 4, c, x), stride=2, padding=1, groups=c)

