"""Train EmojiNet (nets/emojinet.py) on every style of the EmojiBench train split, evaluate, export.

    python -m train.emojinet                 # train (resumable), evaluate on the test split, export
    python -m train.emojinet --styles google twitter   # the earlier two-style recipe (an ablation row)

Each step draws `--batch` emoji as pairs of renderings in two different styles: a first style
uniformly over `--styles`, an emoji that style draws, then a second style uniformly among the
other styles that draw it (so the rare styles, line art and EmojiOne, are paired as often as the
others). Identity: CosFace (s = 16, m = 0.2) over the train identities, every rendering of an
emoji (every style, every skin tone) in one class, plus an InfoNCE term that pulls each pair's two
renderings together within a batch. Attributes: cross-entropy per head on both renderings, except
the skin-tone head on renderings of a style drawn in black and white (`COLOURLESS`: line art shows no
skin tone, so its label there is noise that cost the two-style recipe's skin accuracy). Inputs
are jittered (±4 px translation on white, light Gaussian noise and blur) so that the network also
reads generated samples. AdamW, cosine schedule.

Evaluation on the test split (identities never seen in training; `pipelines/evaluation/emojinet.py`,
which bench.zoo_emoji64 runs too): Google → Twitter retrieval R@1, per-attribute accuracy over the
Google and Twitter renderings, and the mean cross-style R@1 over every ordered pair of styles.
"""
from __future__ import annotations

import argparse
import json
import math

import torch
import torch.nn.functional as F

from nets.emojinet import ATTRIBUTES, EmojiNet
from pipelines.emojibench import COLOURLESS, STYLE_NAMES, STYLES, EmojiBench, load_emojibench
from pipelines.evaluation.emojinet import cross_style, evaluate
from pipelines.runtime import seeded_initialisation, tune_cpu_allocator
from pipelines.zoo import open_zoo, register_local_slot

from .augment import _translation
from .export import save_network
from .recipe import Distributed, add_training_flags, export_folder, run_steps, setup_distributed


def jitter(x: torch.Tensor, generator: torch.Generator, blur_prob: float = 0.5, noise: float = 0.03) -> torch.Tensor:
    """Translation (±4 px, white), Gaussian noise of a std drawn in [0, `noise`), and a mild blur on a
    `blur_prob` share of the batch; x [B, 3, H, W] on the CPU, every draw from `generator`."""
    x = _translation(x, generator, ratio=4 / 64)
    strength = noise * torch.rand(x.shape[0], 1, 1, 1, generator=generator)  # [B, 1, 1, 1]
    x = x + strength * torch.empty_like(x).normal_(generator=generator)  # torch.randn_like's draws, from generator
    k = torch.tensor([1.0, 2.0, 1.0])
    k = (k[:, None] * k[None, :] / 16).expand(3, 1, 3, 3)
    blurred = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), k, groups=3)
    pick = (torch.rand(x.shape[0], 1, 1, 1, generator=generator) < blur_prob).float()
    return pick * blurred + (1 - pick) * x


def attribute_loss(logits: dict[str, torch.Tensor], labels: dict[str, torch.Tensor], coloured: torch.Tensor
                   ) -> torch.Tensor:
    """Sum over the attribute heads of the mean cross-entropy; the skin-tone head's mean only over the
    renderings whose style shows colour.  logits {head: [N, classes]}, labels {head: [N]}, coloured bool [N]."""
    total = logits["skin"].new_zeros(())
    for f, z in logits.items():
        ce = F.cross_entropy(z, labels[f], reduction="none")  # [N]
        total = total + (ce[coloured].sum() / coloured.sum().clamp_min(1) if f == "skin" else ce.mean())
    return total


