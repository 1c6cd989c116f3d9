"""Editing on EmojiBench: every inversion method × every attribute direction, in-domain and out-of-domain.

    python -m bench.editing [--images 24] [--zoo emoji64] [--readme]     # tables, bench/results/editing.json

For each test emoji (Google test split, and the Twitter renderings of the same emoji) every
method the zoo can run inverts it once; each InterFaceGAN direction (at ±2σ of w·n) and each
StyleSpace channel (at ±5σ_c, the localisation strength) is applied through the method's own
renderer (pipelines/editing.py). Per method and direction:
- edit success: the fraction of edits whose EmojiNet head score (positive minus negative value)
  moves the intended way from the method's unedited reconstruction;
- ID: the EmojiNet identity cosine between the edited image and the input;
averaged over both signs and images (RefineStyle Table 1), one row per method and one column
pair per direction (GradStyle Table 2). GradStyle also gets a row without GAM (the naive dual
stream) and the alignment check: each emoji is warped by a random perspective transform (0.15),
GradStyle's editing stream renders e4e's code of the warped emoji with the original emoji's
residuals, and MSE / perceptual distance to the real warped emoji are reported, GAM on vs off.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from pipelines.attributes import CANDIDATES, head_score
from pipelines.augment import random_homographies, warp
from pipelines.editing import Edit, apply_edit, sigma_unit
from pipelines.emojibench import load_emojibench
from pipelines.inversion import InversionNetworks, InversionSettings, invert, render
from pipelines.methods.refinestyle_opt import OptimisationSettings
from pipelines.metrics import mse
from pipelines.runtime import tune_cpu_allocator
from pipelines.tuning import TuningSettings
from pipelines.zoo import open_zoo

from .inversion import runnable_methods
from .report import DEFAULT_ZOO, add_inversion_arguments, add_zoo_argument, inversion_settings, publish, zoo_flag

RESULTS = Path(__file__).resolve().parent / "results" / "editing.json"
STYLESPACE_STRENGTH = 5.0


def direction_edits(G, directions) -> dict[str, tuple[str, str, float]]:
    """label -> (family, name, strength) for every direction with a known attribute."""
    edits = {}
    for name in directions.interfacegan:
        edits[f"IFG {name}"] = ("interfacegan", name, 2 * sigma_unit(G, directions, "interfacegan", name))
    for name in directions.stylespace:
        edits[f"SS {name}"] = ("stylespace", name, STYLESPACE_STRENGTH)
    return edits


@torch.no_grad()
def edit_scores(nets, judge, results, target, directions, edits, use_gam: bool = True) -> dict:
    """{method: {label: (successes, identity cosine sum, count)}} for one image."""
    pairs = {p.name: p for p in CANDIDATES}
    target_id = judge.identity(target)
    out = {}
    for r in results:
        before = judge(r.image)["logits"]
        scores = {}
        for label, (family, name, strength) in edits.items():
            pair = pairs[name]
            ok = ident = 0.0
            for sign in (1.0, -1.0):
                image = apply_edit(nets, r, directions, Edit(family, name, sign * strength), use_gam)
                after = judge(image)
                moved = (head_score(after["logits"], pair) - head_score(before, pair)).item()
                ok += float(moved * sign > 0)
                ident += (after["embedding"] * target_id).sum().item()
            scores[label] = (ok, ident, 2)
        out[r.method if use_gam else f"{r.method} (no GAM)"] = scores
    return out


@torch.no_grad()
def alignment_check(nets, images: torch.Tensor, seed: int = 0) -> dict:
    """GradStyle's editing stream on known warps: MSE and perceptual to the real warped image."""
    gen = torch.Generator().manual_seed(seed)  # the warps
    sums = {k: {"mse": 0.0, "perceptual": 0.0} for k in ("e4e (warped code)", "GAM on", "GAM off")}
    for i in range(len(images)):
        x = images[i : i + 1]
        warped = warp(x, random_homographies(1, 0.15, gen)).clamp(-1, 1)
        (result,) = invert(nets, x, ["gradstyle"])
        ws_w = nets.e4e(warped)
        renders = {"e4e (warped code)": nets.generator.synthesis(ws_w).clamp(-1, 1),
                   "GAM on": render(nets, result, ws_w), "GAM off": render(nets, result, ws_w, use_gam=False)}
        for k, image in renders.items():
            sums[k]["mse"] += mse(image, warped).item()
            sums[k]["perceptual"] += nets.loss.perceptual(image, warped).item()
    return {k: {m: v / len(images) for m, v in s.items()} for k, s in sums.items()}


