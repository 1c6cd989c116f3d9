"""Domain adaptation on tiny networks: the domain file, the losses, text-driven and one-shot training."""
from __future__ import annotations

import pytest
import torch

from nets.e4e import E4EEncoder
from nets.emoji_clip import EmojiClip
from nets.emojinet import EmojiNet
from nets.refinestyle import RefineStyleEncoder
from nets.stylegan2 import Generator
from pipelines.adapt_oneshot import OneShotSettings, adapt_from_reference, adapt_oneshot
from pipelines.adapt_text import TextAdaptSettings, adapt_text
from pipelines.clip_loss import DirectionalLoss, clip_towers
from pipelines.clip_text import tokenize
from pipelines.domain import AdaptedDomain, DomainParameters, max_domain_bytes, synthesis_parameters
from pipelines.inversion import InversionNetworks
from pipelines.losses import ReconstructionLoss
from pipelines.losses import sliced_wasserstein
from pipelines.metrics import mse


@pytest.fixture(scope="module")
def g() -> Generator:
    torch.manual_seed(0)
    g = Generator(size=16, style_dim=16, n_mlp=2, channels=[16, 16, 8]).eval().requires_grad_(False)
    g.w_avg.copy_(g.estimate_w_avg(256))
    return g


@pytest.fixture(scope="module")
def towers():
    torch.manual_seed(0)
    words = tokenize(["google style emoji", "twitter style emoji", "a cat"])[:, :16].flatten().tolist()
    clip = EmojiClip(16, {"image_size": 16, "patch_size": 8, "width": 32, "layers": 1, "head_width": 16},
                     {"context_length": 16, "width": 32, "heads": 2, "layers": 1}, sorted(set(words) - {0}))
    return clip_towers(clip)


def test_domain_tokens_add_to_an_inversions_residuals_and_round_trip(g, tmp_path):
    torch.manual_seed(1)
    ws = g.broadcast(g.mapping(torch.randn(1, 16)))
    layer = 1
    conv = g.synthesis.convs[layer].conv
    own = {layer: (torch.randn(1, 2, conv.out_channels), torch.randn(1, 2, conv.in_channels))}
    shared = {layer: (torch.randn(1, 3, conv.out_channels), torch.randn(1, 3, conv.in_channels))}
    domain = AdaptedDomain("tokens", shared, info={"mode": "text"})
    # the residual of rank 2 + 3 equals the kernel delta (P̂₁ᵀQ̂₁ + P̂₂ᵀQ̂₂) / s in the stored kernel's units
    s = conv.affine(ws[:, layer])[0]  # [C_in]
    delta_w = sum(p[0].t() @ q[0] for p, q in (own[layer], shared[layer])) / s[None, :]  # [O, I]
    expected = g.synthesis(ws, weight_deltas={layer: delta_w[:, :, None, None].expand_as(conv.weight)}).clamp(-1, 1)
    torch.testing.assert_close(domain.render(g, ws, residuals=own), expected, atol=1e-4, rtol=1e-4)
    back = AdaptedDomain.load(domain.save(tmp_path / "d.safetensors"), g)
    assert back.kind == "tokens" and back.info == {"mode": "text"}
    torch.testing.assert_close(back.render(g, ws), domain.render(g, ws))
    other = Generator(size=16, style_dim=16, n_mlp=2, channels=[16, 8, 8])
    with pytest.raises(ValueError, match="do not fit this generator"):
        AdaptedDomain.load(tmp_path / "d.safetensors", other)
    (tmp_path / "junk.safetensors").write_bytes(b"not a domain")
    with pytest.raises(ValueError, match="not a domain file"):
        AdaptedDomain.load(tmp_path / "junk.safetensors")


def test_the_domain_file_bound_follows_the_generator_and_refuses_larger_files(g, tmp_path):
    # a full fine-tuning domain (a delta for every kernel) of g loads under g's bound
    full = DomainParameters.create(g, "full", None, None).freeze({"mode": "text"})
    path = full.save(tmp_path / "full.safetensors")
    assert path.stat().st_size <= max_domain_bytes(g) == 8 * synthesis_parameters(g) + 2**20
    back = AdaptedDomain.load(path, g)
    assert back.kind == "full" and set(back.weight_deltas) == set(range(len(g.synthesis.convs)))
    # the official 1024 px generator's full domain (~90 MiB of kernels, fp32) is under its bound
    kernels = 23_583_744  # conv kernel numbers of nets.configs.FFHQ1024 (pipelines.domain.paper_rank)
    assert 4 * kernels < max_domain_bytes() and 4 * kernels > 64 * 2**20
    # a file over g's bound is refused before it is read, with a clear ValueError
    big = tmp_path / "big.safetensors"
    with big.open("wb") as f:
        f.truncate(max_domain_bytes(g) + 1)
    with pytest.raises(ValueError, match="domain files are at most .* not a domain of this generator"):
        AdaptedDomain.load(big, g)


