"""Train the emoji64 parsing U-Net (nets/parsing_unet.py) on a dense region task, evaluate, export.

    python -m train.parsing                   # train (resumable), evaluate on the test split, export

The dense task: label every pixel with one of six colour regions, REGIONS below, from its colour
and its connection to the border (`region_labels`): the white background (white connected to
the border), white parts inside the drawing (eyes, teeth), dark regions (outlines, pupils, brows,
mouth lines, dark hair), warm colours (the yellow of smileys, skin tones, blond and brown hair),
red (tongues, blush, hearts) and everything else (clothes, objects). The rule is a colour rule,
not a semantic parse: on emoji64 no part annotation exists, and what GaNI's loss needs from the
parser is features of spatial structure trained on a dense task (not on identity, as EmojiNet's
are). Fluent's flat rendering draws the same geometry as its gradient-shaded colour rendering in
plain colours, so a Fluent colour input is labelled from its flat twin: there the network has to
see through shading and highlights to the regions beneath them. Inputs: Google, Twitter and
Fluent flat (each labelled from itself) and Fluent colour (labelled from flat), with a ±4 px
translation applied to image and labels alike.

Evaluation on the test split: pixel accuracy and mean IoU per input style, and the linear-probe
R² of each contracting-path level from EmojiNet's stage of the same resolution (ridge regression
per pixel, fitted on train images, scored on test images): a low R² says the parsing features
are not a linear function of EmojiNet's, so GaNI's parsing loss is not the perceptual loss again.
"""
from __future__ import annotations

import argparse
import math

import numpy as np
import torch
import torch.nn.functional as F

from nets.emojinet import EmojiNet
from nets.parsing_unet import ParsingUNet
from pipelines.emojibench import EmojiBench, load_emojibench
from pipelines.runtime import seeded_initialisation
from pipelines.zoo import open_zoo, register_local_slot

from .export import save_network
from .recipe import (Distributed, add_training_flags, cosine_lr, descend, export_folder, run_steps,
                     train_evaluate_export)

REGIONS = ["background", "white", "dark", "warm", "red", "other"]
SOURCES = {"google": "google", "twitter": "twitter", "fluent_flat": "fluent_flat", "fluent": "fluent_flat"}  # input -> label


def region_labels(images: np.ndarray) -> torch.Tensor:
    """uint8 [N, H, W, 3] -> region ids [N, H, W] (the module docstring's rule)."""
    x = torch.from_numpy(images).float() / 255  # [N, H, W, 3]
    hi, lo = x.max(-1).values, x.min(-1).values
    lum = x @ torch.tensor([0.299, 0.587, 0.114])
    sat = torch.where(hi > 0, (hi - lo) / hi.clamp(min=1e-6), torch.zeros_like(hi))
    r, g, b = x.unbind(-1)
    hue = torch.rad2deg(torch.atan2(math.sqrt(3) * (g - b), 2 * r - g - b)) % 360  # [N, H, W] degrees
    white = lo > 0.9
    outside = torch.zeros_like(white)  # white reachable from the border through white pixels
    outside[:, 0, :], outside[:, -1, :], outside[:, :, 0], outside[:, :, -1] = (
        white[:, 0, :], white[:, -1, :], white[:, :, 0], white[:, :, -1])
    for _ in range(2 * images.shape[1]):
        grown = F.max_pool2d(outside[:, None].float(), 3, 1, 1)[:, 0].bool() & white
        if torch.equal(grown, outside):
            break
        outside = grown
    labels = torch.full(white.shape, REGIONS.index("other"), dtype=torch.long)
    labels[(hue >= 5) & (hue <= 60) & (sat > 0.2)] = REGIONS.index("warm")
    labels[((hue < 5) | (hue > 330)) & (sat > 0.4)] = REGIONS.index("red")
    labels[lum < 0.22] = REGIONS.index("dark")
    labels[white & ~outside] = REGIONS.index("white")
    labels[outside] = REGIONS.index("background")
    return labels


def paired_rows(data: EmojiBench, split: str) -> dict[str, np.ndarray]:
    """For each input style, the rows of `split` drawn by it and by its label source."""
    idx = data.indices(split)
    return {s: idx[data.has_style(s)[idx] & data.has_style(src)[idx]] for s, src in SOURCES.items()}


