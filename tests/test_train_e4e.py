"""The e4e training step on tiny networks: progressive offsets, the latent discriminator, gradients."""
from __future__ import annotations

import torch

from nets.e4e import E4EEncoder
from nets.emojinet import EmojiNet
from nets.stylegan2 import Generator
from pipelines.losses import ReconstructionLoss
from train.e4e import E4ETrainer, LatentDiscriminator, training_batch


def _trainer() -> E4ETrainer:
    torch.manual_seed(0)
    g = Generator(size=64, style_dim=16, n_mlp=2, channels=[16, 16, 16, 16, 16]).eval().requires_grad_(False)
    enc = E4EEncoder(input_size=64, stages=[[16, 1], [16, 1], [16, 1], [16, 1]], stem=16, w_dim=16,
                     num_ws=g.num_ws, coarse=3, middle=6)
    judge = EmojiNet(widths=[8, 8, 16, 16, 16], embed_dim=8).eval().requires_grad_(False)
    return E4ETrainer(enc, g, ReconstructionLoss(judge.perceptual_distance, judge.identity), LatentDiscriminator(16))


def test_progressive_offsets_only_train_active_codes():
    t = _trainer()
    assert [t.active_codes(s, 100) for s in (0, 99, 100, 950, 5000)] == [1, 1, 2, 10, 10]
    images = torch.rand(2, 3, 64, 64) * 2 - 1
    loss, parts = t.encoder_loss(images, active=2)
    loss.backward()
    grads = [b.linear.weight.grad.abs().sum().item() for b in t.encoder.styles]
    assert grads[0] > 0 and grads[1] > 0 and all(g == 0 for g in grads[2:])
    assert {"l2", "perceptual", "id", "delta", "adv"} <= set(parts)


def test_latent_discriminator_step_and_batches():
    t = _trainer()
    loss = t.latent_d_loss(torch.rand(2, 3, 64, 64) * 2 - 1)
    loss.backward()
    assert torch.isfinite(loss) and all(p.grad is not None for p in t.latent_d.parameters())
    batch = training_batch(torch.rand(5, 3, 64, 64) * 2 - 1, t.generator, 4, torch.Generator().manual_seed(0))
    assert batch.shape == (4, 3, 64, 64) and batch.abs().max() <= 1
