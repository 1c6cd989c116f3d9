"""How the heavy endpoints are served: one shared concurrency pool, and ZeroGPU time requested per call.

`gpu(duration)` is `spaces.GPU` with a duration computed from the request's own arguments
(iterations, methods); off a Space it returns the function unchanged and everything runs on
the CPU. app.py imports `spaces` before anything touches CUDA.
"""
from __future__ import annotations

from collections.abc import Callable

import spaces

from pipelines.inversion import InversionSettings
from pipelines.methods import REGISTRY

HEAVY = {"concurrency_id": "heavy", "concurrency_limit": 1}  # inversion, editing, adaptation share one pool
MAX_GPU_SECONDS = 300


def gpu(duration: Callable[..., float]) -> Callable:
    """Decorate a handler; `duration` receives the handler's arguments and returns seconds."""
    return spaces.GPU(duration=lambda *args, **kwargs: int(min(MAX_GPU_SECONDS, max(10, duration(*args, **kwargs)))))


def inversion_seconds(chosen: list[str] | None, settings: InversionSettings) -> float:
    """A generous GPU estimate for inverting one image with the chosen methods (each method's own
    estimate; a name the registry lacks counts one second, the handler then refuses it)."""
    seconds = 5.0
    for name in chosen or []:
        m = REGISTRY.get(name)
        seconds += m.gpu_seconds(settings.of(m)) if m is not None else 1.0
    return seconds


def adaptation_seconds(iterations: float) -> float:
    return 10.0 + 0.1 * float(iterations)
