"""Train a zoo's StyleGAN2 (its manifest's generator architecture; default emoji64) on the EmojiBench
Google train split.

    python -m train.generator --kimg 600                  # CPU, one process; resumes from --run-dir
    torchrun --nproc_per_node 4 -m train.generator --device cuda --kimg 600
    python -m train.generator --export                    # ship the EMA generator + D into assets/

Recipe (Karras et al. 2020, with Zhao et al. 2020 for small data): non-saturating logistic loss,
lazy R1 on reals every 16 steps, style mixing (p = 0.9), an EMA copy of G (half-life 5 kimg),
the running mean w_avg for truncation, and DiffAugment (colour, translation, cutout) on every
image D sees. Adam (lr 0.0025, β = (0, 0.99)), the lazy-regularisation correction on D.
Options compared by `bench.generator_recipes` (README, "Generator recipes"):
- `--augment ada`: the same transforms with StyleGAN2-ADA's adaptive probability p (r_t target 0.6);
- `--va-weight λ`: a second, vision-aided discriminator on the zoo's frozen EmojiNet features
  (nets/vision_aided.py), its loss added with weight λ on both sides;
- `--precision`: bf16 autocast for every forward pass (default where the CPU has native bf16,
  AVX512-BF16 or AMX, or on CUDA); R1 and the demodulation energy stay float32;
- `--init-from DIR`: continue from an exported generator and discriminator, or from another run's folder
  (its EMA generator and D; fresh optimisers).
Progress goes to stdout and <run-dir>/log.txt; the state is saved every --ckpt-every steps.
Every draw of a step (z, style mixing, noise, augmentation, the reals' indices) comes from the run's
own generator on the training device (`GanTraining.rng`), seeded per process and reseeded by step
on resuming; the initial networks come from --seed, the same in every process, through `seeded_initialisation`.
"""
from __future__ import annotations

import argparse
import copy
import functools
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import load_file, save_file
from torch import nn

from nets.stylegan2 import Discriminator, Generator
from nets.vision_aided import FeatureDiscriminator
from pipelines.emojibench import load_emojibench
from pipelines.runtime import seeded_initialisation, tune_cpu_allocator
from pipelines.zoo import Zoo, open_zoo, register_local_slot

from .augment import AdaptiveAugment, diff_augment
from .checkpoint import load_state, save_state
from .export import save_network
from .recipe import add_training_flags, export_folder, setup_distributed


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_training_flags(p, "generator", batch=16, lr=0.0025, log_every=25, ckpt_every=250)
    p.add_argument("--kimg", type=float, default=600, help="training length in thousands of real images shown")
    p.add_argument("--max-minutes", type=float, default=None, help="also stop after this much wall time (recipe runs)")
    p.add_argument("--snapshot-kimg", type=float, default=10.0,
                   help="keep the EMA generator every this many kimg in <run-dir>/snapshots (precision-vs-kimg curve)")
    p.add_argument("--r1-gamma", type=float, default=0.1)
    p.add_argument("--r1-every", type=int, default=16)
    p.add_argument("--mix-prob", type=float, default=0.9)
    p.add_argument("--ema-kimg", type=float, default=5.0)
    p.add_argument("--augment", choices=("diffaugment", "ada"), default="diffaugment",
                   help="DiffAugment on every image, or its transforms with an adaptive probability (ADA's r_t)")
    p.add_argument("--augment-ops", nargs="+", default=["color", "translation", "cutout"],
                   choices=["color", "translation", "cutout"], help="DiffAugment's transforms used by either mode")
    p.add_argument("--ada-target", type=float, default=0.6)
    p.add_argument("--ada-kimg", type=float, default=100.0, help="kimg for ADA's p to move from 0 to 1")
    p.add_argument("--va-weight", type=float, default=0.0,
                   help="weight λ of the vision-aided discriminator on frozen EmojiNet features (0: off)")
    p.add_argument("--va-stages", type=int, nargs="+", default=[1, 2, 3, 4], help="EmojiNet stages it reads")
    p.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto",
                   help="bf16 autocast for the forward passes (auto: where the CPU has native bf16, or on CUDA)")
    p.add_argument("--init-from", type=Path, default=None,
                   help="start G, G_ema and D from an exported zoo folder (holding generator/ and discriminator/) "
                        "or from another run's folder (its EMA generator and D; fresh optimisers and augmentation)")
    p.add_argument("--export", action="store_true", help="export the run's EMA generator and D, then exit")
    return p.parse_args(argv)


