"""Inversion: one image, the chosen methods side by side, with metrics and seconds.

The encoders run at once (fast lane); the per-image methods (optimisation, GaNI, PTI) then run in
the slow lane. Stop ends the work within one optimisation step and shows what was done.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import gradio as gr

from pipelines.figures import QualityTimePoint, quality_time_figure
from pipelines.images import tensor_to_pil
from pipelines.inversion import invert
from pipelines.methods.refinestyle_opt import OptimisationSettings
from pipelines.tuning import TuningSettings

from .budget import starting_counts
from .controls import NARROW, WIDE, slider
from .examples import example_images, run_on_select
from .faces import align_option, input_caption, paste_outputs, pasted, prepare_upload
from .jobs import Tracker, stop_button, stoppable
from .methods import (checked_networks, default_methods, is_per_image, label, method_choices, missing_methods,
                      request_settings, unavailable_note)
from .serving import LANED, gpu, inversion_seconds, per_image_work
from .session import Session, user_errors
from .sheet import write_sheet
from .upload import image_upload
from .validation import image_check, refuse_bad

METRIC_HEADERS = ["method", "MSE ↓", "SSIM ↑", "perceptual ↓", "ID ↑", "seconds"]
HELP = ("Reconstruct an image with each ticked method and compare them. The encoders answer in about a "
        "second; the per-image methods optimise for each image (their measured time is in their name).")


def invert_handler(session: Session) -> Callable:
    """The /invert endpoint; its parameter names are the API's."""

    @stoppable("inversion")
    @gpu(lambda image, methods, w_steps, residual_steps, rank, tuning_steps, seed, align_face=False, progress=None,
         **_: inversion_seconds(methods, request_settings(w_steps, residual_steps, tuning_steps, rank)))
    def invert_image(image: str, methods: list[str], w_steps: int, residual_steps: int, rank: int, tuning_steps: int,
                     seed: int, align_face: bool = False, progress=gr.Progress(), *, cancel):
        refuse_bad((image_check(), image))
        nets = checked_networks(session, image, methods)
        settings = request_settings(w_steps, residual_steps, tuning_steps, rank)
        track = Tracker(progress)
        encoders, per_image = [m for m in methods if not is_per_image(m)], [m for m in methods if is_per_image(m)]
        prepared = prepare_upload(session, image, bool(align_face), nets.generator.size, track)
        target = prepared.target
        with user_errors():
            results = invert(nets, target, encoders, settings, int(seed), track, cancel) if encoders else []
            if per_image and not cancel():
                with session.lane.enter(cancel, track, *per_image_work("inversion", per_image, settings)) as entered:
                    if entered:
                        results += invert(nets, target, per_image, settings, int(seed), track, cancel)
        source = tensor_to_pil(target)
        shots = [(source, input_caption(prepared))] + [(tensor_to_pil(r.image), label(r.method)) for r in results]
        rows = [[label(r.method), *(round(r.metrics[k], 4) for k in ("mse", "ssim", "perceptual", "id")),
                 round(r.seconds, 2)] for r in results]
        pair = (source, shots[1][0]) if results else None
        plot = quality_time_figure([QualityTimePoint(r.method, r.seconds, r.metrics["perceptual"],
                                                     "(ours)" in label(r.method)) for r in results],
                                   "This image: quality against time") if results else None
        if cancel():
            return shots, pair, rows, track.stopped(), None, None, [], None, plot
        settings_shown = {"zoo": session.zoo.name, "device": session.device, "image": Path(image).name,
                          "aligned": "yes" if prepared.alignment is not None else "no",
                          "methods": ", ".join(methods), "W+ steps": w_steps, "residual steps": residual_steps,
                          "rank": rank, "tuning steps": tuning_steps, "seed": seed}
        sheet, metrics = write_sheet("Inversion", [shots], METRIC_HEADERS, rows, settings_shown)
        in_photo, in_photo_png = pasted(prepared, [(r.image, label(r.method)) for r in results])
        return shots, pair, rows, prepared.note, sheet, metrics, in_photo, in_photo_png, plot

    return invert_image


def build(session: Session) -> None:
    gr.Markdown(HELP)
    with gr.Row():
        with gr.Column(scale=1, min_width=NARROW):
            image = image_upload("Image to invert", elem_id="inversion-image", height=260)
            align = align_option(session, elem_id="inversion-align")
            missing = missing_methods(session)
            methods = gr.CheckboxGroup(method_choices(session), value=default_methods(missing), label="Methods")
            unavailable_note(missing)
            with gr.Accordion("Per-image optimisation settings", open=False):
                counts = starting_counts(session.zoo.resolution, session.device)
                fine = {"step": 1} if counts.seconds else {}  # counts fitted to a minute need not be tens
                w_steps = slider(OptimisationSettings, "w_steps", value=counts.w_steps, **fine)
                r_steps = slider(OptimisationSettings, "residual_steps", value=counts.residual_steps, **fine)
                rank = slider(OptimisationSettings, "rank")
                tune_steps = slider(TuningSettings, "steps", value=counts.tuning_steps, **fine)
                seed = gr.Number(value=0, precision=0, label="Seed", minimum=0)
            with gr.Row():
                run = gr.Button("Invert", variant="primary", elem_id="inversion-run")
                stop_button("inversion", elem_id="inversion-stop")
        with gr.Column(scale=2, min_width=WIDE):
            status = gr.Markdown(label="Status", elem_id="inversion-status")
            gallery = gr.Gallery(elem_id="inversion-gallery", label="Input and reconstructions", columns=4,
                                 format="png", height="auto")
            compare = gr.ImageSlider(label="Input vs. the first method", format="png", type="pil")
            table = gr.Dataframe(headers=METRIC_HEADERS, interactive=False, label="Metrics", wrap=True,
                                 column_widths=["30%", "14%", "14%", "14%", "14%", "14%"])
            with gr.Row():
                sheet = gr.DownloadButton("Comparison sheet (PNG)", elem_id="inversion-sheet")
                metrics_json = gr.DownloadButton("Metrics (JSON)", elem_id="inversion-json")
                gr.DeepLinkButton()
            in_photo, in_photo_png = paste_outputs(session, "inversion")
            plot = gr.Plot(label="Perceptual distance against seconds, per method (as bench.inversion's plot)",
                           elem_id="inversion-plot")

    on_invert = invert_handler(session)
    inputs = [image, methods, w_steps, r_steps, rank, tune_steps, seed, align]
    outputs = [gallery, compare, table, status, sheet, metrics_json, in_photo, in_photo_png, plot]
    events = dict(show_progress_on=[gallery], **LANED)
    paths = example_images("google_", session.zoo.name) + example_images("twitter_1f9", session.zoo.name)
    if paths:
        examples = gr.Examples([[p] for p in paths], [image],
                               label="Examples (Noto and Twemoji): a click inverts with the ticked methods")
        run_on_select(examples, on_invert, inputs, outputs, **events)
    run.click(on_invert, inputs, outputs, api_name="invert", **events)
