"""Compare generator training recipes: sample quality of each run's EMA generator at its last state.

    python -m bench.generator_recipes RUN_DIR [RUN_DIR ...] [--samples 1600] [--name NAME]
    python -m bench.generator_recipes --curve RUN_DIR       # every EMA snapshot: precision against kimg

Each RUN_DIR is a `python -m train.generator --run-dir` folder. For each: the recipe flags that
differ from the defaults, kimg reached, wall time, seconds per step (the log's median), and the
bench.zoo_emoji64 quality numbers: precision and recall against the Google train split (k = 3,
CLIP and EmojiNet spaces, ψ = 1) and FD_clip. Prints a table, writes
bench/results/<name>.json (default generator_recipes) with the machine's CPU flags.
"""
from __future__ import annotations

import argparse
import ast
import json
import re
import statistics
from pathlib import Path

from safetensors.torch import load_file

from pipelines.emojibench import load_emojibench
from pipelines.metrics import frechet_distance, precision_recall
from pipelines.runtime import tune_cpu_allocator
from pipelines.zoo import open_zoo
from train.checkpoint import load_state
from train.generator import networks, parse_args

from .readme import update_readme_block
from .report import machine
from .zoo_emoji64 import _embed, generator_samples

RESULTS = Path(__file__).resolve().parent / "results"


def recipe_flags(args: dict) -> str:
    """The training flags of a run that differ from train.generator's defaults."""
    defaults = {k: str(v) for k, v in vars(parse_args([])).items()}
    skip = {"run_dir", "kimg", "max_minutes", "ckpt_every", "log_every", "init_from", "export"}
    shown = {k: " ".join(map(str, ast.literal_eval(v))) if v.startswith("[") else v for k, v in args.items()
             if k not in skip and defaults.get(k) != v}
    return " ".join(f"--{k.replace('_', '-')} {v}" for k, v in shown.items())


def seconds_per_step(log: Path) -> float:
    steps = [float(m.group(1)) for m in re.finditer(r"([\d.]+) s/step", log.read_text())] if log.is_file() else []
    return statistics.median(steps[1:] or steps) if steps else float("nan")


def sample_quality(G_ema, clip, net, ref: dict, samples: int) -> dict:
    """Precision, recall (k = 3, both spaces) and FD_clip of the generator's samples against `ref`."""
    fakes = dict(zip(("clip", "emojinet"), _embed(generator_samples(G_ema.eval(), samples), clip, net)))
    pr = {space: precision_recall(fakes[space], ref[space]) for space in ref}
    return {"precision": {sp: v["precision"] for sp, v in pr.items()}, "recall": {sp: v["recall"] for sp, v in pr.items()},
            "fd_clip": frechet_distance(fakes["clip"], ref["clip"])}


def evaluate_run(run_dir: Path, clip, net, ref: dict, samples: int) -> dict:
    if not (run_dir / "state.json").is_file():
        raise SystemExit(f"no training state in {run_dir}")
    zoo = json.loads((run_dir / "state.json").read_text())["meta"]["args"].get("zoo", "emoji64")
    G_ema, _ = networks(zoo)
    meta = load_state(run_dir, {"G_ema": G_ema}, {})
    return {"run": run_dir.name, "flags": recipe_flags(meta["args"]), "kimg": meta["kimg"], "steps": meta["step"],
            "hours": meta["seconds"] / 3600, "s_per_step": seconds_per_step(run_dir / "log.txt"),
            **sample_quality(G_ema, clip, net, ref, samples)}


def evaluate_snapshots(run_dir: Path, clip, net, ref: dict, samples: int, zoo: str) -> list[dict]:
    """The precision-vs-kimg curve: every EMA snapshot train.generator kept in <run_dir>/snapshots."""
    rows = []
    for path in sorted((run_dir / "snapshots").glob("kimg*.safetensors")):
        G_ema, _ = networks(zoo)
        G_ema.load_state_dict(load_file(str(path)))
        rows.append({"run": run_dir.name, "kimg": float(path.stem[4:]), **sample_quality(G_ema, clip, net, ref, samples)})
    return rows


def curve_table(rows: list[dict]) -> str:
    lines = ["| kimg (this run) | precision CLIP | precision EmojiNet | recall CLIP | recall EmojiNet | FD_clip |",
             "|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['kimg']:.0f} | {r['precision']['clip']:.3f} | {r['precision']['emojinet']:.3f} | "
              f"{r['recall']['clip']:.3f} | {r['recall']['emojinet']:.3f} | {r['fd_clip']:.4f} |" for r in rows]
    return "\n".join(lines)


def table(rows: list[dict]) -> str:
    lines = ["| run | flags | kimg | s / step | precision CLIP | precision EmojiNet | recall CLIP | recall EmojiNet | FD_clip |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['run']} | `{r['flags'] or 'defaults'}` | {r['kimg']:.1f} | {r['s_per_step']:.2f} | "
              f"{r['precision']['clip']:.3f} | {r['precision']['emojinet']:.3f} | {r['recall']['clip']:.3f} | "
              f"{r['recall']['emojinet']:.3f} | {r['fd_clip']:.4f} |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", type=Path, nargs="+")
    p.add_argument("--samples", type=int, default=1600)
    p.add_argument("--zoo", default="emoji64")
    p.add_argument("--name", default="generator_recipes")
    p.add_argument("--readme", action="store_true", help="also write the table into README.md")
    p.add_argument("--curve", action="store_true",
                   help="evaluate every EMA snapshot of the (one) run instead: precision against kimg")
    args = p.parse_args(argv)
    tune_cpu_allocator()
    zoo, data = open_zoo(args.zoo), load_emojibench()
    clip, net = zoo.load("clip"), zoo.load("perceptual")
    ref = dict(zip(("clip", "emojinet"), _embed(data.tensor(data.google[data.indices("train")]), clip, net)))
    if args.curve:
        rows = [row for run in args.runs for row in evaluate_snapshots(run, clip, net, ref, args.samples, args.zoo)]
        text, name = curve_table(rows), f"{args.name}_curve"
    else:
        rows = [evaluate_run(run, clip, net, ref, args.samples) for run in args.runs]
        text, name = table(rows), args.name
    RESULTS.mkdir(parents=True, exist_ok=True)
    info = {"machine": machine(), "runs": rows}
    (RESULTS / f"{name}.json").write_text(json.dumps(info, indent=1) + "\n")
    print(text)
    if args.readme:
        command = "python -m bench.generator_recipes " + ("--curve " if args.curve else "") + " ".join(map(str, args.runs))
        update_readme_block(name, f"```\n$ {command}\n```\n\n{text}\n")


if __name__ == "__main__":
    main()
