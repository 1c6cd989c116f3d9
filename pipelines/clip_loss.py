"""CLIP towers and StyleGAN-NADA's directional loss (RefineStyle Eq. 7).

    L_dir = 1 − cos(ΔI, ΔT),   ΔI = E_I(G_adapted(w)) − E_I(G_frozen(w)),   ΔT = E_T(target) − E_T(source)

averaged over the zoo's CLIP towers (emoji64: its own emoji CLIP; ffhq: OpenAI ViT-B/32 and
ViT-B/16 through open_clip, as NADA uses them together).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nets.emoji_clip import CLIP_MEAN, CLIP_STD, EmojiClip

from .clip_text import tokenize


class ClipTower:
    """One CLIP model behind a common interface: images in [-1, 1] at any size, texts as strings."""

    def __init__(self, model: nn.Module, name: str) -> None:
        self.model, self.name = model, name
        self.emoji = isinstance(model, EmojiClip)
        if not self.emoji:
            size = model.visual.image_size
            self.size = size[0] if isinstance(size, tuple | list) else size

    def encode_image(self, img: Tensor) -> Tensor:  # [B, 3, R, R] -> unit [B, D]
        if self.emoji:
            return self.model.encode_image(img)
        x = F.interpolate((img + 1) / 2, size=(self.size, self.size), mode="bicubic", align_corners=False)
        mean = torch.tensor(CLIP_MEAN, device=img.device).view(1, 3, 1, 1)
        std = torch.tensor(CLIP_STD, device=img.device).view(1, 3, 1, 1)
        return F.normalize(self.model.encode_image((x - mean) / std), dim=-1)

    def encode_text(self, texts: list[str]) -> Tensor:  # -> unit [B, D]
        device = next(self.model.parameters()).device
        tokens = tokenize(texts).to(device)
        if self.emoji:
            return self.model.encode_text(tokens)
        return F.normalize(self.model.encode_text(tokens), dim=-1)


def clip_towers(slot_value) -> list[ClipTower]:
    """The zoo's `clip` slot (an EmojiClip, or {name: open_clip model}) as frozen towers."""
    models = slot_value.items() if isinstance(slot_value, dict) else [("emoji-clip", slot_value)]
    return [ClipTower(m.eval().requires_grad_(False), name) for name, m in models]


class DirectionalLoss:
    """NADA's directional CLIP loss for fixed source and target texts."""

    def __init__(self, towers: list[ClipTower], source: str, target: str) -> None:
        self.towers = towers
        with torch.no_grad():
            self.text_dirs = [F.normalize(t.encode_text([target]) - t.encode_text([source]), dim=-1) for t in towers]

    def tower_cosines(self, adapted: Tensor, frozen: Tensor) -> list[Tensor]:
        """adapted, frozen [B, 3, R, R] (same latents) -> per tower, cos(ΔI, ΔT) [B] with ΔI = E_I(adapted) −
        E_I(frozen) (frozen's embedding taken without gradient)."""
        cosines = []
        for tower, text_dir in zip(self.towers, self.text_dirs):
            with torch.no_grad():
                base = tower.encode_image(frozen)
            delta = F.normalize(tower.encode_image(adapted) - base, dim=-1, eps=1e-8)
            cosines.append((delta * text_dir).sum(-1))
        return cosines

    def __call__(self, adapted: Tensor, frozen: Tensor) -> Tensor:
        """adapted, frozen [B, 3, R, R] (same latents) -> mean over towers and images of 1 − cos(ΔI, ΔT)."""
        return torch.stack([1 - cos.mean() for cos in self.tower_cosines(adapted, frozen)]).mean()

    @torch.no_grad()
    def direction_consistency(self, adapted: Tensor, frozen: Tensor) -> Tensor:
        """cos(ΔI, ΔT) per image, averaged over the towers (the bench's CLIP direction consistency).  -> [B]"""
        return torch.stack(self.tower_cosines(adapted, frozen)).mean(0)

    @torch.no_grad()
    def text_consistency(self, images: Tensor, target: str) -> float:
        """Mean CLIP cosine between images and the target text (the bench's text-consistency score)."""
        return float(torch.stack([(t.encode_image(images) @ t.encode_text([target]).t()).mean()
                                  for t in self.towers]).mean())
