"""Text-driven domain adaptation (RefineStyle §3.4 with StyleGAN-NADA's loss, Eq. 7).

Shared low-rank tokens P, Q, A, B on the refined conv layers (the generator frozen), or — the
baseline — kernel deltas for every conv layer (NADA-style full fine-tuning), trained under the
directional CLIP loss between the frozen and the adapted generator's images of the same
latents. Defaults from the paper: Adam, lr 1e-3, batch 2, 300 iterations. The generator is
never modified in place, so a cancelled run leaves nothing behind but its partial result.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import torch

from nets.stylegan2 import Generator

from .clip_loss import ClipTower, DirectionalLoss
from .domain import AdaptedDomain, DomainParameters, check_schedule, generator_signature
from .jobs import Cancel, Progress
from .settings import control



GRAD_CLIP = 1.0  # max gradient norm per iteration


@dataclass
class TextAdaptSettings:
    source: str = "google style emoji"
    target: str = "twitter style emoji"
    method: str = "tokens"  # tokens | full
    iterations: int = field(default=300, metadata=control(1, 1000, 1, "Iterations"))
    batch: int = 2
    lr: float = 1e-3
    rank: int | None = None  # token rank L; None: the paper's capacity (pipelines.domain.paper_rank of the generator)
    layers: list[int] | None = None  # tokens: None = every conv layer
    scaling_init: float = 0.1
    truncation: float = 0.7
    seed: int = 0


def adapt_text(g: Generator, towers: list[ClipTower], s: TextAdaptSettings, progress: Progress | None = None,
               cancel: Cancel | None = None, zoo: str = "") -> AdaptedDomain:
    """Train tokens (or kernel deltas) so that G moves from `source` towards `target`."""
    check_schedule(s.iterations, s.lr)
    if not 1 <= s.batch <= 64:
        raise ValueError(f"batch must be in 1..64, got {s.batch}")
    loss_fn = DirectionalLoss(towers, s.source, s.target)  # checks the prompts
    gen = torch.Generator().manual_seed(s.seed)  # the batches' z
    params = DomainParameters.create(g, s.method, s.layers, s.rank, s.scaling_init, s.seed)
    opt = torch.optim.Adam(params.parameters(), lr=s.lr)
    history, start, done = [], time.perf_counter(), 0
    for it in range(s.iterations):
        if cancel is not None and cancel():
            break
        with torch.no_grad():
            z = torch.randn(s.batch, g.z_dim, generator=gen).to(g.w_avg.device)
            ws = g.broadcast(g.truncate(g.mapping(z), s.truncation))
            frozen = g.synthesis(ws)
        loss = loss_fn(params.render(g, ws), frozen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        # ΔI = 0 at the first iteration, where the direction's gradient is ~1/ε (3.8e8 measured): unclipped,
        # it fills Adam's second moment and freezes every later step (300 iterations moved G as 150 did)
        torch.nn.utils.clip_grad_norm_(params.parameters(), GRAD_CLIP)
        opt.step()
        history.append(loss.item())
        done = it + 1
        if progress is not None:
            progress(done / s.iterations, f"{s.method}: iteration {done} of {s.iterations} (L_dir {history[-1]:.4f})")
    info = {"mode": "text", "zoo": zoo, "generator": generator_signature(g), "settings": asdict(s),
            "iterations_done": done, "cancelled": done < s.iterations, "seconds": time.perf_counter() - start,
            "loss_first": history[0] if history else None, "loss_last": history[-1] if history else None}
    return params.freeze(info)