def test_a_malformed_domain_file_is_a_value_error_naming_the_key(g, tmp_path):
    from safetensors.torch import save_file
    conv = g.synthesis.convs[1].conv
    header = {"domain": '{"kind": "tokens"}'}
    save_file({"tokens.1.p": torch.zeros(1, 2, conv.out_channels)}, str(tmp_path / "p.safetensors"), metadata=header)
    with pytest.raises(ValueError, match=r"tokens\.1\.q is missing"):
        AdaptedDomain.load(tmp_path / "p.safetensors", g)
    save_file({"tokens.1.q": torch.zeros(1, 2, conv.in_channels)}, str(tmp_path / "q.safetensors"), metadata=header)
    with pytest.raises(ValueError, match=r"tokens\.1\.p is missing"):
        AdaptedDomain.load(tmp_path / "q.safetensors", g)
    save_file({"tokens.x.p": torch.zeros(1)}, str(tmp_path / "x.safetensors"), metadata=header)
    with pytest.raises(ValueError, match="unknown tensor 'tokens.x.p'"):
        AdaptedDomain.load(tmp_path / "x.safetensors", g)


def test_sliced_wasserstein_compares_distributions_not_positions():
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(2, 8, 6, 6, generator=gen)
    shuffled = a.flatten(2)[:, :, torch.randperm(36, generator=gen)].view_as(a)
    assert sliced_wasserstein(a, a, generator=torch.Generator().manual_seed(1)).abs().max() < 1e-10
    assert sliced_wasserstein(a, shuffled, generator=torch.Generator().manual_seed(1)).abs().max() < 1e-10
    shifted = sliced_wasserstein(a, a + 1.0, generator=torch.Generator().manual_seed(1))
    assert (shifted > 0.01).all()


def test_directional_loss_is_zero_along_the_text_direction(towers, g):
    loss = DirectionalLoss(towers, "google style emoji", "twitter style emoji")
    frozen = torch.rand(2, 3, 16, 16) * 2 - 1
    assert loss(frozen + 0.3 * torch.randn_like(frozen), frozen).item() > 0.0
    with pytest.raises(ValueError, match="empty"):
        DirectionalLoss(towers, "", "twitter")


def test_directional_loss_and_the_benchs_direction_consistency_share_one_cosine(towers):
    """The loss is 1 − the mean of the per-tower cosines, and bench.adaptation's CLIP direction consistency their
    per-image mean over towers: the same numbers as the two formulas written out."""
    import torch.nn.functional as F
    loss = DirectionalLoss(towers, "google style emoji", "twitter style emoji")
    frozen = torch.rand(3, 3, 16, 16) * 2 - 1
    adapted = frozen + 0.3 * torch.randn_like(frozen)
    with torch.no_grad():
        cos = [(F.normalize(t.encode_image(adapted) - t.encode_image(frozen), dim=-1, eps=1e-8) * d).sum(-1)
               for t, d in zip(loss.towers, loss.text_dirs)]
        assert torch.equal(loss(adapted, frozen), torch.stack([1 - c.mean() for c in cos]).mean())
        assert torch.equal(loss.direction_consistency(adapted, frozen), torch.stack(cos).mean(0))


def test_text_adaptation_trains_tokens_cancels_cleanly_and_leaves_g_untouched(g, towers):
    before = {k: v.clone() for k, v in g.state_dict().items()}
    tokens = adapt_text(g, towers, TextAdaptSettings(iterations=40, lr=1e-2, rank=4, seed=0))
    loss = DirectionalLoss(towers, "google style emoji", "twitter style emoji")
    with torch.no_grad():  # on latents it never saw, the image change follows the text change: cos(ΔI, ΔT) > 0.2
        ws = g.broadcast(g.truncate(g.mapping(torch.randn(8, 16, generator=torch.Generator().manual_seed(5))), 0.7))
        assert loss(tokens.render(g, ws), g.synthesis(ws).clamp(-1, 1)).item() < 0.8
    assert tokens.kind == "tokens" and tokens.info["iterations_done"] == 40
    full = adapt_text(g, towers, TextAdaptSettings(iterations=2, method="full"))
    assert tokens.info["trainable_parameters"] <= 0.15 * full.info["trainable_parameters"]
    calls = []
    partial = adapt_text(g, towers, TextAdaptSettings(iterations=50, rank=4), cancel=lambda: len(calls) >= 3,
                         progress=lambda f, d: calls.append(f))
    assert partial.info["cancelled"] and 3 <= partial.info["iterations_done"] < 50
    for k, v in g.state_dict().items():
        assert torch.equal(v, before[k]), k
    with pytest.raises(ValueError, match="learning rate"):
        adapt_text(g, towers, TextAdaptSettings(iterations=1, lr=-1e-3))
    with pytest.raises(ValueError, match="unknown adaptation method"):
        adapt_text(g, towers, TextAdaptSettings(iterations=1, method="lora"))


