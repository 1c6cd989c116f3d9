"""bench/figures.py: labelled rows of images."""
from __future__ import annotations

import torch
from PIL import ImageFont

from bench.figures import FONT, GAP, labelled_rows


def test_each_row_holds_its_images_right_of_the_widest_label():
    black, grey = -torch.ones(3, 3, 8, 8), torch.zeros(2, 3, 8, 8)
    image = labelled_rows([("black", black), ("a much longer label", grey)])
    assert image.height == 2 * (8 + GAP)
    label_px = image.width - 3 * (8 + GAP)
    assert label_px > ImageFont.truetype(str(FONT), 12).getlength("a much longer label")
    rgb = image.convert("RGB")
    assert rgb.getpixel((label_px + 2 * (8 + GAP) + 4, 4)) == (0, 0, 0)  # the third black image
    assert rgb.getpixel((label_px + 2 * (8 + GAP) + 4, 8 + GAP + 4)) == (255, 255, 255)  # no third grey image
    assert rgb.getpixel((label_px + 8 + GAP + 4, 8 + GAP + 4)) in {(127, 127, 127), (128, 128, 128)}
