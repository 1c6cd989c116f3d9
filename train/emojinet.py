"""Train EmojiNet (nets/emojinet.py) on both styles of the EmojiBench train split, evaluate, export.

    python -m train.emojinet                 # train (resumable), evaluate on the test split, export

Identity: CosFace (s = 16, m = 0.2) over the train identities, with the Google and Twitter
renderings of an emoji (every skin tone) in one class, plus an InfoNCE term that pulls each
emoji's two renderings together within a batch. Attributes: cross-entropy per head. Inputs
are jittered (±4 px translation on white, light Gaussian noise and blur) so that the network
also reads generated samples. AdamW, cosine schedule.

Evaluation on the test split (identities never seen in training): cross-style retrieval R@1
(each Google image queries the Twitter images of the test identities; a hit is any rendering of
the same emoji) and per-attribute accuracy over both styles.
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from nets.emojinet import ATTRIBUTES, EmojiNet
from pipelines.emojibench import EmojiBench, default_root, load_emojibench
from pipelines.runtime import tune_cpu_allocator
from pipelines.zoo import ASSETS, ZOOS_DIR, register_local_slot

from .augment import _translation
from .checkpoint import StepLogger, load_state, save_state
from .export import save_network

EXPORT = ASSETS / "zoo" / "emoji64" / "emojinet"


def jitter(x: torch.Tensor) -> torch.Tensor:
    """Translation (±4 px, white), light noise, and a mild blur on half the batch."""
    x = _translation(x, ratio=4 / 64)
    x = x + 0.03 * torch.rand(x.shape[0], 1, 1, 1) * torch.randn_like(x)
    k = torch.tensor([1.0, 2.0, 1.0])
    k = (k[:, None] * k[None, :] / 16).expand(3, 1, 3, 3)
    blurred = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), k, groups=3)
    pick = (torch.rand(x.shape[0], 1, 1, 1) < 0.5).float()
    return pick * blurred + (1 - pick) * x


@torch.no_grad()
def evaluate(net: EmojiNet, data: EmojiBench, split: str = "test") -> dict:
    net.eval()
    idx = data.indices(split)
    bases = np.array([data.records[i]["base"] for i in idx])
    out = {}
    per_style = {}
    for style in ("google", "twitter"):
        x = data.tensor(getattr(data, style)[idx])
        per_style[style] = net(x)
    q, g = per_style["google"]["embedding"], per_style["twitter"]["embedding"]
    nearest = (q @ g.t()).argmax(1).numpy()  # [N]
    out["retrieval_r1_google_to_twitter"] = float((bases[nearest] == bases).mean())
    for field, values in ATTRIBUTES.items():
        target = torch.from_numpy(data.label_ids(field)[idx])
        correct = sum((per_style[s]["logits"][field].argmax(1) == target).float().sum().item() for s in per_style)
        out[f"accuracy_{field}"] = correct / (2 * len(idx))
    net.train()
    return out


def train(args: argparse.Namespace) -> EmojiNet:
    torch.manual_seed(args.seed)
    data = load_emojibench()
    tr = data.indices("train")
    bases = sorted({data.records[i]["base"] for i in tr})
    ident = torch.tensor([bases.index(data.records[i]["base"]) for i in tr])  # [N]
    labels = {f: torch.from_numpy(data.label_ids(f)[tr]) for f in ATTRIBUTES}
    google, twitter = data.tensor(data.google[tr]), data.tensor(data.twitter[tr])  # [N, 3, 64, 64]
    net = EmojiNet()
    classes = torch.nn.Parameter(torch.randn(len(bases), net.embed.out_features) * 0.01)
    params = list(net.parameters()) + [classes]
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=1e-4)
    holder = torch.nn.ParameterDict({"classes": classes})
    steps_per_epoch = math.ceil(len(tr) / args.batch)
    total = args.epochs * steps_per_epoch
    meta = load_state(args.run_dir, {"net": net, "classes": holder}, {"opt": opt}) or {"step": 0, "seconds": 0.0}
    log = StepLogger(meta, args.log_every, total)
    while meta["step"] < total:
        step = meta["step"]
        for group in opt.param_groups:
            group["lr"] = args.lr * 0.5 * (1 + math.cos(math.pi * step / total))
        b = torch.randint(len(tr), (args.batch,))
        x = jitter(torch.cat([google[b], twitter[b]]))  # [2B, 3, 64, 64]: row i and i + B are one emoji
        out = net(x)
        emb = out["embedding"]
        y = ident[b].repeat(2)
        cos = emb @ F.normalize(classes, dim=1).t()  # [2B, n_ids]
        margin = F.one_hot(y, len(bases)) * 0.2
        loss_id = F.cross_entropy(16 * (cos - margin), y)
        pair = emb[: args.batch] @ emb[args.batch :].t() / 0.1  # [B, B]
        same = (ident[b][:, None] == ident[b][None, :]).float()
        loss_pair = -(F.log_softmax(pair, 1) * same / same.sum(1, keepdim=True)).sum(1).mean()
        loss_attr = sum(F.cross_entropy(out["logits"][f], labels[f][b].repeat(2)) for f in ATTRIBUTES)
        loss = loss_id + loss_pair + loss_attr
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        log.step({"id": loss_id.item(), "pair": loss_pair.item(), "attr": loss_attr.item()})
        if meta["step"] % (steps_per_epoch * 5) == 0 or meta["step"] == total:
            save_state(args.run_dir, {"net": net, "classes": holder}, {"opt": opt}, meta)
    net.eval()
    net.training_meta = meta  # for the model card
    return net


def export(net: EmojiNet, metrics: dict, meta: dict, args: argparse.Namespace) -> None:
    x = EmojiBench.tensor(load_emojibench().google[:64])
    record = {"metrics": metrics, "steps": meta["step"], "minutes": meta["seconds"] / 60,
              "command": "python -m train.emojinet", "args": vars(args)}
    use_half, drift = save_network(net, EXPORT, lambda m: m.identity(x), 1e-2, record)
    (EXPORT / "README.md").write_text(f"""# EmojiNet (emoji64 perceptual / identity / parsing)

