"""Editing every kind of inversion result: the right code, the method's details kept, clear errors."""
from __future__ import annotations

import pytest
import torch

from nets.e4e import E4EEncoder
from nets.emojinet import EmojiNet
from nets.gradstyle import GradStyle
from nets.stylegan2 import Generator
from pipelines.directions import DirectionSet, GanSpace, LinearDirection, StyleChannel
from pipelines.editing import Edit, EditSettings, apply_edit, edit, edited_code, sigma_unit, strength_sweep
from pipelines.inversion import InversionCache, InversionNetworks, InversionResult, InversionSettings, invert
from pipelines.methods.refinestyle_opt import OptimisationSettings
from pipelines.losses import ReconstructionLoss
from pipelines.tuning import TuningSettings


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    g = Generator(size=16, style_dim=16, n_mlp=2, channels=[16, 16, 16]).eval().requires_grad_(False)
    g.w_avg.copy_(g.estimate_w_avg(256))
    judge = EmojiNet(widths=[8, 8, 16, 16, 16], embed_dim=8).eval().requires_grad_(False)
    e4e = E4EEncoder(input_size=16, stages=[[16, 1], [16, 1], [16, 1], [16, 1]], stem=16, w_dim=16,
                     num_ws=g.num_ws, coarse=3, middle=4).eval()
    e4e.w_avg.copy_(g.w_avg.expand_as(e4e.w_avg))
    gradstyle = GradStyle(stage_layers=[2], gen_channels=[16], enc_channels=[16], hidden=8, res_blocks=1, heads=1,
                          top_mu=0.5, aligner_layers=1).eval()
    nets = InversionNetworks(g, ReconstructionLoss(judge.perceptual_distance, judge.identity), e4e=e4e,
                             gradstyle=gradstyle)
    dirs = DirectionSet({"smile": LinearDirection("smile", torch.nn.functional.normalize(torch.randn(1, 16), dim=1))},
                        GanSpace(torch.zeros(16), torch.eye(16)[:4], torch.ones(4)),
                        {"smile": StyleChannel("smile", 3, 2, 0.5)})
    with torch.no_grad():
        target = g.synthesis(g.broadcast(g.mapping(torch.randn(1, 16)))).clamp(-1, 1)
    results = {r.method: r for r in invert(nets, target, ["e4e", "refinestyle_opt", "gradstyle", "pti"],
                                           InversionSettings(OptimisationSettings(w_steps=5, residual_steps=10, rank=2),
                                                             TuningSettings(steps=5)))}
    return nets, dirs, results


def test_codes_per_family(setup):
    nets, dirs, results = setup
    ws = results["e4e"].ws
    up, none = edited_code(nets, ws, dirs, Edit("interfacegan", "smile", 2.0))
    torch.testing.assert_close(up - ws, 2.0 * dirs.interfacegan["smile"].vector[None].expand_as(ws))
    assert none is None
    gs, _ = edited_code(nets, ws, dirs, Edit("ganspace", 1, 3.0, first=2, last=4))
    moved = (gs - ws).abs().sum(2)[0] > 0
    assert moved.tolist() == [i in (2, 3, 4) for i in range(ws.shape[1])] and (gs - ws)[0, 2, 1] == 3.0
    same, offsets = edited_code(nets, ws, dirs, Edit("stylespace", "smile", -2.0))
    assert torch.equal(same, ws) and offsets[3][0, 2] == -1.0
    for bad, match in ((Edit("interfacegan", "nose", 1.0), "unknown InterFaceGAN direction 'nose'"),
                       (Edit("ganspace", 9, 1.0), "component must be in 0..3"),
                       (Edit("stylespace", "hair", 1.0), "unknown StyleSpace channel"),
                       (Edit("warp", "x", 1.0), "unknown edit family")):
        with pytest.raises(ValueError, match=match):
            edited_code(nets, ws, dirs, bad)


def test_each_method_keeps_its_details_through_an_edit(setup):
    nets, dirs, results = setup
    g = nets.generator
    edit = Edit("interfacegan", "smile", 1.5)
    for method in ("e4e", "refinestyle_opt", "pti"):
        r = results[method]
        ws, _ = edited_code(nets, r.ws, dirs, edit)
        expected = g.synthesis(ws, residuals=r.residuals, weight_deltas=r.weight_deltas).clamp(-1, 1)
        torch.testing.assert_close(apply_edit(nets, r, dirs, edit), expected)
    assert results["refinestyle_opt"].residuals and results["pti"].weight_deltas
    grad = results["gradstyle"]
    naive_zero = apply_edit(nets, grad, dirs, Edit("interfacegan", "smile", 0.0), use_gam=False)
    torch.testing.assert_close(naive_zero, grad.image)  # no edit, residuals where they were: the reconstruction
    aligned = apply_edit(nets, grad, dirs, edit)
    naive = apply_edit(nets, grad, dirs, edit, use_gam=False)
    assert not torch.allclose(aligned, naive)
    style = apply_edit(nets, results["refinestyle_opt"], dirs, Edit("stylespace", "smile", 3.0))
    assert not torch.allclose(style, results["refinestyle_opt"].image)


def test_strength_sweep_is_ordered_and_zero_is_the_reconstruction(setup):
    nets, dirs, results = setup
    r: InversionResult = results["refinestyle_opt"]
    strip = strength_sweep(nets, r, dirs, Edit("interfacegan", "smile", 0.0), [-2.0, 0.0, 2.0])
    assert len(strip) == 3
    torch.testing.assert_close(strip[1], r.image)
    assert not torch.allclose(strip[0], strip[2])


def test_the_edit_use_case_inverts_once_then_edits_sweeps_and_scores(setup):
    nets, dirs, results = setup
    target = results["e4e"].image
    settings = EditSettings(("e4e", "refinestyle_opt"), "interfacegan", "smile", 1.5, sweep=(-1.0, 0.0, 1.0),
                            inversion=InversionSettings(OptimisationSettings(w_steps=3, residual_steps=3, rank=2)))
    cache = InversionCache()
    assert not cache.holds(target, list(settings.methods), settings.inversion)
    first = edit(nets, target, dirs, settings, cache=cache)
    assert cache.holds(target, list(settings.methods), settings.inversion)  # the tab then skips the slow lane
    assert [e.inversion.method for e in first] == ["e4e", "refinestyle_opt"]
    unit = sigma_unit(nets.generator, dirs, "interfacegan", "smile")
    for e in first:
        expected = apply_edit(nets, e.inversion, dirs, Edit("interfacegan", "smile", 1.5 * unit))
        torch.testing.assert_close(e.image, expected)
        assert len(e.sweep) == 3 and set(e.metrics) == {"id_to_input", "id_kept"} and e.seconds > 0
        torch.testing.assert_close(e.sweep[1], e.inversion.image)
    again = edit(nets, target, dirs, settings, cache=cache)  # the same request: no second inversion
    assert all(a.inversion is b.inversion for a, b in zip(first, again))
    with pytest.raises(ValueError, match="unknown InterFaceGAN direction"):
        edit(nets, target, dirs, EditSettings(("e4e",), "interfacegan", "nose"))
