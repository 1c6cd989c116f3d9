"""Train the emoji64 StyleGAN2 (nets/configs.py EMOJI64) on the EmojiBench Google train split.

    python -m train.generator --kimg 600                  # CPU, one process; resumes from --run-dir
    torchrun --nproc_per_node 4 -m train.generator --device cuda --kimg 600
    python -m train.generator --export                    # ship the EMA generator + D into assets/

Recipe (Karras et al. 2020, with Zhao et al. 2020 for small data): non-saturating logistic loss,
lazy R1 on reals every 16 steps, style mixing (p = 0.9), an EMA copy of G (half-life 5 kimg),
the running mean w_avg for truncation, and DiffAugment (colour, translation, cutout) on every
image D sees. Adam (lr 0.0025, β = (0, 0.99)), the lazy-regularisation correction on D.
Progress goes to stdout and <run-dir>/log.txt; the state is saved every --ckpt-every steps.
"""
from __future__ import annotations

import argparse
import copy
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from PIL import Image
from torch.nn.parallel import DistributedDataParallel

from nets.configs import EMOJI64
from nets.stylegan2 import Discriminator, Generator
from pipelines.runtime import tune_cpu_allocator
from pipelines.zoo import ASSETS, ZOOS_DIR, register_local_slot

from .augment import diff_augment
from .checkpoint import load_state, save_state
from .data_emoji import default_root, load_emojibench
from .export import save_network