def networks(zoo: str = "emoji64") -> tuple[Generator, Discriminator]:
    """A new generator and discriminator of the zoo's generator architecture."""
    arch = open_zoo(zoo).architecture("generator")
    return Generator(**arch), Discriminator(size=arch["size"], channels=arch["channels"])


def native_bf16(device: torch.device) -> bool:
    """Whether bf16 matmuls and convolutions run natively: a CUDA device, or a CPU with AVX512-BF16 / AMX."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def use_bf16(precision: str, device: torch.device) -> bool:
    return precision == "bf16" or (precision == "auto" and native_bf16(device))


def sample_fakes(G, batch: int, mix_prob: float, num_ws: int, z_dim: int, device,
                 rng: torch.Generator) -> torch.Tensor:
    """G's samples with style mixing (probability mix_prob) and random noise, every draw from rng (on `device`)."""
    z = torch.randn(batch, z_dim, device=device, generator=rng)
    if torch.rand((), device=device, generator=rng) < mix_prob:
        cutoff = int(torch.randint(1, num_ws, (), device=device, generator=rng))
        return G(z, z_mix=torch.randn(batch, z_dim, device=device, generator=rng), inject_index=cutoff,
                 noise_mode="random", noise_generator=rng)
    return G(z, noise_mode="random", noise_generator=rng)


