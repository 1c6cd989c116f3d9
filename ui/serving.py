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
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import spaces

from pipelines.inversion import InversionSettings
from pipelines.jobs import Cancel, Progress
from pipelines.methods import REGISTRY

FAST = {"concurrency_id": "fast", "concurrency_limit": 2}
LANED = {"concurrency_id": "laned", "concurrency_limit": None}
MAX_GPU_SECONDS = 300


@dataclass(eq=False)
class Ticket:
    """One job's place in the slow lane: what kind of work, how much of it, and when it got a slot."""

    kind: str  # jobs of one kind share a learned rate, e.g. "text-driven adaptation (tokens)"
    units: float  # its amount of work: iterations, or the per-image methods' GPU-second estimate
    entered: float | None = None  # time.monotonic() when it started running


class SlowLane:
    """The slow lane: at most `size` per-image or adaptation jobs run at once, first come first served.

    A waiting job's progress says how many jobs are ahead and, once every job ahead and the job itself
    are of kinds that have finished here before, the seconds until its result: each kind's seconds per
    unit is a running average over its jobs that ended normally with some work (each new one weighs half),
    a running job's remainder is its expected time less its time so far, and the jobs ahead take the first
    free slot in turn. (Gradio's own queue estimate cannot see this lane: LANED has no Gradio limit, see
    above.)
    """

    def __init__(self, size: int = 1) -> None:
        if size < 1:
            raise ValueError(f"the slow lane needs at least one slot, got {size}")
        self.size = size
        self._cond = threading.Condition()
        self._waiting: list[Ticket] = []
        self._running: list[Ticket] = []
        self._rate: dict[str, float] = {}  # kind -> seconds per unit

    def _expected(self, ticket: Ticket) -> float | None:
        rate = self._rate.get(ticket.kind)
        return None if rate is None else rate * ticket.units

    def estimate(self, ticket: Ticket) -> tuple[int, float | None]:
        """(jobs running or waiting ahead of a waiting ticket, seconds until its result or None)."""
        with self._cond:
            ahead = self._waiting[: self._waiting.index(ticket)]
            now = time.monotonic()
            jobs = len(ahead) + len(self._running)
            expected = [self._expected(t) for t in [*self._running, *ahead, ticket]]
            if any(e is None for e in expected):
                return jobs, None
            free = [max(0.0, e - (now - t.entered)) for e, t in zip(expected, self._running)]
            free = sorted(free + [0.0] * (self.size - len(free)))  # when each slot frees, seconds from now
            for e in expected[len(self._running) : -1]:
                free[0] += e
                free.sort()
            return jobs, free[0] + expected[-1]

    def waiting_text(self, ticket: Ticket) -> str:
        jobs, seconds = self.estimate(ticket)
        when = f"; about {seconds:.0f} s until this result" if seconds is not None else ""
        return f"waiting for the slow lane: {jobs} per-image or adaptation job(s) ahead{when}"

    @contextmanager
    def enter(self, cancel: Cancel, progress: Progress, kind: str = "", units: float = 1.0) -> Iterator[bool]:
        """Hold a slot for the block, in arrival order; yields False when cancelled while waiting (nothing
        may run). A job with some work (units > 0) that ends normally, neither cancelled nor raising,
        teaches the lane its kind's seconds per unit."""
        ticket, acquired, failed = Ticket(kind, max(float(units), 0.0)), False, False
        with self._cond:
            self._waiting.append(ticket)
        try:
            while True:
                with self._cond:
                    if cancel():
                        break
                    if self._waiting[0] is ticket and len(self._running) < self.size:
                        ticket.entered = time.monotonic()
                        self._waiting.remove(ticket)  # in the same step, so that no estimate counts it twice
                        self._running.append(ticket)
                        acquired = True
                        break
                    text = self.waiting_text(ticket)
                progress(0.0, text)
                with self._cond:
                    self._cond.wait(0.2)
        finally:
            with self._cond:
                if ticket in self._waiting:
                    self._waiting.remove(ticket)
                self._cond.notify_all()
        try:
            yield acquired
        except BaseException:
            failed = True
            raise
        finally:
            if acquired:
                with self._cond:
                    self._running.remove(ticket)
                    if not (failed or cancel()) and ticket.units > 0:
                        rate = (time.monotonic() - ticket.entered) / ticket.units
                        old = self._rate.get(kind)
                        self._rate[kind] = rate if old is None else (old + rate) / 2
                    self._cond.notify_all()


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


def per_image_work(tab: str, per_image: list[str], settings: InversionSettings) -> tuple[str, float]:
    """The slow lane's (kind, units) of a per-image request: one kind per tab and set of methods, its
    units the methods' GPU estimates, which grow with their steps."""
    return f"{tab} with {'+'.join(sorted(per_image))}", sum(REGISTRY[m].gpu_seconds(settings.of(REGISTRY[m]))
                                                           for m in per_image)


def adaptation_seconds(iterations: float) -> float:
    return 10.0 + 0.1 * float(iterations)
