"""Face alignment at the app's edge, shared by the tabs that take a photo: the "Align the face" option,
the upload prepared as the zoo's networks take it, and the paste-back outputs.

A zoo whose manifest names an alignment (ffhq: `"aligned": "ffhq"`) shows the option, ticked; emoji64
names none and hides it (its images are taken as they are). The work is pipelines/align.py's
(`prepare_input`, `PreparedImage.paste_back`); this module only turns it into components and messages.
"""
from __future__ import annotations

import tempfile
import time
import uuid
from pathlib import Path

import gradio as gr
from PIL import Image
from torch import Tensor

from pipelines.align import NoUsableFace, PreparedImage, prepare_input
from pipelines.images import tensor_to_pil

from .session import Session

PASTE_DIR = Path(tempfile.gettempdir()) / "refinestyle-pasted"
PASTE_KEEP = 64  # PNGs kept in PASTE_DIR: Gradio copies each into its own cache as the response goes out
ALIGN_LABEL = "Align the face"
ALIGN_INFO = ("Cut the face from the photo the way the model's training photos were cut (FFHQ: from the eyes "
              "and the mouth corners); the results can then be pasted back into your photo.")


def aligns(session: Session) -> bool:
    return session.zoo.aligned is not None


def align_option(session: Session, **kwargs) -> gr.Checkbox:
    """The option, ticked and shown on a zoo that aligns its uploads; hidden and off elsewhere."""
    return gr.Checkbox(value=aligns(session), visible=aligns(session), label=ALIGN_LABEL, info=ALIGN_INFO, **kwargs)


def prepare_upload(session: Session, path: str, align: bool, resolution: int, progress=None) -> PreparedImage:
    """The upload at the zoo's resolution, aligned when asked (gr.Error for a bad image, no face, a face
    too small, or alignment asked of a zoo that takes images as they are)."""
    if align and not aligns(session):
        raise gr.Error(f"The {session.zoo.name} zoo takes images as they are (its manifest names no alignment); "
                       f"untick '{ALIGN_LABEL}'.")
    if align and progress is not None:
        progress(0.0, "aligning the face")
    try:
        return prepare_input(path, resolution, session.zoo.aligned if align else None)
    except NoUsableFace as err:
        raise gr.Error(f"{err}; or untick '{ALIGN_LABEL}' to take the image as it is.") from None
    except ValueError as err:
        raise gr.Error(str(err)) from None


def with_note(note: str, text: str = "") -> str:
    """A status line of a tab that prepared an upload: its alignment's note (`PreparedImage.note`: several faces,
    the largest was used) above `text`, as the Inversion and Editing tabs' status shows it; `text` alone without."""
    return "\n\n".join(part for part in (note, text) if part)


def input_caption(prepared: PreparedImage) -> str:
    return "input (aligned)" if prepared.alignment is not None else "input"


def paste_outputs(session: Session, name: str) -> tuple[gr.Gallery, gr.DownloadButton]:
    """Where pasted-back photos show: a gallery (one per method) and the first one's PNG download;
    hidden on a zoo that does not align."""
    shown = aligns(session)
    gallery = gr.Gallery(label="Pasted back into your photo", columns=2, format="png", height="auto",
                         visible=shown, elem_id=f"{name}-pasted")
    download = gr.DownloadButton("Pasted-back photo (PNG, first method)", visible=shown,
                                 elem_id=f"{name}-pasted-png")
    return gallery, download


def pasted(prepared: PreparedImage, images: list[tuple[Tensor, str]]) -> tuple[list, str | None]:
    """Each (crop image [1, 3, R, R], caption) pasted back into the photo, and the first as a PNG file;
    ([], None) for an upload that was not aligned."""
    if prepared.alignment is None or not images:
        return [], None
    shots = [(tensor_to_pil(prepared.paste_back(image)), caption) for image, caption in images]
    return shots, save_bounded(shots[0][0], PASTE_DIR, "pasted", PASTE_KEEP)


def save_bounded(image: Image.Image, directory: Path, prefix: str, keep: int) -> str:
    """`image` as `<directory>/<prefix>-<id>.png`, after removing the oldest of the folder's `<prefix>-*.png` so
    that at most `keep` remain: a download file only has to live until Gradio copies it into its cache (as it
    sends the response), so the folder stays bounded however long the server runs."""
    directory.mkdir(parents=True, exist_ok=True)
    older = sorted(directory.glob(f"{prefix}-*.png"))  # the names start with the time written, so oldest first
    for old in older[:max(0, len(older) - keep + 1)]:
        old.unlink(missing_ok=True)  # (a concurrent request may have removed it already)
    path = directory / f"{prefix}-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.png"
    image.save(path)
    return str(path)