@torch.no_grad()
def sample_grid(G: Generator, path: Path, seed: int = 123, rows: int = 4, cols: int = 8, psi: float = 1.0) -> None:
    z = torch.randn(rows * cols, G.z_dim, generator=torch.Generator().manual_seed(seed)).to(G.w_avg.device)
    img = G.synthesis(G.broadcast(G.truncate(G.mapping(z), psi)))  # [N, 3, 64, 64]
    arr = ((img.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()
    grid = arr.reshape(rows, cols, *arr.shape[1:]).transpose(0, 2, 1, 3, 4).reshape(rows * arr.shape[1], -1, 3)
    Image.fromarray(grid).save(path)


def vision_aided_discriminator(zoo: str, stages: list[int], device: torch.device) -> FeatureDiscriminator:
    """Kumari et al.'s second discriminator on the zoo's frozen perceptual network (EmojiNet)."""
    backbone = open_zoo(zoo).load("perceptual", device)
    backbone = copy.deepcopy(backbone).eval().requires_grad_(False)
    channels = [f.shape[1] for f in backbone.features(torch.zeros(1, 3, 64, 64, device=device))]
    return FeatureDiscriminator(backbone.features, channels, stages).to(device)


def init_from_export(folder: Path, G: Generator, D: Discriminator) -> None:
    """Load an exported generator (EMA weights) and discriminator, or those of another run's state,
    as the starting point of a run."""
    if (folder / "state.safetensors").is_file():
        tensors = load_file(str(folder / "state.safetensors"))
        weights = {name: {k[len(f"module.{key}."):]: v for k, v in tensors.items() if k.startswith(f"module.{key}.")}
                   for name, key in (("G", "G_ema"), ("D", "D"))}
    else:
        weights = {"G": load_file(folder / "generator" / "model.safetensors"),
                   "D": load_file(folder / "discriminator" / "model.safetensors")}
    G.load_state_dict({k: v.float() for k, v in weights["G"].items()})
    D.load_state_dict({k: v.float() for k, v in weights["D"].items()})


def adversarial_losses(discriminators: dict[str, nn.Module], weights: dict[str, float], fake: torch.Tensor,
                       real: torch.Tensor | None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Σ_d λ_d L_d with the non-saturating logistic loss: D's side when `real` is given, else G's.
    Returns the loss and each discriminator's real logits (D's side) for ADA's heuristic."""
    total, real_logits = 0.0, {}
    for name, d in discriminators.items():
        if real is None:
            total = total + weights[name] * F.softplus(-d(fake)).mean()
            continue
        logits = d(real)
        real_logits[name] = logits
        total = total + weights[name] * (F.softplus(d(fake)).mean() + F.softplus(-logits).mean())
    return total, real_logits


class GanTraining:
    """The networks, optimisers and augmentation of one run, and its training step (module docstring)."""

    def __init__(self, args: argparse.Namespace, device: torch.device, world: int = 1) -> None:
        self.args, self.device = args, device
        G, D = networks(args.zoo)
        if args.init_from is not None and not (args.run_dir / "state.safetensors").is_file():
            init_from_export(args.init_from, G, D)
        self.G, self.D = G.to(device), D.to(device)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        c = args.r1_every / (args.r1_every + 1)  # the lazy-regularisation correction of D's Adam
        self.modules: dict[str, nn.Module] = {"G": self.G, "D": self.D, "G_ema": self.G_ema}
        self.opts = {"G": torch.optim.Adam(self.G.parameters(), lr=args.lr, betas=(0.0, 0.99)),
                     "D": torch.optim.Adam(self.D.parameters(), lr=args.lr * c, betas=(0.0, 0.99**c))}
        self.discs: dict[str, nn.Module] = {"D": self.D}
        self.weights = {"D": 1.0}
        if args.va_weight > 0:
            d_va = vision_aided_discriminator(args.zoo, args.va_stages, device)
            self.modules["D_va"], self.discs["D_va"], self.weights["D_va"] = d_va, d_va, args.va_weight
            self.opts["D_va"] = torch.optim.Adam(d_va.heads.parameters(), lr=args.lr, betas=(0.0, 0.99))
        ops = tuple(args.augment_ops)
        self.augment = (AdaptiveAugment(args.ada_target, args.ada_kimg, policy=ops) if args.augment == "ada"
                        else functools.partial(diff_augment, policy=ops))
        self.rng = torch.Generator(device).manual_seed(args.seed)  # train() reseeds it per process and step
        self.bf16 = use_bf16(args.precision, device)
        if args.batch % world:
            raise ValueError(f"--batch {args.batch} must be divisible by the {world} processes")
        self.world, self.per_rank = world, args.batch // world
        self.ema_beta = 0.5 ** (args.batch / (args.ema_kimg * 1000))
        self.r_t = float("nan")

    def autocast(self) -> torch.autocast:
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16)

    def fakes(self) -> torch.Tensor:
        a = self.args
        return sample_fakes(self.G, self.per_rank, a.mix_prob, self.G.num_ws, self.G.z_dim, self.device, self.rng)

    def _mean_over_processes(self, t: torch.Tensor) -> torch.Tensor:
        if self.world > 1:
            dist.all_reduce(t)
            t /= self.world
        return t

    def _descend(self, names: tuple[str, ...]) -> None:
        """Average the gradients of the named optimisers' parameters over the processes (one flat
        all-reduce, as StyleGAN2-ADA does instead of DDP: lazy R1's double backward leaves
        parameters without a gradient, which DDP's reducer rejects), then step them."""
        params = [p for k in names for group in self.opts[k].param_groups for p in group["params"]]
        if self.world > 1:
            flat = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).flatten() for p in params])
            self._mean_over_processes(flat)
            for p, g in zip(params, flat.split([p.numel() for p in params])):
                p.grad = g.view_as(p)
        for k in names:
            self.opts[k].step()

    def _discriminators_trainable(self, flag: bool) -> None:
        for k in self.discs:
            for group in self.opts[k].param_groups:
                for p in group["params"]:
                    p.requires_grad_(flag)

    def step(self, real: torch.Tensor, step: int) -> tuple[float, float, float]:
        """One D step, every r1_every steps a separate lazy-R1 step of D (StyleGAN2's Dmain / Dreg,
        which D's Adam correction assumes), one G step, the EMA.  -> (D loss, G loss, R1)"""
        a, aug = self.args, functools.partial(self.augment, generator=self.rng)
        discs = tuple(self.discs)
        # 1. discriminators: logistic loss on augmented reals and fakes
        with torch.no_grad(), self.autocast():
            fake = self.fakes()
        with self.autocast():
            d_loss, real_logits = adversarial_losses(self.discs, self.weights, aug(fake.float()), aug(real))
        for k in discs:
            self.opts[k].zero_grad(set_to_none=True)
        d_loss.backward()
        self._descend(discs)
        if isinstance(self.augment, AdaptiveAugment):
            signs = self._mean_over_processes(real_logits["D"].detach().float().sign().mean())
            observed = self.augment.observe(signs, a.batch)
            self.r_t = self.r_t if observed is None else observed
        r1 = torch.zeros(())
        if step % a.r1_every == 0:  # lazy R1 on D's augmented reals, in float32, its own step
            real_r1 = real.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(self.D(aug(real_r1)).sum(), real_r1, create_graph=True)
            r1 = grad.square().sum((1, 2, 3)).mean()
            self.opts["D"].zero_grad(set_to_none=True)
            (r1 * (a.r1_gamma / 2) * a.r1_every).backward()
            self._descend(("D",))
        # 2. generator: non-saturating loss through the same augmentation (the discriminators need no gradient)
        self._discriminators_trainable(False)
        with self.autocast():
            g_loss, _ = adversarial_losses(self.discs, self.weights, aug(self.fakes().float()), None)
        self.opts["G"].zero_grad(set_to_none=True)
        g_loss.backward()
        self._descend(("G",))
        self._discriminators_trainable(True)
        # 3. EMA generator and the running mean of w
        with torch.no_grad():
            w = self.G.mapping(torch.randn(self.per_rank, self.G.z_dim, device=self.device, generator=self.rng))
            self.G.w_avg.lerp_(self._mean_over_processes(w.mean(0)), 1 - 0.995)
            for p_ema, p in zip(self.G_ema.parameters(), self.G.parameters()):
                p_ema.lerp_(p, 1 - self.ema_beta)
            for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers()):
                b_ema.copy_(b)
        return d_loss.item(), g_loss.item(), r1.item()


