"""Shared controls: sliders built from a settings field's declared control (pipelines/settings.py:
default, range and label come from the dataclass, never repeated here), and the columns' widths."""
from __future__ import annotations

import gradio as gr

from pipelines.settings import control_of, default_of

# minimum widths (px) of a tab's controls and results columns: below about 900 px of window they stack
NARROW, WIDE = 340, 520


def slider(cls: type, name: str, label: str | None = None, value: float | None = None, **kwargs) -> gr.Slider:
    """The field's slider (`value` overrides its default where the app starts elsewhere, `step` its
    control's step); an int field's slider hands the handler, and declares to API callers, an integer."""
    c, default = control_of(cls, name), default_of(cls, name)
    return gr.Slider(c.minimum, c.maximum, value=default if value is None else value, step=kwargs.pop("step", c.step),
                     label=label or c.label, precision=0 if isinstance(default, int) else None, **kwargs)