def run(n_images: int, settings: OptimisationSettings, tuning: TuningSettings, zoo_name: str = DEFAULT_ZOO) -> dict:
    torch.set_num_threads(1)
    zoo = open_zoo(zoo_name)
    data = load_emojibench()
    nets = InversionNetworks.from_zoo(zoo)
    judge = zoo.load("perceptual")
    directions = zoo.load("directions")
    methods, missing = runnable_methods(nets)
    edits = direction_edits(nets.generator, directions)
    idx = data.indices("test")[:n_images]
    splits = {"google_test": data.tensor(data.google[idx]), "twitter_test": data.tensor(data.twitter[idx])}
    start = time.time()
    result: dict = {"images": len(idx), "edits": {k: list(v) for k, v in edits.items()},
                    "missing": missing, "splits": {}}
    for split, images in splits.items():
        totals: dict = {}
        for i in range(len(images)):
            target = images[i : i + 1]
            results = invert(nets, target, methods, InversionSettings(settings, tuning), seed=i)
            per_image = edit_scores(nets, judge, results, target, directions, edits)
            if "gradstyle" in methods:
                grad = [r for r in results if r.method == "gradstyle"]
                per_image |= edit_scores(nets, judge, grad, target, directions, edits, use_gam=False)
            for m, scores in per_image.items():
                for label, (ok, ident, count) in scores.items():
                    acc = totals.setdefault(m, {}).setdefault(label, [0.0, 0.0, 0])
                    acc[0], acc[1], acc[2] = acc[0] + ok, acc[1] + ident, acc[2] + count
        result["splits"][split] = {m: {label: {"success": a[0] / a[2], "id": a[1] / a[2]} for label, a in rows.items()}
                                   for m, rows in totals.items()}
    if "gradstyle" in methods:
        result["alignment"] = alignment_check(nets, splits["google_test"])
    result["seconds"] = time.time() - start
    return result


def table(r: dict) -> str:
    lines = [f"{r['images']} test emoji per split; success / ID cosine to the input, both signs averaged.", ""]
    for split, rows in r["splits"].items():
        labels = list(r["edits"])
        lines += [f"**{split.replace('_', ' ')}**", "",
                  "| method | " + " | ".join(labels) + " | mean success | mean ID |",
                  "|---|" + "---:|" * (len(labels) + 2)]
        for m, scores in rows.items():
            cells = [f"{scores[k]['success']:.2f} / {scores[k]['id']:.3f}" for k in labels]
            mean_s = sum(scores[k]["success"] for k in labels) / len(labels)
            mean_id = sum(scores[k]["id"] for k in labels) / len(labels)
            lines.append(f"| {m} | " + " | ".join(cells) + f" | {mean_s:.2f} | {mean_id:.3f} |")
        lines.append("")
    if "alignment" in r:
        lines += ["**GradStyle editing stream on known warps (Google test)**", "",
                  "| render of the warped emoji's code | MSE ↓ | perceptual ↓ |", "|---|---:|---:|"]
        lines += [f"| {k} | {v['mse']:.4f} | {v['perceptual']:.4f} |" for k, v in r["alignment"].items()] + [""]
    if r["missing"]:
        lines.append("Not available yet: " + "; ".join(f"{m} ({why})" for m, why in r["missing"].items()) + ".")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=24)
    add_inversion_arguments(p)
    add_zoo_argument(p)
    p.add_argument("--readme", action="store_true")
    args = p.parse_args(argv)
    tune_cpu_allocator()
    result = run(args.images, *inversion_settings(args), args.zoo)
    publish("editing", result, table(result), f"python -m bench.editing --images {args.images}{zoo_flag(args.zoo)}",
            RESULTS, args.readme)


if __name__ == "__main__":
    main()