def test_oneshot_adaptation_reconstructs_the_reference_and_can_start_from_an_inversion(g):
    torch.manual_seed(2)
    judge = EmojiNet(widths=[8, 8, 16, 16, 16], embed_dim=8).eval().requires_grad_(False)
    ws = g.broadcast(g.mapping(torch.randn(1, 16)))
    truth = {i: (torch.randn(1, 4, c.conv.out_channels) * 0.5, torch.randn(1, 4, c.conv.in_channels) * 0.5)
             for i, c in enumerate(g.synthesis.convs)}
    with torch.no_grad():
        reference = g.synthesis(ws, residuals=truth).clamp(-1, 1)
        plain = mse(g.synthesis(ws).clamp(-1, 1), reference).item()
    s = OneShotSettings(iterations=40, lr=1e-2, rank=4, id_weight=0.0, recon_id_weight=0.0)
    scratch = adapt_oneshot(g, reference, ws, judge.features, judge.perceptual_distance, s)
    assert scratch.info["reference_mse"] < 0.7 * plain and scratch.info["init"] == "scratch"
    warm = adapt_oneshot(g, reference, ws, judge.features, judge.perceptual_distance,
                         OneShotSettings(iterations=1, lr=0.0, rank=4, id_weight=0.0, recon_id_weight=0.0), start=truth)
    assert warm.info["init"] == "inversion" and warm.info["reference_mse"] < 1e-6  # A = B = 1: the inverter's residual
    params = DomainParameters.create(g, "tokens", None, 4, start=truth)
    assert sorted(params.tokens.p) == list(range(len(g.synthesis.convs)))
    with pytest.raises(ValueError, match="style_from"):
        adapt_oneshot(g, reference, ws, judge.features, judge.perceptual_distance, OneShotSettings(style_from=0))


def test_oneshot_reconstruction_term_is_eq6_as_reconstruction_loss_computes_it(g):
    """adapt_oneshot's reconstruction term is ReconstructionLoss at the settings' weights: the same number as
    Eq. 6 written out (L2 on the [-1, 1] images + λ_p perceptual + λ_id (1 − cos)), bit for bit, with and
    without the identity term."""
    torch.manual_seed(6)
    judge = EmojiNet(widths=[8, 8, 16, 16, 16], embed_dim=8).eval().requires_grad_(False)
    x, reference = torch.rand(2, 3, 16, 16) * 2 - 1, torch.rand(1, 3, 16, 16) * 2 - 1
    reference_id = judge.identity(reference)
    for s in (OneShotSettings(), OneShotSettings(perceptual_weight=0.3, recon_id_weight=0.0)):
        loss, _ = ReconstructionLoss(judge.perceptual_distance, judge.identity, l2=1.0, lpips=s.perceptual_weight,
                                     id=s.recon_id_weight)(x, reference, reference_id)
        written = (x - reference).square().mean() + s.perceptual_weight * judge.perceptual_distance(x, reference).mean()
        if s.recon_id_weight > 0:
            written = written + s.recon_id_weight * (1 - (judge.identity(x) * reference_id).sum(1)).mean()
        assert torch.equal(loss, written)


