"""Inversion on EmojiBench: every method a zoo (--zoo, default emoji64) can run, in-domain and out-of-domain.

    python -m bench.inversion [--images 48] [--zoo emoji64] [--readme]     # tables, bench/results/inversion.json

- main table: for each registered method (pipelines/methods/) on the first --images emoji of the Google
  test split (in-domain) and on the Twitter renderings of the same emoji (out-of-domain): MSE,
  SSIM, the zoo's perceptual distance, ID cosine, trainable parameters of the method and CPU
  milliseconds per image (one thread per image, as the app runs them);
- RefineStyle ablation (the paper's Table 4): every encoder trained under `runs/ablation_*` by
  `python -m train.refinestyle --stage 2 --steps 500 --name ablation_<row> --no-export ...`
  (one-stage or two-stage rows, read from the checkpoint), on the Twitter images; the
  `reference` row is the default configuration at the same budget;
- GradStyle ablation (Twitter images): the trained modules with every stage, with each single
  stage only (the same weights, the other GRMs off), and without GRMs at all (= e4e); the GAM
  ablation is an editing one (bench/editing.py: GAM on vs off);
- GaNI iteration sweep (--gani-sweep 25 50 100 200 300; Twitter images): MSE, drift and seconds
  per image at each count, to choose emoji64's iteration count (the paper uses 300 for faces);
- GaNI vs PTI locality: for the same tuning steps, the MSE gain over e4e next to the perceptual
  drift of the tuned generator on 200 random w (lower: the tuning stayed local).
Methods and rows the zoo cannot run yet are listed as missing.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from pipelines.emojibench import default_root, load_emojibench
from pipelines.inversion import InversionNetworks, InversionSettings, available_methods, invert, lookup
from pipelines.methods.refinestyle_opt import OptimisationSettings
from pipelines.runtime import tune_cpu_allocator
from pipelines.tuning import TuningSettings, locality_drift
from pipelines.zoo import ASSETS, open_zoo

from .readme import update_readme_block
from .report import DEFAULT_ZOO, add_inversion_arguments, add_zoo_argument, inversion_settings, publish, zoo_flag

RESULTS = Path(__file__).resolve().parent / "results" / "inversion.json"
METRICS = ("mse", "ssim", "perceptual", "id")


def runnable_methods(nets: InversionNetworks) -> tuple[list[str], dict[str, str]]:
    """The registered methods these networks can run, in registry order, and the others with the reason."""
    reasons = available_methods(nets)
    return [m for m, why in reasons.items() if not why], {m: why for m, why in reasons.items() if why}


def evaluate(nets: InversionNetworks, images: torch.Tensor, methods: list[str], settings: InversionSettings) -> dict:
    """Mean metrics and ms per image for each method over images [N, 3, R, R]."""
    sums = {m: dict.fromkeys((*METRICS, "ms"), 0.0) for m in methods}
    for i in range(len(images)):
        for r in invert(nets, images[i : i + 1], methods, settings, seed=i):
            for k in METRICS:
                sums[r.method][k] += r.metrics[k]
            sums[r.method]["ms"] += 1000 * r.seconds
    return {m: {k: v / len(images) for k, v in s.items()} for m, s in sums.items()}


def ablation_rows(nets: InversionNetworks, images: torch.Tensor) -> dict:
    """The RefineStyle one-stage ablation checkpoints found in the run folder, on `images`."""
    from nets.refinestyle import RefineStyleEncoder

    rows = {}
    for folder in sorted((default_root() / "runs").glob("ablation_*/export")):
        enc = RefineStyleEncoder.from_pretrained(folder).eval()
        method = "refinestyle_1s" if enc.predict_w else "refinestyle_2s"  # a two-stage row refines e4e's code
        trial = InversionNetworks(nets.generator, nets.loss, e4e=nets.e4e, **{method: enc})
        scores = evaluate(trial, images, [method], InversionSettings())
        info = json.loads((folder / "training.json").read_text())
        rows[folder.parent.name.removeprefix("ablation_")] = scores[method] | {
            "stage": 1 if enc.predict_w else 2, "steps": info["meta"]["step"], "rank": enc.rank,
            "layers": len(enc.refined_layers),
            "grouped": enc.grouped, "learn_scalings": bool(enc.scale_a.requires_grad)}
    return rows


@torch.no_grad()
def gradstyle_ablation(nets: InversionNetworks, images: torch.Tensor) -> dict:
    """Reconstruction metrics of GradStyle with all stages, each stage alone, and none (e4e)."""
    from pipelines.inversion import image_metrics

    stage_sets = {"all stages": None} | {f"stage after conv {layer} only": [k]
                                         for k, layer in enumerate(nets.gradstyle.stage_layers)} | {"no GRM (e4e)": []}
    rows = {}
    for name, stages in stage_sets.items():
        sums = dict.fromkeys(METRICS, 0.0)
        for i in range(len(images)):
            x = images[i : i + 1]
            feats = nets.e4e.features(x)
            image, _, _ = nets.gradstyle.reconstruct(nets.generator, nets.e4e.codes(feats), feats, stages)
            for k, v in image_metrics(nets.loss, image.clamp(-1, 1), x).items():
                sums[k] += v
        rows[name] = {k: v / len(images) for k, v in sums.items()}
    return rows


def locality_table(nets: InversionNetworks, images: torch.Tensor, tuning: TuningSettings) -> dict:
    """GaNI and PTI at equal steps: MSE gain over e4e and the tuned generator's drift on random w."""
    out = {}
    for method in ("gani", "pti"):
        gains, drifts = [], []
        for i in range(len(images)):
            e4e, tuned = invert(nets, images[i : i + 1], ["e4e", method], InversionSettings(tuning), seed=i)
            gains.append(e4e.metrics["mse"] - tuned.metrics["mse"])
            drifts.append(locality_drift(nets.generator, tuned.weight_deltas, nets.loss.perceptual, n=200))
        out[method] = {"steps": tuning.steps, "mse_gain": sum(gains) / len(gains), "drift": sum(drifts) / len(drifts)}
    return out


