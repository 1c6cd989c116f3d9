"""Recompute the emoji64 zoo's quality numbers from the shipped files.

    python -m bench.zoo_emoji64 [--readme]     # table, bench/results/zoo_emoji64.json
    python -m bench.zoo_emoji64 --skip-generator [--readme]   # all but the generator's part (minutes
                                               # cheaper), merged into the JSON's earlier generator part

- generator: Fréchet distances to the Google train split, in the emoji CLIP's image-embedding
  space (FD_clip, which sees style) and in EmojiNet's pooled last-stage features (FD_emojinet),
  for 2 000 samples (ψ = 1), the real Twitter renderings of the train emoji, and the Google test
  split. Floor: samples closer to the train split than the Twitter renderings are.
  Improved precision and recall (Kynkäänniemi et al. 2019; `pipelines.metrics.precision_recall`)
  against the Google train split, k = 3, in the same two spaces (CLIP `encode_image` outputs and
  EmojiNet's pooled last stage, unnormalised), for 1 600 samples at ψ = 1 and at ψ = 0.7 (seed 0)
  and for the real Google test split (194 images never trained on) as the reference row. Precision
  is a per-image share and compares across rows; recall depends on the size of the set whose
  manifold covers the train images, so the test split's recall (194 images) is not comparable.
  Memorisation: each sample's CLIP-space distance to its nearest train image; the share of
  samples closer than the 5th percentile of the test split's nearest-train distances (a
  generator matching the data distribution lands near 5 %), and the closest pairs as a picture.
- styles: the images each EmojiBench style draws, per split.
- EmojiNet: Google → Twitter retrieval R@1 and attribute accuracies on the test split (the
  recipe's own figures), and cross-style R@1 for every ordered pair of styles, each pair on the
  test emoji drawn in both of its styles, with its mean over pairs (`cross_style_r1`).
- CLIP: zero-shot style accuracy over every test image of every style (`style_accuracy`) and per
  style, and text→image R@5 on the test split.
- directions: for each InterFaceGAN direction, the fraction of 200 samples whose EmojiNet
  attribute moves the intended way at α = 2σ, and the identity cosine kept.
- style judge: accuracy over all styles on the test split, per style, and the confusion matrix.
- parsing: the parsing network's pixel accuracy and mean IoU per input style on the test split, and
  the linear-probe R² of its contracting-path levels from EmojiNet's stages.
Every network is scored by its module in `pipelines/evaluation/`, the functions its recipe runs
before export. Slots the zoo does not ship yet are reported as missing; so is `parsing` while
EmojiNet stands in for it (the parsing scores need a network of its own).

--skip-generator leaves out the Fréchet distances, precision / recall and memorisation (the
minutes of the run) and carries them over from the existing results JSON, marked in the JSON
(`carried_over`) and the table: they were measured with the CLIP and EmojiNet of that earlier run.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from PIL import Image

from nets.emojinet import EmojiNet
from pipelines.attributes import CANDIDATES
from pipelines.editing import sigma_unit
from pipelines.emojibench import STYLES, EmojiBench, load_emojibench
from pipelines.evaluation import clip as clip_eval
from pipelines.evaluation import emojinet as emojinet_eval
from pipelines.evaluation import parsing as parsing_eval
from pipelines.evaluation import style_judge as style_judge_eval
from pipelines.evaluation.directions import evaluate_direction
from pipelines.evaluation.styles import style_counts
from pipelines.metrics import frechet_distance, nearest_distances, precision_recall
from pipelines.runtime import tune_cpu_allocator
from pipelines.zoo import ASSETS, open_zoo

from .readme import update_readme_block

RESULTS = Path(__file__).resolve().parent / "results" / "zoo_emoji64.json"
CARD = ASSETS / "zoo" / "emoji64" / "generator" / "README.md"
EXPECTED = ("style_judge",)  # slots the bench scores that a manifest may not name yet: missing when absent
GENERATOR_PART = ("generator", "real_test")  # what --skip-generator leaves out and carries over


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
    fakes = generator_samples(G, samples, seed=seed)
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


@torch.no_grad()
def generator_samples(G, count: int, psi: float = 1.0, seed: int = 0) -> torch.Tensor:
    """`count` samples [N, 3, 64, 64] in [-1, 1], drawn in batches of 200 from one seeded generator."""
    gen = torch.Generator().manual_seed(seed)
    return torch.cat([G.synthesis(G.broadcast(G.truncate(G.mapping(torch.randn(min(200, count - i), G.z_dim,
                                                                               generator=gen)), psi))).clamp(-1, 1)
                      for i in range(0, count, 200)])


@torch.no_grad()
def generator_precision(G, clip, net: EmojiNet, data: EmojiBench, samples: int = 1600, pairs_path: Path | None = None
                        ) -> dict:
    """Precision/recall (k = 3) of samples at ψ = 1 and 0.7 and of the real test split against the
    train split in both spaces, and the memorisation check (module docstring)."""
    tr, te = data.indices("train"), data.indices("test")
    train_images = data.tensor(data.google[tr])
    ref = dict(zip(("clip", "emojinet"), _embed(train_images, clip, net)))
    test_images = data.tensor(data.google[te])
    sets = {"psi1": generator_samples(G, samples), "psi07": generator_samples(G, samples, 0.7), "real_test": test_images}
    out: dict = {"k": 3, "reference": f"Google train split ({len(tr)} images)"}
    feats = {}
    for name, images in sets.items():
        feats[name] = dict(zip(("clip", "emojinet"), _embed(images, clip, net)))
        pr = {space: precision_recall(feats[name][space], ref[space]) for space in ref}
        out[name] = {"count": len(images), "precision": {sp: v["precision"] for sp, v in pr.items()},
                     "recall": {sp: v["recall"] for sp, v in pr.items()}}
    test_nn, _ = nearest_distances(feats["real_test"]["clip"], ref["clip"])
    sample_nn, sample_idx = nearest_distances(feats["psi1"]["clip"], ref["clip"])
    threshold = torch.quantile(test_nn, 0.05).item()
    out["memorisation"] = {"threshold_clip": threshold, "share_below": (sample_nn < threshold).double().mean().item(),
                           "sample_nn_median": sample_nn.median().item(), "test_nn_median": test_nn.median().item()}
    if pairs_path is not None:
        order = sample_nn.argsort()[:8]
        pair_grid(sets["psi1"][order], train_images[sample_idx[order]], pairs_path)
    return out


def pair_grid(top: torch.Tensor, bottom: torch.Tensor, path: Path) -> None:
    """Two rows of images [N, 3, 64, 64] in [-1, 1] side by side, saved as one PNG."""
    rows = [torch.cat(list(t), dim=2) for t in (top, bottom)]  # [3, 64, 64 N]
    grid = ((torch.cat(rows, dim=1).clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()
    Image.fromarray(grid).save(path)


def run(samples: int, precision_samples: int = 1600, generator: bool = True) -> dict:
    """Every figure of the module docstring; `generator=False` leaves out the generator's part."""
    zoo = open_zoo("emoji64")
    data = load_emojibench()
    have = {s.name: s.available for s in zoo.status()}
    missing = {k for k, v in have.items() if not v} | {k for k in EXPECTED if k not in have}
    result: dict = {"missing": [], "styles": style_counts(data)}
    net = zoo.load("perceptual") if have.get("perceptual") else None
    clip = zoo.load("clip") if have.get("clip") else None
    if net is not None:
        cross = emojinet_eval.cross_style(net, data)
        result["emojinet"] = {**emojinet_eval.evaluate(net, data), "cross_style_r1": cross["mean"],
                              "cross_style_r1_pairs": cross["pairs"]}
    if clip is not None:
        c = clip_eval.evaluate(clip, data)
        result["clip"] = {"style_accuracy": c["zero_shot_style_accuracy"],
                          "style_accuracy_per_style": c["zero_shot_style_accuracy_per_style"],
                          **{k: c[k] for k in ("text_to_image_r5", "text_queries", "gallery")}}
    if generator and have.get("generator") and net is not None and clip is not None:
        G = zoo.load("generator")
        result["generator"] = generator_fd(G, clip, net, data, samples)
        quality = generator_precision(G, clip, net, data, precision_samples, pairs_path=CARD.parent / "nearest_train.png")
        result["generator"].update(precision=quality["psi1"]["precision"], recall=quality["psi1"]["recall"],
                                   psi07=quality["psi07"], memorisation=quality["memorisation"], k=quality["k"])
        result["real_test"] = quality["real_test"]
    if have.get("directions") and have.get("generator") and net is not None:
        G, dirs = zoo.load("generator"), zoo.load("directions")
        pairs = {p.name: p for p in CANDIDATES}
        result["directions"] = {}
        for name, d in dirs.interfacegan.items():
            sigma = sigma_unit(G, dirs, "interfacegan", name)
            result["directions"][name] = evaluate_direction(G, net, pairs[name], d, 2 * sigma)
    if have.get("style_judge"):
        result["style_judge"] = style_judge_eval.evaluate(zoo.load("style_judge"), data)
    if have.get("parsing"):
        parser = zoo.load("parsing")
        if isinstance(parser, EmojiNet) or net is None:  # EmojiNet standing in: nothing of its own to score
            missing.add("parsing")
            if isinstance(parser, EmojiNet):
                result["stand_ins"] = {"parsing": "EmojiNet"}
        else:
            result["parsing"] = parsing_eval.evaluate(parser, data, net)
    result["missing"] = sorted(missing)
    return result


