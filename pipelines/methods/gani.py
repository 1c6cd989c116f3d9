"""GaNI: the e4e code through the generator tuned by gradient adjusting networks (pipelines/tuning.py)."""
from __future__ import annotations

from torch import Tensor

from ..tuning import TuningSettings, tune_gani, tuned_layers
from .base import (GPU_SECONDS_PER_STEP, Cancel, InversionMethod, InversionNetworks, InversionResult, Progress,
                   register)
from .e4e import encode, kernel_result


def run(nets: InversionNetworks, target: Tensor, settings: TuningSettings, seed: int, progress: Progress | None,
        cancel: Cancel | None) -> InversionResult:
    ws = encode(nets, target)
    deltas = tune_gani(nets.generator, ws, target, nets.loss, settings, nets.parsing, seed, progress, cancel)
    return kernel_result("gani", nets, ws, deltas=deltas)


def parameters(nets: InversionNetworks, s: TuningSettings) -> int:
    """The modules M, one per distinct C_in·k² and shared by its layers, and a step size per layer."""
    convs = nets.generator.synthesis.convs
    layers = tuned_layers(nets.generator, s.layers)
    dims = sorted({convs[i].conv.in_channels * 9 for i in layers})
    return sum(s.gani_blocks * (2 * d * s.gani_hidden + s.gani_hidden + 1) for d in dims) + len(layers)


METHOD = register(InversionMethod("gani", "GaNI (per-image tuning)", ("e4e",), run, parameters, TuningSettings,
                                  lambda s: GPU_SECONDS_PER_STEP * 2 * s.steps))
