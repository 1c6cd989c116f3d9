"""Editing: invert once with each ticked method, then apply one edit the way each method keeps details."""
from __future__ import annotations

import gradio as gr

from pipelines.editing import SWEEP, EditSettings, edit
from pipelines.images import prepare_image, tensor_to_pil
from pipelines.inversion import InversionCache
from pipelines.methods.refinestyle_opt import OptimisationSettings
from pipelines.tuning import TuningSettings

from .controls import slider
from .examples import example_images
from .methods import checked_networks, label, method_choices, missing_methods, request_settings, unavailable_note
from .serving import HEAVY, gpu, inversion_seconds
from .session import Session, user_errors
from .upload import image_upload
from .validation import image_check, nonempty, validator

FAMILY_LABELS = {"InterFaceGAN": "interfacegan", "GANSpace": "ganspace", "StyleSpace": "stylespace"}


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
            methods = gr.CheckboxGroup(method_choices(), value=default, label="Methods")
            unavailable_note(missing_methods(session))
            family = gr.Radio(list(FAMILY_LABELS), value="InterFaceGAN", label="Direction family")
            direction = gr.Dropdown(first, value=first[0][1] if first else None, label="Direction",
                                    allow_custom_value=True)  # API callers name any direction; on_edit checks it
            strength = slider(EditSettings, "sigmas")
            with gr.Accordion("GANSpace layers", open=False):
                first_layer = gr.Slider(0, session.num_ws - 1, value=0, step=1, label="First layer")
                last_layer = gr.Slider(0, session.num_ws - 1, value=session.num_ws - 1, step=1, label="Last layer")
            with gr.Accordion("Inversion settings", open=False):
                w_steps = slider(OptimisationSettings, "w_steps", "RefineStyle optimisation: W+ steps")
                r_steps = slider(OptimisationSettings, "residual_steps", "RefineStyle optimisation: residual steps")
                tune_steps = slider(TuningSettings, "steps")
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
    cache = InversionCache()

    @gpu(lambda path, chosen, family_label, name, s, first, last, w_steps, r_steps, tune_steps, progress=None:
         inversion_seconds(chosen, request_settings(w_steps, r_steps, tune_steps)) + 2 * len(chosen or []))
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
        settings = EditSettings(tuple(chosen), fam, int(name) if fam == "ganspace" else name, float(s), int(first),
                                int(last), inversion=request_settings(w_steps, r_steps, tune_steps))
        with user_errors():
            target = prepare_image(path, nets.generator.size)
            edits = edit(nets, target, directions, settings, progress=lambda f, d: progress(f, desc=d), cache=cache)
        shots, strip, rows = [(tensor_to_pil(target), "input")], [], []
        for e in edits:
            shown = label(e.inversion.method)
            shots.append((tensor_to_pil(e.image), shown))
            strip += [(tensor_to_pil(img), f"{shown} {k:+g}σ") for k, img in zip(settings.sweep, e.sweep)]
            rows.append([shown, round(e.metrics["id_to_input"], 4), round(e.metrics["id_kept"], 4),
                         round(e.seconds, 3)])
        return shots, strip, rows

    inputs = [image, methods, family, direction, strength, first_layer, last_layer, w_steps, r_steps, tune_steps]
    opt, tune = OptimisationSettings(), TuningSettings()
    rows = [[path, default, "InterFaceGAN", first[0][1], EditSettings.sigmas, 0, session.num_ws - 1, opt.w_steps,
             opt.residual_steps, tune.steps]
            for path in example_images("google_", session.zoo.name)] if first else []
    if rows:
        gr.Examples(rows, inputs, [gallery, sweep, table], fn=on_edit, cache_examples=True, cache_mode="lazy",
                    label="Examples (Noto)")
    run.click(on_edit, inputs, [gallery, sweep, table], api_name="edit",
              validator=validator(image_check(), nonempty("Tick at least one method."), None,
                                  nonempty("Pick a direction.")), **HEAVY)
