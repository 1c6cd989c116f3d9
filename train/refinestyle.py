"""Train RefineStyle's one-stage and two-stage encoders (nets/refinestyle.py) on emoji64.

    python -m train.refinestyle --stage 1 --steps 20000     # E -> W+ and ΔW; mapping copy from G
    python -m train.refinestyle --stage 2 --steps 20000     # frozen e4e -> w₀⁺, Î₀; E([I, Î₀]) -> ΔW
    python -m train.refinestyle --stage 2 --steps 500 --rank 8 --name ablation_l8 --no-export  # ablation rows

Loss: RefineStyle Eq. 6 (λ₂ = 1, λ_p = 0.8, λ_id = 0.1) on the zoo's perceptual and identity
nets; images half real (EmojiBench Google train split), half generator samples; Adam, with a 10×
learning rate on the per-token scalings A, B (one scalar each, so their Adam steps are otherwise
too small to open the residual within a CPU-sized budget).

emoji64 choice of refined layers and rank: the paper refines N_r = 10 of 17 layers with L = 32
at 1024 px, where L/C is 32/512. emoji64's 9 conv layers carry the emoji's detail (eyes, mouth,
hair, outlines) at 16–64 px, so the default refines the fine half, layers 4–8 (16, 32 and
64 px), with L = 16 (L/C from 16/160 to 16/64). The ablation rows of bench/inversion.py vary
both (L ∈ {8, 32}, N_r ∈ {half, all}) and switch off grouping and learnable scalings, on the
two-stage model (it starts from e4e's code, so a short equal budget per row already separates them).
"""
from __future__ import annotations

import argparse
import json

import torch

from nets.e4e import E4EEncoder
from nets.refinestyle import RefineStyleEncoder
from nets.stylegan2 import Generator
from pipelines.emojibench import default_root, load_emojibench
from pipelines.losses import ReconstructionLoss
from pipelines.runtime import tune_cpu_allocator
from pipelines.zoo import ASSETS, open_zoo

from .checkpoint import StepLogger, load_state, save_state
from .e4e import training_batch
from .export import ModelCard, ship

DEFAULT_LAYERS = [4, 5, 6, 7, 8]


def build_encoder(g: Generator, stage: int, rank: int, layers: list[int], grouped: bool = True,
                  learn_scalings: bool = True) -> RefineStyleEncoder:
    chans = [[c.conv.in_channels, c.conv.out_channels] for c in g.synthesis.convs]
    enc = RefineStyleEncoder(g.num_ws, g.w_dim, g.z_dim, len(g.mapping.layers), chans, layers, rank=rank,
                             input_size=g.size, input_channels=3 if stage == 1 else 6, predict_w=stage == 1,
                             grouped=grouped, learn_scalings=learn_scalings)
    if stage == 1:
        enc.mapping.load_state_dict(g.mapping.state_dict())  # the queries start as real W codes
    return enc


def step_loss(enc: RefineStyleEncoder, g: Generator, loss: ReconstructionLoss, images: torch.Tensor,
              base: E4EEncoder | None) -> tuple[torch.Tensor, dict]:
    """One training objective: reconstruct `images` through the refined generator."""
    if base is None:
        ws, residuals = enc(images)
    else:
        with torch.no_grad():
            ws = base(images)
            first = g.synthesis(ws).clamp(-1, 1)
        _, residuals = enc(torch.cat([images, first], dim=1))
    return loss(g.synthesis(ws, residuals=residuals), images)


def flatten_outputs(out: tuple[torch.Tensor | None, dict]) -> torch.Tensor:
    """Every number an encoder returns, per image.  -> [B, *]"""
    ws, residuals = out
    parts = [t.flatten(1) for factors in residuals.values() for t in factors]
    return torch.cat(parts + ([ws.flatten(1)] if ws is not None else []), dim=1)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--stage", type=int, choices=(1, 2), default=1)
    p.add_argument("--steps", type=int, default=20000)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--rank", type=int, default=16)
    p.add_argument("--layers", type=int, nargs="+", default=DEFAULT_LAYERS)
    p.add_argument("--no-grouping", action="store_true")
    p.add_argument("--fixed-scalings", action="store_true")
    p.add_argument("--real-fraction", type=float, default=None,
                   help="share of real emoji per batch, the rest generator samples (default: 0.5 one-stage, 1 two-stage)")
    p.add_argument("--scaling-lr-mul", type=float, default=10.0, help="learning-rate factor of A, B (scalars per token)")
    p.add_argument("--name", default=None, help="run name (default refinestyle_1s / refinestyle_2s)")
    p.add_argument("--no-export", action="store_true", help="keep the result in the run folder (ablations)")
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--ckpt-every", type=int, default=500)
    args = p.parse_args(argv)
    if args.real_fraction is None:
        args.real_fraction = 0.5 if args.stage == 1 else 1.0
    tune_cpu_allocator()
    torch.manual_seed(0)
    name = args.name or f"refinestyle_{args.stage}s"
    run_dir = default_root() / "runs" / name
    zoo = open_zoo("emoji64")
    g = zoo.load("generator")
    judge = zoo.load("perceptual")
    loss = ReconstructionLoss(judge.perceptual_distance, judge.identity)
    base = zoo.load("e4e") if args.stage == 2 else None
    enc = build_encoder(g, args.stage, args.rank, args.layers, not args.no_grouping, not args.fixed_scalings)
    scalings = [q for q in (enc.scale_a, enc.scale_b) if q.requires_grad]
    rest = [q for q in enc.parameters() if q.requires_grad and all(q is not s for s in scalings)]
    opt = torch.optim.Adam([{"params": rest}, {"params": scalings, "lr": args.lr * args.scaling_lr_mul}], lr=args.lr)
    data = load_emojibench()
    reals = data.tensor(data.google[data.indices("train")])
    meta = load_state(run_dir, {"encoder": enc}, {"encoder": opt}) or {"step": 0, "seconds": 0.0}
    log = StepLogger(meta, args.log_every, args.steps)
    while meta["step"] < args.steps:
        total, parts = step_loss(enc, g, loss, training_batch(reals, g, args.batch, args.real_fraction), base)
        opt.zero_grad(set_to_none=True)
        total.backward()
        opt.step()
        log.step(parts)
        if meta["step"] % args.ckpt_every == 0 or meta["step"] == args.steps:
            save_state(run_dir, {"encoder": enc}, {"encoder": opt}, meta)
    enc.eval()
    folder = run_dir / "export" if args.no_export else ASSETS / "zoo" / "emoji64" / name
    images = reals[:16]
    if base is not None:
        with torch.no_grad():
            images = torch.cat([images, g.synthesis(base(images)).clamp(-1, 1)], dim=1)
    card = ModelCard(
        f"emoji64 RefineStyle {args.stage}-stage encoder ({name})",
        f"`nets/refinestyle.py`, refined layers {args.layers}, L = {args.rank}, grouping {not args.no_grouping}, "
        f"learnable scalings {not args.fixed_scalings}, on EmojiBench Google train images"
        + (f" ({args.real_fraction:.0%} of each batch) and generator samples" if args.real_fraction < 1 else ""),
        f"python -m train.refinestyle --stage {args.stage} --steps {args.steps} --lr {args.lr:g}", vars(args), meta,
        f"RefineStyle {args.stage}-stage encoder trained by train/refinestyle.py")
    ship(enc, folder, card, lambda e: flatten_outputs(e(images)), 2e-2, None if args.no_export else name)
    print(json.dumps(meta))


if __name__ == "__main__":
    main()
