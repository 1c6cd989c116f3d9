"""Train RefineStyle's one-stage and two-stage encoders (nets/refinestyle.py) for a zoo (default emoji64).

    python -m train.refinestyle --stage 1 --steps 20000     # E -> W+ and ΔW; mapping copy from G
    python -m train.refinestyle --stage 2 --steps 20000     # frozen e4e -> w₀⁺, Î₀; E([I, Î₀]) -> ΔW
    python -m train.refinestyle --stage 2 --steps 300 --lr 3e-4 --d-model 128 --rank 8 --name ablation_l8 --no-export  # ablation rows
    torchrun --nproc_per_node 8 -m train.refinestyle --zoo ffhq --data ffhq/images1024x1024 --device cuda

Loss: RefineStyle Eq. 6 (λ₂ = 1, λ_p = 0.8, λ_id = 0.1) on the zoo's perceptual and identity
nets; images half real (--data, default the EmojiBench Google train split), half generator samples
(flags, resuming and DDP: train/recipe.py); e4e's optimiser, Ranger (train/optimisers.py; Adam
with --optimiser adam), with a 10× learning rate on the per-token scalings A, B (one scalar each,
so their steps are otherwise too small to open the residual within a CPU-sized budget) and no
gradient centralisation on them.

emoji64 choice of refined layers and rank: the paper's one-stage encoder refines N_r = 10 of 17
layers with L = 32 at 1024 px, where L/C is 32/512. emoji64's 9 conv layers carry the emoji's
detail (eyes, mouth, hair, outlines) at 16–64 px, so the one-stage default refines the fine half,
layers 4–8 (16, 32 and 64 px), with L = 16 (L/C from 16/160 to 16/64). The two-stage encoder
refines every conv layer, as the paper's does. The model card records the command with every choice of architecture and optimiser; training.json
has every argument. The
ablation rows of bench/inversion.py vary both (L ∈ {8, 32}, N_r ∈ {half, all}), the token sets, and
switch off grouping and learnable scalings, on the two-stage model (it starts from e4e's code, so a
short equal budget per row already separates them).
"""
from __future__ import annotations

import argparse
import json

import torch

from nets.e4e import E4EEncoder
from nets.refinestyle import RefineStyleEncoder
from nets.stylegan2 import Generator
from pipelines.emojibench import default_root
from pipelines.losses import ReconstructionLoss
from pipelines.runtime import seeded_initialisation, tune_cpu_allocator
from pipelines.zoo import Zoo, open_zoo

from .e4e import training_batch
from .export import ModelCard, ship
from .optimisers import add_optimiser_flag, optimiser
from .recipe import (add_data_flag, add_training_flags, data_name, export_folder, run_steps, setup_distributed,
                     training_images)

DEFAULT_LAYERS = [4, 5, 6, 7, 8]


