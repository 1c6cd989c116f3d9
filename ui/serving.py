"""How the endpoints are served: two lanes, and ZeroGPU time requested per call.

Fast lane: generating, the kernel spectrum, the zoo status, rendering in a domain, and inversion and
editing with the encoders. Slow lane: per-image optimisation (RefineStyle optimisation, GaNI, PTI)
and adaptation, `slow_jobs` at a time (1 on CPU: two would only share the same cores; more on a
GPU with `python app.py --slow-jobs N`).

Gradio's concurrency ids keep the lanes apart: generating, the spectrum, the zoo status and
rendering queue in FAST; inversion, editing and adaptation in LANED, which has no limit, because
one endpoint serves both an encoder request and a per-image one: the handler checks its inputs,
runs the encoders, and only the per-image or adaptation part waits for the slow lane
(`SlowLane.enter`, with a progress message saying so). An encoder request therefore never waits
for per-image work, and a bad request is refused at once, never after a slow job.

`gpu(duration)` is `spaces.GPU` with a duration computed from the request's own arguments
(iterations, methods); off a Space it returns the function unchanged and everything runs on
the CPU. app.py imports `spaces` before anything touches CUDA.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import spaces

from pipelines.inversion import InversionSettings
from pipelines.jobs import Cancel, Progress
from pipelines.methods import REGISTRY

FAST = {"concurrency_id": "fast", "concurrency_limit": 2}
LANED = {"concurrency_id": "laned", "concurrency_limit": None}
MAX_GPU_SECONDS = 300


class SlowLane:
    """The slow lane: at most `size` per-image or adaptation jobs run at once."""

    def __init__(self, size: int = 1) -> None:
        if size < 1:
            raise ValueError(f"the slow lane needs at least one slot, got {size}")
        self.slots = threading.Semaphore(size)

    @contextmanager
    def enter(self, cancel: Cancel, progress: Progress) -> Iterator[bool]:
        """Hold a slot for the block; yields False when cancelled while waiting (nothing may run)."""
        acquired = False
        while not (acquired := self.slots.acquire(timeout=0.2)):
            if cancel():
                break
            progress(0.0, "waiting for the slow lane (another per-image or adaptation job is running)")
        try:
            yield acquired
        finally:
            if acquired:
                self.slots.release()


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
