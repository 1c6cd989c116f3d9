"""How the heavy endpoints are served: one shared concurrency pool, and ZeroGPU time requested per call.

`gpu(duration)` is `spaces.GPU` with a duration computed from the request's own arguments
(iterations, methods); off a Space it returns the function unchanged and everything runs on
the CPU. app.py imports `spaces` before anything touches CUDA.
"""
from __future__ import annotations

from collections.abc import Callable

import spaces

HEAVY = {"concurrency_id": "heavy", "concurrency_limit": 1}  # inversion, editing, adaptation share one pool
MAX_GPU_SECONDS = 300


def gpu(duration: Callable[..., float]) -> Callable:
    """Decorate a handler; `duration` receives the handler's arguments and returns seconds."""
    return spaces.GPU(duration=lambda *args, **kwargs: int(min(MAX_GPU_SECONDS, max(10, duration(*args, **kwargs)))))


def inversion_seconds(chosen, w_steps: float, r_steps: float, tune_steps: float) -> float:
    """A generous GPU estimate for inverting one image with the chosen methods."""
    per_step = 0.02
    seconds = 5.0
    for m in chosen or []:
        if m == "refinestyle_opt":
            seconds += per_step * (w_steps + r_steps)
        elif m in ("gani", "pti"):
            seconds += per_step * 2 * tune_steps
        else:
            seconds += 1.0
    return seconds


def adaptation_seconds(iterations: float) -> float:
    return 10.0 + 0.1 * float(iterations)