def build_encoder(g: Generator, stage: int, rank: int, layers: list[int], grouped: bool = True,
                  learn_scalings: bool = True, token_sets: int = 2, d_model: int = 256,
                  widths: list[int] | None = None, e4e: E4EEncoder | None = None) -> RefineStyleEncoder:
    """With `e4e`, the image encoder is an IR-SE pyramid of e4e's shape started from e4e's body (the paper's
    pre-trained pyramid); without, the strided CNN of `widths` from scratch."""
    chans = [[c.conv.in_channels, c.conv.out_channels] for c in g.synthesis.convs]
    ir_se = None if e4e is None else {"stem": e4e.stem, "stages": e4e.stages, "input_size": e4e.input_size}
    enc = RefineStyleEncoder(g.num_ws, g.w_dim, g.z_dim, len(g.mapping.layers), chans, layers, rank=rank,
                             d_model=d_model, widths=widths, input_size=g.size,
                             input_channels=3 if stage == 1 else 6, predict_w=stage == 1,
                             grouped=grouped, learn_scalings=learn_scalings, token_sets=token_sets, ir_se=ir_se)
    if e4e is not None:
        enc.features.init_from_e4e(e4e)
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
    add_training_flags(p, None, batch=8, lr=1e-4, steps=20000)
    add_data_flag(p)
    p.add_argument("--stage", type=int, choices=(1, 2), default=1)
    p.add_argument("--rank", type=int, default=16)
    p.add_argument("--layers", type=int, nargs="+", default=None,
                   help=f"refined conv layers (default: {DEFAULT_LAYERS} for --stage 1, every layer for --stage 2)")
    p.add_argument("--no-grouping", action="store_true")
    p.add_argument("--fixed-scalings", action="store_true")
    p.add_argument("--token-sets", type=int, choices=(1, 2), default=2,
                   help="2: the paper's separate P and Q tokens; 1: one set read by both heads (ours, earlier)")
    p.add_argument("--d-model", type=int, default=256, help="width d of the tokens and the transformer blocks")
    p.add_argument("--widths", type=int, nargs="+", default=None,
                   help="channels of the --image-encoder cnn stages (default 64 128 192 256; the last three feed the "
                        "tokens)")
    p.add_argument("--image-encoder", choices=("ir_se", "cnn"), default="ir_se",
                   help="ir_se: the paper's pre-trained pyramid, an IR-SE body started from the zoo's e4e; "
                        "cnn: a strided CNN of --widths from scratch (ours, the earlier encoders)")
    p.add_argument("--real-fraction", type=float, default=None,
                   help="share of real images per batch, the rest generator samples (default: 0.5 one-stage, 1 two-stage)")
    add_optimiser_flag(p)
    p.add_argument("--scaling-lr-mul", type=float, default=10.0, help="learning-rate factor of A, B (scalars per token)")
    p.add_argument("--name", default=None, help="run and slot name (default refinestyle_1s / refinestyle_2s)")
    p.add_argument("--no-export", action="store_true", help="keep the result in the run folder (ablations)")
    args = p.parse_args(argv)
    if args.widths and args.image_encoder != "cnn":
        p.error("--widths shapes the cnn image encoder; the ir_se pyramid has e4e's widths")
    if args.real_fraction is None:
        args.real_fraction = 0.5 if args.stage == 1 else 1.0
    tune_cpu_allocator()
    ddp = setup_distributed(args.device)
    name = args.name or f"refinestyle_{args.stage}s"
    args.run_dir = args.run_dir or default_root() / "runs" / name
    zoo = open_zoo(args.zoo)
    with seeded_initialisation(args.seed) as gen:  # the initial weights; gen then draws the batches
        g = zoo.load("generator", ddp.device)
        if args.layers is None:
            args.layers = DEFAULT_LAYERS if args.stage == 1 else list(range(len(g.synthesis.convs)))
        judge = zoo.load("perceptual", ddp.device)
        e4e = zoo.load("e4e", ddp.device) if args.stage == 2 or args.image_encoder == "ir_se" else None
        base = e4e if args.stage == 2 else None
        enc = build_encoder(g, args.stage, args.rank, args.layers, not args.no_grouping, not args.fixed_scalings,
                            args.token_sets, args.d_model, args.widths, e4e if args.image_encoder == "ir_se" else None)
    loss = ReconstructionLoss(judge.perceptual_distance, judge.identity)
    enc = enc.to(ddp.device)
    scalings = [q for q in (enc.scale_a, enc.scale_b) if q.requires_grad]
    rest = [q for q in enc.parameters() if q.requires_grad and all(q is not s for s in scalings)]
    # A, B are one scalar per token: centralising them would cancel the step that grows a layer's scalings together
    opt = optimiser(args.optimiser, [{"params": rest}, {"params": scalings, "lr": args.lr * args.scaling_lr_mul,
                                                        "centralise": False}], args.lr)
    reals = training_images(args.data, g.size)
    objective = ddp.objective({"encoder": enc}, lambda images: step_loss(enc, g, loss, images, base))

    def step(i: int) -> dict[str, float]:
        batch = training_batch(reals, g, args.batch, gen, args.real_fraction)
        total, parts = objective(ddp.shard(batch))
        opt.zero_grad(set_to_none=True)
        total.backward()
        opt.step()
        return parts

    meta = run_steps(args, ddp, {"encoder": enc}, {"encoder": opt}, step, args.steps, args.ckpt_every)
    if ddp.main:
        export(enc, g, base, reals[:16].to(ddp.device), zoo, name, meta, args)
    ddp.close()


def export(enc: RefineStyleEncoder, g: Generator, base: E4EEncoder | None, images: torch.Tensor, zoo: Zoo, name: str,
           meta: dict, args: argparse.Namespace) -> None:
    """Ship the encoder into the zoo's slot `name` (or the run folder with --no-export)."""
    enc.eval()
    folder = args.run_dir / "export" if args.no_export else export_folder(zoo, name)
    if base is not None:
        with torch.no_grad():
            images = torch.cat([images, g.synthesis(base(images)).clamp(-1, 1)], dim=1)
    card = ModelCard(
        f"{zoo.name} RefineStyle {args.stage}-stage encoder ({name})",
        f"`nets/refinestyle.py`, refined layers {args.layers}, L = {args.rank}, {args.token_sets} token set(s), "
        f"d = {args.d_model}, image encoder {args.image_encoder}, grouping {not args.no_grouping}, "
        f"learnable scalings {not args.fixed_scalings}, on {data_name(args.data)}"
        + (f" ({args.real_fraction:.0%} of each batch) and generator samples" if args.real_fraction < 1 else ""),
        f"python -m train.refinestyle --stage {args.stage} --steps {args.steps} --lr {args.lr:g} --rank {args.rank} "
        f"--layers {' '.join(map(str, args.layers))} --token-sets {args.token_sets} --d-model {args.d_model} "
        f"--image-encoder {args.image_encoder} --optimiser {args.optimiser}"
        + (f" --widths {' '.join(map(str, args.widths))}" if args.widths else "")
        + " --no-grouping" * args.no_grouping + " --fixed-scalings" * args.fixed_scalings, vars(args), meta,
        f"RefineStyle {args.stage}-stage encoder trained by train/refinestyle.py")
    ship(enc, folder, card, lambda e: flatten_outputs(e(images)), 2e-2, None if args.no_export else name, zoo.manifest)
    print(json.dumps(meta))


if __name__ == "__main__":
    main()