EXPORT_DIR = ASSETS / "zoo" / "emoji64"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kimg", type=float, default=600, help="training length in thousands of real images shown")
    p.add_argument("--batch", type=int, default=16, help="global batch")
    p.add_argument("--lr", type=float, default=0.0025)
    p.add_argument("--r1-gamma", type=float, default=0.1)
    p.add_argument("--r1-every", type=int, default=16)
    p.add_argument("--mix-prob", type=float, default=0.9)
    p.add_argument("--ema-kimg", type=float, default=5.0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--run-dir", type=Path, default=default_root() / "runs" / "generator")
    p.add_argument("--ckpt-every", type=int, default=250, help="steps between saved states")
    p.add_argument("--log-every", type=int, default=25)
    p.add_argument("--export", action="store_true", help="export the run's EMA generator and D, then exit")
    return p.parse_args(argv)


def setup_distributed(device: str) -> tuple[int, int, torch.device]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1, torch.device(device)
    local = int(os.environ["LOCAL_RANK"])
    dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    dev = torch.device(f"cuda:{local}") if device.startswith("cuda") else torch.device("cpu")
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    return dist.get_rank(), world, dev


def networks() -> tuple[Generator, Discriminator]:
    return Generator(**EMOJI64), Discriminator(size=EMOJI64["size"], channels=EMOJI64["channels"])


def sample_fakes(G, batch: int, mix_prob: float, num_ws: int, z_dim: int, device) -> torch.Tensor:
    z = torch.randn(batch, z_dim, device=device)
    if torch.rand(()) < mix_prob:
        cutoff = int(torch.randint(1, num_ws, ()))
        return G(z, z_mix=torch.randn(batch, z_dim, device=device), inject_index=cutoff, noise_mode="random")
    return G(z, noise_mode="random")


@torch.no_grad()
def sample_grid(G: Generator, path: Path, seed: int = 123, rows: int = 4, cols: int = 8, psi: float = 1.0) -> None:
    z = torch.randn(rows * cols, G.z_dim, generator=torch.Generator().manual_seed(seed)).to(G.w_avg.device)
    img = G.synthesis(G.broadcast(G.truncate(G.mapping(z), psi)))  # [N, 3, 64, 64]
    arr = ((img.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()
    grid = arr.reshape(rows, cols, *arr.shape[1:]).transpose(0, 2, 1, 3, 4).reshape(rows * arr.shape[1], -1, 3)
    Image.fromarray(grid).save(path)


def train(args: argparse.Namespace) -> None:
    rank, world, device = setup_distributed(args.device)
    torch.manual_seed(args.seed + rank)
    data = load_emojibench()
    reals = data.tensor(data.google[data.indices("train")]).to(device)  # [N, 3, 64, 64]
    G, D = networks()
    G, D = G.to(device), D.to(device)
    G_ema = copy.deepcopy(G).eval().requires_grad_(False)
    c = args.r1_every / (args.r1_every + 1)
    opt_g = torch.optim.Adam(G.parameters(), lr=args.lr, betas=(0.0, 0.99))
    opt_d = torch.optim.Adam(D.parameters(), lr=args.lr * c, betas=(0.0, 0.99**c))
    meta = load_state(args.run_dir, {"G": G, "D": D, "G_ema": G_ema}, {"G": opt_g, "D": opt_d}) or {
        "step": 0, "kimg": 0.0, "seconds": 0.0, "args": {k: str(v) for k, v in vars(args).items()}}
    if rank == 0:
        print(f"{'resuming at step ' + str(meta['step']) if meta['step'] else 'starting'}: {len(reals)} reals, "
              f"G {sum(p.numel() for p in G.parameters()) / 1e6:.2f} M, D {sum(p.numel() for p in D.parameters()) / 1e6:.2f} M "
              f"params, world {world}", flush=True)
    G_train = DistributedDataParallel(G) if world > 1 else G
    D_train = DistributedDataParallel(D) if world > 1 else D
    per_rank = args.batch // world
    ema_beta = 0.5 ** (args.batch / (args.ema_kimg * 1000))
    log = open(args.run_dir / "log.txt", "a") if rank == 0 else None
    stats, t_last, step0 = [], time.time(), meta["step"]
    while meta["kimg"] < args.kimg:
        step = meta["step"]
        # 1. discriminator: logistic loss on augmented reals and fakes
        real = reals[torch.randint(len(reals), (per_rank,), device=device)]
        with torch.no_grad():
            fake = sample_fakes(G_train, per_rank, args.mix_prob, G.num_ws, G.z_dim, device)
        d_loss = F.softplus(D_train(diff_augment(fake))).mean() + F.softplus(-D_train(diff_augment(real))).mean()
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        r1 = torch.zeros(())
        if step % args.r1_every == 0:  # lazy R1 on the un-augmented reals
            real_r1 = real.detach().requires_grad_(True)
            logits = D_train(diff_augment(real_r1))
            (grad,) = torch.autograd.grad(logits.sum(), real_r1, create_graph=True)
            r1 = grad.square().sum((1, 2, 3)).mean()
            (r1 * (args.r1_gamma / 2) * args.r1_every).backward()
        opt_d.step()
        # 2. generator: non-saturating loss through the same augmentation (D's weights need no gradient)
        D.requires_grad_(False)
        fake = sample_fakes(G_train, per_rank, args.mix_prob, G.num_ws, G.z_dim, device)
        g_loss = F.softplus(-D_train(diff_augment(fake))).mean()
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        D.requires_grad_(True)
        # 3. EMA generator and the running mean of w
        with torch.no_grad():
            w = G.mapping(torch.randn(per_rank, G.z_dim, device=device))
            G.w_avg.lerp_(w.mean(0), 1 - 0.995)
            for p_ema, p in zip(G_ema.parameters(), G.parameters()):
                p_ema.lerp_(p, 1 - ema_beta)
            for b_ema, b in zip(G_ema.buffers(), G.buffers()):
                b_ema.copy_(b)
        meta["step"] += 1
        meta["kimg"] += args.batch / 1000
        stats.append((d_loss.item(), g_loss.item(), r1.item()))
        # 4. progress, samples and resumable state
        if rank == 0 and (meta["step"] % args.log_every == 0 or meta["kimg"] >= args.kimg):
            now = time.time()
            meta["seconds"] += now - t_last
            sec_step = (now - t_last) / max(1, meta["step"] - step0)
            t_last, step0 = now, meta["step"]
            d, g, r = np.mean(stats, 0)
            r1_mean = np.mean([s[2] for s in stats if s[2] > 0] or [0.0])
            line = (f"step {meta['step']:6d}  kimg {meta['kimg']:7.2f}  D {d:.3f}  G {g:.3f}  R1 {r1_mean:.4f}  "
                    f"{sec_step:.2f} s/step  {meta['seconds'] / 3600:.2f} h")
            print(line, flush=True)
            log.write(line + "\n")
            log.flush()
            stats = []
        if rank == 0 and (meta["step"] % args.ckpt_every == 0 or meta["kimg"] >= args.kimg):
            save_state(args.run_dir, {"G": G, "D": D, "G_ema": G_ema}, {"G": opt_g, "D": opt_d}, meta)
            sample_grid(G_ema, args.run_dir / "samples_latest.png")
    if world > 1:
        dist.destroy_process_group()


def export(args: argparse.Namespace) -> None:
    """Write G_ema and D from the run into assets/zoo/emoji64 (fp16 where images hold) + model cards."""
    G, D = networks()
    G_ema = copy.deepcopy(G)
    meta = load_state(args.run_dir, {"G_ema": G_ema, "D": D}, {})
    if meta is None:
        raise SystemExit(f"no training state in {args.run_dir}")
    G_ema.eval()
    ws = G_ema.broadcast(G_ema.mapping(torch.randn(64, G_ema.z_dim, generator=torch.Generator().manual_seed(0))))
    record = {"meta": meta, "command": "python -m train.generator --export"}
    use_half, err = save_network(G_ema, EXPORT_DIR / "generator", lambda g: g.synthesis(ws), 2 / 255, record)
    d_half, d_err = save_network(D, EXPORT_DIR / "discriminator", lambda d: d(G_ema.synthesis(ws)), 1e-2, {"meta": meta})
    sample_grid(G_ema, EXPORT_DIR / "generator" / "samples.png")
    sample_grid(G_ema, EXPORT_DIR / "generator" / "samples_psi07.png", psi=0.7)
    _write_card(EXPORT_DIR / "generator" / "README.md", meta, use_half, err)
    (EXPORT_DIR / "discriminator" / "README.md").write_text(
        f"# emoji64 discriminator\n\nThe residual StyleGAN2 discriminator (minibatch stddev) trained with the emoji64 "
        f"generator by `python -m train.generator` on the EmojiBench Google train split, exported at step "
        f"{meta['step']} ({meta['kimg']:.1f} kimg) by `python -m train.generator --export`; "
        f"{sum(p.numel() for p in D.parameters()) / 1e6:.2f} M parameters, {'fp16' if d_half else 'fp32'} (max logit "
        f"change {d_err:.4f}). GradStyle's adversarial loss starts from it; it has no metric of its own.\n")
    manifest = ZOOS_DIR / "emoji64.json"
    register_local_slot(manifest, "generator", EXPORT_DIR / "generator", options={"class": "Generator"},
                        note="64 px StyleGAN2 (EMOJI64 config), EMA weights; see assets/zoo/emoji64/generator/README.md")
    register_local_slot(manifest, "discriminator", EXPORT_DIR / "discriminator", options={"class": "Discriminator"},
                        note="the generator's discriminator (GradStyle's adversarial loss starts from it)")
    print(f"exported step {meta['step']} ({meta['kimg']:.1f} kimg), fp16={use_half} (max image error {err:.4f})")


def _write_card(path: Path, meta: dict, half: bool, err: float) -> None:
    hours = meta["seconds"] / 3600
    target = float(meta["args"].get("kimg", meta["kimg"]))
    path.write_text(f"""# emoji64 generator

A 64 px StyleGAN2 (config `EMOJI64` in `nets/configs.py`: style_dim 128, 4 mapping layers,
channels 192-192-160-128-64, {sum(p.numel() for p in Generator(**EMOJI64).parameters()) / 1e6:.2f} M parameters),
trained by this project on CPU.

- **Data**: EmojiBench Google train split (`python -m train.data_emoji`): Noto emoji faces and people
  from `emoji-datasource-google@16.0.0` (Apache-2.0), composited onto white.
- **Command**: `python -m train.generator --kimg {target:g}` (resumable), then `python -m train.generator --export`;
  this export is the state at {meta['kimg']:.1f} kimg{' (stopped before the target)' if meta['kimg'] < target else ''}.
- **Training**: {meta['step']} steps, {meta['kimg']:.1f} kimg, batch {meta['args'].get('batch', '?')}, {hours:.2f} h wall time
  on 2 CPU cores; non-saturating loss, lazy R1 (γ = {meta['args'].get('r1_gamma', '?')}), style mixing 0.9,
  DiffAugment, EMA half-life {meta['args'].get('ema_kimg', '?')} kimg.
- **Weights**: EMA generator, {'fp16' if half else 'fp32'} safetensors (fp16 changes images by at most {err:.4f} in [-1, 1]).
- **Metrics**, written here by `python -m bench.zoo_emoji64 --readme` (also in `bench/results/zoo_emoji64.json`):

<!-- bench:generator_card -->
not measured yet
<!-- /bench:generator_card -->

Samples, ψ = 1 (`samples.png`) and ψ = 0.7 (`samples_psi07.png`), seeds from `sample_grid`:

![samples, psi 1](samples.png)

![samples, psi 0.7](samples_psi07.png)
""")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    tune_cpu_allocator()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    args.run_dir.mkdir(parents=True, exist_ok=True)
    if args.export:
        export(args)
    else:
        train(args)


if __name__ == "__main__":
    main()
