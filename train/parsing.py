"""Train the emoji64 parsing U-Net (nets/parsing_unet.py) on a dense region task, evaluate, export.

    python -m train.parsing                   # train (resumable), evaluate on the test split, export

The dense task (`pipelines/evaluation/parsing.py`: REGIONS, `region_labels`, SOURCES): label every
pixel with one of six colour regions from its colour and its connection to the border: the white
background, white parts inside the drawing (eyes, teeth), dark regions (outlines, pupils, brows,
mouth lines, dark hair), warm colours (the yellow of smileys, skin tones, blond and brown hair),
red (tongues, blush, hearts) and everything else (clothes, objects). The rule is a colour rule,
not a semantic parse: on emoji64 no part annotation exists, and what GaNI's loss needs from the
parser is features of spatial structure trained on a dense task (not on identity, as EmojiNet's
are). Fluent's flat rendering draws the same geometry as its gradient-shaded colour rendering in
plain colours, so a Fluent colour input is labelled from its flat twin: there the network has to
see through shading and highlights to the regions beneath them. Inputs: Google, Twitter and
Fluent flat (each labelled from itself) and Fluent colour (labelled from flat), with a ±4 px
translation applied to image and labels alike.

Evaluation on the test split (`pipelines/evaluation/parsing.py`, which bench.zoo_emoji64 runs too):
pixel accuracy and mean IoU per input style, and the linear-probe R² of each contracting-path level
from EmojiNet's stage of the same resolution (ridge regression per pixel, fitted on train images,
scored on test images): a low R² says the parsing features are not a linear function of EmojiNet's,
so GaNI's parsing loss is not the perceptual loss again.
"""
from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from nets.parsing_unet import ParsingUNet
from pipelines.emojibench import load_emojibench
from pipelines.evaluation.parsing import REGIONS, SOURCES, batches, evaluate
from pipelines.runtime import seeded_initialisation
from pipelines.zoo import open_zoo, register_local_slot

from .export import save_network
from .recipe import (Distributed, add_training_flags, cosine_lr, descend, export_folder, run_steps,
                     train_evaluate_export)


def shift(x: torch.Tensor, y: torch.Tensor, gen: torch.Generator, pixels: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """The same random translation of images [B, 3, H, W] (white fill) and labels [B, H, W] (background)."""
    b, _, h, w = x.shape
    pad_x = F.pad(x, (pixels,) * 4, value=1.0)
    pad_y = F.pad(y, (pixels,) * 4, value=REGIONS.index("background"))
    dy, dx = torch.randint(0, 2 * pixels + 1, (2, b), generator=gen)
    xs = torch.stack([pad_x[i, :, dy[i] : dy[i] + h, dx[i] : dx[i] + w] for i in range(b)])
    ys = torch.stack([pad_y[i, dy[i] : dy[i] + h, dx[i] : dx[i] + w] for i in range(b)])
    return xs, ys


def train(args: argparse.Namespace, ddp: Distributed) -> tuple[ParsingUNet, dict]:
    gen = torch.Generator().manual_seed(args.seed)  # the batches and their shifts
    data = load_emojibench()
    train_sets = batches(data, "train")
    styles = list(train_sets)
    with seeded_initialisation(args.seed):
        net = ParsingUNet(REGIONS).to(ddp.device)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=1e-4)
    net.train()
    objective = ddp.objective({"net": net}, lambda x, y: F.cross_entropy(net(x), y))

    def step(i: int) -> dict[str, float]:
        cosine_lr(opt, args.lr, i, args.steps)
        per_style = args.batch // len(styles)
        xs, ys = [], []
        for s in styles:
            images, labels = train_sets[s]
            pick = torch.randint(len(images), (per_style,), generator=gen)
            xs.append(images[pick])
            ys.append(labels[pick])
        x, y = shift(torch.cat(xs), torch.cat(ys), gen)
        return descend(opt, objective(ddp.shard(x).to(ddp.device), ddp.shard(y).to(ddp.device)))

    meta = run_steps(args, ddp, {"net": net}, {"opt": opt}, step, args.steps, args.ckpt_every)
    net.eval()
    return net, meta


def export(net: ParsingUNet, metrics: dict, meta: dict, args: argparse.Namespace) -> None:
    data = load_emojibench()
    x = data.tensor(data.google[:64])
    zoo = open_zoo(args.zoo)
    folder = export_folder(zoo, "parsing")
    command = f"python -m train.parsing --steps {args.steps} --batch {args.batch} --lr {args.lr}"
    record = {"metrics": metrics, "steps": meta["step"], "minutes": meta["seconds"] / 60, "command": command,
              "args": {k: str(v) for k, v in vars(args).items()}}
    use_half, drift = save_network(net, folder, lambda m: torch.cat([f.flatten(1) for f in m.features(x)], 1), 1e-2,
                                   record)
    rows = "\n".join(f"| {s} | {metrics[s]['pixel_accuracy']:.3f} | {metrics[s]['mean_iou']:.3f} |" for s in SOURCES)
    r2 = ", ".join(f"{v:.2f}" for v in metrics["linear_probe_r2_from_emojinet"])
    (folder / "README.md").write_text(f"""# {zoo.name} parsing U-Net

A {sum(p.numel() for p in net.parameters()) / 1e6:.2f} M-parameter U-Net (`nets/parsing_unet.py`) that labels each
pixel as one of {', '.join(REGIONS)} (`pipelines/evaluation/parsing.py` gives the rule). Its five contracting-path
feature maps are the {zoo.name} zoo's `parsing` slot: GaNI's multi-layer parsing loss.

- **Data**: EmojiBench train split; Google, Twitter and Fluent flat inputs labelled from themselves,
  Fluent colour inputs labelled from their flat twins.
- **Command**: `{command}` ({meta['step']} steps, {meta['seconds'] / 60:.1f} min on
  {torch.get_num_threads()} CPU thread(s)).
- **Weights**: {'fp16' if use_half else 'fp32'} safetensors (fp16 moves features by at most {drift:.4f}).

**Test split**:

| input style | pixel accuracy | mean IoU |
|---|---:|---:|
{rows}

Linear-probe R² of the five contracting-path levels from EmojiNet's stages of the same resolution
(Google test images; 1 would mean the parsing features are a linear function of EmojiNet's): {r2}.
""")
    register_local_slot(zoo.manifest, "parsing", folder, options={"class": "ParsingUNet"},
                        note="parsing U-Net contracting-path features (GaNI's parsing loss)")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_training_flags(p, "parsing", batch=32, lr=2e-3, steps=1500, ckpt_every=250)
    p.add_argument("--no-export", action="store_true", help="evaluate only")
    args = p.parse_args(argv)
    train_evaluate_export(args, train, lambda net: evaluate(net, load_emojibench(), open_zoo(args.zoo).load("perceptual")),
                          export)


if __name__ == "__main__":
    main()
