"""PTI (Roich et al. 2022), the tuning baseline: the e4e code through directly tuned kernels."""
from __future__ import annotations

from torch import Tensor

from ..tuning import TuningSettings, tune_pti, tuned_layers
from .base import (GPU_SECONDS_PER_STEP, Cancel, InversionMethod, InversionNetworks, InversionResult, Progress,
                   register)
from .e4e import encode, kernel_result


def run(nets: InversionNetworks, target: Tensor, settings: TuningSettings, seed: int, progress: Progress | None,
        cancel: Cancel | None) -> InversionResult:
    ws = encode(nets, target)
    return kernel_result("pti", nets, ws, deltas=tune_pti(nets.generator, ws, target, nets.loss, settings, seed,
                                                          progress, cancel))


def parameters(nets: InversionNetworks, s: TuningSettings) -> int:
    """Every tuned kernel, per image."""
    convs = nets.generator.synthesis.convs
    return sum(convs[i].conv.weight.numel() for i in tuned_layers(nets.generator, s.layers))


METHOD = register(InversionMethod("pti", "PTI (per-image tuning)", ("e4e",), run, parameters, TuningSettings,
                                  lambda s: GPU_SECONDS_PER_STEP * 2 * s.steps))
