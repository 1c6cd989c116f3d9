"""InterFaceGAN boundary fitting and the project direction file."""
from __future__ import annotations

import torch

from nets.emojinet import EmojiNet
from nets.stylegan2 import Generator
from pipelines.directions import (
    DirectionSet,
    GanSpace,
    LinearDirection,
    StyleChannel,
    load_directions,
)
from train.directions import CANDIDATES, fit_boundary, localise_stylespace, save_directions


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
                     GanSpace(torch.randn(8), torch.linalg.qr(torch.randn(8, 8))[0][:4], torch.rand(4)),
                     {"smile": StyleChannel("smile", 3, 17, -0.25)})
    save_directions(d, {"smile": {"kept": True}}, tmp_path)
    back = load_directions(tmp_path / "directions.safetensors")
    torch.testing.assert_close(back.interfacegan["smile"].vector, d.interfacegan["smile"].vector)
    torch.testing.assert_close(back.ganspace.components, d.ganspace.components)
    ws = torch.randn(2, 10, 8)
    torch.testing.assert_close(back.interfacegan["smile"].apply(ws, 1.5), d.interfacegan["smile"].apply(ws, 1.5))
    assert back.stylespace["smile"] == StyleChannel("smile", 3, 17, -0.25)


def test_style_offsets_move_only_their_channel_and_localisation_picks_a_real_one():
    torch.manual_seed(0)
    g = Generator(size=64, style_dim=16, n_mlp=2, channels=[8, 8, 8, 8, 8]).eval()
    ws = g.broadcast(g.mapping(torch.randn(2, 16)))
    channel = StyleChannel("x", 2, 5, 0.5)
    with torch.no_grad():
        offsets = channel.offsets(8, 2.0)
        assert offsets[2][0, 5] == 1.0 and offsets[2].abs().sum() == 1.0
        assert torch.equal(g.synthesis(ws, style_offsets={2: torch.zeros(1, 8)}), g.synthesis(ws))
        assert not torch.allclose(g.synthesis(ws, style_offsets=offsets), g.synthesis(ws))
    net = EmojiNet(widths=[8, 8, 16, 16, 16], embed_dim=8).eval()
    pairs = [p for p in CANDIDATES if p.name in ("smile", "gender")]
    channels, report = localise_stylespace(g, net, pairs, n=4)
    assert set(channels) == {"smile", "gender"}
    for name, c in channels.items():
        assert 0 <= c.layer < len(g.synthesis.convs) and 0 <= c.channel < 8 and c.std != 0
        assert report[name]["layer"] == c.layer
