"""The benches' pictures: labelled rows of images, one row per method or rendering."""
from __future__ import annotations

from pathlib import Path

import matplotlib
from PIL import Image, ImageDraw, ImageFont
from torch import Tensor

from pipelines.images import tensor_to_pil

FONT = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"  # the labels
GAP = 4  # px between images and rows


def labelled_rows(lines: list[tuple[str, Tensor]]) -> Image.Image:
    """One row per (label, images [N, 3, R, R] in [-1, 1]): the label on the left, then the N images."""
    font = ImageFont.truetype(str(FONT), 12)
    size = lines[0][1].shape[-1]
    label_px = int(max(font.getlength(name) for name, _ in lines)) + 12
    columns = max(len(images) for _, images in lines)
    out = Image.new("RGB", (label_px + columns * (size + GAP), len(lines) * (size + GAP)), "white")
    draw = ImageDraw.Draw(out)
    for y, (name, images) in enumerate(lines):
        draw.text((4, y * (size + GAP) + size // 2 - 8), name, fill="black", font=font)
        for x, im in enumerate(images):
            out.paste(tensor_to_pil(im), (label_px + x * (size + GAP), y * (size + GAP)))
    return out
