"""ui/budget.py: where the step and iteration sliders start."""
from __future__ import annotations

import json

import pytest

from pipelines.methods.refinestyle_opt import OptimisationSettings
from pipelines.tuning import TuningSettings
from ui import budget


def case(per_step: float, fixed: float) -> dict:
    return {"seconds_per_step": per_step, "fixed_seconds": fixed, "steps": [1, 3]}


@pytest.fixture
def timed(tmp_path, monkeypatch):
    result = {"resolution": 1024,
              "inversion": {"e4e": {"seconds_per_image": 2.0}, "refinestyle_opt (W+ step)": case(2.0, 6.0),
                            "refinestyle_opt (residual step)": case(4.0, 12.0), "gani": case(5.0, 10.0),
                            "pti": case(3.0, 8.0)},
              "adaptation": {"text": case(25.0, 5.0), "oneshot": case(70.0, 9.0)}}
    path = tmp_path / "cpu1024.json"
    path.write_text(json.dumps(result))
    monkeypatch.setattr(budget, "CPU_TIMINGS", path)
    budget.cpu_timings.cache_clear()
    yield result
    budget.cpu_timings.cache_clear()


def test_counts_fit_a_minute_on_the_timed_cpu(timed):
    counts = budget.starting_counts(1024, "cpu")
    # RefineStyle: n W+ steps and 2n residual steps; the residual timing's fixed 12 s held one W+ step (2 s),
    # so the fixed part is max(6, 12 - 2) = 10 and 10 + (2 + 2·4)·n <= 60 -> n = 5
    assert (counts.w_steps, counts.residual_steps) == (5, 10) and counts.seconds["refinestyle_opt"] == 60.0
    # GaNI and PTI share a slider fitted to the slower (GaNI): 10 + 5n <= 60 -> 10
    assert counts.tuning_steps == 10 and counts.seconds["gani"] == 60.0 and counts.seconds["pti"] == 38.0
    # text: 5 + 25n <= 60 -> 2; one-shot: one iteration already exceeds the minute, so it starts at 1
    assert counts.iterations == {"text": 2, "oneshot": 1} and counts.seconds["oneshot"] == 79.0


def test_untimed_zoos_devices_and_failed_cases_keep_the_papers_counts(timed):
    papers = (OptimisationSettings.w_steps, OptimisationSettings.residual_steps, TuningSettings.steps)
    for resolution, device in [(64, "cpu"), (1024, "cuda")]:
        counts = budget.starting_counts(resolution, device)
        assert (counts.w_steps, counts.residual_steps, counts.tuning_steps) == papers
        assert counts.iterations == budget.APP_ITERATIONS and counts.seconds == {}
    for group, case_name in [("adaptation", "text"), ("inversion", "gani")]:  # a failed case: nothing to fit
        broken = json.loads(json.dumps(timed))
        broken[group][case_name] = {"error": "RuntimeError: out of memory"}
        budget.CPU_TIMINGS.write_text(json.dumps(broken))
        budget.cpu_timings.cache_clear()
        assert budget.starting_counts(1024, "cpu").seconds == {}, case_name


def test_per_image_labels_on_emoji64_give_the_bench_time_and_say_when_it_was_scaled():
    """GaNI and PTI run at the default tuning steps; where bench.inversion timed other steps, the label's time is
    scaled linearly and says so; the encoders carry no time."""
    import json
    from types import SimpleNamespace

    from pipelines.tuning import TuningSettings
    from ui.methods import INVERSION_BENCH, measured_seconds, method_choices

    bench = json.loads(INVERSION_BENCH.read_text())
    ran, default = bench["tuning"]["steps"], TuningSettings().steps
    labels = dict((name, label) for label, name in method_choices(
        SimpleNamespace(zoo=SimpleNamespace(name="emoji64", resolution=64), device="cpu")))
    gani_ms = sum(s["gani"]["ms"] for s in bench["splits"].values()) / len(bench["splits"])
    assert measured_seconds()["gani"][0] == pytest.approx(gani_ms / 1000 * default / ran)
    assert f"about {gani_ms / 1000 * default / ran:.0f} s per image" in labels["gani"]
    assert ("scaled to" in labels["pti"]) == (ran != default)
    assert "s per image" not in labels["e4e"] and "measured by bench.inversion" in labels["refinestyle_opt"]
