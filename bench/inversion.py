"""Inversion on EmojiBench: every method a zoo (--zoo, default emoji64) can run, in-domain and out-of-domain.

    python -m bench.inversion [--images 48] [--styles google twitter | all] [--zoo emoji64] [--readme]
        # tables, bench/results/inversion.json, docs/inversion_quality_time.png

- main table: for each registered method (pipelines/methods/) on the first --images emoji of the Google
  test split (in-domain) and on the same emoji in every other --styles style (out-of-domain; Twitter
  by default, every EmojiBench style with `all`): MSE, PSNR, SSIM, the zoo's perceptual distance, ID
  cosine, reconstruction identity retrieval R@1 (is each reconstruction's identity nearest an input
  of its own emoji? it catches "the same face for everything"), the style judge's share of
  reconstructions in the input's style, trainable parameters, FLOPs of one image (every step's
  forward and backward) and CPU milliseconds per image (one thread per image, as the app runs
  them); and the quality-time plot (perceptual distance against seconds per image, log axis; circles
  for the papers' methods, triangles for ours);
- RefineStyle ablation (the paper's Table 4): every encoder trained under `runs/ablation_*` by
  `python -m train.refinestyle --stage 2 --steps 300 --lr 3e-4 --d-model 128 --name ablation_<row> --no-export ...`
  (one-stage or two-stage rows, read from the checkpoint: L, N_r, token sets, grouping, scalings),
  on the Twitter images; the `reference` row is the recipe's default configuration (every layer,
  two token sets) at the same budget, every other row changes one choice;
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
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

from nets.style_judge import StyleJudge
from pipelines.emojibench import STYLES, default_root, load_emojibench
from pipelines.evaluation.style_judge import style_judge_of, style_share
from pipelines.evaluation.styles import style_rows
from pipelines.figures import QualityTimePoint, quality_time_figure
from pipelines.inversion import InversionNetworks, InversionSettings, available_methods, invert, lookup
from pipelines.metrics import identity_retrieval_r1, psnr
from pipelines.methods.refinestyle_opt import OptimisationSettings
from pipelines.runtime import tune_cpu_allocator
from pipelines.tuning import TuningSettings, locality_drift
from pipelines.zoo import ASSETS, open_zoo

from .readme import update_readme_block
from .report import DEFAULT_ZOO, add_inversion_arguments, add_zoo_argument, inversion_settings, publish, zoo_flag

RESULTS = Path(__file__).resolve().parent / "results" / "inversion.json"
PLOT = Path(__file__).resolve().parents[1] / "docs" / "inversion_quality_time.png"
DEFAULT_SPLITS = ("google", "twitter")  # in-domain, and the out-of-domain split of the papers' tables
METRICS = ("mse", "psnr", "ssim", "perceptual", "id")


def runnable_methods(nets: InversionNetworks) -> tuple[list[str], dict[str, str]]:
    """The registered methods these networks can run, in registry order, and the others with the reason."""
    reasons = available_methods(nets)
    return [m for m, why in reasons.items() if not why], {m: why for m, why in reasons.items() if why}


def evaluate(nets: InversionNetworks, images: torch.Tensor, methods: list[str], settings: InversionSettings,
             identities: list | None = None, style: str | None = None, judge: StyleJudge | None = None) -> dict:
    """Per method over images [N, 3, R, R] (one split): mean MSE, PSNR, SSIM, perceptual distance, ID cosine
    and ms per image; with `identities` ([N] each image's emoji, skin-tone variants sharing one), the
    reconstruction identity retrieval R@1 (is each reconstruction's identity embedding nearest an input of
    its own emoji?); with a style judge, the share of reconstructions it puts in `style`, the inputs' style."""
    sums = {m: dict.fromkeys((*METRICS, "ms"), 0.0) for m in methods}
    recon: dict[str, list[torch.Tensor]] = {m: [] for m in methods}
    for i in range(len(images)):
        for r in invert(nets, images[i : i + 1], methods, settings, seed=i):
            for k in METRICS:
                sums[r.method][k] += psnr(r.image, images[i : i + 1]).item() if k == "psnr" else r.metrics[k]
            sums[r.method]["ms"] += 1000 * r.seconds
            recon[r.method].append(r.image)
    out = {m: {k: v / len(images) for k, v in s.items()} for m, s in sums.items()}
    with torch.no_grad():
        gallery = embed(nets.loss.identity, images) if identities is not None else None
        for m in methods:
            made = torch.cat(recon[m])
            if identities is not None:
                out[m]["identity_r1"] = identity_retrieval_r1(embed(nets.loss.identity, made), gallery, identities)
            if judge is not None:
                out[m]["style_kept"] = style_share(judge, made, style)
    return out


def embed(identity, images: torch.Tensor, batch: int = 64) -> torch.Tensor:
    """The identity network's unit embeddings of images [N, 3, R, R].  -> [N, D]"""
    return torch.cat([identity(images[i : i + batch]) for i in range(0, len(images), batch)])


class FlopCount(TorchDispatchMode):
    """The floating-point operations of every aten op that torch's flop counter has a formula for
    (convolutions, matrix products, attention; a multiply-add counts 2), forward and backward. Not
    FlopCounterMode itself: its module hooks break autograd.grad on leaf tensors, which GaNI takes."""

    def __init__(self) -> None:
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        formula = flop_registry.get(func._overloadpacket)
        if formula is not None:
            self.total += formula(*args, **kwargs, out_val=out)
        return out


def flops_per_image(nets: InversionNetworks, image: torch.Tensor, methods: list[str],
                    settings: InversionSettings) -> dict[str, float]:
    """Floating-point operations of inverting one image [1, 3, R, R] with each method (its own run, not the
    metrics the bench computes afterwards), every forward and backward pass of its steps included."""
    out = {}
    for m in methods:
        method = lookup(m)
        with FlopCount() as count:
            method.run(nets, image, settings.of(method), 0, None, None)
        out[m] = float(count.total)
    return out


def ablation_rows(nets: InversionNetworks, images: torch.Tensor) -> dict:
    """The RefineStyle ablation checkpoints (the paper's Table 4) found in the run folder, on `images`:
    the reference row first, then the others by name."""
    from nets.refinestyle import RefineStyleEncoder

    rows = {}
    folders = (default_root() / "runs").glob("ablation_*/export")
    for folder in sorted(folders, key=lambda f: (f.parent.name != "ablation_reference", f.parent.name)):
        enc = RefineStyleEncoder.from_pretrained(folder).eval()
        method = "refinestyle_1s" if enc.predict_w else "refinestyle_2s"  # a two-stage row refines e4e's code
        trial = InversionNetworks(nets.generator, nets.loss, e4e=nets.e4e, **{method: enc})
        scores = evaluate(trial, images, [method], InversionSettings())
        info = json.loads((folder / "training.json").read_text())
        rows[folder.parent.name.removeprefix("ablation_")] = scores[method] | {
            "stage": 1 if enc.predict_w else 2, "steps": info["meta"]["step"], "rank": enc.rank,
            "layers": len(enc.refined_layers), "token_sets": enc.token_sets,
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
        sweep: list[int] | None = None, zoo_name: str = DEFAULT_ZOO, styles: tuple[str, ...] = DEFAULT_SPLITS) -> dict:
    torch.set_num_threads(1)
    zoo = open_zoo(zoo_name)
    data = load_emojibench()
    nets = InversionNetworks.from_zoo(zoo)
    judge, judge_note = style_judge_of(zoo)
    methods, missing = runnable_methods(nets)
    both = InversionSettings(settings, tuning)
    start = time.time()
    result: dict = {"zoo": zoo.name, "images": n_images, "settings": vars(settings), "tuning": vars(tuning),
                    "missing": missing, "style_judge_note": judge_note,
                    "parameters": {m: lookup(m).parameters(nets, both.of(lookup(m))) for m in methods},
                    "labels": {m: lookup(m).label for m in methods}, "splits": {}, "split_images": {}}
    test = style_rows(data, "test")
    identities = data.identity_ids()
    images_of = {s: data.tensor(data.style(s)[test[s][:n_images]]) for s in {*styles, "twitter"}}
    for style in styles:  # the first n_images test emoji each style draws (Google and Twitter: the same rows)
        idx = test[style][:n_images]
        images = images_of[style]
        result["splits"][f"{style}_test"] = evaluate(nets, images, methods, both, identities[idx].tolist(), style,
                                                     judge)
        result["split_images"][f"{style}_test"] = len(idx)
    google = data.tensor(data.google[test["google"][:1]])
    result["gflops"] = {m: f / 1e9 for m, f in flops_per_image(nets, google, methods, both).items()}
    twitter = images_of["twitter"]  # the ablations' split
    result["ablation"] = ablation_rows(nets, twitter)
    if "gradstyle" in methods:
        result["gradstyle_ablation"] = gradstyle_ablation(nets, twitter)
    if "gani" in methods:
        result["locality"] = locality_table(nets, twitter[:locality_images], tuning)
        if sweep:
            result["gani_sweep"] = gani_sweep(nets, twitter[:locality_images], sweep, tuning)
    result["seconds"] = time.time() - start
    return result


def table(r: dict) -> str:
    lines = [f"The first {r['images']} test emoji each style draws; CPU, one thread; ms per image include every "
             "optimisation step. ID R@1: is each reconstruction's identity nearest an input of its own emoji "
             "(among the split's inputs)? Style kept: the share of reconstructions the style judge puts in the "
             "input's style. GFLOPs: one image, every forward and backward pass.", ""]
    if r.get("style_judge_note"):
        lines += [f"Style judge: {r['style_judge_note']}.", ""]
    for split, rows in r["splits"].items():
        base = rows.get("e4e", {}).get("mse")
        lines += [f"**{split.replace('_', ' ')}** ({r['split_images'][split]} emoji)", "",
                  "| method | MSE ↓ | vs e4e | PSNR ↑ | SSIM ↑ | perceptual ↓ | ID ↑ | ID R@1 ↑ | style kept ↑ | "
                  "parameters | GFLOPs | ms / image |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for m, v in rows.items():
            rel = f"{v['mse'] / base:.2f}×" if base else "–"
            kept = f"{v['style_kept']:.2f}" if "style_kept" in v else "–"
            lines.append(f"| {r['labels'][m]} | {v['mse']:.4f} | {rel} | {v['psnr']:.2f} | {v['ssim']:.3f} | "
                         f"{v['perceptual']:.4f} | {v['id']:.3f} | {v['identity_r1']:.2f} | {kept} | "
                         f"{r['parameters'][m]:,} | {r['gflops'][m]:.1f} | {v['ms']:.0f} |")
        lines.append("")
    lines += [f"![Perceptual distance against seconds per image]({PLOT.relative_to(PLOT.parents[1])})", ""]
    if r["ablation"]:
        lines += ["**RefineStyle ablation (Twitter test; equal steps per row)**", "",
                  "| row | stage | L | N_r | token sets | grouped | scalings | steps | MSE ↓ | perceptual ↓ | ID ↑ |",
                  "|---|---:|---:|---:|---:|---|---|---:|---:|---:|---:|"]
        lines += [f"| {k} | {v['stage']} | {v['rank']} | {v['layers']} | {v.get('token_sets', 1)} | {v['grouped']} | "
                  f"{v['learn_scalings']} | {v['steps']} | "
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


def quality_time_plot(r: dict, path: Path = PLOT) -> None:
    """Perceptual distance against seconds per image, one marker per method and split (pipelines/figures.py)."""
    points = [QualityTimePoint(m, v["ms"] / 1000, v["perceptual"], "(ours)" in r["labels"][m], split.removesuffix("_test"))
              for split, rows in r["splits"].items() for m, v in rows.items()]
    fig = quality_time_figure(points, "Inversion quality against CPU time, one thread")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)


def write_cards(r: dict) -> None:
    """Put each method's rows of the main table into the model card of the network it is named after
    (block `metrics`), where the zoo ships one."""
    for method in r["labels"]:
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
                  for split, rows in r["splits"].items() if method in rows]
        update_readme_block("metrics", "\n".join(lines), card)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=48)
    p.add_argument("--locality-images", type=int, default=8)
    p.add_argument("--gani-sweep", type=int, nargs="*", default=[], help="GaNI iteration counts to compare")
    p.add_argument("--styles", nargs="+", default=list(DEFAULT_SPLITS), choices=["all", *STYLES],
                   help="the splits: each style's renderings of the test emoji (all: every EmojiBench style)")
    add_inversion_arguments(p)
    add_zoo_argument(p)
    p.add_argument("--readme", action="store_true")
    args = p.parse_args(argv)
    tune_cpu_allocator()
    styles = STYLES if "all" in args.styles else tuple(args.styles)
    result = run(args.images, *inversion_settings(args), args.locality_images, args.gani_sweep, args.zoo, styles)
    command = f"python -m bench.inversion --images {args.images} --locality-images {args.locality_images}" + (
        f" --gani-sweep {' '.join(map(str, args.gani_sweep))}" if args.gani_sweep else "") + (
        "" if styles == DEFAULT_SPLITS else f" --styles {' '.join(args.styles)}") + zoo_flag(args.zoo)
    publish("inversion", result, table(result), command, RESULTS, args.readme)
    if args.readme:  # the README shows the plot next to the tables
        quality_time_plot(result)
        write_cards(result)


if __name__ == "__main__":
    main()
