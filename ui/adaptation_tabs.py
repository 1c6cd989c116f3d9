"""Text-driven and one-shot domain adaptation tabs: train, preview on fixed seeds, download or load
the domain file, and render an uploaded image in the adapted domain."""
from __future__ import annotations

import tempfile
import uuid
from pathlib import Path

import gradio as gr
import torch

from pipelines.adapt_oneshot import OneShotSettings, adapt_from_reference
from pipelines.adapt_text import TextAdaptSettings, adapt_text
from pipelines.clip_loss import clip_towers
from pipelines.domain import AdaptedDomain
from pipelines.images import prepare_image, tensor_to_pil
from pipelines.inversion import (DOMAIN_CODE_METHODS, DOMAIN_CODE_SETTINGS, InversionNetworks, InversionSettings,
                                 invert_for_domain)

from .controls import slider
from .examples import example_images
from .jobs import Tracker, stop_button, stoppable
from .serving import FAST, adaptation_seconds, gpu, inversion_seconds
from .session import Session, user_errors
from .upload import image_upload
from .validation import image_check, prompt_check, validator

PREVIEW_SEEDS = [0, 1, 2, 3]
METHODS = [("Tokens (RefineStyle)", "tokens"), ("Full fine-tuning (baseline)", "full")]
DOMAIN_DIR = Path(tempfile.gettempdir()) / "refinestyle-domains"
# where the app's iteration sliders start (the settings' defaults are the papers' 300): runs that end
# within 60 s on a 2-core CPU under load (measured: see the README's app section)
APP_ITERATIONS = {"text": 30, "oneshot": 20}


def _preview(g, domain: AdaptedDomain) -> list:
    """Before / after pairs on the fixed preview seeds (ψ = 0.7)."""
    z = torch.randn(len(PREVIEW_SEEDS), g.z_dim, generator=torch.Generator().manual_seed(0)).to(g.w_avg)
    with torch.no_grad():
        ws = g.broadcast(g.truncate(g.mapping(z), 0.7))
        before, after = g.synthesis(ws).clamp(-1, 1), domain.render(g, ws)
    return ([(tensor_to_pil(b), f"seed {s}: before") for b, s in zip(before, PREVIEW_SEEDS)]
            + [(tensor_to_pil(a), f"seed {s}: adapted") for a, s in zip(after, PREVIEW_SEEDS)])


def _summary(domain: AdaptedDomain) -> str:
    i = domain.info
    extra = f", reference MSE {i['reference_mse']:.4f}" if "reference_mse" in i else ""
    text = (f"**{domain.kind}**: {i['trainable_parameters']:,} trainable parameters, {i['iterations_done']} iterations "
            f"at lr {i['settings']['lr']:g} in {i['seconds']:.1f} s{extra}.")
    if i.get("cancelled"):
        text = (f"⏹ Stopped after {i['iterations_done']} of {i['settings']['iterations']} iterations: the preview "
                f"shows the partial domain; no domain file was written.\n\n{text}")
    return text


def _save(domain: AdaptedDomain) -> str:
    DOMAIN_DIR.mkdir(parents=True, exist_ok=True)
    return str(domain.save(DOMAIN_DIR / f"domain-{domain.info['mode']}-{uuid.uuid4().hex[:8]}.safetensors"))


def _results(g, domain: AdaptedDomain | None, track: Tracker) -> tuple:
    """(grid, summary, download, state): a finished domain is saved and becomes the tab's last domain;
    a stopped one is previewed only, and nothing is written."""
    if domain is None:  # stopped while waiting for the slow lane
        return [], track.stopped(), None, gr.skip()
    if domain.info.get("cancelled"):
        return _preview(g, domain), _summary(domain), None, gr.skip()
    path = _save(domain)
    return _preview(g, domain), _summary(domain), path, path


def _render_section(session: Session, state: gr.State, name: str) -> None:
    """Render an uploaded image in the last trained domain, or in an uploaded domain file."""
    with gr.Accordion("Render your image in the adapted domain, or load a domain file", open=False):
        with gr.Row():
            with gr.Column():
                image = image_upload("Your image")
                domain_file = gr.File(label="Domain file (optional: default is the one just trained)",
                                      file_types=[".safetensors"])
                go = gr.Button("Render in domain")
            with gr.Column():
                pair = gr.ImageSlider(label="Inverted vs. in the adapted domain", format="png", type="pil")
                preview = gr.Gallery(label="The domain on the preview seeds", columns=len(PREVIEW_SEEDS), format="png")

    @gpu(lambda path, uploaded, last, progress=None:
         max(inversion_seconds([m], InversionSettings(DOMAIN_CODE_SETTINGS)) for m in DOMAIN_CODE_METHODS))
    def on_render(path, uploaded, last, progress=gr.Progress()):
        source = uploaded or last
        if not source:
            raise gr.Error("Train a domain first, or upload a domain file.")
        g = session.load("generator")
        with user_errors():
            domain = AdaptedDomain.load(Path(source), g)
            grid = _preview(g, domain)
            if not path:
                return None, grid
            nets = InversionNetworks.build(session.load, session.zoo.available)
            target = prepare_image(path, g.size)
            result = invert_for_domain(nets, target, lambda f, d: progress(f, desc=d))
            with torch.no_grad():
                adapted = domain.render(g, result.ws, residuals=result.residuals)
        return (tensor_to_pil(result.image), tensor_to_pil(adapted)), grid

    go.click(on_render, [image, domain_file, state], [pair, preview], api_name=f"render_{name}_domain",
             validator=validator(image_check(required=False)), **FAST)


