"""RefineStyle, GradStyle and GaNI on StyleGAN2, side by side: the Gradio app (a Hugging Face Space).

    python app.py                      # emoji64 zoo on CPU, http://127.0.0.1:7860
    python app.py --zoo ffhq --device cuda

Nothing heavy happens at import: networks load on first use through pipelines.zoo, once per
process, and every tab (ui/) is built from pipeline functions.
"""
from __future__ import annotations

import argparse
import contextlib
import socket
from collections.abc import Iterator

import spaces  # noqa: F401  (first: on a ZeroGPU Space it must be imported before anything touches CUDA)
import gradio as gr

from pipelines.editing import SWEEP
from pipelines.runtime import tune_cpu_allocator
from ui import adaptation_tabs, editing_tab, generate_tab, inversion_tab, spectrum_tab, zoo_tab
from ui.header import header
from ui.session import DEFAULT_ZOO, Session

TITLE = "RefineStyle · GradStyle · GaNI — StyleGAN2 inversion, editing and domain adaptation"
QUEUE_SIZE = 32
MAX_FILE_SIZE = "20mb"  # pipelines.images.MAX_BYTES
# the strength sweep: one row per method at any width (Gradio's tiles are at least 100 px wide, so
# seven overflow an 800 px window), captions wrapped instead of cut at 80 % of the tile
CSS = (f"#editing-sweep .grid-container {{ grid-template-columns: repeat({len(SWEEP)}, minmax(0, 1fr)); }}\n"
       "#editing-sweep .caption-label { white-space: normal; max-width: 100%; }")
LAUNCH = {"max_file_size": MAX_FILE_SIZE, "show_error": True, "css": CSS}  # what every launch of the app passes


def build_demo(zoo: str = DEFAULT_ZOO, device: str = "cpu", default_zoo: str = DEFAULT_ZOO,
               slow_jobs: int = 1) -> gr.Blocks:
    """The Blocks of the app, queued; builds without loading any network (the directions file excepted).
    `slow_jobs`: per-image optimisations and adaptations that may run at once (ui/serving.py)."""
    session = Session.open(zoo, device, default_zoo, slow_jobs)
    with gr.Blocks(title=TITLE) as demo:
        gr.Markdown(header(session, TITLE), elem_id="header")
        if session.notice:
            gr.Markdown(session.notice)
        with gr.Tab("Generate"):
            generate_tab.build(session)
        with gr.Tab("Inversion"):
            inversion_tab.build(session)
        with gr.Tab("Editing"):
            editing_tab.build(session)
        with gr.Tab("Text-driven adaptation"):
            adaptation_tabs.build_text(session)
        with gr.Tab("One-shot adaptation"):
            adaptation_tabs.build_oneshot(session)
        with gr.Tab("Kernel spectrum"):
            spectrum_tab.build(session)
        with gr.Tab("Zoo"):
            zoo_tab.build(session, demo)
    return demo.queue(max_size=QUEUE_SIZE)


@contextlib.contextmanager
def served(zoo: str = DEFAULT_ZOO, device: str = "cpu") -> Iterator[str]:
    """The app on `zoo`, launched in this process on a free local port (tests, benches); yields its URL
    and closes it on exit."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo = build_demo(zoo, device)
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **LAUNCH)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=TITLE)
    parser.add_argument("--zoo", default=DEFAULT_ZOO, help="zoo name (assets/zoos/<name>.json) or a manifest path")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--share", action="store_true", help="open a public Gradio link")
    parser.add_argument("--slow-jobs", type=int, default=1,
                        help="per-image optimisations and adaptations run at once (1 on CPU; more on a GPU)")
    args = parser.parse_args(argv)
    tune_cpu_allocator()
    demo = build_demo(args.zoo, args.device, slow_jobs=args.slow_jobs)
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, **LAUNCH)


if __name__ == "__main__":
    main()
