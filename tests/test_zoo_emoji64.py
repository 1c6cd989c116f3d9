"""The shipped emoji64 networks (slow: they load trained checkpoints from assets/)."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from pipelines.zoo import open_zoo

pytestmark = pytest.mark.slow


def _gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    if sigma == 0:
        return x
    r = int(3 * sigma + 0.5)
    t = torch.arange(-r, r + 1, dtype=x.dtype)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = k / k.sum()
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="replicate"), k.view(1, 1, 1, -1).expand(3, 1, 1, -1), groups=3)
    return F.conv2d(F.pad(x, (0, 0, r, r), mode="replicate"), k.view(1, 1, -1, 1).expand(3, 1, -1, 1), groups=3)


@pytest.fixture(scope="module")
def emoji_images(emojibench):
    return emojibench.tensor(emojibench.google[emojibench.indices("test")[::12]])  # 17 test emoji


@torch.no_grad()
def test_perceptual_distance_grows_with_blur_and_noise(emoji_images):
    net = open_zoo("emoji64").load("perceptual")
    blur = [net.perceptual_distance(emoji_images, _gaussian_blur(emoji_images, s)).mean().item()
            for s in (0.0, 0.5, 1.0, 1.5, 2.5)]
    g = torch.Generator().manual_seed(0)
    noise = torch.randn(emoji_images.shape, generator=g)
    noisy = [net.perceptual_distance(emoji_images, (emoji_images + a * noise).clamp(-1, 1)).mean().item()
             for a in (0.0, 0.05, 0.1, 0.2, 0.4)]
    assert blur[0] == pytest.approx(0.0, abs=1e-6) and noisy[0] == pytest.approx(0.0, abs=1e-6)
    assert all(a < b for a, b in zip(blur, blur[1:])), blur
    assert all(a < b for a, b in zip(noisy, noisy[1:])), noisy


@torch.no_grad()
def test_identity_is_style_and_skin_agnostic(emojibench):
    net = open_zoo("emoji64").load("identity")
    data = emojibench
    test = data.indices("test")
    by_base: dict[str, list[int]] = {}
    for i in test:
        by_base.setdefault(data.records[i]["base"], []).append(i)
    toned = next(rows for rows in by_base.values() if len(rows) == 6)
    g, t = net.identity(data.tensor(data.google[toned])), net.identity(data.tensor(data.twitter[toned]))
    others = net.identity(data.tensor(data.google[[rows[0] for rows in by_base.values() if rows != toned]]))
    same = torch.cat([(g @ g.t()).flatten(), (g @ t.t()).flatten()]).mean()
    different = (g @ others.t()).mean()
    assert same > different + 0.3, (same.item(), different.item())


@torch.no_grad()
def test_gani_parsing_loss_comes_from_the_parsing_unet_not_from_emojinet(emoji_images):
    """The parsing slot is a network of its own (issue #18 item 5): with EmojiNet in it, GaNI's parsing loss was
    exactly half the perceptual distance; with the U-Net the ratio varies from image to image."""
    from nets.parsing_unet import ParsingUNet
    from pipelines.tuning import parsing_loss

    zoo = open_zoo("emoji64")
    parser, net = zoo.load("parsing"), zoo.load("perceptual")
    assert isinstance(parser, ParsingUNet) and len(parser.features(emoji_images[:1])) == 5
    blurred = _gaussian_blur(emoji_images, 1.5)
    ratios = torch.stack([parsing_loss(parser.features, blurred[i : i + 1], parser.features(emoji_images[i : i + 1]))
                          / net.perceptual_distance(blurred[i : i + 1], emoji_images[i : i + 1])[0]
                          for i in range(len(emoji_images))])
    assert (ratios - 0.5).abs().max() > 0.05 and ratios.std() > 0.01, ratios
