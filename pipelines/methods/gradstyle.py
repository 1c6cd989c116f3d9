"""GradStyle: the e4e code with the GRM residual features (the reconstruction stream).

The stream is kept so that an edited code renders through the editing stream, whose GAM aligns
the stored residual features to the edited code's features before Gate & Fusion adds them.
"""
from __future__ import annotations

import torch
from torch import Tensor

from .base import Cancel, InversionMethod, InversionNetworks, InversionResult, Progress, count_parameters, register
from .e4e import encode


def run(nets: InversionNetworks, target: Tensor, settings: object, seed: int, progress: Progress | None,
        cancel: Cancel | None) -> InversionResult:
    ws = encode(nets, target)
    with torch.no_grad():
        image, stream, _ = nets.gradstyle.reconstruct(nets.generator, ws, nets.e4e.features(target))
    return InversionResult("gradstyle", image.clamp(-1, 1), ws, stream=stream)


def render(nets: InversionNetworks, result: InversionResult, ws: Tensor, style_offsets: dict[int, Tensor] | None,
           use_gam: bool = True) -> Tensor:
    """The editing stream on `ws`; use_gam=False adds the stored residuals unaligned.  -> [1, 3, R, R]"""
    with torch.no_grad():
        image, _ = nets.gradstyle.edit(nets.generator, ws, result.stream, use_gam, style_offsets)
    return image.clamp(-1, 1)


METHOD = register(InversionMethod("gradstyle", "GradStyle", ("e4e", "gradstyle"), run,
                                  lambda nets, s: count_parameters(nets.e4e, nets.gradstyle), render=render))
