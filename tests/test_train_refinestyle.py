"""RefineStyle training objective on tiny networks, one- and two-stage."""
from __future__ import annotations

import torch

from nets.e4e import E4EEncoder
from nets.emojinet import EmojiNet
from nets.stylegan2 import Generator
from pipelines.losses import ReconstructionLoss
from train.refinestyle import build_encoder, flatten_outputs, step_loss


def _nets():
    torch.manual_seed(0)
    g = Generator(size=64, style_dim=16, n_mlp=2, channels=[16, 16, 16, 16, 16]).eval().requires_grad_(False)
    judge = EmojiNet(widths=[8, 8, 16, 16, 16], embed_dim=8).eval().requires_grad_(False)
    return g, ReconstructionLoss(judge.perceptual_distance, judge.identity)


def test_one_stage_objective_trains_codes_and_residuals():
    g, loss = _nets()
    enc = build_encoder(g, 1, rank=4, layers=[6, 7, 8])
    z = enc.query_noise
    torch.testing.assert_close(enc.mapping(z), g.mapping(z))  # queries start from the generator's W
    total, parts = step_loss(enc, g, loss, torch.rand(2, 3, 64, 64) * 2 - 1, None)
    total.backward()
    assert enc.w_out.weight.grad.abs().sum() > 0 and enc.p_heads[0].weight.grad.abs().sum() > 0
    assert flatten_outputs(enc(torch.rand(2, 3, 64, 64))).shape[0] == 2


def test_two_stage_reads_the_base_reconstruction():
    g, loss = _nets()
    base = E4EEncoder(input_size=64, stages=[[16, 1], [16, 1], [16, 1], [16, 1]], stem=16, w_dim=16,
                      num_ws=g.num_ws, coarse=3, middle=6).eval().requires_grad_(False)
    enc = build_encoder(g, 2, rank=4, layers=[4, 5, 6, 7, 8], grouped=False, learn_scalings=False)
    assert enc.features.stages[0][0].in_channels == 6 and not enc.predict_w
    total, _ = step_loss(enc, g, loss, torch.rand(2, 3, 64, 64) * 2 - 1, base)
    total.backward()
    assert enc.p_heads[0].weight.grad.abs().sum() > 0 and enc.scale_a.grad is None
