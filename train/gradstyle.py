"""Train GradStyle's GRMs, Gate & Fusion blocks and GAM aligners (nets/gradstyle.py) for a zoo (default emoji64).

    python -m train.gradstyle --steps 6000          # resumable; then exports into assets/zoo/emoji64/gradstyle
    torchrun --nproc_per_node 8 -m train.gradstyle --zoo ffhq --data ffhq/images1024x1024 --device cuda

Self-supervised training (GradStyle §3.4), encoder (e4e) and generator frozen:
- reconstruction stream: the GRMs correct the generator's features at each stage;
- editing stream with α = 0 (Ŵ⁺ = W⁺), whose residuals F_m (and the reconstructed features
  they sit on) are warped by one random perspective transform per image (distortion 0.15), so
  the aligner must move them back: L_aligner = Σ_m ‖F'_m − F_m‖₁. The residuals are detached,
  so no gradient from the GAMs reaches the GRMs;
- on both streams' images: L2, perceptual (0.8), ID (0.1) and the non-saturating adversarial
  loss (0.001) of a discriminator initialised from the zoo's (its generator's) and trained along;
  L_f = Σ_m ‖g_m ⊙ F_m‖₁ (0.01) keeps the gated residuals sparse.
Images: --data, default the EmojiBench Google train split (flags, resuming and DDP: train/recipe.py).
Adam, lr 1e-4 (GradStyle's appendix weights).
"""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor

from nets.e4e import E4EEncoder
from nets.gradstyle import ALIGNERS, GradStyle
from nets.stylegan2 import Discriminator, Generator
from pipelines.augment import random_homographies, warp
from pipelines.losses import ReconstructionLoss
from pipelines.runtime import seeded_initialisation, tune_cpu_allocator
from pipelines.zoo import Zoo, open_zoo

from .export import ModelCard, ship
from .recipe import (add_data_flag, add_training_flags, data_name, export_folder, run_steps, setup_distributed,
                     training_images)

