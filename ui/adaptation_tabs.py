"""Text-driven and one-shot domain adaptation tabs: train, preview on fixed seeds, download or load
the domain file, and render an uploaded image in the adapted domain."""
from __future__ import annotations

import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

import gradio as gr
import torch

from pipelines.adapt_oneshot import OneShotSettings, adapt_from_reference
from pipelines.adapt_text import TextAdaptSettings, adapt_text
from pipelines.clip_loss import clip_towers
from pipelines.domain import AdaptedDomain
from pipelines.generate import generate
from pipelines.images import tensor_to_pil
from pipelines.inversion import (DOMAIN_CODE_METHODS, DOMAIN_CODE_SETTINGS, InversionNetworks, InversionSettings,
                                 invert_for_domain)

from .budget import starting_counts
from .controls import slider
from .examples import style_targets
from .faces import align_option, paste_outputs, pasted, prepare_upload, with_note
from .jobs import Tracker, stop_button, stoppable
from .serving import FAST, LANED, adaptation_seconds, gpu, inversion_seconds
from .session import Session, user_errors
from .upload import image_upload
from .validation import image_check, prompt_check, refuse_bad

PREVIEW_SEEDS = [0, 1, 2, 3]  # the Generate tab's seeds 0-3 at its default ψ
PREVIEW_TRUNCATION = 0.7
METHODS = [("Tokens (RefineStyle)", "tokens"), ("Full fine-tuning (baseline)", "full")]
DOMAIN_DIR = Path(tempfile.gettempdir()) / "refinestyle-domains"


def _preview(g, domain: AdaptedDomain) -> list:
    """Before / after pairs on the fixed preview samples: the Generate tab's seeds PREVIEW_SEEDS at ψ =
    PREVIEW_TRUNCATION, the same latents and the same constant noise (pipelines.generate's own samples are the
    "before" row), so "seed 2" is Generate's seed 2."""
    samples = generate(g, PREVIEW_SEEDS[0], len(PREVIEW_SEEDS), PREVIEW_TRUNCATION)
    with torch.no_grad():
        before, after = samples.images.clamp(-1, 1), domain.render(g, samples.ws.to(g.w_avg.device))
    psi = f"ψ {PREVIEW_TRUNCATION:g}"
    return ([(tensor_to_pil(b), f"seed {s} ({psi}): before") for b, s in zip(before, samples.seeds)]
            + [(tensor_to_pil(a), f"seed {s} ({psi}): adapted") for a, s in zip(after, samples.seeds)])


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


def _results(g, domain: AdaptedDomain | None, track: Tracker, note: str = "") -> tuple:
    """(grid, summary, download, state): a finished domain is saved and becomes the tab's last domain;
    a stopped one is previewed only, and nothing is written. `note` (the reference's alignment note, one-shot)
    heads the summary."""
    if domain is None:  # stopped while waiting for the slow lane
        return [], with_note(note, track.stopped()), None, gr.skip()
    if domain.info.get("cancelled"):
        return _preview(g, domain), with_note(note, _summary(domain)), None, gr.skip()
    path = _save(domain)
    return _preview(g, domain), with_note(note, _summary(domain)), path, path


def _render_section(session: Session, state: gr.State, name: str) -> None:
    """Render an uploaded image in the last trained domain, or in an uploaded domain file."""
    with gr.Accordion("Render your image in the adapted domain, or load a domain file", open=False):
        with gr.Row():
            with gr.Column():
                image = image_upload("Your image")
                align = align_option(session)
                domain_file = gr.File(label="Domain file (optional: default is the one just trained)",
                                      file_types=[".safetensors"])
                go = gr.Button("Render in domain")
            with gr.Column():
                status = gr.Markdown(label="Status", elem_id=f"{name}-render-status")
                pair = gr.ImageSlider(label="Inverted vs. in the adapted domain", format="png", type="pil")
                in_photo, in_photo_png = paste_outputs(session, f"{name}-render")
                preview = gr.Gallery(label="The domain on the preview seeds", columns=len(PREVIEW_SEEDS), format="png")

    go.click(render_handler(session), [image, domain_file, state, align],
             [pair, preview, status, in_photo, in_photo_png],
             api_name=f"render_{name}_domain",
             **FAST)