def train(args: argparse.Namespace) -> None:
    ddp = setup_distributed(args.device)
    rank, world, device = ddp.rank, ddp.world, ddp.device
    data = load_emojibench()
    reals = data.tensor(data.google[data.indices("train")]).to(device)  # [N, 3, 64, 64]
    with seeded_initialisation(args.seed):  # the same initial networks in every process
        run = GanTraining(args, device, world)
    meta = load_state(args.run_dir, run.modules, run.opts) or {
        "step": 0, "kimg": 0.0, "seconds": 0.0, "args": {k: str(v) for k, v in vars(args).items()}}
    run.rng.manual_seed(args.seed + 1_000_003 * rank + meta["step"])  # a resumed run does not replay its draws
    adaptive = isinstance(run.augment, AdaptiveAugment)
    if adaptive:
        run.augment.p = meta.get("ada_p", 0.0)
    if rank == 0:
        print(f"{'resuming at step ' + str(meta['step']) if meta['step'] else 'starting'}: {len(reals)} reals, "
              f"G {sum(p.numel() for p in run.G.parameters()) / 1e6:.2f} M, "
              f"D {sum(p.numel() for p in run.D.parameters()) / 1e6:.2f} M params, world {world}, "
              f"{'bf16 autocast' if run.bf16 else 'fp32'}, augment {args.augment}, vision-aided λ {args.va_weight}",
              flush=True)
    log = open(args.run_dir / "log.txt", "a") if rank == 0 else None
    stats, t_last, step0, wall_start = [], time.time(), meta["step"], time.time()
    while meta["kimg"] < args.kimg:
        if args.max_minutes is not None and time.time() - wall_start > 60 * args.max_minutes:
            break
        real = reals[torch.randint(len(reals), (run.per_rank,), device=device, generator=run.rng)]
        stats.append(run.step(real, meta["step"]))
        meta["step"] += 1
        meta["kimg"] += args.batch / 1000
        if adaptive:
            meta["ada_p"] = run.augment.p
        # progress, samples and resumable state
        if rank == 0 and (meta["step"] % args.log_every == 0 or meta["kimg"] >= args.kimg):
            now = time.time()
            meta["seconds"] += now - t_last
            sec_step = (now - t_last) / max(1, meta["step"] - step0)
            t_last, step0 = now, meta["step"]
            d, g, _ = np.mean(stats, 0)
            r1_mean = np.mean([s[2] for s in stats if s[2] > 0] or [0.0])
            ada = f"  p {run.augment.p:.3f}  r_t {run.r_t:.2f}" if adaptive else ""
            line = (f"step {meta['step']:6d}  kimg {meta['kimg']:7.2f}  D {d:.3f}  G {g:.3f}  R1 {r1_mean:.4f}{ada}  "
                    f"{sec_step:.2f} s/step  {meta['seconds'] / 3600:.2f} h")
            print(line, flush=True)
            log.write(line + "\n")
            log.flush()
            stats = []
        if rank == 0 and (meta["step"] % args.ckpt_every == 0 or meta["kimg"] >= args.kimg):
            save_state(args.run_dir, run.modules, run.opts, meta)
            sample_grid(run.G_ema, args.run_dir / "samples_latest.png")
        if rank == 0 and int(meta["kimg"] / args.snapshot_kimg) > int((meta["kimg"] - args.batch / 1000) / args.snapshot_kimg):
            save_snapshot(run.G_ema, args.run_dir, meta["kimg"])
    if rank == 0:
        meta["seconds"] += time.time() - t_last
        save_state(args.run_dir, run.modules, run.opts, meta)
        sample_grid(run.G_ema, args.run_dir / "samples_latest.png")
    ddp.close()