def merge_partial(fresh: dict, previous: dict) -> dict:
    """A --skip-generator run's results with the generator's part of `previous` (an earlier results JSON)
    carried over; `carried_over` names what was (nothing when `previous` has no generator part)."""
    out = {k: v for k, v in fresh.items() if k not in GENERATOR_PART}
    kept = [k for k in GENERATOR_PART if k in previous]
    out.update({k: previous[k] for k in kept})
    if kept:
        out["carried_over"] = kept
    return out


def generator_table(g: dict, real_test: dict | None = None) -> str:
    names = {"samples": "generator samples (ψ = 1)", "twitter_train": "Twitter renderings of the train emoji",
             "google_test": "Google test split"}
    lines = ["| set → Google train split | n | FD_clip | FD_emojinet |", "|---|---:|---:|---:|"]
    lines += [f"| {names[k]} | {g[k]['count']} | {g[k]['fd_clip']:.4f} | {g[k]['fd_emojinet']:.3f} |" for k in names]
    lines += ["", f"Floor (samples closer than Twitter in FD_clip): {'met' if g['floor_met'] else 'NOT met'}"]
    if "precision" in g:
        lines += ["", precision_table(g, real_test)]
    return "\n".join(lines)


def precision_table(g: dict, real_test: dict) -> str:
    """Precision / recall rows (samples at ψ = 1 and 0.7, the real test split) and the memorisation share."""
    rows = {"generator samples (ψ = 1)": g, "generator samples (ψ = 0.7)": g["psi07"],
            "real Google test split (reference)": real_test}
    lines = [f"| set → Google train split manifold (k = {g['k']}) | precision CLIP | precision EmojiNet | "
             "recall CLIP | recall EmojiNet |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {name} | {r['precision']['clip']:.3f} | {r['precision']['emojinet']:.3f} | {r['recall']['clip']:.3f} | "
              f"{r['recall']['emojinet']:.3f} |" for name, r in rows.items()]
    ratio = {sp: g["precision"][sp] / real_test["precision"][sp] for sp in ("clip", "emojinet")}
    m = g["memorisation"]
    lines += ["", f"Sample precision / real test precision: CLIP {ratio['clip']:.2f}×, EmojiNet {ratio['emojinet']:.2f}× "
              "(floor 0.9×). Memorisation: "
              f"{100 * m['share_below']:.1f} % of samples are closer to a train image than the 5th percentile of the "
              f"test split's nearest-train distances (CLIP space; ≈ 5 % expected, floor ≤ 10 %)."]
    return "\n".join(lines)


