"""Recompute the emoji64 zoo's quality numbers from the shipped files.

    python -m bench.zoo_emoji64 [--readme]     # table, bench/results/zoo_emoji64.json

- generator: Fréchet distances to the Google train split, in the emoji CLIP's image-embedding
  space (FD_clip, which sees style) and in EmojiNet's pooled last-stage features (FD_emojinet),
  for 2 000 samples (ψ = 1), the real Twitter renderings of the train emoji, and the Google test
  split. Floor: samples closer to the train split than the Twitter renderings are.
- EmojiNet: cross-style retrieval R@1 and attribute accuracies on the test split.
- CLIP: zero-shot style accuracy and text→image R@5 on the test split.
- directions: for each InterFaceGAN direction, the fraction of 200 samples whose EmojiNet
  attribute moves the intended way at α = 2σ, and the identity cosine kept.
Slots the zoo does not ship yet are reported as missing.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from nets.emojinet import EmojiNet
from pipelines.editing import sigma_unit
from pipelines.metrics import frechet_distance
from pipelines.runtime import tune_cpu_allocator
from pipelines.zoo import ASSETS, open_zoo
from train import clip as clip_recipe
from train import directions as direction_recipe
from train import emojinet as emojinet_recipe
from train.data_emoji import EmojiBench, load_emojibench

from .readme import update_readme_block

RESULTS = Path(__file__).resolve().parent / "results" / "zoo_emoji64.json"
CARD = ASSETS / "zoo" / "emoji64" / "generator" / "README.md"


@torch.no_grad()
def _embed(images: torch.Tensor, clip, net: EmojiNet, batch: int = 200) -> tuple[torch.Tensor, torch.Tensor]:
    c, e = [], []
    for i in range(0, len(images), batch):
        x = images[i : i + batch]
        c.append(clip.encode_image(x))
        e.append(net.features(x)[-1].mean((2, 3)))
    return torch.cat(c), torch.cat(e)


@torch.no_grad()
def generator_fd(G, clip, net: EmojiNet, data: EmojiBench, samples: int = 2000, seed: int = 0) -> dict:
    gen = torch.Generator().manual_seed(seed)
    fakes = torch.cat([G.synthesis(G.broadcast(G.mapping(torch.randn(min(200, samples - i), G.z_dim, generator=gen))))
                       .clamp(-1, 1) for i in range(0, samples, 200)])
    tr, te = data.indices("train"), data.indices("test")
    sets = {"samples": fakes, "twitter_train": data.tensor(data.twitter[tr]), "google_test": data.tensor(data.google[te])}
    ref_clip, ref_net = _embed(data.tensor(data.google[tr]), clip, net)
    out = {}
    for name, images in sets.items():
        fc, fe = _embed(images, clip, net)
        out[name] = {"count": len(images), "fd_clip": frechet_distance(fc, ref_clip),
                     "fd_emojinet": frechet_distance(fe, ref_net)}
    out["floor_met"] = out["samples"]["fd_clip"] < out["twitter_train"]["fd_clip"]
    return out


def run(samples: int) -> dict:
    zoo = open_zoo("emoji64")
    data = load_emojibench()
    have = {s.name: s.available for s in zoo.status()}
    result: dict = {"missing": sorted(k for k, v in have.items() if not v)}
    net = zoo.load("perceptual") if have.get("perceptual") else None
    clip = zoo.load("clip") if have.get("clip") else None
    if net is not None:
        result["emojinet"] = emojinet_recipe.evaluate(net, data)
    if clip is not None:
        result["clip"] = clip_recipe.evaluate(clip, data)
    if have.get("generator") and net is not None and clip is not None:
        result["generator"] = generator_fd(zoo.load("generator"), clip, net, data, samples)
    if have.get("directions") and have.get("generator") and net is not None:
        G, dirs = zoo.load("generator"), zoo.load("directions")
        pairs = {p.name: p for p in direction_recipe.CANDIDATES}
        result["directions"] = {}
        for name, d in dirs.interfacegan.items():
            sigma = sigma_unit(G, dirs, "interfacegan", name)
            result["directions"][name] = direction_recipe.evaluate_direction(G, net, pairs[name], d, 2 * sigma)
    return result


def generator_table(g: dict) -> str:
    names = {"samples": "generator samples (ψ = 1)", "twitter_train": "Twitter renderings of the train emoji",
             "google_test": "Google test split"}
    lines = ["| set → Google train split | n | FD_clip | FD_emojinet |", "|---|---:|---:|---:|"]
    lines += [f"| {names[k]} | {g[k]['count']} | {g[k]['fd_clip']:.4f} | {g[k]['fd_emojinet']:.3f} |" for k in names]
    return "\n".join(lines + ["", f"Floor (samples closer than Twitter in FD_clip): {'met' if g['floor_met'] else 'NOT met'}"])


def table(r: dict) -> str:
    lines = []
    if "generator" in r:
        lines += [generator_table(r["generator"]), ""]
    if "emojinet" in r:
        lines += ["| EmojiNet (test split) | value |", "|---|---:|"]
        lines += [f"| {k} | {v:.3f} |" for k, v in r["emojinet"].items()] + [""]
    if "clip" in r:
        c = r["clip"]
        lines += ["| emoji CLIP (test split) | value |", "|---|---:|",
                  f"| zero-shot style accuracy | {c['zero_shot_style_accuracy']:.3f} |",
                  f"| text→image R@5 ({c['text_queries']} names, {c['gallery']} images) | {c['text_to_image_r5']:.3f} |", ""]
    if "directions" in r:
        lines += ["| direction (α = 2σ) | success | identity cosine |", "|---|---:|---:|"]
        lines += [f"| {k} | {v['success']:.2f} | {v['identity_cosine']:.3f} |" for k, v in r["directions"].items()] + [""]
    if r["missing"]:
        lines.append(f"Not shipped yet: {', '.join(r['missing'])}.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--samples", type=int, default=2000)
    p.add_argument("--readme", action="store_true")
    args = p.parse_args(argv)
    tune_cpu_allocator()
    torch.manual_seed(0)
    result = run(args.samples)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")
    print(table(result))
    if args.readme:
        update_readme_block("zoo_emoji64", f"```\n$ python -m bench.zoo_emoji64\n```\n\n{table(result)}\n")
        if "generator" in result:
            update_readme_block("generator_card", generator_table(result["generator"]), CARD)


if __name__ == "__main__":
    main()