A {sum(p.numel() for p in net.parameters()) / 1e6:.2f} M-parameter CNN (`nets/emojinet.py`): five stages
(64 → 4 px), a 128-d unit identity embedding, attribute heads ({', '.join(ATTRIBUTES)}).

- **Data**: both styles (Noto, Apache-2.0; Twemoji, CC-BY 4.0) of the EmojiBench train split.
- **Command**: `python -m train.emojinet` ({meta['step']} steps, {meta['seconds'] / 60:.1f} min on 2 CPU cores).
- **Weights**: {'fp16' if use_half else 'fp32'} safetensors (fp16 moves embeddings by at most {drift:.4f}).
- **Test split** (identities unseen in training):

| metric | value |
|---|---:|
""" + "\n".join(f"| {k} | {v:.3f} |" for k, v in metrics.items()) + "\n")
    manifest = ZOOS_DIR / "emoji64.json"
    notes = {"perceptual": "EmojiNet feature distance (stands in for LPIPS)",
             "identity": "EmojiNet identity embedding cosine (stands in for ArcFace)",
             "parsing": "EmojiNet multi-layer features (GaNI's parsing loss)"}
    for slot, note in notes.items():
        register_local_slot(manifest, slot, EXPORT, options={"class": "EmojiNet"}, note=note)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=45)
    p.add_argument("--batch", type=int, default=48, help="emoji per step (each in both styles)")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--run-dir", type=Path, default=default_root() / "runs" / "emojinet")
    args = p.parse_args(argv)
    tune_cpu_allocator()
    net = train(args)
    metrics = evaluate(net, load_emojibench())
    print(json.dumps(metrics, indent=1))
    export(net, metrics, net.training_meta, args)


if __name__ == "__main__":
    main()
