"""The emoji64 parsing U-Net and its dense region labels."""
from __future__ import annotations

import numpy as np
import torch

from nets.emojinet import EmojiNet
from nets.parsing_unet import ParsingUNet
from pipelines.evaluation.parsing import REGIONS, linear_probe_r2, region_labels, segmentation_scores
from train.parsing import shift


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


def test_segmentation_scores_on_a_known_prediction():
    """A stub network whose prediction is fixed: 3 of 4 pixels right; IoU counted only for present classes."""

    class Fixed(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            pred = torch.tensor([[0, 0], [2, 2]])  # background, background / dark, dark
            return torch.nn.functional.one_hot(pred, len(REGIONS)).permute(2, 0, 1)[None].float().expand(len(x), -1, -1, -1)

    labels = torch.tensor([[[0, 0], [2, 3]]])  # the last pixel is warm, predicted dark
    scores = segmentation_scores(Fixed(), torch.zeros(1, 3, 2, 2), labels)
    assert scores["pixel_accuracy"] == 0.75
    # background 2/2, dark 1/2, warm 0/1; the other three classes are absent and not averaged
    assert abs(scores["mean_iou"] - (1 + 0.5 + 0) / 3) < 1e-12


def test_linear_probe_r2_tells_a_linear_map_from_an_unrelated_net():
    emojinet = EmojiNet(widths=[8, 8, 8, 8, 8]).eval()

    class LinearOfEmojiNet(torch.nn.Module):  # every level a fixed 1×1 map of EmojiNet's: R² = 1
        def __init__(self) -> None:
            super().__init__()
            self.maps = torch.nn.ModuleList(torch.nn.Conv2d(8, 4, 1) for _ in range(5))

        def features(self, x: torch.Tensor) -> list[torch.Tensor]:
            return [m(f) for m, f in zip(self.maps, emojinet.features(x))]

    gen = torch.Generator().manual_seed(0)
    train_x, test_x = (torch.rand(n, 3, 64, 64, generator=gen) * 2 - 1 for n in (12, 4))
    linear = linear_probe_r2(LinearOfEmojiNet(), emojinet, train_x, test_x, ridge=1e-9, pixels=60000)
    assert all(v > 0.999 for v in linear)
    unrelated = linear_probe_r2(ParsingUNet(REGIONS, widths=[4, 4, 8, 8, 8]).eval(), emojinet, train_x, test_x,
                                pixels=60000)
    assert all(v < 0.9 for v in unrelated) and min(unrelated) < min(linear) - 0.1