def render_handler(session: Session) -> Callable:
    """The /render_*_domain endpoints; their parameter names are the API's (the last domain is the tab's state).
    -> (inverted, in the domain) or None without an image, the preview grid, the status (the alignment's note),
    the rendering in the domain pasted back into the photo and its PNG ([] and None unless the face was aligned)"""

    @gpu(lambda image, domain_file, last_domain, align_face=False, progress=None:
         max(inversion_seconds([m], InversionSettings(DOMAIN_CODE_SETTINGS)) for m in DOMAIN_CODE_METHODS))
    def render_in_domain(image: str | None, domain_file: str | None, last_domain: str | None, align_face: bool = False,
                         progress=gr.Progress()):
        refuse_bad((image_check(required=False), image))
        source = domain_file or last_domain
        if not source:
            raise gr.Error("Train a domain first, or upload a domain file.")
        g = session.load("generator")
        with user_errors():
            domain = AdaptedDomain.load(Path(source), g)
            grid = _preview(g, domain)
            if not image:
                return None, grid, "", [], None
            nets = InversionNetworks.build(session.load, session.zoo.available)
            track = Tracker(progress)
            prepared = prepare_upload(session, image, bool(align_face), g.size, track)
            result = invert_for_domain(nets, prepared.target, track)
            with torch.no_grad():
                adapted = domain.render(g, result.ws, residuals=result.residuals)
        in_photo, in_photo_png = pasted(prepared, [(adapted, "in the adapted domain")])
        return (tensor_to_pil(result.image), tensor_to_pil(adapted)), grid, prepared.note, in_photo, in_photo_png

    return render_in_domain


def _controls(session: Session, prefix: str, settings: type) -> tuple:
    """What to train, iterations, seed, learning rate (defaults from the settings dataclass, iterations
    from ui/budget.py), the run and stop buttons.  -> (method, iterations, seed, lr, run)

    Stopping is safe: adaptation never modifies the shared generator (pipelines/domain.py).
    """
    method = gr.Radio(METHODS, value=settings.method, label="What to train")
    counts = starting_counts(session.zoo.resolution, session.device)
    expected = f"; about {counts.seconds[prefix]:.0f} s from here on this CPU" if prefix in counts.seconds else ""
    iterations = slider(settings, "iterations", f"Iterations (the paper trains {settings.iterations}{expected})",
                        value=counts.iterations[prefix], elem_id=f"{prefix}-iterations")
    seed = gr.Number(value=settings.seed, precision=0, minimum=0, label="Seed")
    rate = gr.Number(value=settings.lr, step=1e-4, label="Learning rate (Adam, 0 … 0.1)", elem_id=f"{prefix}-lr")
    with gr.Row():
        run = gr.Button("Adapt", variant="primary", elem_id=f"{prefix}-run")
        stop_button(f"adapt_{prefix}", elem_id=f"{prefix}-stop")
    return method, iterations, seed, rate, run


def _outputs(prefix: str) -> tuple:
    """The before/after grid, the summary and the domain download.  -> (grid, info, download)"""
    grid = gr.Gallery(label="Before and adapted, on fixed seeds", columns=len(PREVIEW_SEEDS), format="png",
                      elem_id=f"{prefix}-gallery")
    info = gr.Markdown(label="Summary", elem_id=f"{prefix}-summary")
    download = gr.File(label="Adapted domain (download)")
    gr.DeepLinkButton()
    return grid, info, download


def text_handler(session: Session) -> Callable:
    """The /adapt_text endpoint; its parameter names are the API's."""

    @stoppable("adapt_text")
    @gpu(lambda source_text, target_text, method, iterations, seed, learning_rate, progress=None, **_:
         adaptation_seconds(iterations))
    def adapt_to_text(source_text: str, target_text: str, method: str, iterations: int, seed: int,
                      learning_rate: float, progress=gr.Progress(), *, cancel):
        refuse_bad((prompt_check, source_text), (prompt_check, target_text))
        g = session.load("generator")
        towers = clip_towers(session.load("clip"))
        settings = TextAdaptSettings(source_text, target_text, method, int(iterations), lr=float(learning_rate),
                                     seed=int(seed))
        track = Tracker(progress)
        with user_errors(), session.lane.enter(cancel, track, f"text-driven adaptation ({method})",
                                               settings.iterations) as entered:
            domain = adapt_text(g, towers, settings, track, cancel, zoo=session.zoo.name) if entered else None
        return _results(g, domain, track)

    return adapt_to_text


