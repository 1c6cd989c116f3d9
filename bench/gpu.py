"""Timings at 1024 px: every inversion method the 1024 networks allow, each adaptation iteration,
and the emoji64 generator's training throughput; writes bench/results/gpu.json (CUDA) or
bench/results/cpu1024.json (--device cpu), with the machine it ran on.

    python -m bench.gpu [--readme]              # needs CUDA; exits with a message without it
    python -m bench.gpu --device cpu --steps 1 3 --repeats 3 [--readme]    # the same cases on this CPU
        # (cpu1024.json is what ui/budget.py fits the app's ffhq CPU sliders to: run it on the serving machine)

Timing needs no trained weight, so the networks are the official FFHQ layouts randomly
initialised (config-f generator, e4e and ArcFace IR-SE50, BiSeNet, LPIPS on a random backbone of
the ffhq manifest's net (VGG16), open_clip ViT-B/32 and ViT-B/16) and the RefineStyle encoders built
for that generator: nothing is downloaded. Encoders are timed per image (median of --repeats after a
warm-up); per-image methods and adaptation run at two step counts (median of --repeats each), and the
difference gives seconds per step.
Each case that fails is recorded with its error and the rest still run. GradStyle is not timed:
the project has no configuration of it for the 1024 generator and IR-SE50 features yet.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import torch

from nets.configs import FFHQ1024
from nets.stylegan2 import Generator
from pipelines.inversion import lookup
from pipelines.losses import ReconstructionLoss
from pipelines.methods import InversionNetworks
from pipelines.methods.refinestyle_opt import OptimisationSettings
from pipelines.runtime import seeded_initialisation
from pipelines.tuning import TuningSettings

from .report import machine, publish

RESULTS = Path(__file__).resolve().parent / "results" / "gpu.json"
CPU_RESULTS = RESULTS.with_name("cpu1024.json")
ENCODERS = ("e4e", "refinestyle_1s", "refinestyle_2s")
# the adaptation cases (keys of the results' "adaptation") as the table names them
ADAPTATION = {"text": "text-driven (tokens at L = 256, batch 2, ViT-B/32 + ViT-B/16)",
              "oneshot": "one-shot (tokens at L = 256, batch 2, LPIPS-VGG + ArcFace)"}
TUNED = ("gani", "pti")


def sync_time(fn: Callable[[], object], device: torch.device) -> float:
    """Seconds of one call, the device's queue drained before and after."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - t0


def median_time(fn: Callable[[], object], device: torch.device, repeats: int) -> float:
    sync_time(fn, device)  # warm-up: kernels chosen, memory pooled
    return statistics.median(sync_time(fn, device) for _ in range(repeats))


def per_step(fn: Callable[[int], object], steps: tuple[int, int], device: torch.device, repeats: int) -> dict:
    """fn(n) runs n steps: seconds per step from the median times at two step counts, and the fixed part."""
    fn(steps[0])  # warm-up
    a, b = (statistics.median(sync_time(lambda n=n: fn(n), device) for _ in range(repeats)) for n in steps)
    step = (b - a) / (steps[1] - steps[0])
    return {"seconds_per_step": step, "fixed_seconds": a - step * steps[0], "steps": list(steps)}


def build_networks(device: torch.device) -> InversionNetworks:
    """The ffhq zoo's layouts with random weights (no file, no download)."""
    from nets.bisenet import BiSeNet
    from nets.e4e import E4E_FFHQ, E4EEncoder
    from nets.judges import ArcFaceIRSE50, LpipsDistance
    from pipelines.zoo import open_zoo
    from train.refinestyle import DEFAULT_LAYERS, build_encoder

    def ready(m: torch.nn.Module) -> torch.nn.Module:
        return m.to(device).eval().requires_grad_(False)

    g = Generator(**FFHQ1024)
    e4e = E4EEncoder(**E4E_FFHQ)  # also the RefineStyle encoders' IR-SE pyramid (train.refinestyle's default)
    one_stage = build_encoder(g, 1, 16, DEFAULT_LAYERS, e4e=e4e)
    two_stage = build_encoder(g, 2, 16, list(range(len(g.synthesis.convs))), e4e=e4e)  # every layer, as trained
    options = open_zoo("ffhq").slots["perceptual"].options  # the manifest only: nothing loads
    lpips = ready(LpipsDistance(options.get("net", "alex"), pretrained_backbone=False, resize=options.get("resize")))
    arcface = ready(ArcFaceIRSE50())
    return InversionNetworks(
        ready(g), ReconstructionLoss(lpips.perceptual_distance, arcface.identity), e4e=ready(e4e),
        refinestyle_1s=ready(one_stage), refinestyle_2s=ready(two_stage), parsing=ready(BiSeNet()).features,
        others={"perceptual": lpips})  # the one-shot judge (style features and distance), as the app's ffhq zoo


def time_inversion(nets: InversionNetworks, device: torch.device, steps: tuple[int, int], repeats: int) -> dict:
    target = torch.rand(1, 3, 1024, 1024, generator=torch.Generator().manual_seed(0)).to(device) * 2 - 1
    out: dict[str, dict] = {}

    def run(name: str, settings: object) -> object:
        return lookup(name).run(nets, target, settings, 0, None, None)

    cases: dict[str, Callable[[], dict]] = {
        **{name: (lambda name=name: {"seconds_per_image": median_time(
            lambda: run(name, lookup(name).settings()), device, repeats)}) for name in ENCODERS},
        "refinestyle_opt (W+ step)": lambda: per_step(
            lambda n: run("refinestyle_opt", OptimisationSettings(w_steps=n, residual_steps=0)), steps, device, repeats),
        "refinestyle_opt (residual step)": lambda: per_step(
            lambda n: run("refinestyle_opt", OptimisationSettings(w_steps=1, residual_steps=n)), steps, device, repeats),
        **{name: (lambda name=name: per_step(lambda n: run(name, TuningSettings(steps=n)), steps, device, repeats))
           for name in TUNED},
    }
    for name, case in cases.items():
        out[name] = guarded(case)
    return out


