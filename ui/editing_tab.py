"""Editing: invert once with each ticked method, then apply one edit the way each method keeps details."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import gradio as gr

from pipelines.editing import SWEEP, EditSettings, edit
from pipelines.images import tensor_to_pil
from pipelines.inversion import InversionCache
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
from .validation import image_check, nonempty, refuse_bad

IDENTITY_HEADERS = ["method", "ID to input ↑", "ID kept vs reconstruction ↑", "seconds"]
FAMILY_LABELS = {"InterFaceGAN": "interfacegan", "GANSpace": "ganspace", "StyleSpace": "stylespace"}
GANSPACE_PREFIX = "component "
HELP = ("Invert an image with each ticked method, then move it along one direction (InterFaceGAN, GANSpace or "
        "StyleSpace) by a strength in σ of that direction; each method keeps its details its own way. ID ↑: "
        "identity cosine, 1 = the same emoji.")


def direction_choices(directions, family: str) -> list[tuple[str, str]]:
    """(label, value) pairs for the direction dropdown: GANSpace components as "component k", names
    with spaces for underscores; `direction_value` reads either form back."""
    if directions is None:
        return []
    if family == "ganspace":
        count = directions.ganspace.components.shape[0] if directions.ganspace is not None else 0
        return [(f"{GANSPACE_PREFIX}{k}", f"{GANSPACE_PREFIX}{k}") for k in range(count)]
    names = directions.interfacegan if family == "interfacegan" else directions.stylespace
    return [(n.replace("_", " "), n) for n in sorted(names)]


def direction_value(family: str, name: str) -> str | int:
    """What the dropdown (or an API caller) names -> the pipeline's direction: a GANSpace component
    index ("component 3" or "3"), else the direction's name ("big nose" or "big_nose")."""
    text = str(name).strip()
    if family != "ganspace":
        return text.replace(" ", "_")
    number = text.removeprefix(GANSPACE_PREFIX).strip()
    if not number.isdigit():
        raise gr.Error(f"GANSpace directions are components such as '{GANSPACE_PREFIX}3', got '{name}'.")
    return int(number)


def edit_handler(session: Session, directions, cache: InversionCache) -> Callable:
    """The /edit endpoint; its parameter names are the API's."""

    @stoppable("editing")
    @gpu(lambda image, methods, family, direction, strength, first_layer, last_layer, w_steps, residual_steps,
         tuning_steps, align_face=False, progress=None, **_:
         inversion_seconds(methods, request_settings(w_steps, residual_steps, tuning_steps)) + 2 * len(methods or []))
    def edit_image(image: str, methods: list[str], family: str, direction: str, strength: float, first_layer: int,
                   last_layer: int, w_steps: int, residual_steps: int, tuning_steps: int, align_face: bool = False,
                   progress=gr.Progress(), *, cancel):
        refuse_bad((image_check(), image), (nonempty("Pick a direction."), direction))
        if directions is None:
            raise gr.Error("This zoo has no editing directions.")
        nets = checked_networks(session, image, methods)
        fam = FAMILY_LABELS.get(family)
        if fam is None:
            raise gr.Error(f"Unknown direction family '{family}' (known: {', '.join(FAMILY_LABELS)}).")
        settings = EditSettings(tuple(methods), fam, direction_value(fam, direction), float(strength),
                                int(first_layer), int(last_layer),
                                inversion=request_settings(w_steps, residual_steps, tuning_steps))
        track = Tracker(progress)
        prepared = prepare_upload(session, image, bool(align_face), nets.generator.size, track)
        target = prepared.target
        with user_errors():
            cached = cache.holds(target, list(settings.methods), settings.inversion)  # re-editing: no inversion to run
            if any(is_per_image(m) for m in methods) and not cached:
                work = per_image_work("editing", [m for m in methods if is_per_image(m)], settings.inversion)
                with session.lane.enter(cancel, track, *work) as entered:
                    edits = edit(nets, target, directions, settings, progress=track, cancel=cancel,
                                 cache=cache) if entered else []
            else:
                edits = edit(nets, target, directions, settings, progress=track, cancel=cancel, cache=cache)
        shots, strip, rows = [(tensor_to_pil(target), input_caption(prepared))], [], []
        for e in edits:
            shown = label(e.inversion.method)
            shots.append((tensor_to_pil(e.image), shown))
            strip += [(tensor_to_pil(img), f"{k:+g}σ {e.inversion.method}") for k, img in zip(settings.sweep, e.sweep)]
            rows.append([shown, round(e.metrics["id_to_input"], 4), round(e.metrics["id_kept"], 4),
                         round(e.seconds, 3)])
        if cancel():
            return shots, strip, rows, track.stopped(), None, None, [], None
        settings_shown = {"zoo": session.zoo.name, "device": session.device, "image": Path(image).name,
                          "aligned": "yes" if prepared.alignment is not None else "no",
                          "methods": ", ".join(methods), "edit": f"{family} {direction} {strength:+g}σ",
                          "GANSpace layers": f"{first_layer}..{last_layer}", "W+ steps": w_steps,
                          "residual steps": residual_steps, "tuning steps": tuning_steps,
                          "sweep": ", ".join(f"{k:+g}σ" for k in settings.sweep)}
        sweeps = [strip[k:k + len(settings.sweep)] for k in range(0, len(strip), len(settings.sweep))]
        sheet, metrics = write_sheet("Editing", [shots, *sweeps], IDENTITY_HEADERS, rows, settings_shown,
                                     columns=len(settings.sweep))
        in_photo, in_photo_png = pasted(prepared, [(e.image, label(e.inversion.method)) for e in edits])
        return shots, strip, rows, prepared.note, sheet, metrics, in_photo, in_photo_png

    return edit_image


