"""ui/serving.py's SlowLane: first come first served, and a waiting job's estimate from learned rates."""
from __future__ import annotations

import re
import threading
import time

import pytest

from ui.serving import SlowLane


def never() -> bool:
    return False


def run_job(lane: SlowLane, kind: str, units: float, seconds: float, log: list, texts: list | None = None,
            cancel=never) -> threading.Thread:
    def work() -> None:
        with lane.enter(cancel, lambda f, text: texts.append(text) if texts is not None else None, kind, units) as ok:
            if ok:
                log.append(("start", kind, units))
                time.sleep(seconds)
                log.append(("end", kind, units))

    thread = threading.Thread(target=work)
    thread.start()
    return thread


def wait_for(condition, timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.01)


def test_jobs_run_one_at_a_time_in_arrival_order():
    lane, log = SlowLane(1), []
    first = run_job(lane, "a", 1, 0.3, log)
    wait_for(lambda: log)
    later = []
    for k in range(4):  # arrive while the first runs, 50 ms apart
        later.append(run_job(lane, "a", k + 2, 0.02, log))
        time.sleep(0.05)
    for t in [first, *later]:
        t.join()
    starts = [units for event, _, units in log if event == "start"]
    assert starts == [1, 2, 3, 4, 5]
    assert all(log[2 * i][0] == "start" and log[2 * i + 1][0] == "end" for i in range(5))  # never two at once


def test_a_waiting_job_is_told_the_jobs_ahead_and_the_seconds_learned_from_finished_ones():
    lane, log = SlowLane(1), []
    run_job(lane, "adapt", 10, 0.4, log).join()  # learns 0.04 s per iteration
    running = run_job(lane, "adapt", 10, 0.4, log)
    wait_for(lambda: len(log) == 3)
    texts: list[str] = []
    waiting = run_job(lane, "adapt", 5, 0.2, log, texts)
    wait_for(lambda: texts)
    ahead, seconds = re.search(r"(\d+) per-image or adaptation job\(s\) ahead; about (\d+) s", texts[0]).groups()
    assert int(ahead) == 1
    jobs, estimate = lane.estimate(lane._waiting[0])
    assert jobs == 1 and 0.2 <= estimate <= 0.6 + 0.05  # the running job's remainder (≤ 0.4) + its own 0.2
    running.join()
    waiting.join()
    unknown: list[str] = []
    blocker = run_job(lane, "adapt", 10, 0.3, log)
    wait_for(lambda: len(log) == 7)
    new_kind = run_job(lane, "never seen", 1, 0.01, log, unknown)
    wait_for(lambda: unknown)
    assert unknown[0].endswith("1 per-image or adaptation job(s) ahead")  # no time promised for an unseen kind
    blocker.join()
    new_kind.join()


def test_a_job_cancelled_while_waiting_never_runs_and_leaves_the_queue():
    lane, log = SlowLane(1), []
    stop = threading.Event()
    running = run_job(lane, "a", 1, 0.3, log)
    wait_for(lambda: log)
    cancelled = run_job(lane, "a", 2, 0.01, log, cancel=stop.is_set)
    after = run_job(lane, "a", 3, 0.01, log)
    time.sleep(0.05)
    stop.set()
    for t in (running, cancelled, after):
        t.join()
    assert [units for event, _, units in log if event == "start"] == [1, 3] and lane._waiting == []


def test_a_lane_needs_a_slot():
    with pytest.raises(ValueError, match="at least one slot"):
        SlowLane(0)


def test_only_jobs_with_work_that_end_normally_teach_the_rate():
    lane = SlowLane(1)
    with lane.enter(never, lambda f, t: None, "gani", 0.0):  # zero steps: nothing to learn a rate from
        time.sleep(0.05)
    with pytest.raises(RuntimeError), lane.enter(never, lambda f, t: None, "gani", 10.0):  # a failed job
        raise RuntimeError("out of memory")
    assert lane._rate == {} and lane._running == []
    with lane.enter(never, lambda f, t: None, "gani", 10.0):
        time.sleep(0.1)
    assert 0.009 <= lane._rate["gani"] <= 0.03


def test_two_slots_run_two_jobs_at_once_and_estimate_from_the_first_to_free():
    lane, log = SlowLane(2), []
    run_job(lane, "a", 10, 0.2, log).join()  # 0.02 s per unit
    first, second = run_job(lane, "a", 10, 0.4, log), run_job(lane, "a", 10, 0.4, log)
    wait_for(lambda: sum(event == "start" for event, *_ in log) == 3)  # both run: two slots
    texts: list[str] = []
    third = run_job(lane, "a", 5, 0.01, log, texts)
    wait_for(lambda: texts)
    jobs, seconds = lane.estimate(lane._waiting[0])
    assert jobs == 2 and 0.1 <= seconds <= 0.4 + 0.1 + 0.05  # the earlier slot's remainder (≤ 0.4) + its own 0.1
    for t in (first, second, third):
        t.join()
