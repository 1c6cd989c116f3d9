"""Where the step and iteration sliders start, so that a visitor's first run ends in about a minute.

- A zoo at the resolution that `python -m bench.gpu --device cpu` timed (bench/results/cpu1024.json), on
  CPU: each per-image method and each adaptation starts at the count its measured seconds per step
  (and fixed seconds) fit into ONE_RUN_S, at least one (RefineStyle's optimisation keeps the papers'
  1 : 2 of W+ to residual steps; GaNI and PTI share one slider, fitted to the slower); the labels say
  what that costs.
- Everything else (emoji64 on any device; any zoo on a GPU): the papers' step counts for the per-image
  methods (opt-in, their measured time in their label on emoji64), and APP_ITERATIONS for adaptation.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from pipelines.methods.refinestyle_opt import OptimisationSettings
from pipelines.tuning import TuningSettings

CPU_TIMINGS = Path(__file__).resolve().parents[1] / "bench" / "results" / "cpu1024.json"
ONE_RUN_S = 60.0
# where the adaptation sliders start on emoji64 (the settings' defaults are the papers' 300): runs meant to end
# within 60 s on a 2-core CPU under load, at the default token rank (tests/test_app_emoji64.py times them)
APP_ITERATIONS = {"text": 200, "oneshot": 100}


@dataclass(frozen=True)
class StartingCounts:
    w_steps: int
    residual_steps: int
    tuning_steps: int
    iterations: dict[str, int]  # "text", "oneshot"
    seconds: dict[str, float] = field(default_factory=dict)  # method or adaptation -> expected seconds, where timed


@cache
def cpu_timings() -> dict:
    """bench.gpu's CPU results ({} without the file)."""
    return json.loads(CPU_TIMINGS.read_text()) if CPU_TIMINGS.exists() else {}


def fit(cases: list[dict], share: list[int]) -> tuple[int, float]:
    """The largest n such that running each case share[i]·n steps (each case: seconds_per_step and
    fixed_seconds) takes at most ONE_RUN_S, at least 1.  -> (n, the seconds it is expected to take)"""
    per_n = sum(c["seconds_per_step"] * k for c, k in zip(cases, share))
    fixed = max(c["fixed_seconds"] for c in cases)
    n = max(1, int((ONE_RUN_S - fixed) // per_n)) if per_n > 0 else 1
    return n, fixed + per_n * n


def starting_counts(resolution: int, device: str) -> StartingCounts:
    """The sliders' starting values for a zoo of this resolution on this device."""
    papers = StartingCounts(OptimisationSettings.w_steps, OptimisationSettings.residual_steps, TuningSettings.steps,
                            dict(APP_ITERATIONS))
    timed = cpu_timings()
    if device != "cpu" or timed.get("resolution") != resolution:
        return papers
    inv, ada = timed["inversion"], timed["adaptation"]
    needed = [inv[k] for k in ("refinestyle_opt (W+ step)", "refinestyle_opt (residual step)", "gani", "pti")]
    if any("error" in c for c in [*needed, ada["text"], ada["oneshot"]]):
        return papers
    w_plus, residual = inv["refinestyle_opt (W+ step)"], dict(inv["refinestyle_opt (residual step)"])
    residual["fixed_seconds"] -= w_plus["seconds_per_step"]  # its timing ran one W+ step before the residual ones
    cases = {"refinestyle_opt": ([w_plus, residual], [1, 2]),
             "tuning": ([max(inv["gani"], inv["pti"], key=lambda c: c.get("seconds_per_step", 0))], [1]),
             "text": ([ada["text"]], [1]),
             "oneshot": ([ada["oneshot"]], [1])}
    n = {name: fit(cs, share) for name, (cs, share) in cases.items()}
    per_tuned = {m: inv[m]["fixed_seconds"] + inv[m]["seconds_per_step"] * n["tuning"][0] for m in ("gani", "pti")}
    seconds = {"refinestyle_opt": n["refinestyle_opt"][1], **per_tuned, "text": n["text"][1],
               "oneshot": n["oneshot"][1]}
    return StartingCounts(n["refinestyle_opt"][0], 2 * n["refinestyle_opt"][0], n["tuning"][0],
                          {"text": n["text"][0], "oneshot": n["oneshot"][0]}, seconds)
