"""Inversion: one image, every available method side by side, with metrics and seconds."""
from __future__ import annotations

import gradio as gr

from pipelines.images import prepare_image, tensor_to_pil
from pipelines.inversion import invert
from pipelines.methods.refinestyle_opt import OptimisationSettings
from pipelines.tuning import TuningSettings

from .controls import slider
from .examples import example_images
from .methods import checked_networks, label, method_choices, missing_methods, request_settings, unavailable_note
from .serving import HEAVY, gpu, inversion_seconds
from .session import Session, user_errors
from .upload import image_upload
from .validation import image_check, nonempty, validator

METRIC_HEADERS = ["method", "MSE ↓", "SSIM ↑", "perceptual ↓", "ID ↑", "seconds"]


def build(session: Session) -> None:
    with gr.Row():
        with gr.Column(scale=1):
            image = image_upload("Image to invert", elem_id="inversion-image")
            missing = missing_methods(session)
            methods = gr.CheckboxGroup(method_choices(), value=["refinestyle_opt"], label="Methods")
            unavailable_note(missing)
            with gr.Accordion("Optimisation", open=False):
                w_steps = slider(OptimisationSettings, "w_steps")
                r_steps = slider(OptimisationSettings, "residual_steps")
                rank = slider(OptimisationSettings, "rank")
                tune_steps = slider(TuningSettings, "steps")
                seed = gr.Number(value=0, precision=0, label="Seed", minimum=0)
            run = gr.Button("Invert", variant="primary", elem_id="inversion-run")
        with gr.Column(scale=2):
            gallery = gr.Gallery(elem_id="inversion-gallery", label="Input and reconstructions", columns=4, format="png", height="auto")
            compare = gr.ImageSlider(label="Input vs. the first method", format="png", type="pil")
            table = gr.Dataframe(headers=METRIC_HEADERS, interactive=False)

    @gpu(lambda path, chosen, w_steps, r_steps, rank, tune_steps, seed, progress=None:
         inversion_seconds(chosen, request_settings(w_steps, r_steps, tune_steps, rank)))
    def on_invert(path, chosen, w_steps, r_steps, rank, tune_steps, seed, progress=gr.Progress()):
        nets = checked_networks(session, path, chosen)
        settings = request_settings(w_steps, r_steps, tune_steps, rank)
        with user_errors():
            target = prepare_image(path, nets.generator.size)
            results = invert(nets, target, list(chosen), settings, int(seed), lambda f, d: progress(f, desc=d))
        source = tensor_to_pil(target)
        shots = [(source, "input")] + [(tensor_to_pil(r.image), label(r.method)) for r in results]
        rows = [[label(r.method), *(round(r.metrics[k], 4) for k in ("mse", "ssim", "perceptual", "id")),
                 round(r.seconds, 2)] for r in results]
        return shots, (source, shots[1][0]), rows

    inputs, outputs = [image, methods, w_steps, r_steps, rank, tune_steps, seed], [gallery, compare, table]
    default = [m for m in ("e4e", "refinestyle_opt") if m not in missing]
    opt, tune = OptimisationSettings(), TuningSettings()
    rows = [[path, default, opt.w_steps, opt.residual_steps, opt.rank, tune.steps, 0] for path in
            example_images("google_", session.zoo.name) + example_images("twitter_1f9", session.zoo.name)]
    if rows:
        gr.Examples(rows, inputs, outputs, fn=on_invert, cache_examples=True, cache_mode="lazy", label="Examples (Noto and Twemoji)")
    run.click(on_invert, inputs, outputs,
              api_name="invert", validator=validator(image_check(), nonempty("Tick at least one method.")), **HEAVY)

