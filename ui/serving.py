"""How the endpoints are served: two lanes, and ZeroGPU time requested per call.

Fast lane: generating, the kernel spectrum, the zoo status, rendering in a domain, and inversion and
editing with the encoders. Slow lane: per-image optimisation (RefineStyle optimisation, GaNI, PTI)
and adaptation, `slow_jobs` at a time (1 on CPU: two would only share the same cores; more on a
GPU with `python app.py --slow-jobs N`).

Gradio's concurrency ids keep the lanes apart: the adaptation endpoints queue in their own id
(limit `slow_jobs`); inversion and editing are one endpoint each whether or not the request asks for
a per-image method, so they queue in an id without a limit and the per-image part waits for the slow
lane inside the handler (`SlowLane.enter`), with a progress message saying so (Gradio's queue then
shows such a request as running while it waits). An encoder request
therefore never waits for per-image work.

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
MAX_GPU_SECONDS = 300


class SlowLane:
    """The slow lane: at most `size` per-image or adaptation jobs run at once."""

    def __init__(self, size: int = 1) -> None:
        if size < 1:
            raise ValueError(f"the slow lane needs at least one slot, got {size}")
        self.size = size
        self.slots = threading.Semaphore(size)

    def events(self, concurrency_id: str) -> dict:
        """The queue settings of an endpoint: "adaptation" queues in the slow lane itself; "inversion"
        (inversion and editing) never waits at the queue, its per-image part enters the lane here."""
        return {"concurrency_id": concurrency_id,
                "concurrency_limit": self.size if concurrency_id == "adaptation" else None}

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
