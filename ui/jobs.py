"""Long requests: a cancel check that really stops the work, and progress with counts and an ETA.

`stoppable(key)` turns a handler that takes `cancel` (pipelines/jobs.py) into an async handler that
runs it in a thread of its own (named "job-<key>", gone when the work has ended). `cancel()` turns
True when
1. the tab's Stop button (`stop_button(key)`) is pressed in the same browser session — also for a
   request still queued when Stop was pressed: it stops as soon as it starts;
2. the request is cancelled through Gradio (gradio_client's `job.cancel()`, the `/cancel` route):
   Gradio cancels the request's asyncio task; the wrapper then sets the flag and waits for the
   thread, so the concurrency slot stays held until the work has really ended (and `/cancel`,
   which awaits the task, answers only then);
3. the visitor has gone away: Gradio marks the queued event not alive when its stream closes.
The loops check `cancel` before each step, so a stop takes one step (well under 2 s on CPU). A
handler stopped by 1 returns normally with its partial result; see `StopNote`.

Gradio 6 internals read here: `LocalContext.event_id`/`request` (set for every queued call) and
`Queue.event_ids_to_events[...]` with its `alive` flag and `enqueue_time`.
"""
from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import gradio as gr
from gradio.context import LocalContext

_LOCK = threading.Lock()
_RUNNING: dict[tuple[str, str], list[Job]] = {}
_STOP_PRESSED: dict[tuple[str, str], float] = {}  # (session, key) -> time.monotonic() of the last Stop


@dataclass
class Job:
    """One running request's stop flag, and whether its client is still there."""

    key: tuple[str, str]
    event: Any = None  # gradio.queueing.Event, None outside the queue
    flag: threading.Event = field(default_factory=threading.Event)

    def cancelled(self) -> bool:
        return self.flag.is_set() or (self.event is not None and not self.event.alive)

    @classmethod
    def start(cls, key: str) -> Job:
        """The job of the current Gradio call, registered under its session (stopped already when Stop
        was pressed after the request was queued)."""
        event_id, request = LocalContext.event_id.get(None), LocalContext.request.get(None)
        blocks = LocalContext.blocks.get(None)
        queue = getattr(blocks, "_queue", None)
        event = queue.event_ids_to_events.get(event_id) if queue is not None and event_id else None
        job = cls((getattr(request, "session_hash", None) or "", key), event)
        with _LOCK:
            if event is not None and _STOP_PRESSED.get(job.key, float("-inf")) >= event.enqueue_time:
                job.flag.set()
            _RUNNING.setdefault(job.key, []).append(job)
        return job

    def close(self) -> None:
        with _LOCK:
            jobs = _RUNNING.get(self.key, [])
            if self in jobs:
                jobs.remove(self)
            if not jobs:
                _RUNNING.pop(self.key, None)


def job_threads() -> list[threading.Thread]:
    """The threads of the stoppable requests running now."""
    return [t for t in threading.enumerate() if t.name.startswith("job-")]


def _start_thread(key: str, fn: Callable[[], Any]) -> asyncio.Future:
    """Run fn in a new thread, in a copy of the caller's context (Gradio's progress reads it)."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future = loop.create_future()
    context = contextvars.copy_context()

    def settle(result: Any, error: BaseException | None) -> None:
        if not done.done():
            done.set_exception(error) if error is not None else done.set_result(result)

    def target() -> None:
        try:
            result, error = context.run(fn), None
        except BaseException as err:  # noqa: BLE001  handed to the awaiting coroutine
            result, error = None, err
        loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=target, name=f"job-{key}", daemon=True).start()
    return done


def stoppable(key: str) -> Callable[[Callable[..., Any]], Callable[..., Awaitable[Any]]]:
    """Decorate a handler whose last parameter is `cancel`; Gradio sees its signature without it."""
    def wrap(fn: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        async def handler(*args: Any, **kwargs: Any) -> Any:
            job = Job.start(key)
            work = _start_thread(key, functools.partial(fn, *args, cancel=job.cancelled, **kwargs))
            try:
                return await asyncio.shield(work)
            except asyncio.CancelledError:
                job.flag.set()
                while not work.done():  # hold the slot until the thread has ended
                    try:
                        await asyncio.shield(work)
                    except asyncio.CancelledError:
                        continue
                    except Exception:  # noqa: BLE001  the run was cancelled; its failure has no reader
                        break
                raise
            finally:
                job.close()

        handler.__signature__ = signature.replace(  # type: ignore[attr-defined]
            parameters=[p for name, p in signature.parameters.items() if name != "cancel"])
        return handler

    return wrap


def stop_button(key: str, **kwargs: Any) -> gr.Button:
    """The Stop button of a tab's stoppable handler: ends this session's running (or queued) request."""
    button = gr.Button("Stop", variant="stop", **kwargs)

    def on_stop(request: gr.Request) -> None:
        session = request.session_hash or ""
        with _LOCK:
            _STOP_PRESSED[(session, key)] = time.monotonic()
            for job in _RUNNING.get((session, key), []):
                job.flag.set()

    button.click(on_stop, None, None, queue=False, api_name=False)
    return button


class Tracker:
    """A pipeline `progress` callback for gr.Progress: the pipeline's text (its iteration counts), the
    elapsed time and an ETA; it keeps the last text for the stop message."""

    def __init__(self, progress: gr.Progress | None) -> None:
        self.progress, self.start, self.last = progress, time.perf_counter(), ""

    def __call__(self, fraction: float, text: str) -> None:
        self.last = text
        if self.progress is None:
            return
        elapsed = time.perf_counter() - self.start
        eta = f", about {elapsed * (1 - fraction) / fraction:.0f} s left" if fraction > 0 and elapsed >= 1 else ""
        self.progress(fraction, desc=f"{text} ({elapsed:.0f} s{eta})")

    def stopped(self) -> str:
        """What the visitor reads after Stop: where the work was."""
        where = f" during {self.last}" if self.last else " before the first step"
        return f"⏹ Stopped{where}; the results below are what was done by then."
