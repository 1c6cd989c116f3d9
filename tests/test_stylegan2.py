"""StyleGAN2 reproduces the reference implementation and round-trips through its own format."""
from __future__ import annotations

import json

import pytest
import torch

from nets.stylegan2 import Discriminator, Generator
from pipelines.converters import (
    convert_rosinality_generator,
    load_rosinality_generator,
    rosinality_layout,
)


@pytest.fixture(scope="module")
def golden(shared):
    g = load_rosinality_generator(shared / "golden" / "stylegan2_narrow64_rosinality.pt")
    ex = torch.load(shared / "golden" / "stylegan2_narrow64_expected.pt", weights_only=True)
    return g, ex


def test_golden_config_and_size(golden):
    g, ex = golden
    assert g.size == 64 and g.num_ws == 10 and g.w_dim == 64
    assert g.channels == [ex["config"]["channels"][str(2**i)] for i in range(2, 7)]
    assert sum(p.numel() for p in g.parameters()) == 121_688


@torch.no_grad()
@pytest.mark.parametrize("batch", [3, 1], ids=["batched", "single-folded"])
def test_golden_images(golden, batch):
    g, ex = golden
    z, z2 = ex["z"][:batch], ex["z2"][:batch]
    w = g.mapping(z)
    torch.testing.assert_close(w, ex["w"][:batch], atol=1e-5, rtol=0)
    cases = {
        "img_z": g.synthesis(g.broadcast(w)),
        "img_trunc": g.synthesis(g.broadcast(g.truncate(w, ex["truncation"], ex["truncation_latent"]))),
        "img_wplus": g.synthesis(ex["wplus"][:batch]),
        "img_mix": g(z, z_mix=z2, inject_index=ex["inject_index"]),
    }
    for key, img in cases.items():
        err = (img - ex[key][:batch]).abs().max().item()
        assert err < 1e-4, f"{key}: max abs error {err:.2e}"


@torch.no_grad()
def test_save_and_load_round_trip(golden, tmp_path):
    g, ex = golden
    g.save_pretrained(tmp_path / "gen")
    config = json.loads((tmp_path / "gen" / "config.json").read_text())
    assert config["size"] == 64 and config["channels"] == g.channels
    g2 = Generator.from_pretrained(tmp_path / "gen")
    torch.testing.assert_close(g2.w_avg, g.w_avg)
    torch.testing.assert_close(g2.synthesis(ex["wplus"]), g.synthesis(ex["wplus"]))


def _random_checkpoint(layout: dict) -> dict:
    sd = {k: torch.randn(v) * 0.1 for k, v in layout.items()}
    for k in sd:
        if k.endswith((".blur.kernel", ".upsample.kernel")):
            t = torch.tensor([1.0, 3, 3, 1])
            sd[k] = (t[:, None] * t[None, :]) / 64 * 4
    return {"g_ema": sd, "latent_avg": torch.randn(layout["style.1.weight"][0])}


@torch.no_grad()
def test_ffhq1024_layout_converts_and_synthesises(shared):
    spec = json.loads((shared / "golden" / "stylegan2_ffhq1024_rosinality_layout.json").read_text())
    layout = {k: tuple(v) for k, v in spec["g_ema"].items()}
    assert len(layout) == 171
    g = convert_rosinality_generator(_random_checkpoint(layout))
    assert g.num_ws == spec["config"]["n_latent"] == 18
    assert abs(sum(p.numel() for p in g.parameters()) / 1e6 - 30.37) < 0.01
    img = g.synthesis(g.broadcast(g.mapping(torch.randn(1, 512))))
    assert img.shape == (1, 3, 1024, 1024) and torch.isfinite(img).all()


def test_own_layout_generator_matches_official_layout(shared):
    spec = json.loads((shared / "golden" / "stylegan2_ffhq1024_rosinality_layout.json").read_text())
    ours = rosinality_layout(1024, 512, 8, Generator(1024).channels)
    assert ours == {k: tuple(v) for k, v in spec["g_ema"].items()}


def test_converter_names_offending_keys():
    layout = rosinality_layout(64, 64, 2, [32, 32, 32, 32, 32])
    ckpt = _random_checkpoint(layout)
    del ckpt["g_ema"]["convs.3.noise.weight"]
    ckpt["g_ema"]["extra.weight"] = torch.zeros(1)
    ckpt["g_ema"]["to_rgbs.1.bias"] = torch.zeros(1, 4, 1, 1)
    with pytest.raises(ValueError) as err:
        convert_rosinality_generator(ckpt)
    msg = str(err.value)
    assert "convs.3.noise.weight" in msg and "extra.weight" in msg and "to_rgbs.1.bias" in msg
    with pytest.raises(ValueError, match="g_ema"):
        convert_rosinality_generator({"state_dict": {}})


@torch.no_grad()
def test_noise_modes_and_truncation():
    g = Generator(size=16, style_dim=8, n_mlp=2, channels=[8, 8, 8]).eval()
    for conv in g.synthesis.convs:
        conv.noise_strength.fill_(0.5)
    ws = g.broadcast(g.mapping(torch.randn(2, 8)))
    const = g.synthesis(ws, noise_mode="const")
    torch.testing.assert_close(g.synthesis(ws, noise_mode="const"), const)
    assert not torch.allclose(g.synthesis(ws, noise_mode="random"), const)
    assert not torch.allclose(g.synthesis(ws, noise_mode="none"), const)
    w = torch.randn(4, 8)
    torch.testing.assert_close(g.truncate(w, 0.0), g.w_avg.expand(4, 8))
    mixed = g.mix(w[:2], w[2:], 2)
    assert torch.equal(mixed[:, :2], g.broadcast(w[:2])[:, :2]) and torch.equal(mixed[:, 2:], g.broadcast(w[2:])[:, 2:])


def test_discriminator_shapes_and_minibatch_stddev():
    d = Discriminator(size=32, channels=[16, 16, 16, 8], mbstd_group=2)
    img = torch.randn(4, 3, 32, 32, requires_grad=True)
    out = d(img)
    assert out.shape == (4, 1)
    out.sum().backward()
    assert img.grad.abs().sum() > 0
    x = torch.randn(4, 5, 4, 4)
    y = d.minibatch_stddev(x)
    groups = x.view(2, 2, 5, 4, 4)  # sample i belongs to group i % 2
    expected = groups.std(0, unbiased=False).mean((1, 2, 3))  # [2]
    torch.testing.assert_close(y[:, 5, 0, 0], expected.repeat(2), atol=1e-4, rtol=0)
    same = x[:1].expand(4, -1, -1, -1)
    assert d.minibatch_stddev(same)[:, 5].abs().max() < 1e-3
