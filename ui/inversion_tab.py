"""Inversion: one image, the chosen methods side by side, with metrics and seconds.

The encoders run at once (fast lane); the per-image methods (optimisation, GaNI, PTI) then run in
the slow lane. Stop ends the work within one optimisation step and shows what was done.
"""
from __future__ import annotations

import gradio as gr

from pipelines.images import prepare_image, tensor_to_pil
from pipelines.inversion import invert
from pipelines.methods.refinestyle_opt import OptimisationSettings
from pipelines.tuning import TuningSettings

from .controls import slider
from .examples import example_images, run_on_select
from .jobs import Tracker, stop_button, stoppable
from .methods import (checked_networks, default_methods, is_per_image, label, method_choices, missing_methods,
                      request_settings, unavailable_note)
from .serving import gpu, inversion_seconds
from .session import Session, user_errors
from .upload import image_upload
from .validation import image_check, nonempty, validator

METRIC_HEADERS = ["method", "MSE ↓", "SSIM ↑", "perceptual ↓", "ID ↑", "seconds"]
HELP = ("Reconstruct an image with each ticked method and compare them. The encoders answer in about a "
        "second; the per-image methods optimise for each image (their measured time is in their name).")


def build(session: Session) -> None:
    gr.Markdown(HELP)
    with gr.Row():
        with gr.Column(scale=1):
            image = image_upload("Image to invert", elem_id="inversion-image", height=260)
            missing = missing_methods(session)
            default = default_methods(missing)
            methods = gr.CheckboxGroup(method_choices(session), value=default, label="Methods")
            unavailable_note(missing)
            with gr.Accordion("Per-image optimisation settings", open=False):
                w_steps = slider(OptimisationSettings, "w_steps")
                r_steps = slider(OptimisationSettings, "residual_steps")
                rank = slider(OptimisationSettings, "rank")
                tune_steps = slider(TuningSettings, "steps")
                seed = gr.Number(value=0, precision=0, label="Seed", minimum=0)
            with gr.Row():
                run = gr.Button("Invert", variant="primary", elem_id="inversion-run")
                stop_button("inversion", elem_id="inversion-stop")
        with gr.Column(scale=2):
            status = gr.Markdown(elem_id="inversion-status")
            gallery = gr.Gallery(elem_id="inversion-gallery", label="Input and reconstructions", columns=4,
                                 format="png", height="auto")
            compare = gr.ImageSlider(label="Input vs. the first method", format="png", type="pil")
            table = gr.Dataframe(headers=METRIC_HEADERS, interactive=False, label="Metrics", wrap=True)

    @stoppable("inversion")
    @gpu(lambda path, chosen, w_steps, r_steps, rank, tune_steps, seed, progress=None, **_:
         inversion_seconds(chosen, request_settings(w_steps, r_steps, tune_steps, rank)))
    def on_invert(path, chosen, w_steps, r_steps, rank, tune_steps, seed, progress=gr.Progress(), *, cancel):
        nets = checked_networks(session, path, chosen)
        settings = request_settings(w_steps, r_steps, tune_steps, rank)
        track = Tracker(progress)
        fast, slow = [m for m in chosen if not is_per_image(m)], [m for m in chosen if is_per_image(m)]
        with user_errors():
            target = prepare_image(path, nets.generator.size)
            results = invert(nets, target, fast, settings, int(seed), track, cancel) if fast else []
            if slow and not cancel():
                with session.lane.enter(cancel, track) as entered:
                    if entered:
                        results += invert(nets, target, slow, settings, int(seed), track, cancel)
        source = tensor_to_pil(target)
        shots = [(source, "input")] + [(tensor_to_pil(r.image), label(r.method)) for r in results]
        rows = [[label(r.method), *(round(r.metrics[k], 4) for k in ("mse", "ssim", "perceptual", "id")),
                 round(r.seconds, 2)] for r in results]
        pair = (source, shots[1][0]) if results else None
        return shots, pair, rows, track.stopped() if cancel() else ""

    inputs, outputs = [image, methods, w_steps, r_steps, rank, tune_steps, seed], [gallery, compare, table, status]
    opt, tune = OptimisationSettings(), TuningSettings()
    rows = [[path, default, opt.w_steps, opt.residual_steps, opt.rank, tune.steps, 0] for path in
            example_images("google_", session.zoo.name) + example_images("twitter_1f9", session.zoo.name)]
    events = dict(validator=validator(image_check(), nonempty("Tick at least one method.")),
                  **session.lane.events("inversion"))
    if rows:
        examples = gr.Examples(rows, inputs,
                               label="Examples (Noto and Twemoji): a click inverts with the default methods")
        run_on_select(examples, on_invert, inputs, outputs, **events)
    run.click(on_invert, inputs, outputs, api_name="invert", **events)
