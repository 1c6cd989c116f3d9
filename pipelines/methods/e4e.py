"""e4e (Tov et al. 2021): the base encoder's W+ code, synthesised as it is."""
from __future__ import annotations

import torch
from torch import Tensor

from .base import Cancel, InversionMethod, InversionNetworks, InversionResult, Progress, count_parameters, register


def encode(nets: InversionNetworks, target: Tensor) -> Tensor:
    """The e4e code that the two-stage, GradStyle and tuning methods start from.  -> [1, num_ws, w_dim]"""
    with torch.no_grad():
        return nets.e4e(target)


def kernel_result(name: str, nets: InversionNetworks, ws: Tensor, residuals: dict | None = None,
                  deltas: dict | None = None) -> InversionResult:
    """A result whose details are kernel residuals or deltas, with its synthesis as the image."""
    residuals, deltas = residuals or {}, deltas or {}
    with torch.no_grad():
        image = nets.generator.synthesis(ws, residuals=residuals, weight_deltas=deltas).clamp(-1, 1)
    return InversionResult(name, image, ws, residuals, deltas)


def run(nets: InversionNetworks, target: Tensor, settings: object, seed: int, progress: Progress | None,
        cancel: Cancel | None) -> InversionResult:
    return kernel_result("e4e", nets, encode(nets, target))


METHOD = register(InversionMethod("e4e", "e4e (encoder)", ("e4e",), run, lambda nets, s: count_parameters(nets.e4e)))
