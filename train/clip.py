"""Train the emoji64 CLIP (nets/emoji_clip.py) contrastively on EmojiBench captions, evaluate, export.

    python -m train.clip

Captions are built from each emoji's name, tags, skin tone and style, with the words people type
for each style (STYLE_WORDS: "3d", "flat", "black and white", "line art", "glossy", the vendors'
names, ...): "a man cook emoji with medium skin tone, 3d style", "an emoji of a chef", "a line art
style emoji", ... One caption is drawn at random per image per step, over every EmojiBench style
of the train split (each batch draws its styles uniformly, then an emoji that style draws).
Symmetric InfoNCE with a learnable temperature (Radford et al. 2021); captions of the same emoji
in the same style in one batch are not counted as negatives. AdamW, warm-up then cosine.

Evaluation on the test split (`pipelines/evaluation/clip.py`, which bench.zoo_emoji64 runs too):
zero-shot style accuracy (every test image of every style against one prompt per style,
STYLE_PROMPTS) and text→image retrieval R@5 (each test emoji's name, "a {name} emoji", against
the Google renderings of the test split; a hit is any skin-tone variant of that emoji in the top five).
"""
from __future__ import annotations

import argparse
import math
import random

import torch
import torch.nn.functional as F

from nets.emoji_clip import EmojiClip
from pipelines.clip_text import tokenize
from pipelines.emojibench import STYLE_WORDS, STYLES, EmojiBench, load_emojibench
from pipelines.evaluation.clip import evaluate
from pipelines.runtime import seeded_initialisation
from pipelines.zoo import open_zoo, register_local_slot

from .augment import _translation
from .export import save_network
from .recipe import Distributed, add_training_flags, export_folder, run_steps, train_evaluate_export


def captions(record: dict, style: str) -> list[str]:
    """Every caption this emoji, in this style, can be trained with."""
    name = record["name"]
    out = [f"an emoji of {name}", f"a {name} emoji"]
    for word in STYLE_WORDS[style]:
        out += [f"a {name} emoji, {word} style", f"{name}, {word} style emoji", f"a {word} style emoji",
                f"an emoji, {word} style"]
        if record["skin"] != "none":
            out.append(f"a {name} emoji with {record['skin']} skin tone, {word} style")
        out += [f"an emoji of {tag}, {word} style" for tag in record["tags"][:6]]
    return out


def caption_vocabulary(data: EmojiBench, context: int) -> list[int]:
    """All BPE ids used by any caption of any emoji (both splits, every style), plus the prompts people type,
    in the first `context` tokens."""
    texts = {c for r in data.records for s in STYLES for c in captions(r, s)}
    texts |= {f"{w} style emoji" for words in STYLE_WORDS.values() for w in words}
    texts |= {"emoji", "a photo of an emoji"}
    tokens = tokenize(sorted(texts), context)
    return sorted(set(tokens[tokens > 0].tolist()))


def new_model(data: EmojiBench, architecture: dict) -> EmojiClip:
    """A CLIP of the zoo's architecture ({"embed_dim", "vision", "text"}) over the captions' vocabulary."""
    vocabulary = caption_vocabulary(data, architecture["text"]["context_length"])
    return EmojiClip(architecture["embed_dim"], architecture["vision"], architecture["text"], vocabulary)


