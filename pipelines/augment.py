"""Geometric augmentation: random perspective warps of whole images (GradStyle's self-supervised
alignment pairs in train/gradstyle.py, its alignment check in bench/editing.py)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def random_homographies(batch: int, distortion: float, generator: torch.Generator, device=None) -> Tensor:
    """Random perspective maps of the [-1, 1]² square: each corner moves by up to `distortion`
    (a fraction of the half side) in x and y, drawn from the CPU `generator` (the same maps on any
    device).  -> [B, 3, 3], mapping output to input coordinates.
    """
    corners = torch.tensor([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]], device=device)
    src = corners.expand(batch, 4, 2)
    dst = src + (torch.rand(batch, 4, 2, generator=generator).to(src) * 2 - 1) * distortion
    # the direct linear transform: 8 equations in the 8 unknowns of H (h₃₃ = 1)
    x, y, u, v = src[..., 0], src[..., 1], dst[..., 0], dst[..., 1]
    one, zero = torch.ones_like(x), torch.zeros_like(x)
    rows_u = torch.stack([x, y, one, zero, zero, zero, -u * x, -u * y], dim=-1)  # [B, 4, 8]
    rows_v = torch.stack([zero, zero, zero, x, y, one, -v * x, -v * y], dim=-1)
    a = torch.cat([rows_u, rows_v], dim=1)  # [B, 8, 8]
    h = torch.linalg.solve(a, torch.cat([u, v], dim=1))  # [B, 8]
    return torch.cat([h, torch.ones(batch, 1, device=device)], dim=1).view(batch, 3, 3)


def warp(x: Tensor, homographies: Tensor) -> Tensor:
    """Resample x [B, C, H, W] through per-sample homographies [B, 3, 3] (border padding)."""
    b, _, h, w = x.shape
    ys = torch.linspace(-1 + 1 / h, 1 - 1 / h, h, device=x.device)
    xs = torch.linspace(-1 + 1 / w, 1 - 1 / w, w, device=x.device)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    points = torch.stack([gx, gy, torch.ones_like(gx)], dim=-1).reshape(1, h * w, 3)  # [1, HW, 3]
    mapped = points @ homographies.transpose(1, 2)  # [B, HW, 3]
    grid = (mapped[..., :2] / mapped[..., 2:]).view(b, h, w, 2)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
