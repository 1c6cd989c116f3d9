"""Settings dataclasses as the one source of defaults and ranges for sliders and CLI flags."""
from __future__ import annotations

import argparse

import pytest

from pipelines.methods.refinestyle_opt import OptimisationSettings
from pipelines.settings import add_flag, control_of, default_of
from pipelines.tuning import TuningSettings
from ui.controls import slider


def test_flags_and_sliders_read_the_dataclass():
    p = argparse.ArgumentParser()
    add_flag(p, OptimisationSettings, "w_steps")
    add_flag(p, TuningSettings, "steps", "--tune-steps")
    args = p.parse_args([])
    assert (args.w_steps, args.tune_steps) == (OptimisationSettings().w_steps, TuningSettings().steps)
    assert p.parse_args(["--w-steps", "7"]).w_steps == 7
    rank = slider(OptimisationSettings, "rank")
    c = control_of(OptimisationSettings, "rank")
    assert (rank.minimum, rank.maximum, rank.step) == (c.minimum, c.maximum, c.step)
    assert rank.value == OptimisationSettings().rank
    assert slider(TuningSettings, "steps", "Other label").label == "Other label"
    assert default_of(OptimisationSettings, "layers") is None
    with pytest.raises(ValueError, match="declares no control"):
        control_of(OptimisationSettings, "w_lr")
    with pytest.raises(ValueError, match="no setting"):
        default_of(TuningSettings, "nope")
