"""The inversion entry point on tiny networks: validation, and RefineStyle-by-optimisation converging."""
from __future__ import annotations

import pytest
import torch

from nets.e4e import E4EEncoder
from nets.emojinet import EmojiNet
from nets.gradstyle import GradStyle
from nets.stylegan2 import Generator
from pipelines.inversion import InversionNetworks, InversionSettings, available_methods, invert, render
from pipelines.methods import BUILT_IN as METHODS
from pipelines.methods.refinestyle_opt import OptimisationSettings
from pipelines.losses import ReconstructionLoss
from pipelines.tuning import TuningSettings


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
    w_only, = invert(nets, target, ["refinestyle_opt"],
                     InversionSettings(OptimisationSettings(w_steps=60, residual_steps=0)))
    refined, = invert(nets, target, ["refinestyle_opt"],
                      InversionSettings(OptimisationSettings(w_steps=60, residual_steps=120, rank=4)))
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


def _full_nets(nets: InversionNetworks) -> InversionNetworks:
    """The tiny fixture plus an (untrained) e4e and GradStyle, so every method can run."""
    torch.manual_seed(1)
    g = nets.generator
    nets.e4e = E4EEncoder(input_size=16, stages=[[16, 1], [16, 1], [16, 1], [16, 1]], stem=16, w_dim=16,
                          num_ws=g.num_ws, coarse=3, middle=4).eval()
    nets.e4e.w_avg.copy_(g.w_avg.expand_as(nets.e4e.w_avg))
    nets.gradstyle = GradStyle(stage_layers=[2], gen_channels=[16], enc_channels=[16], hidden=8, res_blocks=1,
                               heads=1, top_mu=0.5, aligner_layers=1).eval()
    return nets


def test_every_method_reports_why_it_is_unavailable(nets):
    reasons = available_methods(nets)
    assert set(reasons) == set(METHODS) and reasons["refinestyle_opt"] == ""
    assert reasons["gani"] == reasons["pti"] == "no e4e network in this zoo"
    assert reasons["gradstyle"] == "no e4e network in this zoo"
    full = available_methods(_full_nets(nets))
    assert {m for m, why in full.items() if not why} == {"e4e", "refinestyle_opt", "gradstyle", "gani", "pti"}
    assert full["refinestyle_1s"] == "no refinestyle_1s network in this zoo"


def test_tuning_methods_start_from_e4e_and_render_through_their_deltas(nets):
    nets = _full_nets(nets)
    g = nets.generator
    with torch.no_grad():
        target = g.synthesis(g.broadcast(g.mapping(torch.randn(1, 16)))).clamp(-1, 1)
    tuning = TuningSettings(steps=30, pti_lr=1e-2)  # 30 steps at PTI's lr 3e-4 barely move a random tiny generator
    e4e, gani, pti, grad = invert(nets, target, ["e4e", "gani", "pti", "gradstyle"], InversionSettings(tuning))
    assert torch.equal(gani.ws, e4e.ws) and torch.equal(pti.ws, e4e.ws) and torch.equal(grad.ws, e4e.ws)
    assert pti.metrics["mse"] < 0.8 * e4e.metrics["mse"] and gani.metrics["mse"] < e4e.metrics["mse"]
    assert sorted(pti.weight_deltas) == list(range(len(g.synthesis.convs))) and not pti.residuals
    torch.testing.assert_close(g.synthesis(pti.ws, weight_deltas=pti.weight_deltas).clamp(-1, 1), pti.image)
    assert sorted(grad.stream) == [2]
    edited = render(nets, grad, grad.ws + 0.5)  # the editing stream on another code
    assert edited.shape == grad.image.shape and not torch.allclose(edited, grad.image)