def time_adaptation(nets: InversionNetworks, device: torch.device, steps: tuple[int, int], repeats: int) -> dict:
    import open_clip

    from pipelines.adapt_oneshot import OneShotSettings, adapt_oneshot
    from pipelines.adapt_text import TextAdaptSettings, adapt_text
    from pipelines.clip_loss import clip_towers

    g = nets.generator
    with seeded_initialisation(0):
        towers = clip_towers({name: open_clip.create_model(name).to(device) for name in ("ViT-B-32", "ViT-B-16")})
    reference = torch.rand(1, 3, 1024, 1024, generator=torch.Generator().manual_seed(1)).to(device) * 2 - 1
    w_ref = g.broadcast(g.estimate_w_avg()[None])  # [1, num_ws, w_dim]

    def text(n: int) -> object:
        return adapt_text(g, towers, TextAdaptSettings(source="a photo of a face", target="a sketch of a face",
                                                       iterations=n))

    judge = nets.network("perceptual")  # LPIPS: its backbone's features drive the style loss, as in the app

    def oneshot(n: int) -> object:
        return adapt_oneshot(g, reference, w_ref, judge.features, judge.perceptual_distance,
                             OneShotSettings(iterations=n), identity=nets.loss.identity)

    return {"text": guarded(lambda: per_step(text, steps, device, repeats)),
            "oneshot": guarded(lambda: per_step(oneshot, steps, device, repeats))}


def time_training(device: torch.device, repeats: int) -> dict:
    """train.generator's whole step (D, lazy R1, G, EMA) on the emoji64 networks, batch 16."""
    from train.generator import GanTraining, parse_args

    def case() -> dict:
        with seeded_initialisation(0):
            run = GanTraining(parse_args(["--device", str(device)]), device)
        reals = torch.rand(run.args.batch, 3, 64, 64, generator=torch.Generator().manual_seed(2)).to(device) * 2 - 1
        counter = iter(range(10**9))
        seconds = median_time(lambda: run.step(reals, next(counter)), device, max(repeats, 8))
        return {"seconds_per_step": seconds, "batch": run.args.batch, "images_per_second": run.args.batch / seconds}

    return guarded(case)


def guarded(case: Callable[[], dict]) -> dict:
    try:
        return case()
    except Exception as err:  # one broken case must not lose the others' numbers
        traceback.print_exc()
        return {"error": f"{type(err).__name__}: {err}"}


def table(result: dict) -> str:
    m = result["machine"]
    host = f"{m['cpu']} ({m['cpus']} logical CPUs, {m['threads']} torch thread(s); {' '.join(m['flags'])})"
    lines = [f"{result['device']}, torch {result['torch']}; host {host}", "",
             "| case | seconds |", "|---|---|"]
    for group in ("inversion", "adaptation"):
        for name, r in result[group].items():
            if "error" in r:
                value = f"failed: {r['error'][:80]}"
            elif "seconds_per_image" in r:
                value = f"{r['seconds_per_image']:.3f} per image"
            else:
                fixed = f"{r['fixed_seconds']:.2f} fixed" if r["fixed_seconds"] >= 0 else "fixed part below timing noise"
                value = f"{r['seconds_per_step']:.3f} per step (+ {fixed})"
            lines.append(f"| {group}: {ADAPTATION.get(name, name) if group == 'adaptation' else name} | {value} |")
    t = result["training"]
    value = t.get("error") or f"{t['seconds_per_step']:.3f} per step = {t['images_per_second']:.0f} images/s"
    lines.append(f"| emoji64 generator training, batch {t.get('batch', '?')} | {value} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda")
    p.add_argument("--steps", type=int, nargs=2, default=(5, 25), help="the two step counts of per-step timings")
    p.add_argument("--repeats", type=int, default=10, help="timed runs of each encoder and of each step count")
    p.add_argument("--readme", action="store_true")
    args = p.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("bench.gpu: no CUDA device here (torch.cuda.is_available() is False); run it on a GPU machine, "
                 "or pass --device cpu to time the same cases on this CPU (it rewrites bench/results/cpu1024.json, "
                 "which the app's ffhq sliders start from)")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    with seeded_initialisation(0):
        nets = build_networks(device)
    result = {"device": name, "torch": torch.__version__, "resolution": 1024, "machine": machine(),
              "inversion": time_inversion(nets, device, tuple(args.steps), args.repeats),
              "adaptation": time_adaptation(nets, device, tuple(args.steps), args.repeats),
              "training": time_training(device, args.repeats)}
    if device.type == "cuda":
        publish("gpu", result, table(result), "python -m bench.gpu", RESULTS, args.readme)
    else:
        command = f"python -m bench.gpu --device cpu --steps {' '.join(map(str, args.steps))} --repeats {args.repeats}"
        publish("cpu1024", result, table(result), command, CPU_RESULTS, args.readme)


if __name__ == "__main__":
    main()
