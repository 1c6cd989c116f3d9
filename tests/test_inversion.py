"""The inversion entry point on tiny networks: validation, and RefineStyle-by-optimisation converging."""
from __future__ import annotations

import pytest
import torch

from nets.emojinet import EmojiNet
from nets.stylegan2 import Generator
from pipelines.inversion import InversionNetworks, OptimisationSettings, invert
from pipelines.losses import ReconstructionLoss


@pytest.fixture()
def nets() -> InversionNetworks:
    torch.manual_seed(0)
    g = Generator(size=16, style_dim=16, n_mlp=2, channels=[16, 16, 16]).eval().requires_grad_(False)
    g.w_avg.copy_(g.estimate_w_avg(256))
    judge = EmojiNet(widths=[8, 8, 16, 16, 16], embed_dim=8).eval().requires_grad_(False)
    return InversionNetworks(g, ReconstructionLoss(judge.perceptual_distance, judge.identity))


def test_refinestyle_optimisation_beats_w_plus_alone(nets):
    g = nets.generator
    with torch.no_grad():  # a target inside the refined family: another code plus a real kernel residual
        ws_true = g.broadcast(g.mapping(torch.randn(1, 16)))
        truth = {i: (torch.randn(1, 4, c.conv.out_channels) * 0.5, torch.randn(1, 4, c.conv.in_channels) * 0.5)
                 for i, c in enumerate(g.synthesis.convs)}
        target = g.synthesis(ws_true, residuals=truth).clamp(-1, 1)
    w_only, = invert(nets, target, ["refinestyle_opt"], OptimisationSettings(w_steps=60, residual_steps=0))
    refined, = invert(nets, target, ["refinestyle_opt"], OptimisationSettings(w_steps=60, residual_steps=120, rank=4))
    with torch.no_grad():
        start_mse = ((g.synthesis(g.broadcast(g.w_avg[None])) - target) / 2).square().mean().item()
    assert w_only.metrics["mse"] < start_mse
    assert refined.metrics["mse"] < 0.7 * w_only.metrics["mse"], (refined.metrics, w_only.metrics)
    assert sorted(refined.residuals) == list(range(len(g.synthesis.convs)))
    assert set(refined.metrics) == {"mse", "ssim", "perceptual", "id"} and refined.seconds > 0


def test_invert_checks_its_inputs(nets):
    with pytest.raises(ValueError, match="expected one image"):
        invert(nets, torch.zeros(1, 3, 32, 32), ["refinestyle_opt"])
    with pytest.raises(ValueError, match="unknown method"):
        invert(nets, torch.zeros(1, 3, 16, 16), ["magic"])
    with pytest.raises(ValueError, match="e4e is unavailable"):
        invert(nets, torch.zeros(1, 3, 16, 16), ["e4e"])
