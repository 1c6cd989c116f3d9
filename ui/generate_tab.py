"""Generate: seeds, truncation and style mixing, as a sample grid."""
from __future__ import annotations

from collections.abc import Callable

import gradio as gr

from pipelines.generate import generate
from pipelines.images import tensor_to_pil

from .serving import FAST
from .session import Session, user_errors

HELP = "Sample the active generator: one image per seed, ψ < 1 trades variety for typical images."


def generate_handler(session: Session) -> Callable:
    """The /generate endpoint; its parameter names are the API's."""

    def generate_samples(seed: int, samples: int, truncation: float, style_mixing: bool, style_seed: int,
                         first_style_layer: int):
        g = session.load("generator")
        with user_errors():
            result = generate(g, int(seed), int(samples), float(truncation),
                              int(style_seed) if style_mixing else None,
                              int(first_style_layer) if style_mixing else None)
        images = [(tensor_to_pil(img), f"seed {s}") for img, s in zip(result.images, result.seeds)]
        return images, f"{len(images)} samples at {g.size} px in {result.seconds:.2f} s on {session.device}"

    return generate_samples


def build(session: Session) -> None:
    gr.Markdown(HELP)
    with gr.Row():
        with gr.Column(scale=1):
            seed = gr.Number(value=0, precision=0, label="Seed (first sample)", minimum=0, maximum=2**31 - 1)
            count = gr.Slider(1, 32, value=8, step=1, precision=0, label="Samples")
            truncation = gr.Slider(0.0, 1.0, value=0.7, step=0.05, label="Truncation ψ")
            with gr.Accordion("Style mixing", open=False):
                mix = gr.Checkbox(value=False, label="Take the later layers from another seed")
                mix_seed = gr.Number(value=1000, precision=0, label="Style seed", minimum=0, maximum=2**31 - 1)
                inject = gr.Slider(1, session.num_ws - 1, value=session.num_ws // 2, step=1, precision=0,
                                   label="First layer taken from the style seed")
            run = gr.Button("Generate", variant="primary", elem_id="generate-run")
        with gr.Column(scale=2):
            gallery = gr.Gallery(elem_id="generate-gallery", label="Samples", columns=4, format="png", height="auto")
            info = gr.Markdown(label="Summary")
            gr.DeepLinkButton()

    run.click(generate_handler(session), [seed, count, truncation, mix, mix_seed, inject], [gallery, info],
              api_name="generate", **FAST)