def build(session: Session) -> None:
    directions = session.load("directions") if session.zoo.available("directions") else None
    first = direction_choices(directions, "interfacegan")
    gr.Markdown(HELP)
    with gr.Row():
        with gr.Column(scale=1, min_width=NARROW):
            if directions is None:
                gr.Markdown("This zoo ships no editing directions yet (`python -m train.directions`).")
            image = image_upload("Image to edit", elem_id="editing-image", height=260)
            align = align_option(session, elem_id="editing-align")
            missing = missing_methods(session)
            methods = gr.CheckboxGroup(method_choices(session), value=default_methods(missing), label="Methods")
            unavailable_note(missing)
            family = gr.Radio(list(FAMILY_LABELS), value="InterFaceGAN", label="Direction family")
            direction = gr.Dropdown(first, value=first[0][1] if first else None, label="Direction",
                                    allow_custom_value=True)  # API callers name any direction; edit_image checks it
            strength = slider(EditSettings, "sigmas")
            with gr.Accordion("GANSpace layers", open=False, visible=False) as layers:
                first_layer = gr.Slider(0, session.num_ws - 1, value=0, step=1, precision=0, label="First layer")
                last_layer = gr.Slider(0, session.num_ws - 1, value=session.num_ws - 1, step=1, precision=0,
                                       label="Last layer")
            with gr.Accordion("Per-image optimisation settings", open=False):
                counts = starting_counts(session.zoo.resolution, session.device)
                fine = {"step": 1} if counts.seconds else {}  # counts fitted to a minute need not be tens
                w_steps = slider(OptimisationSettings, "w_steps", "RefineStyle optimisation: W+ steps",
                                 value=counts.w_steps, **fine)
                r_steps = slider(OptimisationSettings, "residual_steps", "RefineStyle optimisation: residual steps",
                                 value=counts.residual_steps, **fine)
                tune_steps = slider(TuningSettings, "steps", value=counts.tuning_steps, **fine)
            with gr.Row():
                run = gr.Button("Edit", variant="primary", elem_id="editing-run")
                stop_button("editing", elem_id="editing-stop")
        with gr.Column(scale=2, min_width=WIDE):
            status = gr.Markdown(label="Status", elem_id="editing-status")
            gallery = gr.Gallery(elem_id="editing-gallery", label="Input and each method's edit", columns=4,
                                 format="png", height="auto")
            sweep = gr.Gallery(label="Strength sweep (one row per method)",
                               elem_id="editing-sweep", columns=len(SWEEP), format="png", height="auto")
            table = gr.Dataframe(headers=IDENTITY_HEADERS, interactive=False, label="Identity", wrap=True,
                                 column_widths=["34%", "22%", "22%", "22%"])
            with gr.Row():
                sheet = gr.DownloadButton("Comparison sheet (PNG)", elem_id="editing-sheet")
                metrics_json = gr.DownloadButton("Metrics (JSON)", elem_id="editing-json")
                gr.DeepLinkButton()
            in_photo, in_photo_png = paste_outputs(session, "editing")

    def on_family(chosen: str):
        choices = direction_choices(directions, FAMILY_LABELS[chosen])
        return (gr.Dropdown(choices=choices, value=choices[0][1] if choices else None),
                gr.Accordion(visible=chosen == "GANSpace"))

    family.change(on_family, family, [direction, layers], api_name=False, queue=False)
    on_edit = edit_handler(session, directions, InversionCache())
    inputs = [image, methods, family, direction, strength, first_layer, last_layer, w_steps, r_steps, tune_steps,
              align]
    outputs = [gallery, sweep, table, status, sheet, metrics_json, in_photo, in_photo_png]
    events = dict(show_progress_on=[gallery], **LANED)
    paths = example_images("google_", session.zoo.name) if first else []
    if paths:
        examples = gr.Examples([[p] for p in paths], [image],
                               label="Examples (Noto): a click edits with the ticked methods and direction")
        run_on_select(examples, on_edit, inputs, outputs, **events)
    run.click(on_edit, inputs, outputs, api_name="edit", **events)