def save_snapshot(G_ema: Generator, run_dir: Path, kimg: float) -> Path:
    """The EMA generator's weights at `kimg`: <run_dir>/snapshots/kimg<kimg>.safetensors."""
    path = run_dir / "snapshots" / f"kimg{kimg:08.2f}.safetensors"
    path.parent.mkdir(exist_ok=True)
    save_file({k: v.detach().cpu().contiguous() for k, v in G_ema.state_dict().items()}, str(path))
    return path


def export(args: argparse.Namespace) -> None:
    """Write G_ema and D from the run into assets/zoo/<zoo> (fp16 where images hold) + model cards."""
    zoo = open_zoo(args.zoo)
    g_dir, d_dir = export_folder(zoo, "generator"), export_folder(zoo, "discriminator")
    G, D = networks(args.zoo)
    G_ema = copy.deepcopy(G)
    meta = load_state(args.run_dir, {"G_ema": G_ema, "D": D}, {})
    if meta is None:
        raise SystemExit(f"no training state in {args.run_dir}")
    G_ema.eval()
    ws = G_ema.broadcast(G_ema.mapping(torch.randn(64, G_ema.z_dim, generator=torch.Generator().manual_seed(0))))
    record = {"meta": meta, "command": "python -m train.generator --export"}
    # fp16 when no pixel moves by more than two levels of the 8-bit image (4/255 on [-1, 1])
    use_half, err = save_network(G_ema, g_dir, lambda g: g.synthesis(ws), 4 / 255, record)
    d_half, d_err = save_network(D, d_dir, lambda d: d(G_ema.synthesis(ws)), 1e-2, {"meta": meta})
    sample_grid(G_ema, g_dir / "samples.png", rows=8)
    sample_grid(G_ema, g_dir / "samples_psi07.png", rows=8, psi=0.7)
    _write_card(g_dir / "README.md", meta, use_half, err, zoo)
    (d_dir / "README.md").write_text(
        f"# {zoo.name} discriminator\n\nThe residual StyleGAN2 discriminator (minibatch stddev) trained with the {zoo.name} "
        f"generator by `python -m train.generator` on the EmojiBench Google train split, exported at step "
        f"{meta['step']} ({meta['kimg']:.1f} kimg) by `python -m train.generator --export`; "
        f"{sum(p.numel() for p in D.parameters()) / 1e6:.2f} M parameters, {'fp16' if d_half else 'fp32'} (max logit "
        f"change {d_err:.4f}). GradStyle's adversarial loss starts from it; it has no metric of its own.\n")
    register_local_slot(zoo.manifest, "generator", g_dir, options={"class": "Generator"},
                        note="64 px StyleGAN2 (the manifest's generator architecture), EMA weights; see assets/zoo/emoji64/generator/README.md")
    register_local_slot(zoo.manifest, "discriminator", d_dir, options={"class": "Discriminator"},
                        note="the generator's discriminator (GradStyle's adversarial loss starts from it)")
    print(f"exported step {meta['step']} ({meta['kimg']:.1f} kimg), fp16={use_half} (max image error {err:.4f})")


def _write_card(path: Path, meta: dict, half: bool, err: float, zoo: Zoo) -> None:
    hours = meta["seconds"] / 3600
    target = float(meta["args"].get("kimg", meta["kimg"]))
    path.write_text(f"""# emoji64 generator

A 64 px StyleGAN2 (the generator architecture of `assets/zoos/{zoo.manifest.name}`: style_dim 128, 4 mapping layers,
channels 192-192-160-128-64, {sum(p.numel() for p in networks(zoo.name)[0].parameters()) / 1e6:.2f} M parameters),
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
