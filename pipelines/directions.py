"""Editing directions: InterFaceGAN (linear boundaries in W or W+), GANSpace (PCA of W) and
StyleSpace channels (single coordinates of the per-layer style vectors S).

InterFaceGAN and GANSpace act on W+ codes ws [B, num_ws, w_dim]; a StyleSpace channel becomes
a style offset for one conv layer (`SynthesisNetwork(style_offsets=...)`). The official FFHQ files load through
`converters.load_official_directions`; emoji64's are fitted by train/.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor


@dataclass(frozen=True)
class LinearDirection:
    """InterFaceGAN (Shen et al. 2020): ws' = ws + α n, with n one w for every layer or one per layer."""

    name: str
    vector: Tensor  # [1, w_dim] (all layers) or [num_ws, w_dim]

    def apply(self, ws: Tensor, strength: float) -> Tensor:  # [B, num_ws, w_dim] -> same
        if self.vector.shape[0] not in (1, ws.shape[1]) or self.vector.shape[1] != ws.shape[2]:
            raise ValueError(f"direction '{self.name}' {list(self.vector.shape)} does not fit ws {list(ws.shape)}")
        return ws + strength * self.vector.to(ws)[None]


@dataclass(frozen=True)
class GanSpace:
    """GANSpace (Härkönen et al. 2020): principal axes v_k of W with their std σ_k.

    An edit (k, first, last, α) moves layers first..last (inclusive) by α σ_k v_k.
    """

    mean: Tensor  # [w_dim]
    components: Tensor  # [K, w_dim], unit rows
    std: Tensor  # [K]

    def apply(self, ws: Tensor, component: int, first: int, last: int, strength: float) -> Tensor:
        if not 0 <= component < self.components.shape[0]:
            raise ValueError(f"GANSpace component must be in 0..{self.components.shape[0] - 1}, got {component}")
        if not 0 <= first <= last < ws.shape[1]:
            raise ValueError(f"layer range must satisfy 0 <= first <= last < {ws.shape[1]}, got {first}..{last}")
        delta = (strength * self.std[component] * self.components[component]).to(ws)  # [w_dim]
        out = ws.clone()
        out[:, first : last + 1] += delta
        return out


@dataclass(frozen=True)
class StyleChannel:
    """StyleSpace (Wu et al. 2021): channel c of conv layer l's style s = affine(w), moved by α σ_c."""

    name: str
    layer: int
    channel: int
    std: float  # σ_c over random w

    def offsets(self, in_channels: int, strength: float) -> dict[int, Tensor]:
        """{conv layer: [1, C_in] style offset}"""
        if not 0 <= self.channel < in_channels:
            raise ValueError(f"StyleSpace channel {self.channel} does not exist in a {in_channels}-channel layer")
        offset = torch.zeros(1, in_channels)
        offset[0, self.channel] = strength * self.std
        return {self.layer: offset}


@dataclass
class DirectionSet:
    interfacegan: dict[str, LinearDirection] = field(default_factory=dict)
    ganspace: GanSpace | None = None
    stylespace: dict[str, StyleChannel] = field(default_factory=dict)


def load_directions(path) -> DirectionSet:
    """A project direction file (train/directions.py): safetensors with interfacegan.<name>, ganspace.*
    and stylespace.<name> = [layer, channel, σ]."""
    from safetensors.torch import load_file

    tensors = load_file(str(path))
    out = DirectionSet()
    for key, value in tensors.items():
        if key.startswith("interfacegan."):
            name = key.split(".", 1)[1]
            out.interfacegan[name] = LinearDirection(name, value.float())
        elif key.startswith("stylespace."):
            name = key.split(".", 1)[1]
            out.stylespace[name] = StyleChannel(name, int(value[0]), int(value[1]), float(value[2]))
    if "ganspace.components" in tensors:
        out.ganspace = GanSpace(tensors["ganspace.mean"].float(), tensors["ganspace.components"].float(),
                                tensors["ganspace.std"].float())
    return out