def _controls(prefix: str, settings: type) -> tuple:
    """What to train, iterations, seed, learning rate (defaults from the settings dataclass, iterations
    from APP_ITERATIONS), the run and stop buttons.  -> (method, iterations, seed, lr, run)

    Stopping is safe: adaptation never modifies the shared generator (pipelines/domain.py).
    """
    method = gr.Radio(METHODS, value=settings.method, label="What to train")
    iterations = slider(settings, "iterations", f"Iterations (the paper trains {settings.iterations})",
                        value=APP_ITERATIONS[prefix], elem_id=f"{prefix}-iterations")
    seed = gr.Number(value=settings.seed, precision=0, minimum=0, label="Seed")
    rate = gr.Number(value=settings.lr, step=1e-4, label="Learning rate (Adam, 0 … 0.1)", elem_id=f"{prefix}-lr")
    with gr.Row():
        run = gr.Button("Adapt", variant="primary", elem_id=f"{prefix}-run")
        stop_button(f"adapt_{prefix}", elem_id=f"{prefix}-stop")
    return method, iterations, seed, rate, run


def _outputs(prefix: str) -> tuple:
    """The before/after grid, the summary and the domain download.  -> (grid, info, download)"""
    grid = gr.Gallery(label="Before / adapted on fixed seeds", columns=len(PREVIEW_SEEDS), format="png",
                      elem_id=f"{prefix}-gallery")
    return grid, gr.Markdown(), gr.File(label="Adapted domain (download)")


def build_text(session: Session) -> None:
    state = gr.State(None)
    with gr.Row():
        with gr.Column(scale=1):
            source = gr.Textbox(value=TextAdaptSettings.source, label="Source text", max_length=300)
            target = gr.Textbox(value=TextAdaptSettings.target, label="Target text", max_length=300)
            method, iterations, seed, lr, run = _controls("text", TextAdaptSettings)
        with gr.Column(scale=2):
            grid, info, download = _outputs("text")

    @stoppable("adapt_text")
    @gpu(lambda src, tgt, method_value, iters, seed_value, lr_value, progress=None, **_: adaptation_seconds(iters))
    def on_adapt(src, tgt, method_value, iters, seed_value, lr_value, progress=gr.Progress(), *, cancel):
        g = session.load("generator")
        towers = clip_towers(session.load("clip"))
        settings = TextAdaptSettings(src, tgt, method_value, int(iters), lr=float(lr_value), seed=int(seed_value))
        track = Tracker(progress)
        with user_errors(), session.lane.enter(cancel, track) as entered:
            domain = adapt_text(g, towers, settings, track, cancel, zoo=session.zoo.name) if entered else None
        return _results(g, domain, track)

    run.click(on_adapt, [source, target, method, iterations, seed, lr], [grid, info, download, state],
              api_name="adapt_text", validator=validator(prompt_check, prompt_check),
              **session.lane.events("adaptation"))
    _render_section(session, state, "text")


def build_oneshot(session: Session) -> None:
    state = gr.State(None)
    with gr.Row():
        with gr.Column(scale=1):
            reference = image_upload("Reference image (the target style)", elem_id="oneshot-image")
            has_inverter = session.zoo.available("refinestyle_2s")
            init = gr.Checkbox(value=has_inverter, interactive=has_inverter,
                               label="Start the tokens from the two-stage inversion of the reference"
                                     + ("" if has_inverter else " (this zoo has no two-stage inverter)"))
            method, iterations, seed, lr, run = _controls("oneshot", OneShotSettings)
        with gr.Column(scale=2):
            grid, info, download = _outputs("oneshot")

    @stoppable("adapt_oneshot")
    @gpu(lambda path, method_value, use_init, iters, seed_value, lr_value, progress=None, **_:
         adaptation_seconds(iters))
    def on_adapt(path, method_value, use_init, iters, seed_value, lr_value, progress=gr.Progress(), *, cancel):
        if not path:
            raise gr.Error("Upload a reference image first.")
        nets = InversionNetworks.build(session.load, session.zoo.available)
        g, judge = nets.generator, session.load("perceptual")
        settings = OneShotSettings(method=method_value, iterations=int(iters), lr=float(lr_value),
                                   seed=int(seed_value))
        track = Tracker(progress)
        with user_errors(), session.lane.enter(cancel, track) as entered:
            ref = prepare_image(path, g.size)
            domain = adapt_from_reference(nets, judge, ref, settings, bool(use_init), track, cancel,
                                          zoo=session.zoo.name) if entered else None
        return _results(g, domain, track)

    refs = example_images("twitter_1f600", session.zoo.name)
    if refs:
        gr.Examples([[r] for r in refs], [reference], label="Reference example (Twemoji)")
    run.click(on_adapt, [reference, method, init, iterations, seed, lr], [grid, info, download, state],
              api_name="adapt_oneshot", validator=validator(image_check()), **session.lane.events("adaptation"))
    _render_section(session, state, "oneshot")
