"""GradStyle's parts (selective attention, Gate & Fusion, the two streams), the perspective warp and a
training step, on tiny networks."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from nets.e4e import E4EEncoder
from nets.emojinet import EmojiNet
from nets.gradstyle import (
    Aligner,
    GateFusion,
    GradStyle,
    SelectiveAttention,
    TransportAttention,
    sinusoidal_embedding,
)
from nets.stylegan2 import Discriminator, Generator
from pipelines.losses import ReconstructionLoss
from pipelines.augment import random_homographies, warp
from train.gradstyle import GradStyleTrainer


def _networks():
    torch.manual_seed(0)
    g = Generator(size=64, style_dim=16, n_mlp=2, channels=[16, 16, 16, 16, 8]).eval().requires_grad_(False)
    enc = E4EEncoder(input_size=64, stages=[[16, 1], [16, 1], [16, 1], [16, 1]], stem=16, w_dim=16,
                     num_ws=g.num_ws, coarse=3, middle=6).eval().requires_grad_(False)
    model = GradStyle(stage_layers=[2, 4, 6], gen_channels=[16, 16, 16], enc_channels=[16, 16, 16], hidden=8,
                      res_blocks=1, heads=1, top_mu=0.25, aligner_layers=2)
    return g, enc, model


def test_selective_attention_is_plain_attention_at_mu_one_and_ignores_dropped_keys():
    torch.manual_seed(0)
    att = SelectiveAttention(dim=8, value_dim=6, out_dim=5, heads=2, top_mu=1.0, d_k=4)
    q, k, v = torch.randn(2, 7, 8), torch.randn(2, 10, 8), torch.randn(2, 10, 6)
    split = lambda t: t.view(2, -1, 2, 4).transpose(1, 2)
    ref = F.scaled_dot_product_attention(split(att.to_q(q)), split(att.to_k(k)), split(att.to_v(v)))
    torch.testing.assert_close(att(q, k, v), att.out(ref.transpose(1, 2).reshape(2, 7, 8)))
    att.top_mu = 0.2  # keep 2 of 10 keys per query: values of keys outside every top-2 change nothing
    scores = split(att.to_q(q)) @ split(att.to_k(k)).transpose(2, 3)  # [B, h, N, M]
    used = torch.zeros(2, 10, dtype=torch.bool)
    used.scatter_(1, scores.topk(2, dim=-1).indices.flatten(1), True)
    v2 = v + 5 * (~used)[..., None].float()
    torch.testing.assert_close(att(q, k, v2), att(q, k, v))
    assert not torch.allclose(att(q, k, v + 5 * used[..., None].float()), att(q, k, v))


def test_untrained_transport_aligner_is_the_identity_alignment_and_only_moves_residuals():
    torch.manual_seed(0)
    aligner = Aligner(channels=6, heads=2, top_mu=0.25, layers=2, d_k=4, kind="transport")
    f_edit, f_rec, residual = torch.randn(2, 6, 8, 8), torch.randn(2, 6, 8, 8), torch.randn(2, 6, 8, 8)
    out = aligner(f_edit, f_rec, residual)
    assert (out - residual).norm() / residual.norm() < 0.15  # β = 4: ≈ 93 % of a token's own residual
    const = torch.full((2, 6, 8, 8), 0.3)
    torch.testing.assert_close(aligner(f_edit, f_rec, const), const)  # convex combinations of residual vectors
    with torch.no_grad():
        aligner.read.log_beta.fill_(5.0)
    torch.testing.assert_close(aligner(f_edit, f_rec, residual), residual)


def test_paper_aligner_queries_edited_features_and_reads_keys_and_values_from_the_residual():
    """Eq. 7–8: q from f̂_m, k and v from F_m (f_m does not enter), heads concatenated and projected back to
    F_m's channels; the default kind; an unknown kind is refused."""
    torch.manual_seed(0)
    aligner = Aligner(channels=6, heads=2, top_mu=0.5, layers=2, d_k=4)
    assert aligner.kind == "paper" and isinstance(aligner.read, SelectiveAttention)
    f_edit, f_rec, residual = torch.randn(2, 6, 8, 8), torch.randn(2, 6, 8, 8), torch.randn(2, 6, 8, 8)
    out = aligner(f_edit, f_rec, residual)
    assert out.shape == residual.shape
    torch.testing.assert_close(aligner(f_edit, torch.randn(2, 6, 8, 8), residual), out)  # f_rec unused
    assert not torch.allclose(aligner(torch.randn(2, 6, 8, 8), f_rec, residual), out)
    assert not torch.allclose(aligner(f_edit, f_rec, residual + torch.randn(2, 6, 8, 8)), out)
    with pytest.raises(ValueError, match="aligner"):
        Aligner(channels=6, heads=2, top_mu=0.5, layers=2, d_k=4, kind="other")
    shipped = GradStyle(stage_layers=[2], gen_channels=[16], enc_channels=[16], aligner="transport")
    assert isinstance(shipped.aligners[0].read, TransportAttention)


