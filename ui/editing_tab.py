"""Editing: invert once with each ticked method, then apply one edit the way each method keeps details."""
from __future__ import annotations

import hashlib
import time
from pathlib import Path

import gradio as gr
import torch

from pipelines.editing import Edit, apply_edit, sigma_unit, strength_sweep
from pipelines.images import prepare_image, tensor_to_pil
from pipelines.inversion import METHODS, OptimisationSettings, invert
from pipelines.tuning import TuningSettings

from .examples import example_images
from .inversion_tab import LABELS, checked_networks, missing_methods, unavailable_note
from .serving import HEAVY, gpu, inversion_seconds
from .session import Session, user_errors
from .upload import image_upload
from .validation import image_check, nonempty, validator

FAMILY_LABELS = {"InterFaceGAN": "interfacegan", "GANSpace": "ganspace", "StyleSpace": "stylespace"}
SWEEP = [-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0]
CACHE_SIZE = 8


def direction_choices(directions, family: str) -> list[tuple[str, str]]:
    """(label, value) pairs for the direction dropdown; GANSpace values are component indices."""
    if directions is None:
        return []
    if family == "ganspace":
        count = directions.ganspace.components.shape[0] if directions.ganspace is not None else 0
        return [(f"component {k}", str(k)) for k in range(count)]
    names = directions.interfacegan if family == "interfacegan" else directions.stylespace
    return [(n.replace("_", " "), n) for n in sorted(names)]


def build(session: Session) -> None:
    directions = session.load("directions") if session.zoo.available("directions") else None
    first = direction_choices(directions, "interfacegan")
    with gr.Row():
        with gr.Column(scale=1):
            if directions is None:
                gr.Markdown("This zoo ships no editing directions yet (`python -m train.directions`).")
            image = image_upload("Image to edit", elem_id="editing-image")
            default = ["e4e"] if session.zoo.available("e4e") else ["refinestyle_opt"]
            methods = gr.CheckboxGroup([(LABELS[m], m) for m in METHODS], value=default, label="Methods")
            unavailable_note(missing_methods(session))
            family = gr.Radio(list(FAMILY_LABELS), value="InterFaceGAN", label="Direction family")
            direction = gr.Dropdown(first, value=first[0][1] if first else None, label="Direction",
                                    allow_custom_value=True)  # API callers name any direction; on_edit checks it
            strength = gr.Slider(-5, 5, value=2, step=0.25, label="Strength (σ of the direction)")
            with gr.Accordion("GANSpace layers", open=False):
                first_layer = gr.Slider(0, session.num_ws - 1, value=0, step=1, label="First layer")
                last_layer = gr.Slider(0, session.num_ws - 1, value=session.num_ws - 1, step=1, label="Last layer")
            with gr.Accordion("Inversion settings", open=False):
                w_steps = gr.Slider(0, 500, value=100, step=10, label="RefineStyle optimisation: W+ steps")
                r_steps = gr.Slider(0, 1000, value=200, step=10, label="RefineStyle optimisation: residual steps")
                tune_steps = gr.Slider(0, 500, value=100, step=10, label="GaNI / PTI tuning steps")
            run = gr.Button("Edit", variant="primary", elem_id="editing-run")
        with gr.Column(scale=2):
            gallery = gr.Gallery(elem_id="editing-gallery", label="Input and each method's edit", columns=4, format="png", height="auto")
            sweep = gr.Gallery(label=f"Strength sweep {SWEEP[0]:+g} … {SWEEP[-1]:+g} σ, one row per method",
                               columns=len(SWEEP), format="png", height="auto")
            table = gr.Dataframe(headers=["method", "ID to input ↑", "ID kept vs reconstruction ↑", "seconds"],
                                 interactive=False)

    def on_family(label):
        choices = direction_choices(directions, FAMILY_LABELS[label])
        return gr.Dropdown(choices=choices, value=choices[0][1] if choices else None)

    family.change(on_family, family, direction, api_name=False)
    cache: dict[tuple, list] = {}

    @gpu(lambda path, chosen, family_label, name, s, first, last, w_steps, r_steps, tune_steps, progress=None:
         inversion_seconds(chosen, w_steps, r_steps, tune_steps) + 2 * len(chosen or []))
    def on_edit(path, chosen, family_label, name, s, first, last, w_steps, r_steps, tune_steps,
                progress=gr.Progress()):
        if directions is None:
            raise gr.Error("This zoo has no editing directions.")
        if not name:
            raise gr.Error("Pick a direction.")
        nets = checked_networks(session, path, chosen)
        fam = FAMILY_LABELS.get(family_label)
        if fam is None:
            raise gr.Error(f"Unknown direction family '{family_label}' (known: {', '.join(FAMILY_LABELS)}).")
        if fam == "ganspace" and not str(name).isdigit():
            raise gr.Error(f"GANSpace directions are component numbers, got '{name}'.")
        with user_errors():
            target = prepare_image(path, nets.generator.size)
            key = (hashlib.sha256(Path(path).read_bytes()).hexdigest(), tuple(chosen), w_steps, r_steps, tune_steps)
            if key not in cache:
                if len(cache) >= CACHE_SIZE:
                    cache.pop(next(iter(cache)))
                cache[key] = invert(nets, target, list(chosen),
                                    OptimisationSettings(w_steps=int(w_steps), residual_steps=int(r_steps)),
                                    progress=lambda f, d: progress(f, desc=d), tuning=TuningSettings(steps=int(tune_steps)))
            unit = sigma_unit(nets.generator, directions, fam, name)
            edit = Edit(fam, int(name) if fam == "ganspace" else name, float(s) * unit, int(first), int(last))
            shots, strip, rows = [(tensor_to_pil(target), "input")], [], []
            ident = nets.loss.identity
            with torch.no_grad():
                target_id = ident(target)
                for r in cache[key]:
                    start = time.perf_counter()
                    edited = apply_edit(nets, r, directions, edit)
                    seconds = time.perf_counter() - start
                    shots.append((tensor_to_pil(edited), LABELS[r.method]))
                    sweep_edit = Edit(fam, edit.direction, 0.0, edit.first, edit.last)
                    for k, img in zip(SWEEP, strength_sweep(nets, r, directions, sweep_edit, [x * unit for x in SWEEP])):
                        strip.append((tensor_to_pil(img), f"{LABELS[r.method]} {k:+g}σ"))
                    rows.append([LABELS[r.method], round((ident(edited) * target_id).sum().item(), 4),
                                 round((ident(edited) * ident(r.image)).sum().item(), 4), round(seconds, 3)])
        return shots, strip, rows

    inputs = [image, methods, family, direction, strength, first_layer, last_layer, w_steps, r_steps, tune_steps]
    rows = [[path, default, "InterFaceGAN", first[0][1], 2, 0, session.num_ws - 1, 100, 200, 100]
            for path in example_images("google_", session.zoo.name)] if first else []
    if rows:
        gr.Examples(rows, inputs, [gallery, sweep, table], fn=on_edit, cache_examples=True, cache_mode="lazy",
                    label="Examples (Noto)")
    run.click(on_edit, inputs, [gallery, sweep, table], api_name="edit",
              validator=validator(image_check(), nonempty("Tick at least one method."), None,
                                  nonempty("Pick a direction.")), **HEAVY)
