"""Input checks that every handler runs first, before a network loads or the slow lane is entered: a
bad upload or prompt becomes a gr.Error that the browser and a gradio_client caller read alike.

Gradio's `validator=` would refuse them before the request queues, but it preprocesses every input
at /queue/join, where any other failure there (a value outside a slider's range, an unknown
choice) reaches a gradio_client caller as a bare "400 Bad Request"; run in the handler, Gradio's
own range and choice messages reach the caller too. The checks decode no pixels
(pipelines.images.check_image), so they are cheap; the pipelines still run the full checks.
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


def refuse_bad(*checked: tuple[Check, object]) -> None:
    """(check, value) pairs, in order: the first failing check's message as a gr.Error."""
    for check, value in checked:
        if message := check(value):
            raise gr.Error(message)
