"""Reconstruction losses (RefineStyle Eq. 6) over a zoo's perceptual and identity networks, and the sliced
Wasserstein distance between feature distributions (the one-shot style loss)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from .metrics import l2_distance, mse


@dataclass
class ReconstructionLoss:
    """RefineStyle Eq. 6: λ₂ ‖x − y‖² + λ_p d_perceptual(x, y) + λ_id (1 − cos(ID(x), ID(y))).

    perceptual(x, y) -> [B]; identity(x) -> unit embeddings [B, D]. Images in [-1, 1]; the L2
    term is their mean squared difference as they are, as e4e's and PTI's losses compute it.
    Defaults are e4e's and RefineStyle's face weights. `l2_on_unit_images` (ours, the form the
    shipped emoji64 encoders were trained with) maps the images to [0, 1] first, which weighs
    the L2 term 4× lighter (docs/fidelity.md).
    """

    perceptual: Callable[[Tensor, Tensor], Tensor]
    identity: Callable[[Tensor], Tensor]
    l2: float = 1.0
    lpips: float = 0.8
    id: float = 0.1
    l2_on_unit_images: bool = False

    def l2_term(self, x: Tensor, y: Tensor) -> Tensor:
        """The L2 term's per-image value, in this loss's form.  -> [B]"""
        return mse(x, y) if self.l2_on_unit_images else l2_distance(x, y)

    def __call__(self, x: Tensor, target: Tensor, target_id: Tensor | None = None) -> tuple[Tensor, dict[str, float]]:
        parts = {"l2": self.l2_term(x, target).mean(), "perceptual": self.perceptual(x, target).mean()}
        if self.id:
            ref = self.identity(target) if target_id is None else target_id
            parts["id"] = (1 - (self.identity(x) * ref).sum(1)).mean()
        loss = self.l2 * parts["l2"] + self.lpips * parts["perceptual"] + self.id * parts.get("id", 0.0)
        return loss, {k: float(v.detach()) for k, v in parts.items()}


def sliced_wasserstein(a: Tensor, b: Tensor, projections: int = 64, generator: torch.Generator | None = None) -> Tensor:
    """Sliced Wasserstein distance between the per-pixel feature distributions of two maps.

    a [B, C, H, W], b [1 | B, C, H, W] (same H, W): every pixel's C-vector is a sample; both sets
    are projected on `projections` random unit directions, sorted, and compared (squared, mean).
    -> [B]
    """
    dirs = torch.randn(a.shape[1], projections, generator=generator).to(a)
    dirs = dirs / dirs.norm(dim=0, keepdim=True)  # [C, K]
    pa = a.flatten(2).transpose(1, 2) @ dirs  # [B, HW, K]
    pb = (b.flatten(2).transpose(1, 2) @ dirs).expand_as(pa)
    return (pa.sort(dim=1).values - pb.sort(dim=1).values).square().mean((1, 2))