def gani_sweep(nets: InversionNetworks, images: torch.Tensor, counts: list[int], tuning: TuningSettings) -> dict:
    """GaNI at several iteration counts: mean MSE, drift on 200 random w and seconds per image."""
    rows = {}
    for steps in counts:
        settings = TuningSettings(**(vars(tuning) | {"steps": steps}))
        mse_sum = drift_sum = seconds = 0.0
        for i in range(len(images)):
            (r,) = invert(nets, images[i : i + 1], ["gani"], InversionSettings(settings), seed=i)
            mse_sum += r.metrics["mse"]
            seconds += r.seconds
            drift_sum += locality_drift(nets.generator, r.weight_deltas, nets.loss.perceptual, n=200)
        rows[str(steps)] = {"mse": mse_sum / len(images), "drift": drift_sum / len(images),
                            "seconds": seconds / len(images)}
    return rows


def run(n_images: int, settings: OptimisationSettings, tuning: TuningSettings, locality_images: int,
        sweep: list[int] | None = None, zoo_name: str = DEFAULT_ZOO) -> dict:
    torch.set_num_threads(1)
    zoo = open_zoo(zoo_name)
    data = load_emojibench()
    nets = InversionNetworks.from_zoo(zoo)
    methods, missing = runnable_methods(nets)
    both = InversionSettings(settings, tuning)
    idx = data.indices("test")[:n_images]
    splits = {"google_test": data.tensor(data.google[idx]), "twitter_test": data.tensor(data.twitter[idx])}
    start = time.time()
    result: dict = {"zoo": zoo.name, "images": len(idx), "settings": vars(settings), "tuning": vars(tuning),
                    "missing": missing,
                    "parameters": {m: lookup(m).parameters(nets, both.of(lookup(m))) for m in methods}}
    result["splits"] = {name: evaluate(nets, images, methods, both) for name, images in splits.items()}
    result["ablation"] = ablation_rows(nets, splits["twitter_test"])
    if "gradstyle" in methods:
        result["gradstyle_ablation"] = gradstyle_ablation(nets, splits["twitter_test"])
    if "gani" in methods:
        result["locality"] = locality_table(nets, splits["twitter_test"][:locality_images], tuning)
        if sweep:
            result["gani_sweep"] = gani_sweep(nets, splits["twitter_test"][:locality_images], sweep, tuning)
    result["seconds"] = time.time() - start
    return result


