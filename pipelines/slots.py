"""What each zoo slot provides, written once as typing Protocols (any network with these methods
fills the slot): on emoji64, EmojiNet fills perceptual and identity and the parsing U-Net
(nets/parsing_unet.py) fills parsing; LPIPS, ArcFace and BiSeNet (nets/judges.py, nets/bisenet.py)
do on ffhq. Pipelines type their arguments by these."""
from __future__ import annotations

from typing import Protocol, runtime_checkable

from torch import Tensor

from .directions import DirectionSet


@runtime_checkable
class Perceptual(Protocol):
    def perceptual_distance(self, x: Tensor, y: Tensor, /) -> Tensor:
        """Two image batches [B, 3, H, W] in [-1, 1] -> [B], 0 for equal images."""


@runtime_checkable
class Identity(Protocol):
    def identity(self, x: Tensor, /) -> Tensor:
        """Images [B, 3, H, W] in [-1, 1] -> unit embeddings [B, D] (cosine = identity similarity)."""


@runtime_checkable
class Parsing(Protocol):
    def features(self, x: Tensor, /) -> list[Tensor]:
        """Images [B, 3, H, W] in [-1, 1] -> per-pixel feature maps [B, C_k, H_k, W_k], one per stage."""


@runtime_checkable
class StyleJudge(Perceptual, Parsing, Protocol):
    """One-shot adaptation's judge: a perceptual distance and per-pixel features for the style loss."""


@runtime_checkable
class ClipModel(Protocol):
    def encode_image(self, x: Tensor, /) -> Tensor:
        """Images -> image embeddings [B, D]."""

    def encode_text(self, tokens: Tensor, /) -> Tensor:
        """Token ids -> text embeddings [B, D]."""


CONTRACTS: dict[str, type] = {"perceptual": Perceptual, "identity": Identity, "parsing": Parsing,
                              "clip": ClipModel, "directions": DirectionSet}
"""The type a zoo slot's value has (the clip slot may also be {name: model}, one model a tower)."""
