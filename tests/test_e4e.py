"""The e4e encoder: the official FFHQ layout key for key, and the emoji64 variant's shapes."""
from __future__ import annotations

import json

import pytest
import torch

from nets.e4e import E4E_FFHQ, E4EEncoder
from pipelines.converters import convert_official_e4e
from pipelines.zoo import open_zoo


def test_emoji64_encoder_outputs_wplus_around_w_avg():
    enc = E4EEncoder(**open_zoo("emoji64").architecture("e4e")).eval()
    enc.w_avg.normal_()
    with torch.no_grad():
        ws = enc(torch.rand(2, 3, 64, 64) * 2 - 1)
        assert ws.shape == (2, 10, 128)
        for block in enc.styles:  # zero heads: every code is w_avg
            block.linear.weight.zero_()
            block.linear.bias.zero_()
        torch.testing.assert_close(enc(torch.rand(2, 3, 64, 64)), enc.w_avg.expand(2, -1, -1))


def test_official_layout_matches_exactly(shared):
    layout = json.loads((shared / "golden" / "e4e_ffhq_encoder_layout.json").read_text())["encoder"]
    ours = {f"encoder.{k}": list(v.shape) for k, v in E4EEncoder(**E4E_FFHQ).state_dict().items() if k != "w_avg"}
    assert ours == layout
    assert len(ours) == 621


@pytest.mark.slow
def test_random_official_checkpoint_converts_and_encodes(shared):
    layout = json.loads((shared / "golden" / "e4e_ffhq_encoder_layout.json").read_text())["encoder"]
    g = torch.Generator().manual_seed(0)
    sd = {k: (torch.randn(v, generator=g) * 0.02 if v else torch.tensor(7)) for k, v in layout.items()}
    for k in sd:
        if k.endswith("running_var"):
            sd[k] = torch.ones_like(sd[k])
    sd["decoder.style.1.weight"] = torch.zeros(512, 512)  # the generator half is ignored here
    latent_avg = torch.randn(18, 512, generator=g)
    enc = convert_official_e4e({"state_dict": sd, "latent_avg": latent_avg, "opts": {}})
    assert abs(sum(p.numel() for p in enc.parameters()) / 1e6 - 267.1) < 0.1
    with torch.no_grad():
        ws = enc(torch.rand(1, 3, 1024, 1024) * 2 - 1)  # resized to 256 inside
    assert ws.shape == (1, 18, 512) and torch.isfinite(ws).all()
    del sd["encoder.styles.4.linear.bias"]
    with pytest.raises(ValueError, match="styles.4.linear.bias"):
        convert_official_e4e({"state_dict": sd, "latent_avg": latent_avg})
