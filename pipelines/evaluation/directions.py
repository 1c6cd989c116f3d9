"""An InterFaceGAN editing direction, scored on generator samples by EmojiNet: at a fixed strength
(train.directions and bench.zoo_emoji64 use α = 2σ, σ the std of w·n over samples), the fraction
of samples whose head score for the direction's attribute pair rises, and the mean identity cosine
between each sample and its edit."""
from __future__ import annotations

import torch

from nets.emojinet import EmojiNet
from nets.stylegan2 import Generator
from pipelines.attributes import AttributePair, head_score
from pipelines.directions import LinearDirection


@torch.no_grad()
def evaluate_direction(G: Generator, net: EmojiNet, pair: AttributePair, direction: LinearDirection,
                       strength: float, n: int = 200, seed: int = 12345) -> dict:
    """Fraction of n samples whose head score rises at +strength, and the identity cosine kept."""
    w = G.mapping(torch.randn(n, G.z_dim, generator=torch.Generator().manual_seed(seed)))
    ws = G.broadcast(w)
    before = net(G.synthesis(ws).clamp(-1, 1))
    after = net(G.synthesis(direction.apply(ws, strength)).clamp(-1, 1))
    rises = (head_score(after["logits"], pair) > head_score(before["logits"], pair)).float().mean().item()
    cosine = (before["embedding"] * after["embedding"]).sum(1).mean().item()
    return {"success": rises, "identity_cosine": cosine, "strength": strength}
