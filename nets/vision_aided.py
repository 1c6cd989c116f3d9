"""A second discriminator on frozen pretrained features (vision-aided GAN, Kumari et al., CVPR 2022).

Kumari et al. add, beside the usual discriminator D, discriminators built on a frozen
off-the-shelf network: the backbone's features are fixed and only light heads on top of them
are trained, with the same adversarial loss as D (their Eq. 2: L = L_D + λ L_D_va). Reading
several depths of the backbone with one head each, every head producing a map of patch logits,
follows Projected GAN's multi-scale discriminators (Sauer et al., NeurIPS 2021, §3.2).

On emoji64 the backbone is EmojiNet (the zoo's perceptual network): its stage outputs are the
features. The backbone gets no gradient step, but gradients flow through it to the generator.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

Backbone = Callable[[Tensor], Sequence[Tensor]]  # image [B, 3, H, W] -> stage outputs [B, C_l, H_l, W_l]


class FeatureDiscriminator(nn.Module):
    """Patch-logit heads on the chosen stages of a frozen backbone.  [B, 3, H, W] -> [B, N] logits

    Each head: 3×3 conv (C_l → width), leaky ReLU, 1×1 conv to one logit per position, both
    spectrally normalised (Projected GAN's discriminator layers). The logits of every head are
    flattened and concatenated, so the adversarial loss averages over positions and stages.
    """

    def __init__(self, backbone: Backbone, channels: Sequence[int], stages: Sequence[int], width: int = 64) -> None:
        super().__init__()
        self.backbone, self.stages = backbone, tuple(stages)
        self.heads = nn.ModuleList(
            nn.Sequential(spectral_norm(nn.Conv2d(channels[i], width, 3, padding=1)), nn.LeakyReLU(0.2),
                          spectral_norm(nn.Conv2d(width, 1, 1)))
            for i in self.stages
        )

    def forward(self, img: Tensor) -> Tensor:
        feats = self.backbone(img)
        logits = [head(feats[i]).flatten(1) for i, head in zip(self.stages, self.heads)]  # [B, H_l W_l] each
        return torch.cat(logits, dim=1)  # [B, Σ H_l W_l]
