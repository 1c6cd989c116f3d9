"""The app's two lanes under load, through gradio_client: how far the slow lane's estimate is from
the measured wait, and how long fast requests take while the slow lane is busy.

    python -m bench.queue [--iterations 60] [--steps 20] [--readme]    # bench/results/queue.json

The app on the emoji64 zoo is launched in this process (`app.served`). First each slow kind of job
runs once alone (the lane, ui/serving.py, learns each kind's seconds per unit of work from its
finished jobs, so a kind it has never seen finish gets no estimate). Then three slow jobs are
submitted back to back: a text-driven adaptation (tokens, --iterations), a per-image RefineStyle
optimisation (--steps W+ and residual steps) and a second adaptation with half the iterations.
The slow lane runs one at a time, so the second and third wait; for each waiting job, the first
estimate its progress shows ("about N s until this result", read from the job's status) is compared
with the seconds measured from that moment to its result. While they run, the fast lane is called:
generate (8 samples) and an e4e inversion, each timed.
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import time
from pathlib import Path

from .report import machine, publish

RESULTS = Path(__file__).resolve().parent / "results" / "queue.json"
EXAMPLE = Path(__file__).resolve().parents[1] / "assets" / "examples" / "google_1f929.png"


def first_estimate(job, timeout: float = 60.0) -> tuple[float | None, float]:
    """(the slow lane's first estimate of seconds until the job's result, the perf_counter time it was
    read); None if the job started or ended without one."""
    from gradio_client.utils import Status

    start = time.perf_counter()
    while time.perf_counter() - start < timeout and not job.done():
        status = job.status()
        for unit in status.progress_data or []:
            found = re.search(r"about (\d+) s until this result", unit.desc or "")
            if found:
                return float(found[1]), time.perf_counter()
        if status.code == Status.PROCESSING and status.progress_data and "waiting" not in (
                status.progress_data[0].desc or ""):
            break  # running: no wait left to estimate
        time.sleep(0.05)
    return None, time.perf_counter()


def run(client, args: argparse.Namespace) -> dict:
    from gradio_client import handle_file

    from pipelines.adapt_text import TextAdaptSettings

    adapt = (TextAdaptSettings.source, TextAdaptSettings.target, "tokens", args.iterations, 0, TextAdaptSettings.lr)
    optimise = (handle_file(str(EXAMPLE)), ["refinestyle_opt"], args.steps, args.steps, 8, 10, 0)
    half = (*adapt[:3], args.iterations // 2, *adapt[4:])
    slow = [(f"text adaptation, {args.iterations} it.", adapt, "/adapt_text"),
            (f"RefineStyle optimisation, {args.steps} + {args.steps} steps", optimise, "/invert"),
            (f"text adaptation, {args.iterations // 2} it.", half, "/adapt_text")]
    alone = {}
    for name, inputs, api in slow[:2]:  # Gradio learns each endpoint's duration
        t0 = time.perf_counter()
        client.predict(*inputs, api_name=api)
        alone[name] = time.perf_counter() - t0
    jobs, submitted = [], []
    for name, inputs, api in slow:  # one at a time, so that the server sees them in this order
        submitted.append(time.perf_counter())
        jobs.append((name, client.submit(*inputs, api_name=api)))
        time.sleep(0.5)
    finished: dict[int, float] = {}
    for k, (_, job) in enumerate(jobs):
        job.add_done_callback(lambda _, k=k: finished.setdefault(k, time.perf_counter()))
    estimates = [first_estimate(job, timeout=1.0 if k == 0 else 60.0) for k, (_, job) in enumerate(jobs)]
    fast = {"generate (8 samples)": [], "e4e inversion": []}
    while not all(job.done() for _, job in jobs):
        for name, inputs, api in [("generate (8 samples)", (0, 8, 0.7, False, 1000, 5), "/generate"),
                                  ("e4e inversion", (handle_file(str(EXAMPLE)), ["e4e"], 0, 0, 8, 0, 0), "/invert")]:
            t0 = time.perf_counter()
            client.predict(*inputs, api_name=api)
            fast[name].append(time.perf_counter() - t0)
        time.sleep(1.0)
    rows = []
    for k, ((name, job), (eta, seen)) in enumerate(zip(jobs, estimates)):
        job.result()  # raises if the job failed
        measured = finished[k] - (seen if eta is not None else submitted[k])  # a job that never waited: all of it
        rows.append({"job": name, "estimate_s": eta, "measured_s": measured, "ratio": measured / eta if eta else None})
    return {"alone_s": alone, "queued": rows,
            "fast_lane_s": {k: {"median": statistics.median(v), "max": max(v), "calls": len(v)} for k, v in fast.items() if v}}


def table(result: dict) -> str:
    lines = ["| slow job (submitted in this order) | the lane's first estimate, s | measured from then "
             "(from submission if none), s | measured / estimate |",
             "|---|---:|---:|---:|"]
    for r in result["queued"]:
        est = "— (ran at once)" if r["estimate_s"] is None else f"{r['estimate_s']:.1f}"
        ratio = "—" if r["ratio"] is None else f"{r['ratio']:.2f}"
        lines.append(f"| {r['job']} | {est} | {r['measured_s']:.1f} | {ratio} |")
    lines += ["", "| fast request while the slow lane is busy | median, s | max, s | calls |", "|---|---:|---:|---:|"]
    for name, r in result["fast_lane_s"].items():
        lines.append(f"| {name} | {r['median']:.2f} | {r['max']:.2f} | {r['calls']} |")
    m = result["machine"]
    alone = ", ".join(f"{k} {v:.1f} s" for k, v in result["alone_s"].items())
    lines += ["", f"Alone first: {alone}. {m['cpu']}, {m['cpus']} logical CPUs, load average "
                  f"{result['load_average_before']:.1f} before the run."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--iterations", type=int, default=60, help="text adaptation iterations of each slow job")
    p.add_argument("--steps", type=int, default=20, help="RefineStyle optimisation W+ and residual steps")
    p.add_argument("--readme", action="store_true")
    args = p.parse_args(argv)
    from gradio_client import Client

    import app

    load = os.getloadavg()[0]
    with app.served("emoji64") as url:
        result = run(Client(url, verbose=False), args)
    result |= {"machine": machine(), "load_average_before": load, "iterations": args.iterations, "steps": args.steps}
    command = f"python -m bench.queue --iterations {args.iterations} --steps {args.steps}"
    publish("queue", result, table(result), command, RESULTS, args.readme)


if __name__ == "__main__":
    main()
