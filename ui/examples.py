"""Example images for the tabs (assets/examples/, attribution in ATTRIBUTION.md): emoji64 only."""
from __future__ import annotations

from collections.abc import Callable

import gradio as gr

from pipelines.style_targets import TARGETS, StyleTarget
from pipelines.zoo import ASSETS

EXAMPLES = ASSETS / "examples"


def example_images(prefix: str, zoo_name: str) -> list[str]:
    """Files starting with `prefix` ("google_", "twitter_"), for the emoji64 zoo; none for other zoos."""
    if zoo_name != "emoji64":
        return []
    return sorted(str(p) for p in EXAMPLES.glob(f"{prefix}*.png"))


def style_targets(zoo_name: str) -> list[StyleTarget]:
    """The adaptation tabs' target-style presets (pipelines/style_targets.py), for the emoji64 zoo; none for other
    zoos, whose generators draw something else."""
    return list(TARGETS.values()) if zoo_name == "emoji64" else []


def run_on_select(examples: gr.Examples, fn: Callable, inputs: list, outputs: list, **events) -> None:
    """A click on an example fills the inputs, then runs `fn` as the tab's button does (same lane, same
    Stop button, progress shown; nothing cached, so a stopped run leaves nothing behind)."""
    examples.load_input_event.then(fn, inputs, outputs, api_name=False, **events)
