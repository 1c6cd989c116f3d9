"""Train the emoji64 e4e encoder (nets/e4e.py E4E_EMOJI64) against the frozen emoji64 generator.

    python -m train.e4e --steps 20000            # resumable; then exports into assets/zoo/emoji64/e4e

e4e (Tov et al. 2021, §4): W+ = w₀ + Δ with
- the reconstruction loss of RefineStyle Eq. 6 on the zoo's perceptual and identity nets
  (λ₂ = 1, λ_p = 0.8, λ_id = 0.1);
- the delta regulariser λ_d Σᵢ ‖Δᵢ‖₂ (λ_d = 2·10⁻⁴) and progressive training: offset i is
  switched on after i · --progressive-every steps, so the encoder first learns one w per image;
- the latent discriminator: a 4-layer MLP told apart mapping(z) from the encoder's codes,
  non-saturating loss (λ_adv = 0.1) with R1 (γ = 10).
Training images: half real (EmojiBench Google train split), half generator samples, so the
encoder sees the whole generator range. Adam (the paper's Ranger is RAdam + Lookahead).
"""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nets.e4e import E4E_EMOJI64, E4EEncoder
from nets.layers import EqualLinear
from nets.stylegan2 import Generator
from pipelines.emojibench import default_root, load_emojibench
from pipelines.losses import ReconstructionLoss
from pipelines.runtime import tune_cpu_allocator
from pipelines.zoo import ASSETS, open_zoo

from .checkpoint import StepLogger, load_state, save_state
from .export import ModelCard, ship

EXPORT = ASSETS / "zoo" / "emoji64" / "e4e"


class LatentDiscriminator(nn.Module):
    """e4e's D_W: is this w from the mapping network or from the encoder?"""

    def __init__(self, w_dim: int, layers: int = 4) -> None:
        super().__init__()
        self.net = nn.Sequential(*[EqualLinear(w_dim, w_dim, activation=True) for _ in range(layers - 1)],
                                 EqualLinear(w_dim, 1))

    def forward(self, w: Tensor) -> Tensor:  # [B, w_dim] -> [B]
        return self.net(w)[:, 0]


@dataclass
class E4ETrainer:
    encoder: E4EEncoder
    generator: Generator
    loss: ReconstructionLoss
    latent_d: LatentDiscriminator
    delta_weight: float = 2e-4
    adv_weight: float = 0.1
    r1_gamma: float = 10.0

    def active_codes(self, step: int, every: int) -> int:
        return min(self.encoder.num_ws, 1 + step // every) if every > 0 else self.encoder.num_ws

    def encoder_loss(self, images: Tensor, active: int) -> tuple[Tensor, dict]:
        ws = self.encoder(images)  # [B, num_ws, w_dim]
        w0 = ws[:, :1]
        deltas = ws - w0
        mask = (torch.arange(ws.shape[1]) < active).to(ws)[None, :, None]
        ws = w0 + deltas * mask  # progressive: offsets beyond `active` are off
        recon = self.generator.synthesis(ws)
        loss, parts = self.loss(recon, images)
        delta_reg = (deltas * mask).norm(dim=2).sum(1).mean()
        adv = F.softplus(-self.latent_d(ws.reshape(-1, ws.shape[-1]))).mean()
        total = loss + self.delta_weight * delta_reg + self.adv_weight * adv
        return total, parts | {"delta": float(delta_reg.detach()), "adv": float(adv.detach())}

    def latent_d_loss(self, images: Tensor) -> Tensor:
        with torch.no_grad():
            fake = self.encoder(images).reshape(-1, self.encoder.w_dim)
            real = self.generator.mapping(torch.randn(fake.shape[0], self.generator.z_dim))
        real.requires_grad_(True)
        real_logits = self.latent_d(real)
        (grad,) = torch.autograd.grad(real_logits.sum(), real, create_graph=True)
        r1 = grad.square().sum(1).mean()
        return F.softplus(-real_logits).mean() + F.softplus(self.latent_d(fake)).mean() + self.r1_gamma / 2 * r1


def training_batch(reals: Tensor, generator: Generator, batch: int, real_fraction: float = 0.5) -> Tensor:
    """Real emoji (real_fraction of the batch) and generator samples (the rest).  -> [B, 3, 64, 64]"""
    n_real = round(batch * real_fraction)
    real = reals[torch.randint(len(reals), (n_real,))]
    with torch.no_grad():
        z = torch.randn(batch - n_real, generator.z_dim)
        fake = generator.synthesis(generator.broadcast(generator.mapping(z))).clamp(-1, 1)
    return torch.cat([real, fake])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=20000)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--progressive-every", type=int, default=1000)
    p.add_argument("--run-dir", type=Path, default=default_root() / "runs" / "e4e")
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--ckpt-every", type=int, default=500)
    args = p.parse_args(argv)
    tune_cpu_allocator()
    torch.manual_seed(0)
    zoo = open_zoo("emoji64")
    g = zoo.load("generator")
    judge = zoo.load("perceptual")
    encoder = E4EEncoder(**E4E_EMOJI64)
    encoder.w_avg.copy_(g.w_avg.expand_as(encoder.w_avg))
    trainer = E4ETrainer(encoder, g, ReconstructionLoss(judge.perceptual_distance, judge.identity),
                         LatentDiscriminator(g.w_dim))
    opt_e = torch.optim.Adam(encoder.parameters(), lr=args.lr)
    opt_d = torch.optim.Adam(trainer.latent_d.parameters(), lr=args.lr)
    data = load_emojibench()
    reals = data.tensor(data.google[data.indices("train")])
    meta = load_state(args.run_dir, {"encoder": encoder, "latent_d": trainer.latent_d},
                      {"encoder": opt_e, "latent_d": opt_d}) or {"step": 0, "seconds": 0.0}
    log = StepLogger(meta, args.log_every, args.steps)
    while meta["step"] < args.steps:
        images = training_batch(reals, g, args.batch)
        d_loss = trainer.latent_d_loss(images)
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        loss, parts = trainer.encoder_loss(images, trainer.active_codes(meta["step"], args.progressive_every))
        opt_e.zero_grad(set_to_none=True)
        loss.backward()
        opt_e.step()
        log.step(parts)
        if meta["step"] % args.ckpt_every == 0 or meta["step"] == args.steps:
            save_state(args.run_dir, {"encoder": encoder, "latent_d": trainer.latent_d},
                       {"encoder": opt_e, "latent_d": opt_d}, meta)
    encoder.eval()
    x = reals[:32]
    card = ModelCard("emoji64 e4e encoder",
                     "`E4E_EMOJI64` (nets/e4e.py), on EmojiBench Google train images and generator samples",
                     f"python -m train.e4e --steps {args.steps}", vars(args), meta,
                     "e4e encoder trained by train/e4e.py against the emoji64 generator")
    ship(encoder, EXPORT, card, lambda e: e(x), 2e-2, "e4e")
    print(json.dumps(meta))


if __name__ == "__main__":
    main()
