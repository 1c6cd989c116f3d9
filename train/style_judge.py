"""Train the style judge (nets/style_judge.py) on every EmojiBench style, evaluate, export.

    python -m train.style_judge               # train (resumable), evaluate on the test split, export

Data: every (emoji, style) pair of the train split that the style draws; each batch draws its
styles uniformly, so styles with fewer emoji weigh the same. Inputs are shifted by up to ±4 px
(on white). EmojiNet's mild blur and light noise are off by default (`--blur-prob`, `--noise`):
what separates Fluent colour from Fluent 3D at 64 px is soft edges and fine shading, which both
remove (the ablation: README, "Style judge"). AdamW with a cosine
schedule. Evaluation on the test split (emoji never seen; `pipelines/evaluation/style_judge.py`,
which bench.zoo_emoji64 runs too): accuracy over all styles, per style, and the confusion matrix
(rows: true style, columns: predicted).
"""
from __future__ import annotations

import argparse
import json

import numpy as np
import torch
import torch.nn.functional as F

from nets.style_judge import StyleJudge
from pipelines.emojibench import STYLE_NAMES, STYLES, load_emojibench
from pipelines.evaluation.style_judge import confusion_table, evaluate
from pipelines.evaluation.styles import style_rows
from pipelines.runtime import seeded_initialisation
from pipelines.zoo import open_zoo, register_local_slot

from .emojinet import jitter
from .export import save_network
from .recipe import (Distributed, add_training_flags, cosine_lr, descend, export_folder, run_steps,
                     train_evaluate_export)

def train(args: argparse.Namespace, ddp: Distributed) -> tuple[StyleJudge, dict]:
    data = load_emojibench()
    rows = style_rows(data, "train")
    with seeded_initialisation(args.seed) as jitter_gen:  # the initial weights; jitter_gen then draws the jitter
        judge = StyleJudge(list(STYLES)).to(ddp.device)
    gen = torch.Generator().manual_seed(args.seed)  # the styles and emoji of each batch
    opt = torch.optim.AdamW(judge.parameters(), lr=args.lr, weight_decay=1e-4)
    judge.train()
    objective = ddp.objective({"judge": judge}, lambda x, labels: F.cross_entropy(judge(x), labels))

    def step(i: int) -> dict[str, float]:
        cosine_lr(opt, args.lr, i, args.steps)
        labels = torch.randint(len(STYLES), (args.batch,), generator=gen)  # [B] style ids
        picks = [rows[STYLES[t]][torch.randint(len(rows[STYLES[t]]), (1,), generator=gen).item()] for t in labels]
        x = jitter(torch.cat([data.tensor(data.style(STYLES[t])[r : r + 1]) for t, r in zip(labels, picks)]),
                   jitter_gen, args.blur_prob, args.noise)
        return descend(opt, objective(ddp.shard(x).to(ddp.device), ddp.shard(labels).to(ddp.device)))

    meta = run_steps(args, ddp, {"judge": judge}, {"opt": opt}, step, args.steps, args.ckpt_every)
    judge.eval()
    return judge, meta


def export(judge: StyleJudge, metrics: dict, meta: dict, args: argparse.Namespace) -> None:
    data = load_emojibench()
    probe = np.concatenate([data.style(s)[data.has_style(s)][:10] for s in STYLES])  # 10 images of every style
    x = data.tensor(probe).to(next(judge.parameters()).device)
    zoo = open_zoo(args.zoo)
    folder = export_folder(zoo, "style_judge")
    command = f"python -m train.style_judge --steps {args.steps} --blur-prob {args.blur_prob} --noise {args.noise}"
    record = {"metrics": metrics, "steps": meta["step"], "minutes": meta["seconds"] / 60,
              "command": command, "args": {k: str(v) for k, v in vars(args).items()}}
    use_half, drift = save_network(judge, folder, lambda m: m(x).softmax(1), 1e-2, record)
    styles = "\n".join(f"- `{s}`: {STYLE_NAMES[s]}" for s in STYLES)
    (folder / "README.md").write_text(f"""# {zoo.name} style judge

A {sum(p.numel() for p in judge.parameters()) / 1e6:.2f} M-parameter ResNet (`nets/style_judge.py`) that says
which EmojiBench style an image is drawn in. Benchmarks only: no loss of the project uses it.

- **Data**: every style of the EmojiBench train split (`docs/emojibench.md`), styles drawn uniformly.
- **Command**: `{command}` ({meta['step']} steps, {meta['seconds'] / 60:.1f} min on
  {torch.get_num_threads()} CPU thread(s)).
- **Weights**: {'fp16' if use_half else 'fp32'} safetensors (fp16 moves class probabilities by at most {drift:.4f}).
- **Styles**:
{styles}

**Test split** (emoji never seen in training): accuracy {metrics['accuracy']:.3f} over {metrics['count']} images.

{confusion_table(metrics)}
""")
    register_local_slot(zoo.manifest, "style_judge", folder, options={"class": "StyleJudge"},
                        note="which EmojiBench style an image is in (benchmarks only)")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_training_flags(p, "style_judge", batch=64, lr=2e-3, steps=1500, ckpt_every=250)
    p.add_argument("--blur-prob", type=float, default=0.0, help="share of each batch given EmojiNet's mild blur")
    p.add_argument("--noise", type=float, default=0.0, help="largest std of the Gaussian noise added to an image")
    p.add_argument("--no-export", action="store_true", help="evaluate only")
    args = p.parse_args(argv)
    train_evaluate_export(args, train, lambda judge: evaluate(judge, load_emojibench()), export, report)


def report(metrics: dict) -> str:
    summary = json.dumps({k: v for k, v in metrics.items() if k != "confusion"}, indent=1)
    return f"{summary}\n{confusion_table(metrics)}"


if __name__ == "__main__":
    main()
