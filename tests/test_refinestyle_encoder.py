"""RefineStyle encoders: shapes, grouped attention, scalings, and a residual the generator accepts."""
from __future__ import annotations

import pytest
import torch

from nets.refinestyle import IRSEFeatures, RefineStyleEncoder, group_mask
from nets.stylegan2 import Generator


def _tiny(**kw) -> tuple[Generator, RefineStyleEncoder]:
    g = Generator(size=16, style_dim=16, n_mlp=2, channels=[16, 16, 8]).eval()
    chans = [[c.conv.in_channels, c.conv.out_channels] for c in g.synthesis.convs]
    enc = RefineStyleEncoder(g.num_ws, 16, 16, 2, chans, refined_layers=[2, 3, 4], rank=4, d_model=32,
                             widths=[16, 16, 32, 32], input_size=16, **kw)
    return g, enc


def test_group_mask_is_block_diagonal():
    m = group_mask(3, 2)
    assert m.shape == (6, 6) and not m[0, 1] and m[0, 2] and not m[5, 4] and m[5, 0]


def test_outputs_fit_the_generator_and_start_at_the_mapping_codes():
    g, enc = _tiny()
    img = torch.rand(2, 3, 16, 16) * 2 - 1
    ws, residuals = enc(img)
    assert ws.shape == (2, g.num_ws, 16)
    torch.testing.assert_close(ws, enc.initial_codes()[None].expand(2, -1, -1))  # zero-initialised head
    assert sorted(residuals) == [2, 3, 4]
    assert residuals[3][0].shape == (2, 4, 8) and residuals[3][1].shape == (2, 4, 16)
    out = g.synthesis(ws, residuals=residuals)
    torch.testing.assert_close(out, g.synthesis(ws))  # zero-initialised P heads: ΔW starts at exactly zero
    out.square().mean().backward()
    assert enc.p_heads[0].weight.grad.abs().sum() > 0  # ... and they are what learns first
    with torch.no_grad():
        for head in enc.p_heads:
            head.weight.normal_(0, 0.1)
    enc.zero_grad()
    ws, residuals = enc(img)
    g.synthesis(ws, residuals=residuals).square().mean().backward()
    assert enc.scale_a.grad.abs().sum() > 0 and enc.scale_b.grad.abs().sum() > 0 and enc.tokens.grad.abs().sum() > 0


def test_grouping_isolates_layers_and_scalings_can_be_frozen():
    _, enc = _tiny()
    img = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        _, base = enc(img)
        enc.tokens[0:4] += 1.0  # perturb layer 2's group only
        _, moved = enc(img)
    assert not torch.allclose(moved[2][1], base[2][1])  # Q̂ (P̂ starts at zero)
    torch.testing.assert_close(moved[3][1], base[3][1])  # grouped self-attention: layer 3 unaffected
    _, flat = _tiny(grouped=False, learn_scalings=False)
    assert not flat.mask.any() and not flat.scale_a.requires_grad


def test_two_stage_reads_six_channels_and_keeps_w():
    _, enc = _tiny(input_channels=6, predict_w=False)
    ws, residuals = enc(torch.rand(2, 6, 16, 16))
    assert ws is None and len(residuals) == 3


def test_two_token_sets_by_default_and_the_earlier_single_set_as_an_option():
    """The paper's P and Q tokens are separate sets (each layer's group holds both); token_sets=1 is the
    earlier form, one set that both heads read; a shipped emoji64 encoder's config says which it has."""
    import json

    from pipelines.zoo import ASSETS

    _, two = _tiny()
    _, one = _tiny(token_sets=1)
    assert two.tokens.shape == (3 * 2 * 4, 32) and one.tokens.shape == (3 * 4, 32)
    assert two.mask.shape == (24, 24) and not two.mask[0, 7] and two.mask[0, 8]  # layer 2's group: 4 P + 4 Q
    with torch.no_grad():
        for head in two.p_heads:
            head.weight.normal_(0, 0.1)
        img = torch.rand(1, 3, 16, 16)
        _, base = two(img)
        two.tokens[0:4] += 1.0  # layer 2's P tokens
        _, moved = two(img)
    assert not torch.allclose(moved[2][0], base[2][0]) and not torch.allclose(moved[2][1], base[2][1])
    torch.testing.assert_close(moved[3][0], base[3][0])
    with pytest.raises(ValueError, match="token_sets"):
        _tiny(token_sets=3)
    for name in ("refinestyle_1s", "refinestyle_2s"):  # the shipped encoders have the paper's form (docs/fidelity.md)
        config = json.loads((ASSETS / "zoo" / "emoji64" / name / "config.json").read_text())
        enc = RefineStyleEncoder.from_pretrained(ASSETS / "zoo" / "emoji64" / name)
        assert config["token_sets"] == 2 and enc.tokens.shape[0] == len(config["refined_layers"]) * config["rank"] * 2
        assert isinstance(enc.features, IRSEFeatures)
    assert enc.refined_layers == list(range(len(config["layer_channels"])))  # two-stage: every layer
