"""The emoji64 parsing U-Net and its dense region labels."""
from __future__ import annotations

import numpy as np
import torch

from nets.emojinet import EmojiNet
from nets.parsing_unet import ParsingUNet
from train.parsing import REGIONS, linear_probe_r2, region_labels, segmentation_scores, shift


def test_region_labels_on_a_drawn_picture():
    img = np.full((1, 16, 16, 3), 255, np.uint8)  # white page
    img[0, 2:14, 2:14] = (255, 200, 0)  # a yellow face ...
    img[0, 4:6, 4:6] = (255, 255, 255)  # ... with an enclosed white eye
    img[0, 8:10, 4:12] = (20, 20, 20)  # a dark mouth line
    img[0, 11, 4:8] = (230, 20, 30)  # a red tongue
    img[0, 12, 4:8] = (30, 90, 220)  # something blue
    lab = region_labels(img)[0]
    assert lab[0, 0] == REGIONS.index("background") and lab[15, 15] == REGIONS.index("background")
    assert lab[4, 4] == REGIONS.index("white")  # white, but not reachable from the border
    assert lab[3, 3] == REGIONS.index("warm") and lab[8, 5] == REGIONS.index("dark")
    assert lab[11, 5] == REGIONS.index("red") and lab[12, 5] == REGIONS.index("other")


def test_unet_features_are_the_five_contracting_levels():
    net = ParsingUNet(REGIONS, widths=[4, 4, 8, 8, 8]).eval()
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    feats = net.features(x)
    assert [tuple(f.shape[1:]) for f in feats] == [(4, 64, 64), (4, 32, 32), (8, 16, 16), (8, 8, 8), (8, 4, 4)]
    assert net(x).shape == (2, len(REGIONS), 64, 64)


def test_shift_moves_images_and_labels_together():
    x = torch.rand(3, 3, 8, 8) * 2 - 1
    y = torch.randint(1, 6, (3, 8, 8))
    xs, ys = shift(x, y, torch.Generator().manual_seed(0), pixels=2)
    for i in range(3):  # no pixel of x is white and no label is background: the fills mark each other
        assert torch.equal(ys[i] == 0, (xs[i] == 1).all(0))


def test_scores_and_probe():
    net = ParsingUNet(REGIONS, widths=[4, 4, 8, 8, 8]).eval()
    x = torch.rand(4, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        perfect = net(x).argmax(1)
    scores = segmentation_scores(net, x, perfect)
    assert scores == {"pixel_accuracy": 1.0, "mean_iou": 1.0}
    emojinet = EmojiNet(widths=[8, 8, 8, 8, 8]).eval()
    r2 = linear_probe_r2(net, emojinet, x, x, pixels=4096)
    assert len(r2) == 5 and all(v <= 1.0 for v in r2)
