"""Train a zoo's e4e encoder (the zoo's e4e architecture, nets/e4e.py) against its frozen generator.

    python -m train.e4e --steps 20000            # resumable; then exports into assets/zoo/emoji64/e4e
    torchrun --nproc_per_node 8 -m train.e4e --zoo ffhq --data ffhq/images1024x1024 --device cuda

e4e (Tov et al. 2021, §4): W+ = w₀ + Δ with
- the reconstruction loss of RefineStyle Eq. 6 on the zoo's perceptual and identity nets
  (λ₂ = 1, λ_p = 0.8, λ_id = 0.1);
- the delta regulariser λ_d Σᵢ ‖Δᵢ‖₂ (λ_d = 2·10⁻⁴) and progressive training: offset i is
  switched on after i · --progressive-every steps, so the encoder first learns one w per image;
- the latent discriminator: a 4-layer MLP told apart mapping(z) from the encoder's codes,
  non-saturating loss (λ_adv = 0.1) with R1 (γ = 10).
Training images: half real (--data, default the EmojiBench Google train split), half generator
samples, so the encoder sees the whole generator range. Flags, resuming and DDP: train/recipe.py.
The encoder's optimiser is the paper's Ranger (train/optimisers.py; --optimiser adam: ours, the
earlier runs'); the latent discriminator's is Adam.
"""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nets.e4e import E4EEncoder
from nets.layers import EqualLinear
from nets.stylegan2 import Generator
from pipelines.losses import ReconstructionLoss
from pipelines.runtime import seeded_initialisation, tune_cpu_allocator
from pipelines.zoo import open_zoo

from .export import ModelCard, ship
from .optimisers import add_optimiser_flag, optimiser
from .recipe import (add_data_flag, add_training_flags, data_name, export_folder, run_steps, setup_distributed,
                     training_images)

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
    rng: torch.Generator = field(default_factory=torch.Generator)  # the latent discriminator's mapping(z) codes

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
            z = torch.randn(fake.shape[0], self.generator.z_dim, generator=self.rng).to(fake.device)
            real = self.generator.mapping(z)
        real.requires_grad_(True)
        real_logits = self.latent_d(real)
        (grad,) = torch.autograd.grad(real_logits.sum(), real, create_graph=True)
        r1 = grad.square().sum(1).mean()
        return F.softplus(-real_logits).mean() + F.softplus(self.latent_d(fake)).mean() + self.r1_gamma / 2 * r1


def training_batch(reals: Tensor, generator: Generator, batch: int, rng: torch.Generator,
                   real_fraction: float = 0.5) -> Tensor:
    """Real emoji (real_fraction of the batch) and generator samples (the rest), both drawn from the
    CPU generator `rng` (the same numbers on any device).  -> [B, 3, 64, 64]"""
    n_real = round(batch * real_fraction)
    device = generator.w_avg.device
    real = reals[torch.randint(len(reals), (n_real,), generator=rng)].to(device)
    with torch.no_grad():
        z = torch.randn(batch - n_real, generator.z_dim, generator=rng).to(device)
        fake = generator.synthesis(generator.broadcast(generator.mapping(z))).clamp(-1, 1)
    return torch.cat([real, fake])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_training_flags(p, "e4e", batch=8, lr=1e-4, steps=20000)
    add_data_flag(p)
    p.add_argument("--progressive-every", type=int, default=1000)
    add_optimiser_flag(p)
    args = p.parse_args(argv)
    tune_cpu_allocator()
    ddp = setup_distributed(args.device)
    zoo = open_zoo(args.zoo)
    with seeded_initialisation(args.seed) as gen:  # the initial weights; gen then draws batches and codes
        g = zoo.load("generator", ddp.device)
        judge = zoo.load("perceptual", ddp.device)
        encoder = E4EEncoder(**zoo.architecture("e4e")).to(ddp.device)
        encoder.w_avg.copy_(g.w_avg.expand_as(encoder.w_avg))
        trainer = E4ETrainer(encoder, g, ReconstructionLoss(judge.perceptual_distance, judge.identity),
                             LatentDiscriminator(g.w_dim).to(ddp.device), rng=gen)
    encoder_loss = ddp.objective({"encoder": encoder, "latent_d": trainer.latent_d}, trainer.encoder_loss)
    latent_d_loss = ddp.objective({"latent_d": trainer.latent_d}, trainer.latent_d_loss)
    opt_e = optimiser(args.optimiser, [{"params": list(encoder.parameters())}], args.lr)
    opt_d = torch.optim.Adam(trainer.latent_d.parameters(), lr=args.lr)
    reals = training_images(args.data, g.size)

    def step(i: int) -> dict[str, float]:
        images = ddp.shard(training_batch(reals, g, args.batch, gen))
        d_loss = latent_d_loss(images)
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        loss, parts = encoder_loss(images, trainer.active_codes(i, args.progressive_every))
        opt_e.zero_grad(set_to_none=True)
        loss.backward()
        opt_e.step()
        return parts

    meta = run_steps(args, ddp, {"encoder": encoder, "latent_d": trainer.latent_d},
                     {"encoder": opt_e, "latent_d": opt_d}, step, args.steps, args.ckpt_every)
    if ddp.main:
        encoder.eval()
        x = reals[:32].to(ddp.device)
        card = ModelCard(f"{zoo.name} e4e encoder",
                         f"`E4EEncoder` with the zoo's e4e architecture ({zoo.manifest.name}), on {data_name(args.data)} "
                         "and generator samples",
                         f"python -m train.e4e --steps {args.steps} --optimiser {args.optimiser}", vars(args), meta,
                         f"e4e encoder trained by train/e4e.py against the {zoo.name} generator")
        ship(encoder, export_folder(zoo, "e4e"), card, lambda e: e(x), 2e-2, "e4e", zoo.manifest)
        print(json.dumps(meta))
    ddp.close()


if __name__ == "__main__":
    main()
