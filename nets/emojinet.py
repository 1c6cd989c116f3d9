"""EmojiNet: the emoji64 zoo's perceptual and identity network (DESIGN §2).

One small CNN with three uses:
- **identity**: a unit embedding trained so that the same emoji in either style (and any skin
  tone) lands close — its cosine stands in for ArcFace ID;
- **attributes**: linear heads (on the pooled outputs of stages 2–5) for skin tone, gender, age,
  hair and smiling — the edit-success judge and the labeller for InterFaceGAN directions;
- **features**: the outputs of its five stages — their distance stands in for LPIPS (GaNI's
  parsing loss reads the parsing U-Net's features instead, nets/parsing_unet.py).

Perceptual distance (LPIPS-like, without learned layer weights): at every stage, normalise each
pixel's feature vector to unit length, take the squared difference, average over positions and
average the five stages:  d(x, y) = 1/5 Σ_l mean_hw ‖f̂_l(x) − f̂_l(y)‖².  It is 0 for equal
images and at most 4.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin
from torch import Tensor, nn

ATTRIBUTES: dict[str, list[str]] = {
    "skin": ["none", "light", "medium-light", "medium", "medium-dark", "dark"],
    "gender": ["n.a.", "man", "woman", "person"],
    "age": ["n.a.", "baby", "child", "adult", "older"],
    "hair": ["n.a.", "red", "curly", "white", "bald", "blond"],
    "smiling": ["n.a.", "yes", "no"],
}


def _block(cin: int, cout: int, stride: int, convs: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(convs):
        layers += [nn.Conv2d(cin if i == 0 else cout, cout, 3, stride if i == 0 else 1, 1, bias=False),
                   nn.GroupNorm(8, cout), nn.SiLU()]
    return nn.Sequential(*layers)


class EmojiNet(nn.Module, PyTorchModelHubMixin):
    """[B, 3, 64, 64] in [-1, 1] -> five feature maps, a unit identity embedding, attribute logits."""

    def __init__(self, widths: list[int] | None = None, embed_dim: int = 128,
                 attributes: dict[str, list[str]] | None = None) -> None:
        super().__init__()
        widths = list(widths or [32, 64, 128, 192, 256])
        self.attributes = dict(attributes or ATTRIBUTES)
        self.stages = nn.ModuleList(  # 64, 32, 16, 8, 4 px; one conv at full resolution, two after
            _block(3 if i == 0 else widths[i - 1], w, 1 if i == 0 else 2, 1 if i == 0 else 2) for i, w in enumerate(widths)
        )
        self.embed = nn.Linear(widths[-1], embed_dim)
        pooled = sum(widths[1:])  # attribute heads read every stage after the first: colour lives early
        self.heads = nn.ModuleDict({k: nn.Linear(pooled, len(v)) for k, v in self.attributes.items()})

    def features(self, x: Tensor) -> list[Tensor]:
        """The five stage outputs [B, C_l, 64/2^l, 64/2^l]."""
        assert x.ndim == 4 and x.shape[1] == 3, f"expected [B, 3, H, W], got {list(x.shape)}"
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        return feats

    def forward(self, x: Tensor) -> dict[str, Tensor | list[Tensor] | dict[str, Tensor]]:
        feats = self.features(x)
        multi = torch.cat([f.mean((2, 3)) for f in feats[1:]], dim=1)  # [B, Σ C_l]
        return {
            "features": feats,
            "embedding": F.normalize(self.embed(feats[-1].mean((2, 3))), dim=1),  # [B, D], unit length
            "logits": {k: head(multi) for k, head in self.heads.items()},  # [B, n_values]
        }

    def identity(self, x: Tensor) -> Tensor:
        """Unit identity embeddings.  [B, 3, H, W] -> [B, D]"""
        return self.forward(x)["embedding"]

    def perceptual_distance(self, x: Tensor, y: Tensor) -> Tensor:
        """The module docstring's d(x, y) per pair.  -> [B]"""
        fx, fy = self.features(x), self.features(y)
        return torch.stack([feature_distance(a, b) for a, b in zip(fx, fy)]).mean(0)


def feature_distance(a: Tensor, b: Tensor) -> Tensor:
    """mean_hw ‖â − b̂‖² with per-pixel unit-normalised channels.  [B, C, H, W] ×2 -> [B]"""
    return (F.normalize(a, dim=1, eps=1e-6) - F.normalize(b, dim=1, eps=1e-6)).square().sum(1).mean((1, 2))


def cosine_feature_distance(a: Tensor, b: Tensor) -> Tensor:
    """1 − cosine between per-pixel channel vectors, averaged over positions (GaNI's parsing loss).  -> [B]"""
    return (1 - F.cosine_similarity(a, b, dim=1, eps=1e-6)).mean((1, 2))