def test_oneshot_from_a_reference_image_starts_from_its_two_stage_inversion(g):
    torch.manual_seed(4)
    judge = EmojiNet(widths=[8, 8, 16, 16, 16], embed_dim=8).eval().requires_grad_(False)
    nets = InversionNetworks(g, ReconstructionLoss(judge.perceptual_distance, judge.identity))
    reference = torch.rand(1, 3, 16, 16) * 2 - 1
    s = OneShotSettings(iterations=1, lr=0.0, rank=4, id_weight=0.0)
    with pytest.raises(ValueError, match="no two-stage RefineStyle inverter"):
        adapt_from_reference(nets, judge, reference, s, init_from_inversion=True)
    nets.e4e = E4EEncoder(input_size=16, stages=[[16, 1], [16, 1], [16, 1], [16, 1]], stem=16, w_dim=16,
                          num_ws=g.num_ws, coarse=3, middle=4).eval()
    chans = [[c.conv.in_channels, c.conv.out_channels] for c in g.synthesis.convs]
    nets.refinestyle_2s = RefineStyleEncoder(g.num_ws, 16, 16, 2, chans, refined_layers=[2, 3, 4], rank=4, d_model=32,
                                             widths=[16, 16, 32, 32], input_size=16, input_channels=6,
                                             predict_w=False).eval()
    warm = adapt_from_reference(nets, judge, reference, s, init_from_inversion=True)
    with torch.no_grad():
        ws = nets.e4e(reference)
        _, residuals = nets.refinestyle_2s(torch.cat([reference, g.synthesis(ws).clamp(-1, 1)], dim=1))
        inverted = mse(g.synthesis(ws, residuals=residuals).clamp(-1, 1), reference).item()
    assert warm.info["init"] == "inversion" and warm.info["reference_mse"] == pytest.approx(inverted, rel=1e-5)
    assert adapt_from_reference(nets, judge, reference, s).info["init"] == "scratch"


def test_the_first_iterations_degenerate_direction_does_not_freeze_the_optimiser(g, towers):
    """ΔI = 0 at iteration 0 gives a ~1/ε gradient; clipped, later iterations still move G."""
    norm = {n: sum(d.norm().item() for d in adapt_text(g, towers, TextAdaptSettings(iterations=n, method="full"))
                   .weight_deltas.values()) for n in (20, 60)}
    assert norm[60] > 1.4 * norm[20]  # unclipped: 1.14×, the deltas nearly stop after the first steps


def test_oneshot_content_term_keeps_the_identity_of_styled_samples(g):
    """With the identity term, G'(w_mix) stays closer to G(w_mix) in the identity embedding."""
    torch.manual_seed(3)
    judge = EmojiNet(widths=[8, 8, 16, 16, 16], embed_dim=8).eval().requires_grad_(False)
    reference = torch.rand(1, 3, 16, 16) * 2 - 1
    w_ref = g.broadcast(g.mapping(torch.randn(1, 16)))
    w_test = g.broadcast(g.mapping(torch.randn(8, 16))).clone()
    w_test[:, g.num_ws // 2 :] = w_ref[:, g.num_ws // 2 :]
    with torch.no_grad():
        source = judge.identity(g.synthesis(w_test).clamp(-1, 1))

    def id_drift(weight: float) -> float:
        s = OneShotSettings(iterations=100, lr=1e-3, rank=4, id_weight=weight)
        domain = adapt_oneshot(g, reference, w_ref, judge.features, judge.perceptual_distance, s,
                               identity=judge.identity)
        with torch.no_grad():
            return (1 - (judge.identity(domain.render(g, w_test)) * source).sum(1)).mean().item()

    assert id_drift(10.0) < 0.2 * id_drift(0.0)  # measured: 9e-5 vs 0.058
    with pytest.raises(ValueError, match="identity network"):
        adapt_oneshot(g, reference, w_ref, judge.features, judge.perceptual_distance,
                      OneShotSettings(id_weight=1.0, recon_id_weight=0.0))
    with pytest.raises(ValueError, match="identity network"):  # Eq. 6's identity term on the reconstruction
        adapt_oneshot(g, reference, w_ref, judge.features, judge.perceptual_distance, OneShotSettings(id_weight=0.0))


def test_oneshot_on_the_ffhq_judges_uses_lpips_features_and_refuses_a_judge_without_them():
    """ffhq's perceptual slot is LPIPS: its backbone's features are the style features (a StyleJudge)."""
    from nets.judges import ArcFaceIRSE50, LpipsDistance

    torch.manual_seed(5)
    g = Generator(size=64, style_dim=16, n_mlp=2, channels=[16, 16, 16, 8, 8]).eval().requires_grad_(False)
    lpips_judge = LpipsDistance("alex", pretrained_backbone=False).eval().requires_grad_(False)
    arcface = ArcFaceIRSE50().eval().requires_grad_(False)
    nets = InversionNetworks(g, ReconstructionLoss(lpips_judge.perceptual_distance, arcface.identity))
    reference = torch.rand(1, 3, 64, 64) * 2 - 1
    s = OneShotSettings(iterations=2, lr=1e-3, rank=2, id_weight=1.0)
    domain = adapt_from_reference(nets, lpips_judge, reference, s, progress=None)
    assert domain.info["iterations_done"] == 2 and domain.kind == "tokens"
    with pytest.raises(ValueError, match="cannot judge style: it has no perceptual_distance and no features"):
        adapt_from_reference(nets, arcface, reference, s)  # an identity net only: no perceptual_distance either
