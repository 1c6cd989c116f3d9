"""The inversion methods as the Inversion and Editing tabs show them, read from the registry."""
from __future__ import annotations

import gradio as gr

from pipelines.inversion import InversionNetworks, InversionSettings, available_methods
from pipelines.methods import REGISTRY
from pipelines.methods.refinestyle_opt import OptimisationSettings
from pipelines.tuning import TuningSettings

from .session import Session


def label(name: str) -> str:
    return REGISTRY[name].label if name in REGISTRY else name


def method_choices() -> list[tuple[str, str]]:
    """(label, name) for every registered method, in registry order."""
    return [(m.label, m.name) for m in REGISTRY.values()]


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