def styles_table(counts: dict) -> str:
    lines = ["| EmojiBench style | train | test | total |", "|---|---:|---:|---:|"]
    return "\n".join(lines + [f"| {s} | {c['train']} | {c['test']} | {c['total']} |" for s, c in counts.items()])


def cross_style_table(pairs: dict[str, float]) -> str:
    """R@1 per ordered pair "a→b" as a matrix: rows the query style, columns the gallery style."""
    styles = [s for s in STYLES if any(k.startswith(f"{s}→") for k in pairs)]
    lines = ["| query \\ gallery | " + " | ".join(styles) + " |", "|---|" + "---:|" * len(styles)]
    for a in styles:
        cells = [f"{pairs[f'{a}→{b}']:.3f}" if f"{a}→{b}" in pairs else "–" for b in styles]
        lines.append(f"| {a} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def parsing_table(p: dict) -> str:
    styles = [k for k, v in p.items() if isinstance(v, dict)]
    lines = ["| parsing (test split), input style | pixel accuracy | mean IoU |", "|---|---:|---:|"]
    lines += [f"| {s} | {p[s]['pixel_accuracy']:.3f} | {p[s]['mean_iou']:.3f} |" for s in styles]
    lines += [f"| mean over input styles | | {p['mean_iou']:.3f} |", "",
              "Linear-probe R² of the five contracting-path levels from EmojiNet's stages (1: a linear function "
              "of EmojiNet's features): " + ", ".join(f"{v:.2f}" for v in p["linear_probe_r2_from_emojinet"]) + "."]
    return "\n".join(lines)


def table(r: dict) -> str:
    lines = []
    if "styles" in r:
        lines += [styles_table(r["styles"]), ""]
    if "generator" in r:
        if "carried_over" in r:
            lines += ["Generator rows carried over from the last full run (`--skip-generator`; measured with that "
                      "run's CLIP and EmojiNet):", ""]
        lines += [generator_table(r["generator"], r.get("real_test")), ""]
    if "emojinet" in r:
        e = r["emojinet"]
        lines += ["| EmojiNet (test split) | value |", "|---|---:|"]
        lines += [f"| {k} | {v:.3f} |" for k, v in e.items() if isinstance(v, float)] + [""]
        if "cross_style_r1_pairs" in e:
            lines += [f"EmojiNet cross-style retrieval R@1 (test emoji drawn in both styles; mean over "
                      f"{len(e['cross_style_r1_pairs'])} ordered pairs {e['cross_style_r1']:.3f}):", "",
                      cross_style_table(e["cross_style_r1_pairs"]), ""]
    if "clip" in r:
        c = r["clip"]
        lines += ["| emoji CLIP (test split) | value |", "|---|---:|",
                  f"| zero-shot style accuracy, all styles | {c['style_accuracy']:.3f} |"]
        lines += [f"| zero-shot style accuracy, {s} | {v:.3f} |" for s, v in c["style_accuracy_per_style"].items()]
        lines += [f"| text→image R@5 ({c['text_queries']} names, {c['gallery']} images) | {c['text_to_image_r5']:.3f} |", ""]
    if "directions" in r:
        lines += ["| direction (α = 2σ) | success | identity cosine |", "|---|---:|---:|"]
        lines += [f"| {k} | {v['success']:.2f} | {v['identity_cosine']:.3f} |" for k, v in r["directions"].items()] + [""]
    if "style_judge" in r:
        j = r["style_judge"]
        lines += [f"Style judge (test split): accuracy {j['accuracy']:.3f} over {j['count']} images.", "",
                  style_judge_eval.confusion_table(j), ""]
    if "parsing" in r:
        lines += [parsing_table(r["parsing"]), ""]
    if r["missing"]:
        stand_ins = r.get("stand_ins", {})
        named = [f"{k} ({stand_ins[k]} stands in)" if k in stand_ins else k for k in r["missing"]]
        lines.append(f"Not shipped yet: {', '.join(named)}.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--samples", type=int, default=2000, help="samples for the Fréchet distances")
    p.add_argument("--precision-samples", type=int, default=1600, help="samples for precision / recall")
    p.add_argument("--skip-generator", action="store_true",
                   help="leave out the generator's part and carry it over from the existing results JSON")
    p.add_argument("--readme", action="store_true")
    args = p.parse_args(argv)
    tune_cpu_allocator()
    result = run(args.samples, args.precision_samples, generator=not args.skip_generator)
    if args.skip_generator:
        result = merge_partial(result, json.loads(RESULTS.read_text()) if RESULTS.is_file() else {})
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")
    print(table(result))
    if args.readme:
        command = "python -m bench.zoo_emoji64" + (" --skip-generator" if args.skip_generator else "")
        update_readme_block("zoo_emoji64", f"```\n$ {command}\n```\n\n{table(result)}\n")
        if "generator" in result and "carried_over" not in result:
            update_readme_block("generator_card", generator_table(result["generator"], result.get("real_test")), CARD)


if __name__ == "__main__":
    main()