def train(args: argparse.Namespace, ddp: Distributed) -> tuple[EmojiClip, dict]:
    rng = random.Random(args.seed)  # the captions
    data = load_emojibench()
    tr = data.indices("train")
    with seeded_initialisation(args.seed) as gen:  # the initial weights; gen then draws styles, emoji and shifts
        model = new_model(data, open_zoo(args.zoo).architecture("clip")).to(ddp.device)
    context = model.clip.context_length
    rows_of = {s: torch.from_numpy(tr[data.has_style(s)[tr]]) for s in STYLES}  # dataset rows each style draws
    images = {s: torch.from_numpy(data.style(s)) for s in STYLES}  # uint8 [N, 64, 64, 3], every row
    ident = torch.from_numpy(data.identity_ids())
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.1)
    steps_per_epoch = math.ceil(sum(len(r) for r in rows_of.values()) / args.batch)
    total = args.epochs * steps_per_epoch

    def contrastive(x: torch.Tensor, tokens: torch.Tensor, same: torch.Tensor) -> torch.Tensor:
        """CLIP's symmetric InfoNCE over the whole batch, pairs marked `same` masked out as negatives."""
        img = model.encode_image(x)
        txt = model.encode_text(tokens)
        logits = model.logit_scale * img @ txt.t()  # [B, B]
        logits = logits.masked_fill(same & ~torch.eye(len(x), dtype=torch.bool, device=x.device), -1e4)
        target = torch.arange(len(x), device=x.device)
        return (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target)) / 2

    # one process: the loss as written; several: each process's shard of the batch
    objective = ddp.objective({"clip": model}, contrastive)

    def step(i: int) -> dict[str, float]:
        warm = min(1.0, (i + 1) / 200)
        for g in opt.param_groups:
            g["lr"] = args.lr * warm * 0.5 * (1 + math.cos(math.pi * i / total))
        style = torch.randint(len(STYLES), (args.batch,), generator=gen)
        rows = torch.stack([rows_of[STYLES[s]][torch.randint(len(rows_of[STYLES[s]]), (), generator=gen)]
                            for s in style.tolist()])
        x = EmojiBench.tensor(torch.stack([images[STYLES[s]][r] for s, r in zip(style.tolist(), rows.tolist())]).numpy())
        texts = [rng.choice(captions(data.records[r], STYLES[s])) for r, s in zip(rows.tolist(), style.tolist())]
        same = (ident[rows][:, None] == ident[rows][None, :]) & (style[:, None] == style[None, :])  # no false negatives
        x, tokens = _translation(x, gen, ratio=4 / 64), tokenize(texts, context)
        mine = ddp.shard(torch.arange(args.batch))
        loss = objective(x[mine].to(ddp.device), tokens[mine].to(ddp.device), same[mine][:, mine].to(ddp.device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            model.clip.logit_scale.clamp_(0, math.log(100))
        return {"loss": loss.item(), "temperature": model.logit_scale.item()}

    meta = run_steps(args, ddp, {"clip": model}, {"opt": opt}, step, total, steps_per_epoch * 10)
    return model.eval(), meta


def export(model: EmojiClip, metrics: dict, meta: dict, args: argparse.Namespace) -> None:
    x = EmojiBench.tensor(load_emojibench().google[:64])
    zoo = open_zoo(args.zoo)
    folder = export_folder(zoo, "clip")
    record = {"metrics": metrics, "steps": meta["step"], "minutes": meta["seconds"] / 60,
              "command": "python -m train.clip", "args": vars(args)}
    use_half, drift = save_network(model, folder, lambda m: m.encode_image(x), 1e-2, record)
    (folder / "README.md").write_text(f"""# Emoji CLIP ({zoo.name} `clip` slot)

open_clip's `CLIP` class with the zoo's `clip` architecture ({zoo.manifest.name}): ViT 64 px / 8 px patches,
width 192, 6 layers; text transformer width 128, 4 layers, context 32, over the compact BPE vocabulary of
its captions; {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters. No pretrained weights.

- **Data**: every style of the EmojiBench train split, captions from emoji names, emojibase tags, skin tone and the
  words people type for each style (`STYLE_WORDS` in `pipelines/emojibench.py`).
- **Command**: `python -m train.clip` ({meta['step']} steps, {meta['seconds'] / 60:.1f} min on
  {torch.get_num_threads()} CPU thread(s)).
- **Weights**: {'fp16' if use_half else 'fp32'} safetensors (fp16 moves image embeddings by at most {drift:.4f}).
- **Test split**: zero-shot style accuracy {metrics['zero_shot_style_accuracy']:.3f} over {len(STYLES)} styles; text→image R@5
  {metrics['text_to_image_r5']:.3f} ({metrics['text_queries']} emoji names against {metrics['gallery']} images).
""")
    register_local_slot(zoo.manifest, "clip", folder, options={"class": "EmojiClip"},
                        note="emoji CLIP (open_clip architecture, trained by train/clip.py)")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_training_flags(p, "clip", batch=128, lr=1e-3, ckpt_every=None)
    p.add_argument("--epochs", type=int, default=40)
    args = p.parse_args(argv)
    train_evaluate_export(args, train, lambda model: evaluate(model, load_emojibench()), export)


if __name__ == "__main__":
    main()
