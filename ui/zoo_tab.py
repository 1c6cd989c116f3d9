"""Zoo: the active zoo's slots, present or missing, with their sources."""
from __future__ import annotations

import os

import gradio as gr

from .serving import FAST
from .session import Session


def short_source(source: str) -> str:
    """Several files of one folder as the folder and a count (the table stays readable at 800 px)."""
    files = [f.strip() for f in source.split(",") if f.strip()]
    folder = os.path.commonprefix(files).rpartition("/")[0]
    return f"{folder}/ ({len(files)} files)" if len(files) > 1 and folder else source


def build(session: Session, demo: gr.Blocks) -> None:
    zoo = session.zoo
    gr.Markdown(f"**Active zoo: {zoo.title}** — {zoo.description}\n\nEach slot is one network (or file) the "
                "tabs draw on; a missing slot turns off the methods that need it.")
    table = gr.Dataframe(elem_id="zoo-table", headers=["slot", "status", "source", "note"], interactive=False,
                         wrap=True, label="Zoo slots", column_widths=["14%", "12%", "37%", "37%"])
    refresh = gr.Button("Refresh", elem_id="zoo-refresh")

    def on_status():
        return [[s.name, "✅ ready" if s.available else "— missing", short_source(s.source), s.reason]
                for s in zoo.status()]

    refresh.click(on_status, None, table, api_name="zoo_status", **FAST)
    demo.load(on_status, None, table, api_name=False)
