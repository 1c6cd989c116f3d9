"""The inversion methods as the Inversion and Editing tabs show them, read from the registry."""
from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import gradio as gr

from pipelines.inversion import InversionNetworks, InversionSettings, available_methods
from pipelines.methods import REGISTRY, NoSettings
from pipelines.methods.refinestyle_opt import OptimisationSettings
from pipelines.tuning import TuningSettings

from .budget import starting_counts
from .session import Session


def label(name: str) -> str:
    return REGISTRY[name].label if name in REGISTRY else name


INVERSION_BENCH = Path(__file__).resolve().parents[1] / "bench" / "results" / "inversion.json"
DEFAULT_METHODS = ("e4e", "gradstyle")  # the encoders that answer in about a second


def is_per_image(name: str) -> bool:
    """A method with settings to set optimises per image (the slow lane); an encoder has none."""
    return name in REGISTRY and REGISTRY[name].settings is not NoSettings


@cache
def measured_seconds() -> dict[str, tuple[float, str]]:
    """Seconds per image of each method on the emoji64 zoo on CPU at the default settings, as
    `python -m bench.inversion` measured them (mean over its splits), each with how it was obtained:
    GaNI's and PTI's are scaled by the default tuning steps over the steps the bench ran where the two
    differ (their time is linear in the steps: the bench's GaNI sweep); {} without the file."""
    if not INVERSION_BENCH.exists():
        return {}
    bench = json.loads(INVERSION_BENCH.read_text())
    splits = bench["splits"].values()
    names = {name for split in splits for name in split}
    ran, default = bench["tuning"]["steps"], TuningSettings().steps
    out = {}
    for name in names:
        seconds = sum(s[name]["ms"] for s in splits if name in s) / 1000 / sum(name in s for s in splits)
        if name in REGISTRY and REGISTRY[name].settings is TuningSettings and ran != default:
            out[name] = (seconds * default / ran,
                         f"bench.inversion's timing at {ran} steps with the settings it ran, scaled to {default}")
        else:
            out[name] = (seconds, "measured by bench.inversion at the default steps")
    return out


def method_choices(session: Session) -> list[tuple[str, str]]:
    """(label, name) for every registered method, in registry order; on emoji64 on CPU, a per-image
    method's label ends with its measured time at the default settings; on a zoo whose steps ui/budget.py
    fits to a minute, with the time expected at those steps."""
    if session.zoo.name == "emoji64" and session.device == "cpu":
        timed = measured_seconds()
    else:
        how = "at the starting steps, from measured step times"
        timed = {m: (s, how) for m, s in starting_counts(session.zoo.resolution, session.device).seconds.items()}
    return [(f"{m.label} — about {timed[m.name][0]:.0f} s per image ({timed[m.name][1]})"
             if is_per_image(m.name) and m.name in timed else m.label, m.name) for m in REGISTRY.values()]


def default_methods(missing: dict[str, str]) -> list[str]:
    """The encoders the zoo has among DEFAULT_METHODS; a zoo with none starts from the optimisation."""
    return [m for m in DEFAULT_METHODS if m not in missing] or ["refinestyle_opt"]


def request_settings(w_steps: float, r_steps: float, tune_steps: float, rank: float | None = None
                     ) -> InversionSettings:
    """The settings the tabs' controls set: RefineStyle optimisation steps (and rank), GaNI / PTI steps."""
    optimisation = OptimisationSettings(w_steps=int(w_steps), residual_steps=int(r_steps))
    if rank is not None:
        optimisation.rank = int(rank)
    return InversionSettings(optimisation, TuningSettings(steps=int(tune_steps)))


def checked_networks(session: Session, path: str | None, chosen: list[str] | None) -> InversionNetworks:
    """The zoo's inversion networks, once the request has an image and only runnable methods (else gr.Error)."""
    if not path:
        raise gr.Error("Upload an image first.")
    if not chosen:
        raise gr.Error("Tick at least one method.")
    nets = InversionNetworks.build(session.load, session.zoo.available)
    missing = {m: why for m, why in available_methods(nets).items() if m in chosen and why}
    if missing:
        raise gr.Error("; ".join(f"{label(m)}: {why}" for m, why in missing.items()))
    return nets


def unavailable_note(missing: dict[str, str]) -> None:
    if missing:
        gr.Markdown("Unavailable in this zoo: " + "; ".join(f"{label(m)} ({why})" for m, why in missing.items()))


def missing_methods(session: Session) -> dict[str, str]:
    """Methods whose networks the zoo does not name, with the reason (nothing is loaded)."""
    lacking = {m.name: [slot for slot in m.needs if not session.zoo.available(slot)] for m in REGISTRY.values()}
    return {m: f"no {slots[0]} network in this zoo" for m, slots in lacking.items() if slots}
