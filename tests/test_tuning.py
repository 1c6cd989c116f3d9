"""GaNI's modules and the per-image tuning of GaNI and PTI on a tiny generator."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from nets.emojinet import EmojiNet
from nets.gani import GradientAdjuster, GradientAdjusters
from nets.stylegan2 import Generator
from pipelines.losses import ReconstructionLoss
from pipelines.metrics import mse
from pipelines.tuning import (
    TuningSettings,
    kernel_gradients,
    locality_drift,
    locality_loss,
    tune_gani,
    tune_pti,
)


@pytest.fixture()
def setup():
    torch.manual_seed(0)
    g = Generator(size=16, style_dim=16, n_mlp=2, channels=[16, 16, 8]).eval().requires_grad_(False)
    g.w_avg.copy_(g.estimate_w_avg(256))
    judge = EmojiNet(widths=[8, 8, 16, 16, 16], embed_dim=8).eval().requires_grad_(False)
    loss = ReconstructionLoss(judge.perceptual_distance, judge.identity)
    ws = g.broadcast(g.mapping(torch.randn(1, 16)))
    with torch.no_grad():  # the target: the same code through a perturbed generator
        truth = {i: 0.3 * torch.randn_like(c.conv.weight) for i, c in enumerate(g.synthesis.convs)}
        target = g.synthesis(ws, weight_deltas=truth).clamp(-1, 1)
    return g, judge, loss, ws, target


def test_adjuster_starts_as_a_normalised_gradient_step():
    grad = torch.randn(4, 6, 3, 3)
    torch.testing.assert_close(GradientAdjuster(6, blocks=2)(grad), grad / grad.square().mean().sqrt())
    adj = GradientAdjusters({0: 6})
    assert torch.equal(adj({0: grad})[0], torch.zeros_like(grad))  # η = 0: the tuned generator starts as the frozen one
    with torch.no_grad():
        adj.steps["0"].fill_(0.5)
    torch.testing.assert_close(adj({0: grad})[0], -0.5 * grad / grad.square().mean().sqrt())


def test_adjusters_from_a_generator_are_the_modules_manual_seed_built():
    """GaNI's modules drawn from a seeded generator are the ones torch.manual_seed(seed) used to give
    (nn.Linear's initialisation, in its order), and the global generator is left alone."""
    torch.manual_seed(3)
    reference = nn.Linear(8 * 9, 32)  # the first module's (C_in 8) first block's W₁, from the global generator
    state = torch.get_rng_state()
    adj = GradientAdjusters({0: 16, 1: 16, 2: 8}, blocks=2, hidden=32, generator=torch.Generator().manual_seed(3))
    assert torch.equal(torch.get_rng_state(), state)
    first = adj.modules_by_width["8"].blocks[0]
    assert torch.equal(first.w1.weight, reference.weight) and torch.equal(first.w1.bias, reference.bias)
    assert all(torch.equal(b.w2.weight, torch.zeros_like(b.w2.weight)) for m in adj.modules_by_width.values()
               for b in m.blocks)  # every block starts as the identity


def test_tuning_is_reproducible_from_its_seed_and_leaves_the_global_generator_alone(setup):
    g, judge, loss, ws, target = setup
    s = TuningSettings(steps=3, locality=1.0)
    state = torch.get_rng_state()
    gani = [tune_gani(g, ws, target, loss, s, parsing=judge.features, seed=seed) for seed in (5, 5, 6)]
    pti = [tune_pti(g, ws, target, loss, s, seed=seed) for seed in (5, 5, 6)]
    assert torch.equal(torch.get_rng_state(), state)
    for name, (first, again, other) in (("gani", gani), ("pti", pti)):
        assert all(torch.equal(first[i], again[i]) for i in first), name
        assert any(not torch.equal(first[i], other[i]) for i in first), name  # the seed decides the draws


def test_adjusters_are_shared_by_input_width():
    adj = GradientAdjusters({0: 16, 1: 16, 3: 8, 4: 16})
    assert sorted(adj.modules_by_width) == ["16", "8"] and len(adj.steps) == 4
    out = adj({0: torch.randn(16, 16, 3, 3), 3: torch.randn(8, 8, 3, 3)})
    assert out[0].shape == (16, 16, 3, 3) and out[3].shape == (8, 8, 3, 3)


def test_kernel_gradients_equal_the_weight_gradients(setup):
    g, _, loss, ws, target = setup
    grads = kernel_gradients(g, ws, target, loss, [0, 2])
    weights = [g.synthesis.convs[i].conv.weight for i in (0, 2)]
    for w in weights:
        w.requires_grad_(True)
    total, _ = loss(g.synthesis(ws), target)
    expected = torch.autograd.grad(total, weights)
    for w in weights:
        w.requires_grad_(False)
    torch.testing.assert_close(grads[0], expected[0])
    torch.testing.assert_close(grads[2], expected[1])


def test_gani_and_pti_reconstruct_and_locality_limits_drift(setup):
    g, judge, loss, ws, target = setup
    with torch.no_grad():
        start = mse(g.synthesis(ws), target).item()
    s = TuningSettings(steps=40, locality=0.0)
    gani = tune_gani(g, ws, target, loss, s, parsing=judge.features)
    pti = tune_pti(g, ws, target, loss, s)
    with torch.no_grad():
        gani_mse = mse(g.synthesis(ws, weight_deltas=gani), target).item()
        pti_mse = mse(g.synthesis(ws, weight_deltas=pti), target).item()
    assert gani_mse < 0.5 * start and pti_mse < 0.5 * start, (start, gani_mse, pti_mse)
    assert sorted(gani) == list(range(len(g.synthesis.convs)))
    assert all(gani[i].shape == c.conv.weight.shape for i, c in enumerate(g.synthesis.convs))
    torch.manual_seed(0)
    local = tune_pti(g, ws, target, loss, TuningSettings(steps=40, locality=50.0))
    drift_free = locality_drift(g, pti, judge.perceptual_distance, n=32)
    drift_local = locality_drift(g, local, judge.perceptual_distance, n=32)
    assert drift_local < drift_free, (drift_local, drift_free)


def test_gani_locality_codes_are_mapped_z_and_pti_codes_lie_towards_the_pivot(setup):
    """GaNI's localisation regulariser reads codes w = f(z) (r = 1: the pivot does not enter); PTI's lie part
    of the way from the pivot to f(z) (r = 0.5: they depend on it)."""
    g, judge, _, ws, _ = setup
    deltas = {i: 0.1 * torch.randn_like(c.conv.weight) for i, c in enumerate(g.synthesis.convs)}
    other = g.broadcast(g.mapping(torch.randn(1, 16)))
    s = TuningSettings()

    def reg(pivot, mix, loss=ReconstructionLoss(judge.perceptual_distance, judge.identity)):
        return locality_loss(g, pivot, deltas, loss, mix, torch.Generator().manual_seed(1))

    torch.testing.assert_close(reg(ws, s.gani_locality_mix), reg(other, s.gani_locality_mix))
    assert not torch.allclose(reg(ws, s.pti_locality_mix), reg(other, s.pti_locality_mix))
    # the regulariser's L2 term takes the loss's form: on [0, 1] images it is a quarter of the [-1, 1] one
    no_perceptual = lambda a, b: torch.zeros(a.shape[0])  # noqa: E731
    signed = reg(ws, 1.0, ReconstructionLoss(no_perceptual, judge.identity))
    unit = reg(ws, 1.0, ReconstructionLoss(no_perceptual, judge.identity, l2_on_unit_images=True))
    torch.testing.assert_close(unit, signed / 4)


def test_pti_uses_its_papers_loss_without_an_identity_term(setup):
    """PTI's defaults: lr 3e-4, L2 + LPIPS with weight 1 each, no ID term (its identity network is never called)."""
    g, judge, _, ws, target = setup
    defaults = TuningSettings()
    assert (defaults.pti_lr, defaults.pti_lpips, defaults.pti_id, defaults.steps) == (3e-4, 1.0, 0.0, 300)
    s = TuningSettings(steps=2)

    def no_identity(x):
        raise AssertionError("PTI called the identity network")

    tune_pti(g, ws, target, ReconstructionLoss(judge.perceptual_distance, no_identity), s)
