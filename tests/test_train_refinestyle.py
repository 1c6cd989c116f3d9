"""RefineStyle training objective on tiny networks, one- and two-stage."""
from __future__ import annotations

import torch

from nets.e4e import E4EEncoder
from nets.emojinet import EmojiNet
from nets.refinestyle import IRSEFeatures, RefineStyleEncoder
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


def test_ir_se_image_encoder_starts_as_the_e4e_body_it_was_built_from():
    """--image-encoder ir_se: the pyramid's stage outputs are e4e's features, for the one-stage input I and for
    the two-stage [I, Î₀] (zero weights on Î₀ at the start); its tokens, like the CNN's, are [B, T, d]."""
    g, loss = _nets()
    e4e = E4EEncoder(input_size=64, stages=[[16, 1], [16, 2], [16, 1], [16, 1]], stem=16, w_dim=16,
                     num_ws=g.num_ws, coarse=3, middle=6)
    with torch.no_grad():  # non-trivial batch-norm statistics, so that copying them matters
        for m in e4e.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    e4e.eval()
    image, first = torch.rand(2, 3, 64, 64) * 2 - 1, torch.rand(2, 3, 64, 64) * 2 - 1
    for stage, x in ((1, image), (2, torch.cat([image, first], dim=1))):
        enc = build_encoder(g, stage, rank=4, layers=[6, 7, 8], d_model=32, e4e=e4e).eval()
        for mine, theirs in zip(enc.features.stage_outputs(x), e4e.features(image)):
            torch.testing.assert_close(mine, theirs)
        assert enc.features(x).shape == (2, 16 * 16 + 8 * 8 + 4 * 4, 32)
    for head in enc.p_heads:  # past the first step, when ΔW is no longer exactly zero
        torch.nn.init.normal_(head.weight, std=0.1)
    total, _ = step_loss(enc.train(), g, loss, image, e4e)
    total.backward()
    assert enc.features.body[0].res_layer[1].weight.grad.abs().sum() > 0  # the pyramid is fine-tuned


def test_ir_se_pyramid_reads_images_at_e4e_input_size():
    """A generator larger than e4e's input (ffhq: 1024 px, e4e 256): the pyramid resizes as e4e does, so its
    features are still e4e's and its token count is set by e4e's size."""
    g, _ = _nets()
    e4e = E4EEncoder(input_size=32, stages=[[16, 1], [16, 1], [16, 1], [16, 1]], stem=16, w_dim=16,
                     num_ws=g.num_ws, coarse=3, middle=6).eval()
    enc = build_encoder(g, 1, rank=4, layers=[6, 7, 8], d_model=32, e4e=e4e).eval()
    image = torch.rand(2, 3, 64, 64) * 2 - 1
    for mine, theirs in zip(enc.features.stage_outputs(image), e4e.features(image)):
        torch.testing.assert_close(mine, theirs)
    assert enc.features(image).shape == (2, 8 * 8 + 4 * 4 + 2 * 2, 32)


def test_ir_se_encoder_round_trips_through_save_and_load(tmp_path):
    g, _ = _nets()
    e4e = E4EEncoder(input_size=64, stages=[[16, 1], [16, 1], [16, 1], [16, 1]], stem=16, w_dim=16,
                     num_ws=g.num_ws, coarse=3, middle=6).eval()
    enc = build_encoder(g, 2, rank=4, layers=[6, 7, 8], d_model=32, e4e=e4e).eval()
    enc.save_pretrained(tmp_path)
    back = RefineStyleEncoder.from_pretrained(tmp_path).eval()
    assert isinstance(back.features, IRSEFeatures)
    x = torch.rand(1, 6, 64, 64)
    torch.testing.assert_close(flatten_outputs(back(x)), flatten_outputs(enc(x)))
