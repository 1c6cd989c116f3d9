"""RefineStyle's two-stage encoder (§3.3): e4e's W+ kept, residuals predicted from [I, Î₀]."""
from __future__ import annotations

import torch
from torch import Tensor

from nets.modconv import LowRankFactors

from .base import Cancel, InversionMethod, InversionNetworks, InversionResult, Progress, count_parameters, register
from .e4e import encode, kernel_result


def two_stage_residuals(nets: InversionNetworks, target: Tensor, ws: Tensor) -> dict[int, LowRankFactors]:
    """The residual factors (P̂, Q̂) per refined layer for the image and the reconstruction Î₀ = G(ws)."""
    with torch.no_grad():
        _, residuals = nets.refinestyle_2s(torch.cat([target, nets.generator.synthesis(ws).clamp(-1, 1)], dim=1))
    return residuals


def run(nets: InversionNetworks, target: Tensor, settings: object, seed: int, progress: Progress | None,
        cancel: Cancel | None) -> InversionResult:
    ws = encode(nets, target)
    return kernel_result("refinestyle_2s", nets, ws, two_stage_residuals(nets, target, ws))


METHOD = register(InversionMethod("refinestyle_2s", "RefineStyle, two-stage", ("e4e", "refinestyle_2s"), run,
                                  lambda nets, s: count_parameters(nets.e4e, nets.refinestyle_2s)))