@dataclass
class GradStyleTrainer:
    model: GradStyle
    generator: Generator
    encoder: E4EEncoder
    loss: ReconstructionLoss
    discriminator: Discriminator
    weights: dict[str, float] = field(default_factory=lambda: {"adv": 0.001, "aligner": 0.1, "f": 0.01})
    distortion: float = 0.15
    r1_gamma: float = 0.1
    rng: torch.Generator = field(default_factory=torch.Generator)  # the perspective warps

    def model_loss(self, images: Tensor) -> tuple[Tensor, dict[str, float], Tensor]:
        """Both streams' losses.  images [B, 3, S, S] -> (loss, parts, fakes [2B, 3, S, S] for D)"""
        with torch.no_grad():
            feats = self.encoder.features(images)
            ws = self.encoder.codes(feats)
        rec, stream, gated = self.model.reconstruct(self.generator, ws, feats)
        homographies = random_homographies(images.shape[0], self.distortion, self.rng, images.device)
        warped = {i: (warp(r.detach(), homographies), warp(f.detach(), homographies)) for i, (r, f) in stream.items()}
        edit, aligned = self.model.edit(self.generator, ws, warped)
        l_aligner = sum((aligned[i] - r.detach()).abs().mean() for i, (r, _) in stream.items())
        l_f = sum(g.abs().mean() for g in gated.values())
        rec_loss, rec_parts = self.loss(rec, images)
        edit_loss, edit_parts = self.loss(edit, images)
        fakes = torch.cat([rec, edit])
        adv = F.softplus(-self.discriminator(fakes)).mean()
        w = self.weights
        total = rec_loss + edit_loss + w["adv"] * adv + w["aligner"] * l_aligner + w["f"] * l_f
        parts = {f"rec_{k}": v for k, v in rec_parts.items()} | {f"edit_{k}": v for k, v in edit_parts.items()}
        return total, parts | {"aligner": l_aligner.item(), "f": l_f.item(), "adv": adv.item()}, fakes.detach()

    def discriminator_loss(self, reals: Tensor, fakes: Tensor, r1: bool) -> Tensor:
        loss = F.softplus(self.discriminator(fakes)).mean()
        reals = reals.detach().requires_grad_(r1)
        logits = self.discriminator(reals)
        loss = loss + F.softplus(-logits).mean()
        if r1:
            (grad,) = torch.autograd.grad(logits.sum(), reals, create_graph=True)
            loss = loss + self.r1_gamma / 2 * grad.square().sum((1, 2, 3)).mean()
        return loss


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_training_flags(p, "gradstyle", batch=8, lr=1e-4, steps=6000, ckpt_every=250)
    add_data_flag(p)
    p.add_argument("--aligner", choices=ALIGNERS, default="paper",
                   help="GAM's aligner: the paper's (Eq. 7-8) or ours, 'transport' (nets/gradstyle.py)")
    args = p.parse_args(argv)
    tune_cpu_allocator()
    ddp = setup_distributed(args.device)
    zoo = open_zoo(args.zoo)
    with seeded_initialisation(args.seed) as gen:  # the initial weights; gen then draws the batches and warps
        g, encoder, judge = (zoo.load(slot, ddp.device) for slot in ("generator", "e4e", "perceptual"))
        d = zoo.load("discriminator", ddp.device).train().requires_grad_(True)
        model = GradStyle(**(zoo.architecture("gradstyle") | {"aligner": args.aligner})).to(ddp.device)
    trainer = GradStyleTrainer(model, g, encoder, ReconstructionLoss(judge.perceptual_distance, judge.identity), d,
                               rng=gen)
    model_loss = ddp.objective({"model": model}, trainer.model_loss)
    discriminator_loss = ddp.objective({"discriminator": d}, trainer.discriminator_loss)
    opt_m = torch.optim.Adam(model.parameters(), lr=args.lr)
    opt_d = torch.optim.Adam(d.parameters(), lr=args.lr, betas=(0.0, 0.99))
    reals = training_images(args.data, g.size)

    def step(i: int) -> dict[str, float]:
        images = ddp.shard(reals[torch.randint(len(reals), (args.batch,), generator=gen)]).to(ddp.device)
        d.requires_grad_(False)
        loss, parts, fakes = model_loss(images)
        opt_m.zero_grad(set_to_none=True)
        loss.backward()
        opt_m.step()
        d.requires_grad_(True)
        d_loss = discriminator_loss(images, fakes, i % 16 == 0)
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        return parts

    meta = run_steps(args, ddp, {"model": model, "discriminator": d}, {"model": opt_m, "discriminator": opt_d}, step,
                     args.steps, args.ckpt_every)
    if ddp.main:
        export(model, trainer, reals[:16].to(ddp.device), zoo, meta, args)
    ddp.close()


def export(model: GradStyle, trainer: GradStyleTrainer, probe: Tensor, zoo: Zoo, meta: dict,
           args: argparse.Namespace) -> None:
    model.eval()
    with torch.no_grad():
        feats = trainer.encoder.features(probe)
        ws = trainer.encoder.codes(feats)
    card = ModelCard(
        f"{zoo.name} GradStyle",
        f"GRMs, Gate & Fusion and GAM aligners ({args.aligner} aligner; the zoo's gradstyle architecture, "
        f"{zoo.manifest.name}) for the stages "
        f"after conv layers {model.stage_layers}, trained self-supervised over the frozen {zoo.name} e4e encoder and "
        f"generator on {data_name(args.data)}",
        f"python -m train.gradstyle --steps {args.steps} --aligner {args.aligner}", vars(args), meta,
        f"GradStyle GRM/GAM modules trained by train/gradstyle.py over the {zoo.name} e4e encoder")
    ship(model, export_folder(zoo, "gradstyle"), card, lambda m: m.reconstruct(trainer.generator, ws, feats)[0],
         2 / 255, "gradstyle", zoo.manifest)
    print(json.dumps(meta))


if __name__ == "__main__":
    main()