def table(r: dict) -> str:
    lines = [f"{r['images']} test emoji; CPU, one thread; ms per image include every optimisation step.", ""]
    for split, rows in r["splits"].items():
        base = rows.get("e4e", {}).get("mse")
        lines += [f"**{split.replace('_', ' ')}**", "",
                  "| method | MSE ↓ | vs e4e | SSIM ↑ | perceptual ↓ | ID ↑ | parameters | ms / image |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for m, s in rows.items():
            rel = f"{s['mse'] / base:.2f}×" if base else "–"
            lines.append(f"| {m} | {s['mse']:.4f} | {rel} | {s['ssim']:.3f} | {s['perceptual']:.4f} | {s['id']:.3f} | "
                         f"{r['parameters'][m]:,} | {s['ms']:.0f} |")
        lines.append("")
    if r["ablation"]:
        lines += ["**RefineStyle ablation (Twitter test; equal steps per row)**", "",
                  "| row | stage | L | N_r | grouped | scalings | steps | MSE ↓ | perceptual ↓ | ID ↑ |",
                  "|---|---:|---:|---:|---|---|---:|---:|---:|---:|"]
        lines += [f"| {k} | {v['stage']} | {v['rank']} | {v['layers']} | {v['grouped']} | {v['learn_scalings']} | "
                  f"{v['steps']} | "
                  f"{v['mse']:.4f} | {v['perceptual']:.4f} | {v['id']:.3f} |" for k, v in r["ablation"].items()]
        lines.append("")
    if "gradstyle_ablation" in r:
        lines += ["**GradStyle ablation (Twitter test)**", "", "| variant | MSE ↓ | SSIM ↑ | perceptual ↓ | ID ↑ |",
                  "|---|---:|---:|---:|---:|"]
        lines += [f"| {k} | {v['mse']:.4f} | {v['ssim']:.3f} | {v['perceptual']:.4f} | {v['id']:.3f} |"
                  for k, v in r["gradstyle_ablation"].items()] + [""]
    if "locality" in r:
        lines += ["**GaNI vs PTI locality (Twitter test, equal steps)**", "",
                  "| method | steps | MSE gain over e4e ↑ | drift on 200 random w ↓ |", "|---|---:|---:|---:|"]
        lines += [f"| {k} | {v['steps']} | {v['mse_gain']:.4f} | {v['drift']:.4f} |" for k, v in r["locality"].items()]
        lines.append("")
    if "gani_sweep" in r:
        lines += ["**GaNI iterations (Twitter test)**", "", "| iterations | MSE ↓ | drift ↓ | s / image |",
                  "|---:|---:|---:|---:|"]
        lines += [f"| {k} | {v['mse']:.4f} | {v['drift']:.4f} | {v['seconds']:.1f} |" for k, v in r["gani_sweep"].items()]
        lines.append("")
    if r["missing"]:
        lines.append("Not available yet: " + "; ".join(f"{m} ({why})" for m, why in r["missing"].items()) + ".")
    return "\n".join(lines)


def write_cards(r: dict) -> None:
    """Put each method's rows of the main table into the model card of the network it is named after
    (block `metrics`), where the zoo ships one."""
    for method in r["splits"]["google_test"]:
        card = ASSETS / "zoo" / r["zoo"] / method / "README.md"
        if not card.is_file():
            continue
        text = card.read_text()
        if "<!-- bench:metrics -->" not in text:
            card.write_text(text.rstrip() + "\n\n## Metrics\n\n<!-- bench:metrics -->\n<!-- /bench:metrics -->\n")
        lines = [f"`python -m bench.inversion` on {r['images']} EmojiBench test emoji (MSE on [0, 1] images):", "",
                 "| split | MSE | SSIM | perceptual | ID | ms / image |", "|---|---:|---:|---:|---:|---:|"]
        lines += [f"| {split.replace('_', ' ')} | {rows[method]['mse']:.4f} | {rows[method]['ssim']:.3f} | "
                  f"{rows[method]['perceptual']:.4f} | {rows[method]['id']:.3f} | {rows[method]['ms']:.0f} |"
                  for split, rows in r["splits"].items()]
        update_readme_block("metrics", "\n".join(lines), card)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=48)
    p.add_argument("--locality-images", type=int, default=8)
    p.add_argument("--gani-sweep", type=int, nargs="*", default=[], help="GaNI iteration counts to compare")
    add_inversion_arguments(p)
    add_zoo_argument(p)
    p.add_argument("--readme", action="store_true")
    args = p.parse_args(argv)
    tune_cpu_allocator()
    result = run(args.images, *inversion_settings(args), args.locality_images, args.gani_sweep, args.zoo)
    command = f"python -m bench.inversion --images {args.images} --locality-images {args.locality_images}" + (
        f" --gani-sweep {' '.join(map(str, args.gani_sweep))}" if args.gani_sweep else "") + zoo_flag(args.zoo)
    publish("inversion", result, table(result), command, RESULTS, args.readme)
    if args.readme:
        write_cards(result)


if __name__ == "__main__":
    main()
