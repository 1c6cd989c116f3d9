"""Inversion: one image, every available method side by side, with metrics and seconds."""
from __future__ import annotations

import gradio as gr

from pipelines.images import prepare_image, tensor_to_pil
from pipelines.inversion import METHODS, InversionNetworks, OptimisationSettings, available_methods, invert

from .session import Session, user_errors

LABELS = {"e4e": "e4e (encoder)", "refinestyle_opt": "RefineStyle, per-image optimisation"}
METRIC_HEADERS = ["method", "MSE ↓", "SSIM ↑", "perceptual ↓", "ID ↑", "seconds"]


def build(session: Session) -> None:
    with gr.Row():
        with gr.Column(scale=1):
            image = gr.Image(type="filepath", label="Image to invert", sources=["upload", "clipboard"])
            methods = gr.CheckboxGroup([(LABELS[m], m) for m in METHODS], value=["refinestyle_opt"], label="Methods")
            with gr.Accordion("Optimisation", open=False):
                w_steps = gr.Slider(0, 500, value=100, step=10, label="W+ steps")
                r_steps = gr.Slider(0, 1000, value=200, step=10, label="Residual steps (P, Q, A, B)")
                rank = gr.Slider(1, 64, value=8, step=1, label="Rank L")
                seed = gr.Number(value=0, precision=0, label="Seed", minimum=0)
            run = gr.Button("Invert", variant="primary")
        with gr.Column(scale=2):
            gallery = gr.Gallery(label="Input and reconstructions", columns=4, format="png", height="auto")
            slider = gr.ImageSlider(label="Input vs. the first method", format="png", type="pil")
            table = gr.Dataframe(headers=METRIC_HEADERS, interactive=False)

    def on_invert(path, chosen, w_steps, r_steps, rank, seed, progress=gr.Progress()):
        if not path:
            raise gr.Error("Upload an image first.")
        if not chosen:
            raise gr.Error("Tick at least one method.")
        g = session.load("generator")
        nets = InversionNetworks(g, _loss(session), session.load("e4e") if session.zoo.available("e4e") else None)
        missing = {m: why for m, why in available_methods(nets).items() if m in chosen and why}
        if missing:
            raise gr.Error("; ".join(f"{LABELS[m]}: {why}" for m, why in missing.items()))
        settings = OptimisationSettings(w_steps=int(w_steps), residual_steps=int(r_steps), rank=int(rank))
        with user_errors():
            target = prepare_image(path, g.size)
            results = invert(nets, target, list(chosen), settings, int(seed), lambda f, d: progress(f, desc=d))
        source = tensor_to_pil(target)
        shots = [(source, "input")] + [(tensor_to_pil(r.image), LABELS[r.method]) for r in results]
        rows = [[LABELS[r.method], *(round(r.metrics[k], 4) for k in ("mse", "ssim", "perceptual", "id")),
                 round(r.seconds, 2)] for r in results]
        return shots, (source, shots[1][0]), rows

    run.click(on_invert, [image, methods, w_steps, r_steps, rank, seed], [gallery, slider, table], api_name="invert")


def _loss(session: Session):
    from pipelines.losses import ReconstructionLoss

    net, ident = session.load("perceptual"), session.load("identity")
    return ReconstructionLoss(net.perceptual_distance, ident.identity)
