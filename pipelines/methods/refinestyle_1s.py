"""RefineStyle's one-stage encoder (§3.2): W+ and per-image kernel residuals from the image alone."""
from __future__ import annotations

import torch
from torch import Tensor

from .base import Cancel, InversionMethod, InversionNetworks, InversionResult, Progress, count_parameters, register
from .e4e import kernel_result


def run(nets: InversionNetworks, target: Tensor, settings: object, seed: int, progress: Progress | None,
        cancel: Cancel | None) -> InversionResult:
    with torch.no_grad():
        ws, residuals = nets.refinestyle_1s(target)  # [1, num_ws, w_dim], {layer: (P̂, Q̂)}
    return kernel_result("refinestyle_1s", nets, ws, residuals)


METHOD = register(InversionMethod("refinestyle_1s", "RefineStyle, one-stage", ("refinestyle_1s",), run,
                                  lambda nets, s: count_parameters(nets.refinestyle_1s)))