def shift(x: torch.Tensor, y: torch.Tensor, gen: torch.Generator, pixels: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """The same random translation of images [B, 3, H, W] (white fill) and labels [B, H, W] (background)."""
    b, _, h, w = x.shape
    pad_x = F.pad(x, (pixels,) * 4, value=1.0)
    pad_y = F.pad(y, (pixels,) * 4, value=REGIONS.index("background"))
    dy, dx = torch.randint(0, 2 * pixels + 1, (2, b), generator=gen)
    xs = torch.stack([pad_x[i, :, dy[i] : dy[i] + h, dx[i] : dx[i] + w] for i in range(b)])
    ys = torch.stack([pad_y[i, dy[i] : dy[i] + h, dx[i] : dx[i] + w] for i in range(b)])
    return xs, ys


def batches(data: EmojiBench, split: str) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Per input style: images [N, 3, 64, 64] in [-1, 1] and their region labels [N, 64, 64]."""
    rows = paired_rows(data, split)
    return {s: (data.tensor(data.style(s)[r]), region_labels(data.style(SOURCES[s])[r])) for s, r in rows.items()}


@torch.no_grad()
def segmentation_scores(net: ParsingUNet, images: torch.Tensor, labels: torch.Tensor) -> dict:
    pred = torch.cat([net(images[i : i + 256]).argmax(1) for i in range(0, len(images), 256)])
    ious = []
    for c in range(len(REGIONS)):
        inter = ((pred == c) & (labels == c)).sum().item()
        union = ((pred == c) | (labels == c)).sum().item()
        if union:
            ious.append(inter / union)
    return {"pixel_accuracy": (pred == labels).double().mean().item(), "mean_iou": float(np.mean(ious))}


@torch.no_grad()
def linear_probe_r2(net: ParsingUNet, emojinet: EmojiNet, train_x: torch.Tensor, test_x: torch.Tensor,
                    ridge: float = 1e-3, pixels: int = 20000) -> list[float]:
    """R² of each parsing level's per-pixel features predicted linearly from EmojiNet's stage of the
    same resolution: ridge fitted on (a random subset of) train pixels, scored on test pixels."""
    gen = torch.Generator().manual_seed(0)

    def rows(x: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        out = []
        for a, b in zip(emojinet.features(x), net.features(x)):
            out.append((a.permute(0, 2, 3, 1).reshape(-1, a.shape[1]).double(),
                        b.permute(0, 2, 3, 1).reshape(-1, b.shape[1]).double()))
        return out

    scores = []
    for (a_tr, b_tr), (a_te, b_te) in zip(rows(train_x), rows(test_x)):
        pick = torch.randperm(len(a_tr), generator=gen)[:pixels]
        a_tr, b_tr = a_tr[pick], b_tr[pick]
        mu_a, mu_b = a_tr.mean(0), b_tr.mean(0)
        a0, b0 = a_tr - mu_a, b_tr - mu_b
        gram = a0.t() @ a0 + ridge * len(a0) * torch.eye(a0.shape[1], dtype=a0.dtype)
        coef = torch.linalg.solve(gram, a0.t() @ b0)  # [C_a, C_b]
        pred = (a_te - mu_a) @ coef + mu_b
        scores.append(1 - ((b_te - pred).square().sum() / (b_te - b_te.mean(0)).square().sum()).item())
    return scores


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


def evaluate(net: ParsingUNet, data: EmojiBench, emojinet: EmojiNet) -> dict:
    net.eval()
    test_sets = batches(data, "test")
    out = {style: segmentation_scores(net, x, y) for style, (x, y) in test_sets.items()}
    out["mean_iou"] = float(np.mean([v["mean_iou"] for v in out.values()]))
    tr, te = data.indices("train"), data.indices("test")
    probe_train = data.tensor(data.google[tr[:: max(1, len(tr) // 256)]])
    out["linear_probe_r2_from_emojinet"] = linear_probe_r2(net, emojinet, probe_train, data.tensor(data.google[te]))
    return out


def export(net: ParsingUNet, metrics: dict, meta: dict, args: argparse.Namespace) -> None:
    data = load_emojibench()
    x = data.tensor(data.google[:64])
    zoo = open_zoo(args.zoo)
    folder = export_folder(zoo, "parsing")
    record = {"metrics": metrics, "steps": meta["step"], "minutes": meta["seconds"] / 60,
              "command": "python -m train.parsing", "args": {k: str(v) for k, v in vars(args).items()}}
    use_half, drift = save_network(net, folder, lambda m: torch.cat([f.flatten(1) for f in m.features(x)], 1), 1e-2,
                                   record)
    rows = "\n".join(f"| {s} | {metrics[s]['pixel_accuracy']:.3f} | {metrics[s]['mean_iou']:.3f} |" for s in SOURCES)
    r2 = ", ".join(f"{v:.2f}" for v in metrics["linear_probe_r2_from_emojinet"])
    (folder / "README.md").write_text(f"""# {zoo.name} parsing U-Net

A {sum(p.numel() for p in net.parameters()) / 1e6:.2f} M-parameter U-Net (`nets/parsing_unet.py`) that labels each
pixel as one of {', '.join(REGIONS)} (`train/parsing.py` gives the rule). Its five contracting-path
feature maps are the {zoo.name} zoo's `parsing` slot: GaNI's multi-layer parsing loss.

- **Data**: EmojiBench train split; Google, Twitter and Fluent flat inputs labelled from themselves,
  Fluent colour inputs labelled from their flat twins.
- **Command**: `python -m train.parsing` ({meta['step']} steps, {meta['seconds'] / 60:.1f} min on
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
