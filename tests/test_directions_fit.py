"""InterFaceGAN boundary fitting and the project direction file."""
from __future__ import annotations

import torch

from pipelines.directions import (
    DirectionSet,
    GanSpace,
    LinearDirection,
    load_directions,
)
from train.directions import fit_boundary, save_directions


def test_boundary_recovers_a_known_normal_in_an_anisotropic_space():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(4000, 16, generator=g) * torch.linspace(0.2, 3.0, 16) + 5.0  # like W: shifted, uneven scales
    normal = torch.randn(16, generator=g)
    normal /= normal.norm()
    labels = ((w - 5.0) @ normal > 0).long()
    found = fit_boundary(w, labels)
    assert torch.dot(found, normal) > 0.95 and abs(found.norm().item() - 1) < 1e-5


def test_direction_file_round_trip(tmp_path):
    d = DirectionSet({"smile": LinearDirection("smile", torch.randn(1, 8))},
                     GanSpace(torch.randn(8), torch.linalg.qr(torch.randn(8, 8))[0][:4], torch.rand(4)))
    save_directions(d, {"smile": {"kept": True}}, tmp_path)
    back = load_directions(tmp_path / "directions.safetensors")
    torch.testing.assert_close(back.interfacegan["smile"].vector, d.interfacegan["smile"].vector)
    torch.testing.assert_close(back.ganspace.components, d.ganspace.components)
    ws = torch.randn(2, 10, 8)
    torch.testing.assert_close(back.interfacegan["smile"].apply(ws, 1.5), d.interfacegan["smile"].apply(ws, 1.5))
