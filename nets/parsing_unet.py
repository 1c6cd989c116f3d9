"""The emoji64 parsing network: a small U-Net for dense region labelling (DESIGN §2, GaNI's parser).

GaNI's multi-layer parsing loss (Sheffi et al., §3.2) compares the contracting-path features of a
face-parsing U-Net. On emoji64 this network takes that role: a U-Net (Ronneberger et al. 2015)
with five contracting levels (64, 32, 16, 8, 4 px; two 3×3 convs each, max-pool between) and an
expanding path with skip connections, trained on a dense task (train/parsing.py). `features`
returns the five contracting-path maps, which is what the zoo's `parsing` slot provides.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin
from torch import Tensor, nn


def _double_conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
                         nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


class ParsingUNet(nn.Module, PyTorchModelHubMixin):
    """[B, 3, 64, 64] in [-1, 1] -> region logits [B, len(classes), 64, 64]."""

    def __init__(self, classes: list[str], widths: list[int] | None = None) -> None:
        super().__init__()
        widths = list(widths or [16, 32, 64, 96, 128])
        self.classes = list(classes)
        self.down = nn.ModuleList(_double_conv(3 if i == 0 else widths[i - 1], w) for i, w in enumerate(widths))
        self.up = nn.ModuleList(_double_conv(widths[i + 1] + widths[i], widths[i]) for i in range(len(widths) - 1))
        self.head = nn.Conv2d(widths[0], len(self.classes), 1)

    def features(self, x: Tensor) -> list[Tensor]:
        """The contracting path's five maps [B, C_l, 64/2^l, 64/2^l] (the parsing slot's features)."""
        assert x.ndim == 4 and x.shape[1] == 3, f"expected [B, 3, H, W], got {list(x.shape)}"
        feats = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else F.max_pool2d(x, 2))
            feats.append(x)
        return feats

    def forward(self, x: Tensor) -> Tensor:
        feats = self.features(x)
        y = feats[-1]
        for i in range(len(self.up) - 1, -1, -1):  # 8, 16, 32, 64 px
            y = self.up[i](torch.cat([F.interpolate(y, scale_factor=2.0, mode="nearest"), feats[i]], dim=1))
        return self.head(y)