def test_transport_attention_follows_matching_features():
    """Keys are one-hot position codes of the reconstruction; the queries carry the code found one cell to the
    right: with the content scores dominant, each token reads the residual from one cell to the right."""
    side, m = 4, 16
    att = TransportAttention(dim=m, heads=1, top_mu=0.25, d_k=m, beta=1e-6)
    with torch.no_grad():
        att.to_q.weight.copy_(torch.eye(m) * 200)
        att.to_k.weight.copy_(torch.eye(m))
    codes = torch.eye(m).view(1, side, side, m)
    shifted = torch.cat([codes[:, :, 1:], codes[:, :, -1:]], dim=2)  # position (y, x) holds code (y, min(x+1, 3))
    residual = torch.randn(1, side, side, 5)
    out = att(shifted.reshape(1, m, m), codes.reshape(1, m, m), residual.reshape(1, m, 5)).view(1, side, side, 5)
    expected = torch.cat([residual[:, :, 1:], residual[:, :, -1:]], dim=2)
    torch.testing.assert_close(out, expected, atol=1e-4, rtol=1e-4)


def test_sinusoidal_embedding_distinguishes_positions():
    pos = sinusoidal_embedding(16, 4, 8)
    assert pos.shape == (16, 8) and torch.cdist(pos, pos).add(torch.eye(16)).min() > 0.1


def test_gate_fusion_adds_nothing_for_a_zero_residual():
    gate = GateFusion(4)
    f = torch.randn(2, 4, 8, 8)
    fused, gated = gate(f, torch.zeros_like(f))
    assert torch.equal(fused, f) and torch.equal(gated, torch.zeros_like(f))


def test_streams_reduce_to_the_generator_and_agree_without_an_edit():
    g, enc, model = _networks()
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        feats = enc.features(x)
        ws = enc.codes(feats)
        rec, stream, _ = model.reconstruct(g, ws, feats)
        assert sorted(stream) == [2, 4, 6] and [stream[i][0].shape[-1] for i in (2, 4, 6)] == [8, 16, 32]
        naive, aligned = model.edit(g, ws, stream, use_gam=False)  # Ŵ⁺ = W⁺: the same residuals at the same places
        torch.testing.assert_close(naive, rec)
        aligned_img, aligned = model.edit(g, ws, stream)
        assert aligned_img.shape == rec.shape and aligned[6].shape == stream[6][0].shape
        for grm in model.grms:  # GRMs that output zero leave the generator's image unchanged
            grm.e_res[-1].weight.zero_()
            grm.e_res[-1].bias.zero_()
        torch.testing.assert_close(model.reconstruct(g, ws, feats)[0], g.synthesis(ws))
        _, stream1, _ = model.reconstruct(g, ws, feats, stages=[0])
        assert sorted(stream1) == [2]


def test_identity_warp_and_perspective_warps_keep_constants():
    x = torch.randn(3, 4, 16, 16)
    torch.testing.assert_close(warp(x, random_homographies(3, 0.0, torch.Generator().manual_seed(0))), x)
    h = random_homographies(3, 0.15, torch.Generator().manual_seed(0))
    assert not torch.allclose(warp(x, h), x)
    const = torch.full((3, 2, 8, 8), 0.7)
    torch.testing.assert_close(warp(const, h), const)
    corners = torch.tensor([[-1.0, -1.0, 1.0], [1.0, 1.0, 1.0]]) @ h.transpose(1, 2)  # [3, 2, 3]
    moved = corners[..., :2] / corners[..., 2:]
    assert (moved - torch.tensor([[-1.0, -1.0], [1.0, 1.0]])).abs().max() <= 0.15 + 1e-5


def test_training_step_reaches_every_module_and_keeps_grms_out_of_the_aligner_loss():
    g, enc, model = _networks()
    judge = EmojiNet(widths=[8, 8, 16, 16, 16], embed_dim=8).eval().requires_grad_(False)
    d = Discriminator(size=64, channels=[16, 16, 16, 16, 8])
    trainer = GradStyleTrainer(model, g, enc, ReconstructionLoss(judge.perceptual_distance, judge.identity), d)
    images = torch.rand(4, 3, 64, 64) * 2 - 1
    d.requires_grad_(False)
    with torch.no_grad():  # a zero query projection (the initial state) passes no gradient to the queries' side
        for a in model.aligners:
            a.read.to_q.weight.normal_(0, 0.1)
    loss, parts, fakes = trainer.model_loss(images)
    loss.backward()
    assert {"rec_l2", "edit_l2", "aligner", "f", "adv"} <= set(parts) and fakes.shape == (8, 3, 64, 64)
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    model.zero_grad()  # the aligner loss alone: no gradient into the GRMs
    trainer.weights = {"adv": 0.0, "aligner": 1.0, "f": 0.0}
    trainer.loss = ReconstructionLoss(judge.perceptual_distance, judge.identity, l2=0.0, lpips=0.0, id=0.0)
    loss, _, _ = trainer.model_loss(images)
    loss.backward()
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in model.grms.parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.aligners.parameters())
    d.requires_grad_(True)
    d_loss = trainer.discriminator_loss(images, fakes, r1=True)
    d_loss.backward()
    assert torch.isfinite(d_loss) and all(p.grad is not None for p in d.parameters())