def style_pairs(drawn: torch.Tensor, batch: int, generator: torch.Generator
                ) -> tuple[torch.Tensor, list[int], list[int]]:
    """`batch` rows, each with two different styles that draw it. drawn: bool [N, S], which style draws
    which row. The first style is uniform over the S styles, the row uniform among those it draws (and some
    other style draws too), the second style uniform among the row's other styles.
    -> (rows [batch], first styles, second styles) as indices into drawn's columns"""
    pairable = [torch.nonzero(drawn[:, k] & (drawn.sum(1) > 1)).flatten() for k in range(drawn.shape[1])]
    lonely = [k for k, rows in enumerate(pairable) if len(rows) == 0]
    if lonely:
        raise ValueError(f"styles {lonely} (columns of drawn) share no row with another style: nothing to pair")
    first = torch.randint(drawn.shape[1], (batch,), generator=generator).tolist()
    rows = torch.stack([pairable[k][torch.randint(len(pairable[k]), (), generator=generator)] for k in first])
    second = []
    for k, r in zip(first, rows.tolist()):
        others = [j for j in torch.nonzero(drawn[r]).flatten().tolist() if j != k]
        second.append(others[int(torch.randint(len(others), (), generator=generator))])
    return rows, first, second


def train(args: argparse.Namespace, ddp: Distributed) -> EmojiNet:
    data = load_emojibench()
    tr = data.indices("train")
    bases = sorted({data.records[i]["base"] for i in tr})
    ident = torch.tensor([bases.index(data.records[i]["base"]) for i in tr])  # [N]
    labels = {f: torch.from_numpy(data.label_ids(f)[tr]) for f in ATTRIBUTES}
    images = {s: torch.from_numpy(data.style(s)[tr]) for s in args.styles}  # uint8 [N, 64, 64, 3]
    drawn = torch.stack([torch.from_numpy(data.has_style(s)[tr]) for s in args.styles], 1)  # bool [N, S]
    with seeded_initialisation(args.seed) as gen:  # the initial weights; gen then draws the batches
        net = EmojiNet()
        classes = torch.nn.Parameter(torch.randn(len(bases), net.embed.out_features) * 0.01)
    params = list(net.parameters()) + [classes]
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=1e-4)
    holder = torch.nn.ParameterDict({"classes": classes})
    net, holder = net.to(ddp.device), holder.to(ddp.device)
    steps_per_epoch = math.ceil(int(drawn.sum()) / (2 * args.batch))  # an epoch: every train rendering once
    total = args.epochs * steps_per_epoch

    def losses(x: torch.Tensor, y: torch.Tensor, attributes: dict[str, torch.Tensor], coloured: torch.Tensor
               ) -> tuple[torch.Tensor, dict]:
        """x [2b, 3, 64, 64]: rows i and i + b are one emoji in two styles; y [b] identities; coloured [2b]:
        whether each rendering's style shows skin tones."""
        out = net(x)
        emb = out["embedding"]
        b = len(y)
        cos = emb @ F.normalize(holder["classes"], dim=1).t()  # [2b, n_ids]
        margin = F.one_hot(y.repeat(2), len(bases)) * 0.2
        loss_id = F.cross_entropy(16 * (cos - margin), y.repeat(2))
        pair = emb[:b] @ emb[b:].t() / 0.1  # [b, b]
        same = (y[:, None] == y[None, :]).float()
        loss_pair = -(F.log_softmax(pair, 1) * same / same.sum(1, keepdim=True)).sum(1).mean()
        loss_attr = attribute_loss(out["logits"], {f: v.repeat(2) for f, v in attributes.items()}, coloured)
        return loss_id + loss_pair + loss_attr, {"id": loss_id.item(), "pair": loss_pair.item(), "attr": loss_attr.item()}

    objective = ddp.objective({"net": net, "classes": holder}, losses)

    def step(i: int) -> dict[str, float]:
        for group in opt.param_groups:
            group["lr"] = args.lr * 0.5 * (1 + math.cos(math.pi * i / total))
        b, first, second = style_pairs(drawn, args.batch, gen)
        x = torch.stack([images[args.styles[s]][r] for s, r in zip(first + second, b.tolist() * 2)])
        x = jitter(EmojiBench.tensor(x.numpy()), gen)  # [2B, 3, 64, 64]: row i and i + B are one emoji
        coloured = torch.tensor([args.styles[s] not in COLOURLESS for s in first + second])  # [2B]
        mine = ddp.shard(b)  # each process keeps both styles of its emoji
        x = torch.cat([ddp.shard(x[: args.batch]), ddp.shard(x[args.batch :])]).to(ddp.device)
        coloured = torch.cat([ddp.shard(coloured[: args.batch]), ddp.shard(coloured[args.batch :])]).to(ddp.device)
        loss, parts = objective(x, ident[mine].to(ddp.device), {f: v[mine].to(ddp.device) for f, v in labels.items()},
                                coloured)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return parts

    meta = run_steps(args, ddp, {"net": net, "classes": holder}, {"opt": opt}, step, total, steps_per_epoch * 5)
    net.eval()
    net.training_meta = meta  # for the model card
    return net


