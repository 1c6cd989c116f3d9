"""Sliders built from a settings field's declared control (pipelines/settings.py): default, range
and label come from the dataclass, never repeated here."""
from __future__ import annotations

import gradio as gr

from pipelines.settings import control_of, default_of


def slider(cls: type, name: str, label: str | None = None, **kwargs) -> gr.Slider:
    c = control_of(cls, name)
    return gr.Slider(c.minimum, c.maximum, value=default_of(cls, name), step=c.step, label=label or c.label, **kwargs)
