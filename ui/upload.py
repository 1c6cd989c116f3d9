"""The image input every tab uses: Gradio's Image, handing the uploaded file over unopened.

gr.Image opens each upload with PIL before the event runs, so a file PIL cannot read (text, an
empty file, a decompression bomb) fails inside Gradio with no message for the visitor. This
input passes the uploaded file's path as is; the app's input checks (ui/validation.py) and
pipelines.images then say exactly what is wrong. Pasted images (data URLs) go through Gradio's
own decoding.
"""
from __future__ import annotations

import gradio as gr
from gradio.data_classes import ImageData


class ImageUpload(gr.Image):
    """Keeps gr.Image's constructor (Gradio reads the component's props from its signature)."""

    def get_block_name(self) -> str:
        return "image"  # the same front-end component

    def preprocess(self, payload: ImageData | None) -> str | None:
        if payload is not None and payload.path is not None:
            return payload.path
        return super().preprocess(payload)


def image_upload(label: str, **kwargs) -> ImageUpload:
    return ImageUpload(type="filepath", image_mode=None, label=label, sources=["upload", "clipboard"], **kwargs)
