"""Inversion: one image, every available method side by side, with metrics and seconds."""
from __future__ import annotations

import gradio as gr

from pipelines.images import prepare_image, tensor_to_pil
from pipelines.inversion import METHODS, NEEDS, InversionNetworks, OptimisationSettings, available_methods, invert
from pipelines.tuning import TuningSettings

from .examples import example_images
from .serving import HEAVY, gpu, inversion_seconds
from .session import Session, user_errors
from .upload import image_upload
from .validation import image_check, nonempty, validator

LABELS = {"e4e": "e4e (encoder)", "refinestyle_1s": "RefineStyle, one-stage", "refinestyle_2s": "RefineStyle, two-stage",
          "refinestyle_opt": "RefineStyle, per-image optimisation", "gradstyle": "GradStyle",
          "gani": "GaNI (per-image tuning)", "pti": "PTI (per-image tuning)"}
METRIC_HEADERS = ["method", "MSE ↓", "SSIM ↑", "perceptual ↓", "ID ↑", "seconds"]


def build(session: Session) -> None:
    with gr.Row():
        with gr.Column(scale=1):
            image = image_upload("Image to invert", elem_id="inversion-image")
            missing = missing_methods(session)
            methods = gr.CheckboxGroup([(LABELS[m], m) for m in METHODS], value=["refinestyle_opt"], label="Methods")
            unavailable_note(missing)
            with gr.Accordion("Optimisation", open=False):
                w_steps = gr.Slider(0, 500, value=100, step=10, label="W+ steps")
                r_steps = gr.Slider(0, 1000, value=200, step=10, label="Residual steps (P, Q, A, B)")
                rank = gr.Slider(1, 64, value=8, step=1, label="Rank L")
                tune_steps = gr.Slider(0, 500, value=100, step=10, label="GaNI / PTI tuning steps")
                seed = gr.Number(value=0, precision=0, label="Seed", minimum=0)
            run = gr.Button("Invert", variant="primary", elem_id="inversion-run")
        with gr.Column(scale=2):
            gallery = gr.Gallery(elem_id="inversion-gallery", label="Input and reconstructions", columns=4, format="png", height="auto")
            slider = gr.ImageSlider(label="Input vs. the first method", format="png", type="pil")
            table = gr.Dataframe(headers=METRIC_HEADERS, interactive=False)

    @gpu(lambda path, chosen, w_steps, r_steps, rank, tune_steps, seed, progress=None:
         inversion_seconds(chosen, w_steps, r_steps, tune_steps))
    def on_invert(path, chosen, w_steps, r_steps, rank, tune_steps, seed, progress=gr.Progress()):
        nets = checked_networks(session, path, chosen)
        settings = OptimisationSettings(w_steps=int(w_steps), residual_steps=int(r_steps), rank=int(rank))
        tuning = TuningSettings(steps=int(tune_steps))
        with user_errors():
            target = prepare_image(path, nets.generator.size)
            results = invert(nets, target, list(chosen), settings, int(seed), lambda f, d: progress(f, desc=d), tuning)
        source = tensor_to_pil(target)
        shots = [(source, "input")] + [(tensor_to_pil(r.image), LABELS[r.method]) for r in results]
        rows = [[LABELS[r.method], *(round(r.metrics[k], 4) for k in ("mse", "ssim", "perceptual", "id")),
                 round(r.seconds, 2)] for r in results]
        return shots, (source, shots[1][0]), rows

    inputs, outputs = [image, methods, w_steps, r_steps, rank, tune_steps, seed], [gallery, slider, table]
    default = [m for m in ("e4e", "refinestyle_opt") if m not in missing]
    rows = [[path, default, 100, 200, 8, 100, 0] for path in
            example_images("google_", session.zoo.name) + example_images("twitter_1f9", session.zoo.name)]
    if rows:
        gr.Examples(rows, inputs, outputs, fn=on_invert, cache_examples=True, cache_mode="lazy", label="Examples (Noto and Twemoji)")
    run.click(on_invert, inputs, outputs,
              api_name="invert", validator=validator(image_check(), nonempty("Tick at least one method.")), **HEAVY)


def checked_networks(session: Session, path: str | None, chosen: list[str] | None) -> InversionNetworks:
    """The zoo's inversion networks, once the request has an image and only runnable methods (else gr.Error)."""
    if not path:
        raise gr.Error("Upload an image first.")
    if not chosen:
        raise gr.Error("Tick at least one method.")
    nets = InversionNetworks.build(session.load, session.zoo.available)
    missing = {m: why for m, why in available_methods(nets).items() if m in chosen and why}
    if missing:
        raise gr.Error("; ".join(f"{LABELS.get(m, m)}: {why}" for m, why in missing.items()))
    return nets


def unavailable_note(missing: dict[str, str]) -> None:
    if missing:
        gr.Markdown("Unavailable in this zoo: " + "; ".join(f"{LABELS[m]} ({why})" for m, why in missing.items()))


def missing_methods(session: Session) -> dict[str, str]:
    """Methods whose networks the zoo does not name, with the reason (nothing is loaded)."""
    lacking = {m: [slot for slot in NEEDS[m] if not session.zoo.available(slot)] for m in METHODS}
    return {m: f"no {slots[0]} network in this zoo" for m, slots in lacking.items() if slots}