def oneshot_handler(session: Session) -> Callable:
    """The /adapt_oneshot endpoint; its parameter names are the API's."""

    @stoppable("adapt_oneshot")
    @gpu(lambda reference_image, method, init_from_inversion, iterations, seed, learning_rate, align_face=False,
         progress=None, **_: adaptation_seconds(iterations))
    def adapt_to_reference(reference_image: str, method: str, init_from_inversion: bool, iterations: int, seed: int,
                           learning_rate: float, align_face: bool = False, progress=gr.Progress(), *, cancel):
        refuse_bad((image_check(), reference_image))
        nets = InversionNetworks.build(session.load, session.zoo.available)
        g, judge = nets.generator, session.load("perceptual")
        settings = OneShotSettings(method=method, iterations=int(iterations), lr=float(learning_rate), seed=int(seed))
        track = Tracker(progress)
        prepared = prepare_upload(session, reference_image, bool(align_face), g.size, track)
        kind = f"one-shot adaptation ({method}{', from the inversion' if init_from_inversion else ''})"
        with user_errors(), session.lane.enter(cancel, track, kind, settings.iterations) as entered:
            domain = adapt_from_reference(nets, judge, prepared.target, settings, bool(init_from_inversion), track,
                                          cancel, zoo=session.zoo.name) if entered else None
        return _results(g, domain, track, prepared.note)

    return adapt_to_reference


def build_text(session: Session) -> None:
    gr.Markdown("Move the whole generator from one text description to another (RefineStyle's shared tokens, or "
                "full fine-tuning as StyleGAN-NADA does) under the directional CLIP loss; the grid shows the same "
                "seeds before and after. The generator itself is never changed: the result is a small domain file.")
    state = gr.State(None)
    with gr.Row():
        with gr.Column(scale=1):
            source = gr.Textbox(value=TextAdaptSettings.source, label="Source text", max_length=300)
            target = gr.Textbox(value=TextAdaptSettings.target, label="Target text", max_length=300)
            method, iterations, seed, lr, run = _controls(session, "text", TextAdaptSettings)
        with gr.Column(scale=2):
            grid, info, download = _outputs("text")

    presets = style_targets(session.zoo.name)
    if presets:  # one click fills both prompts (pipelines/style_targets.py: the emoji CLIP's style prompts)
        gr.Examples([[t.source_prompt, t.target_prompt] for t in presets], [source, target],
                    example_labels=[f"Google → {t.label}" for t in presets], label="Target-style presets")
    run.click(text_handler(session), [source, target, method, iterations, seed, lr], [grid, info, download, state],
              api_name="adapt_text", show_progress_on=[grid], **LANED)
    _render_section(session, state, "text")


def build_oneshot(session: Session) -> None:
    gr.Markdown("Adapt the generator to the style of one reference image (reconstruction + sliced-Wasserstein style "
                "loss, with an identity term of ours that keeps each seed's content); the grid shows the same seeds "
                "before and after.")
    state = gr.State(None)
    with gr.Row():
        with gr.Column(scale=1):
            reference = image_upload("Reference image (the target style)", elem_id="oneshot-image")
            align = align_option(session, elem_id="oneshot-align")
            has_inverter = session.zoo.available("refinestyle_2s")
            init = gr.Checkbox(value=has_inverter, interactive=has_inverter,
                               label="Start the tokens from the two-stage inversion of the reference"
                                     + ("" if has_inverter else " (this zoo has no two-stage inverter)"))
            method, iterations, seed, lr, run = _controls(session, "oneshot", OneShotSettings)
        with gr.Column(scale=2):
            grid, info, download = _outputs("oneshot")

    presets = style_targets(session.zoo.name)
    if presets:  # one click loads the style's reference (pipelines/style_targets.py: the same emoji in every style)
        gr.Examples([[str(t.reference_file)] for t in presets], [reference],
                    example_labels=[t.label for t in presets],
                    label="Target-style presets (the grinning face, train split, in each style)")
    run.click(oneshot_handler(session), [reference, method, init, iterations, seed, lr, align],
              [grid, info, download, state], api_name="adapt_oneshot", show_progress_on=[grid], **LANED)
    _render_section(session, state, "oneshot")
