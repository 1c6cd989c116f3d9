"""CPU timings of the StyleGAN2 generator and of the refined modulated convolution.

    python -m bench.generator            # prints a table, writes bench/results/generator.json

Every timing is the median of repeated runs, and each is also reported as an efficiency:
(the model's counted FLOPs / time) / the machine's dense 3×3 convolution throughput, measured
in the same run. Counted FLOPs: 2 × multiply-adds of every modulated convolution at its input
resolution (the up-sampling 3×3 conv as the transposed conv it is; ToRGB 1×1 included);
backward = 2 × forward. The refined/plain ratio compares forward+backward at 64 px, batch 16,
with RefineStyle residuals of rank L = 32 on every conv layer, per image (inversion) and shared
(adaptation), interleaving the runs so that both see the same machine state. The process runs
with `pipelines.runtime.tune_cpu_allocator()`, as the app and the training scripts do; the per-image
products run on oneDNN where `nets.onednn` finds that exact (recorded as `onednn_matmuls`).
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

from nets.configs import FFHQ1024
from nets.onednn import onednn_is_exact
from nets.stylegan2 import Generator
from pipelines.runtime import seeded_initialisation, tune_cpu_allocator
from pipelines.zoo import open_zoo
from train.generator import GanTraining, native_bf16, parse_args

from .readme import update_readme_block
from .report import machine

RESULTS = Path(__file__).resolve().parent / "results" / "generator.json"


def median_seconds(fn: Callable[[], object], repeats: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def conv_throughput(repeats: int, gen: torch.Generator) -> dict:
    """GFLOP/s of a dense 3×3 conv, 512→512 channels at 64×64, batch 1, in both memory layouts."""
    x = torch.randn(1, 512, 64, 64, generator=gen)
    w = torch.randn(512, 512, 3, 3, generator=gen)
    flops = 2 * 9 * 512 * 512 * 64 * 64
    out = {}
    with torch.no_grad():
        for name, fmt in (("contiguous", torch.contiguous_format), ("channels_last", torch.channels_last)):
            xf = x.contiguous(memory_format=fmt)
            out[name] = flops / median_seconds(lambda: F.conv2d(xf, w, padding=1), repeats) / 1e9
    out["best"] = max(out.values())
    return out


def synthesis_flops(g: Generator) -> float:
    """Counted forward FLOPs of one image (see the module docstring)."""
    total = 0.0
    for layer in g.synthesis.convs:
        c = layer.conv
        res_in = layer.resolution // 2 if c.up else layer.resolution
        total += 2 * c.kernel_size**2 * c.in_channels * c.out_channels * res_in**2
    for i, rgb in enumerate(g.synthesis.to_rgbs):
        total += 2 * rgb.conv.in_channels * 3 * (4 * 2**i) ** 2
    return total


def residuals(g: Generator, batch: int, rank: int, shared: bool, gen: torch.Generator) -> dict:
    n = 1 if shared else batch
    return {i: ((0.01 * torch.randn(n, rank, layer.conv.out_channels, generator=gen)).requires_grad_(),
                (0.01 * torch.randn(n, rank, layer.conv.in_channels, generator=gen)).requires_grad_())
            for i, layer in enumerate(g.synthesis.convs)}


def interleaved_ratio(base: Callable, other: Callable, repeats: int) -> tuple[float, float]:
    for _ in range(2):
        base(), other()
    tb, to = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        base()
        tb.append(time.perf_counter() - t)
        t = time.perf_counter()
        other()
        to.append(time.perf_counter() - t)
    return statistics.median(tb), statistics.median(to)


def training_step_speed(repeats: int, gen: torch.Generator) -> dict:
    """train.generator's whole step (D step with lazy R1 on its schedule, G step, EMA) at batch 16,
    in float32 and under bf16 autocast, interleaved; the same random reals feed both."""
    reals = torch.rand(16, 3, 64, 64, generator=gen) * 2 - 1
    runs = {}
    for precision in ("fp32", "bf16"):
        with seeded_initialisation(0):
            runs[precision] = GanTraining(parse_args(["--precision", precision]), torch.device("cpu"))
    counter = {"fp32": 0, "bf16": 0}

    def step(precision: str) -> None:
        runs[precision].step(reals, counter[precision])
        counter[precision] += 1

    t32, t16 = interleaved_ratio(lambda: step("fp32"), lambda: step("bf16"), repeats * 4)
    return {"case": "train.generator step, batch 16 (D + lazy R1 + G + EMA), bf16 autocast", "seconds": t16,
            "fp32_seconds": t32, "speedup_vs_fp32": t32 / t16, "native_bf16": native_bf16(torch.device("cpu"))}


def run(repeats: int) -> dict:
    gen = torch.Generator().manual_seed(0)  # the inputs
    tput = conv_throughput(repeats, gen)
    peak = tput["best"]
    rows = []

    with seeded_initialisation(0):
        g64 = Generator(**open_zoo("emoji64").architecture("generator"))
    batch = 16
    ws = torch.randn(batch, g64.num_ws, g64.w_dim, generator=gen)
    flops64 = synthesis_flops(g64) * batch * 3

    def step(res=None):
        g64.zero_grad(set_to_none=True)
        g64.synthesis(ws, residuals=res).square().mean().backward()

    t_plain = median_seconds(step, repeats * 2)
    rows.append({"case": "64 px (emoji64) fwd+bwd, batch 16", "seconds": t_plain, "gflop": flops64 / 1e9,
                 "efficiency": flops64 / t_plain / 1e9 / peak})
    for mode in ("per-image", "shared"):
        res = residuals(g64, batch, 32, mode == "shared", gen)
        tp, tr = interleaved_ratio(step, lambda: step(res), repeats * 3)
        rows.append({"case": f"64 px fwd+bwd, batch 16, refined L=32 every layer ({mode})", "seconds": tr,
                     "gflop": flops64 / 1e9, "efficiency": flops64 / tr / 1e9 / peak, "ratio_vs_plain": tr / tp})

    rows.append(training_step_speed(repeats, gen))

    with seeded_initialisation(0):
        g1024 = Generator(**FFHQ1024).eval()
    ws1024 = torch.randn(1, g1024.num_ws, g1024.w_dim, generator=gen)
    flops1024 = synthesis_flops(g1024)
    with torch.no_grad():
        t1024 = median_seconds(lambda: g1024.synthesis(ws1024), repeats)
    rows.append({"case": "1024 px (FFHQ config-f) forward, batch 1", "seconds": t1024, "gflop": flops1024 / 1e9,
                 "efficiency": flops1024 / t1024 / 1e9 / peak})
    return {
        "machine": machine(),
        "conv3x3_gflops": tput,
        "rows": rows,
        "floors": {"refined_over_plain_max": 1.25, "efficiency_1024_min": 0.5},
    }


def training_step_only(repeats: int, readme: bool) -> None:
    row = training_step_speed(repeats)
    result = {"machine": machine(), "rows": [row]}
    (RESULTS.parent / "generator_training_step.json").write_text(json.dumps(result, indent=2) + "\n")
    text = training_step_text(row, result["machine"])
    print(text)
    if readme:
        update_readme_block("generator_training_step",
                            f"```\n$ python -m bench.generator --training-step\n```\n\n{text}\n")


def training_step_text(r: dict, machine: dict) -> str:
    return (f"Generator training step (batch 16, {machine['threads']} thread(s), {machine['cpu']}): float32 "
            f"{r['fp32_seconds']:.2f} s, bf16 autocast {r['seconds']:.2f} s → **{r['speedup_vs_fp32']:.2f}×** images "
            f"per second (native bf16: {'yes' if r['native_bf16'] else 'no — emulated, expect a slowdown'}; "
            f"CPU flags: {', '.join(machine.get('flags', [])) or 'n/a'}).")


def table(result: dict) -> str:
    t = result["conv3x3_gflops"]
    lines = [f"Dense 3×3 conv throughput (512→512, 64², batch 1): {t['contiguous']:.0f} GFLOP/s contiguous, "
             f"{t['channels_last']:.0f} GFLOP/s channels-last → reference {t['best']:.0f} GFLOP/s "
             f"({result['machine']['threads']} threads, torch {result['machine']['torch']})",
             "",
             "| case | time | counted GFLOP | efficiency | refined / plain |",
             "|---|---:|---:|---:|---:|"]
    for r in result["rows"]:
        if "gflop" not in r:
            continue
        ratio = f"{r['ratio_vs_plain']:.2f}" if "ratio_vs_plain" in r else ""
        lines.append(f"| {r['case']} | {r['seconds'] * 1000:.0f} ms | {r['gflop']:.1f} | {r['efficiency']:.2f} | {ratio} |")
    for r in result["rows"]:
        if "speedup_vs_fp32" in r:
            lines += ["", training_step_text(r, result["machine"])]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--readme", action="store_true", help="also write the table into README.md")
    parser.add_argument("--training-step", action="store_true",
                        help="time only train.generator's step, float32 vs bf16 autocast (generator_training_step.json)")
    args = parser.parse_args(argv)
    tuned = tune_cpu_allocator()
    if args.training_step:
        training_step_only(args.repeats, args.readme)
        return
    result = run(args.repeats)
    result["machine"] |= {"allocator_tuned": tuned, "onednn_matmuls": onednn_is_exact()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(table(result))
    if args.readme:
        update_readme_block("generator", f"```\n$ python -m bench.generator\n```\n\n{table(result)}\n")


if __name__ == "__main__":
    main()