def export(net: EmojiNet, metrics: dict, meta: dict, args: argparse.Namespace) -> None:
    x = EmojiBench.tensor(load_emojibench().google[:64])
    zoo = open_zoo(args.zoo)
    folder = export_folder(zoo, "emojinet")
    styles = "" if tuple(args.styles) == STYLES else " --styles " + " ".join(args.styles)
    command = f"python -m train.emojinet --epochs {args.epochs}" + styles
    record = {"metrics": metrics, "steps": meta["step"], "minutes": meta["seconds"] / 60,
              "command": command, "args": vars(args)}
    use_half, drift = save_network(net, folder, lambda m: m.identity(x), 1e-2, record)
    (folder / "README.md").write_text(f"""# EmojiNet ({zoo.name} perceptual / identity)

A {sum(p.numel() for p in net.parameters()) / 1e6:.2f} M-parameter CNN (`nets/emojinet.py`): five stages
(64 → 4 px), a 128-d unit identity embedding, attribute heads ({', '.join(ATTRIBUTES)}).

- **Data**: {len(args.styles)} styles of the EmojiBench train split ({', '.join(STYLE_NAMES[s] for s in args.styles)};
  licences in the EmojiBench data card), as pairs of renderings of one emoji in two styles.
- **Command**: `{command}` ({meta['step']} steps, {meta['seconds'] / 60:.1f} min on {torch.get_num_threads()} CPU thread(s)).
- **Weights**: {'fp16' if use_half else 'fp32'} safetensors (fp16 moves embeddings by at most {drift:.4f}).
- **Test split** (identities unseen in training):

| metric | value |
|---|---:|
""" + "\n".join(f"| {k} | {v:.3f} |" for k, v in metrics.items()) + "\n")
    notes = {"perceptual": "EmojiNet feature distance (stands in for LPIPS)",
             "identity": "EmojiNet identity embedding cosine (stands in for ArcFace)"}
    for slot, note in notes.items():
        register_local_slot(zoo.manifest, slot, folder, options={"class": "EmojiNet"}, note=note)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_training_flags(p, "emojinet", batch=48, lr=2e-3, ckpt_every=None, batch_help="emoji per step (each in two styles)")
    p.add_argument("--epochs", type=int, default=24, help="passes over the train renderings of --styles")
    p.add_argument("--styles", nargs="+", choices=STYLES, default=list(STYLES), help="styles to pair (at least two)")
    p.add_argument("--no-export", action="store_true", help="evaluate only")
    args = p.parse_args(argv)
    if len(args.styles) < 2:
        p.error("--styles needs at least two styles to pair")
    tune_cpu_allocator()
    ddp = setup_distributed(args.device)
    net = train(args, ddp)
    if ddp.main:
        data = load_emojibench()
        across = cross_style(net.cpu(), data)
        metrics = {**evaluate(net, data), "cross_style_r1_mean": across["mean"]}
        print(json.dumps(metrics, indent=1))
        if not args.no_export:
            export(net, metrics, net.training_meta, args)
    ddp.close()


if __name__ == "__main__":
    main()
