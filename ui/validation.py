"""Input validators: bad uploads and prompts are refused before a request queues (Gradio `validator=`).

A validator receives the event's inputs and returns one gr.validate per input. The checks here
decode no pixels (pipelines.images.check_image), so they are cheap; the handlers still run the
full checks and turn any failure into a gr.Error.
"""
from __future__ import annotations

from collections.abc import Callable

import gradio as gr

from pipelines.clip_text import MAX_PROMPT_CHARS
from pipelines.images import check_image

Check = Callable[[object], str]  # -> "" when valid, else the message


def image_check(required: bool = True) -> Check:
    def check(path) -> str:
        if not path:
            return "Upload an image first." if required else ""
        try:
            check_image(path)
        except ValueError as err:
            return f"This image cannot be used: {err}."
        return ""

    return check


def prompt_check(value) -> str:
    text = " ".join(str(value or "").split())
    if not text:
        return "The text prompt is empty."
    if len(text) > MAX_PROMPT_CHARS:
        return f"The text prompt has {len(text)} characters; the limit is {MAX_PROMPT_CHARS}."
    return ""


def nonempty(message: str) -> Check:
    return lambda value: "" if value else message


def validator(*checks: Check | None) -> Callable[..., list[dict]]:
    """A validator for an event whose inputs are checked positionally (None or missing: accepted as is)."""
    def validate(*values) -> list[dict]:
        out = []
        for i, value in enumerate(values):
            check = checks[i] if i < len(checks) else None
            message = check(value) if check is not None else ""
            out.append(gr.validate(not message, message))
        return out

    return validate
