"""One-shot domain adaptation from a single reference image (RefineStyle §3.4, Appendix A.2, with GOGA's losses).

The reference I_r is inverted (its e4e code w_r). Shared tokens P, Q, A, B (or, the baseline,
kernel deltas for every conv layer) are trained with the generator frozen under
- reconstruction: RefineStyle Eq. 6 between G'(w_r) and I_r: L2 + the zoo's perceptual distance (λ_p 0.8)
  + its identity cosine (λ_id 0.1, `recon_id_weight`, the weights of train/refinestyle.py);
- style: the sliced Wasserstein distance between the per-pixel features of I_r and of syntheses
  G'(w_mix) (the zoo's perceptual network, a StyleJudge, every stage: EmojiNet's on emoji64,
  LPIPS's backbone layers on ffhq), where w_mix takes the layers before `style_from` from a
  random w (content) and the rest from w_r (later layers carry style);
- content (our addition, `id_weight`): 1 − cos between the identity embeddings of G'(w_mix)
  and the frozen G(w_mix). Without it, the lr at which the tokens reconstruct I_r (1e-3) turns
  every emoji into I_r (EmojiBench: ID to the source 0.23).
Tokens can start from the two-stage inverter's P̂, Q̂ for I_r (RefineStyle Fig. 8) instead of
from zero. The generator is never modified in place. `adapt_from_reference` is the whole use
case (invert I_r, optionally take its two-stage residuals, adapt); `adapt_oneshot` the training.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch
from torch import Tensor

from nets.modconv import LowRankFactors
from nets.stylegan2 import Generator

from .domain import AdaptedDomain, DomainParameters, check_schedule, generator_signature
from .inversion import InversionNetworks, invert_for_domain
from .jobs import Cancel, Progress
from .losses import ReconstructionLoss, sliced_wasserstein
from .methods.refinestyle_2s import two_stage_residuals
from .metrics import mse
from .settings import control
from .slots import StyleJudge

Features = Callable[[Tensor], list[Tensor]]


@dataclass
class OneShotSettings:
    method: str = "tokens"  # tokens | full
    iterations: int = field(default=300, metadata=control(1, 1000, 1, "Iterations"))
    batch: int = 2
    # bench.adaptation's validation pick for tokens and full fine-tuning from scratch (3e-4 for tokens
    # initialised from the inversion), made by the earlier Google → Twitter bench with tokens at rank 16,
    # with the L2 term on [0, 1] images
    lr: float = 1e-4
    rank: int | None = None  # token rank L; None: the paper's capacity (pipelines.domain.paper_rank of the generator)
    layers: list[int] | None = None
    scaling_init: float = 0.1
    style_from: int | None = None  # first W+ layer taken from the reference; None: num_ws // 2
    recon_weight: float = 1.0
    style_weight: float = 1.0
    perceptual_weight: float = 0.8
    recon_id_weight: float = 0.1  # Eq. 6's identity term on the reconstruction of I_r
    l2_on_unit_images: bool = False  # Eq. 6's L2 term on [0, 1] images (ours, earlier; docs/fidelity.md)
    # content term (ours): 1 − cos between the identity embeddings of G'(w_mix) and G(w_mix); the identity
    # net is style-invariant (EmojiNet is trained to match Google and Twitter renderings of one emoji)
    id_weight: float = 5.0
    seed: int = 0


def style_loss(features: Features, images: Tensor, reference_feats: list[Tensor], gen: torch.Generator) -> Tensor:
    """Σ over feature stages of the sliced Wasserstein distance to the reference.  -> []"""
    return sum(sliced_wasserstein(f, r, generator=gen).mean() for f, r in zip(features(images), reference_feats))


def adapt_oneshot(g: Generator, reference: Tensor, w_ref: Tensor, features: Features, perceptual,
                  s: OneShotSettings, start: dict[int, LowRankFactors] | None = None,
                  progress: Progress | None = None, cancel: Cancel | None = None,
                  zoo: str = "", identity: Callable[[Tensor], Tensor] | None = None) -> AdaptedDomain:
    """reference [1, 3, R, R], w_ref [1, num_ws, w_dim] (its inversion) -> the adapted domain."""
    if reference.shape != (1, 3, g.size, g.size):
        raise ValueError(f"the reference must be one [1, 3, {g.size}, {g.size}] image, got {list(reference.shape)}")
    check_schedule(s.iterations, s.lr)
    style_from = g.num_ws // 2 if s.style_from is None else s.style_from
    if not 0 < style_from < g.num_ws:
        raise ValueError(f"style_from must be in 1..{g.num_ws - 1}, got {style_from}")
    if (s.id_weight > 0 or s.recon_id_weight > 0) and identity is None:
        raise ValueError("id_weight > 0 or recon_id_weight > 0 needs the zoo's identity network")
    gen = torch.Generator().manual_seed(s.seed)  # the sliced Wasserstein projections
    content = torch.Generator().manual_seed(s.seed)  # the content codes of w_mix
    params = DomainParameters.create(g, s.method, s.layers, s.rank, s.scaling_init, s.seed, start)
    opt = torch.optim.Adam(params.parameters(), lr=s.lr)
    reconstruction = ReconstructionLoss(perceptual, identity, l2=1.0, lpips=s.perceptual_weight, id=s.recon_id_weight,
                                        l2_on_unit_images=s.l2_on_unit_images)
    with torch.no_grad():
        reference_feats = features(reference)
        reference_id = identity(reference) if s.recon_id_weight > 0 else None  # [1, D]
    history, t0, done = [], time.perf_counter(), 0
    for it in range(s.iterations):
        if cancel is not None and cancel():
            break
        with torch.no_grad():
            w_content = g.broadcast(g.mapping(torch.randn(s.batch, g.z_dim, generator=content).to(reference.device)))
            w_mix = torch.cat([w_content[:, :style_from], w_ref[:, style_from:].expand(s.batch, -1, -1)], dim=1)
            source_id = identity(g.synthesis(w_mix)) if s.id_weight > 0 else None  # [B, D]
        loss_recon, _ = reconstruction(params.render(g, w_ref), reference, reference_id)
        styled = params.render(g, w_mix)
        loss_style = style_loss(features, styled, reference_feats, gen)
        loss = s.recon_weight * loss_recon + s.style_weight * loss_style
        if source_id is not None:
            loss = loss + s.id_weight * (1 - (identity(styled) * source_id).sum(1)).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        history.append((loss_recon.item(), loss_style.item()))
        done = it + 1
        if progress is not None:
            progress(done / s.iterations, f"{s.method}: iteration {done} of {s.iterations} "
                                          f"(recon {history[-1][0]:.4f}, style {history[-1][1]:.4f})")
    with torch.no_grad():
        recon_mse = mse(params.render(g, w_ref).clamp(-1, 1), reference).item()
    info = {"mode": "oneshot", "zoo": zoo, "generator": generator_signature(g), "settings": asdict(s),
            "init": "inversion" if start else "scratch", "iterations_done": done, "cancelled": done < s.iterations,
            "seconds": time.perf_counter() - t0, "reference_mse": recon_mse,
            "loss_first": history[0] if history else None, "loss_last": history[-1] if history else None}
    return params.freeze(info)


def adapt_from_reference(nets: InversionNetworks, judge: StyleJudge, reference: Tensor, s: OneShotSettings,
                         init_from_inversion: bool = False, progress: Progress | None = None,
                         cancel: Cancel | None = None, zoo: str = "") -> AdaptedDomain:
    """One-shot adaptation to reference [1, 3, R, R]: its code w_r from `invert_for_domain` (e4e,
    else a W+ fit); with init_from_inversion, tokens start from the two-stage inverter's P̂, Q̂
    for (I_r, G(w_r)). `judge` gives the style features and the perceptual distance, the
    reconstruction loss's identity the content term."""
    # 1. check inputs: the judge must give both (emoji64: EmojiNet; ffhq: LPIPS and its backbone's features)
    if not isinstance(judge, StyleJudge):
        lacking = [m for m in ("perceptual_distance", "features") if not callable(getattr(judge, m, None))]
        raise ValueError(f"the zoo's perceptual network ({type(judge).__name__}) cannot judge style: it has no "
                         f"{' and no '.join(lacking)} (pipelines/slots.StyleJudge)")
    # 2. invert the reference, 3. adapt
    inverted = invert_for_domain(nets, reference, cancel=cancel)
    start = None
    if init_from_inversion and s.method == "tokens":
        if nets.refinestyle_2s is None:
            raise ValueError("This zoo has no two-stage RefineStyle inverter; untick the initialisation.")
        start = two_stage_residuals(nets, reference, inverted.ws)
    return adapt_oneshot(nets.generator, reference, inverted.ws, judge.features, judge.perceptual_distance, s, start,
                         progress, cancel, zoo, identity=nets.loss.identity)
