"""Fit a zoo's editing directions (default emoji64): InterFaceGAN boundaries from EmojiNet labels, GANSpace PCA of W.

    python -m train.directions           # needs the shipped generator and EmojiNet

InterFaceGAN (Shen et al. 2020, §3): sample w = mapping(z), render, score every sample with an
EmojiNet attribute head (logit of the positive value minus the negative one), take the most
positive and most negative 15 % as the two classes and fit a linear boundary in W (L2-regularised
logistic regression, the SVM's smooth sibling); the unit normal is the direction. An attribute
pair is kept only when both classes hold at least 100 samples that the head itself calls that
value ("enough labels").

GANSpace (Härkönen et al. 2020): PCA of W from the same samples; components, their standard
deviations and the mean.

StyleSpace (Wu et al. 2021, §4): the channel of S (every conv layer's style vector) that moves
one attribute most while keeping the others, found by the paper's perturbation procedure with
EmojiNet as the attribute judge: on n samples, each channel c is moved by ±α σ_c, the change of
every head score is averaged and divided by that score's spread over samples; a channel's
score for attribute a is |Δ_a| − max |Δ_b| over the pairs b of other heads. The best channel
per kept attribute is shipped, its σ signed so that a positive strength raises the attribute.

Each InterFaceGAN direction is then scored on 200 fresh samples at the fixed strength
α = 2 σ (σ: the std of w·n over samples): the fraction whose head score rises, and the mean
EmojiNet identity cosine between the original and the edited sample
(`pipelines/evaluation/directions.py`, which bench.zoo_emoji64 runs too).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from nets.emojinet import ATTRIBUTES, EmojiNet
from nets.stylegan2 import Generator
from pipelines.attributes import CANDIDATES, AttributePair, head_score
from pipelines.directions import DirectionSet, GanSpace, LinearDirection, StyleChannel
from pipelines.evaluation.directions import evaluate_direction
from pipelines.runtime import tune_cpu_allocator
from pipelines.zoo import open_zoo, register_local_slot

from .recipe import export_folder


@torch.no_grad()
def sample_and_score(G: Generator, net: EmojiNet, n: int, seed: int, batch: int = 100) -> tuple[torch.Tensor, dict]:
    gen = torch.Generator().manual_seed(seed)
    ws, logits = [], {k: [] for k in ATTRIBUTES}
    for start in range(0, n, batch):
        z = torch.randn(min(batch, n - start), G.z_dim, generator=gen)
        w = G.mapping(z)
        out = net(G.synthesis(G.broadcast(w)).clamp(-1, 1))
        ws.append(w)
        for k in ATTRIBUTES:
            logits[k].append(out["logits"][k])
    return torch.cat(ws), {k: torch.cat(v) for k, v in logits.items()}


def fit_boundary(w: torch.Tensor, labels: torch.Tensor, l2: float = 1e-3, steps: int = 300) -> torch.Tensor:
    """Unit normal of an L2-regularised logistic-regression boundary in W.  w [N, D], labels {0,1} [N] -> [D]"""
    mean, std = w.mean(0), w.std(0) + 1e-6
    x = (w - mean) / std
    weight = torch.zeros(w.shape[1], requires_grad=True)
    bias = torch.zeros((), requires_grad=True)
    opt = torch.optim.LBFGS([weight, bias], max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(x @ weight + bias, labels.float()) + l2 * weight.square().sum()
        loss.backward()
        return loss

    opt.step(closure)
    normal = weight.detach() / std  # back to W coordinates: x·weight = (w − mean)·(weight / std)
    return normal / normal.norm()


def fit_all(G: Generator, net: EmojiNet, n: int = 10000, seed: int = 0, top: float = 0.15,
            min_count: int = 100) -> tuple[DirectionSet, dict]:
    w, logits = sample_and_score(G, net, n, seed)
    directions = DirectionSet()
    report = {}
    k = int(top * n)
    for pair in CANDIDATES:
        score = head_score(logits, pair)
        order = score.argsort()
        neg, pos = order[:k], order[-k:]
        pred = logits[pair.head].argmax(1)
        values = ATTRIBUTES[pair.head]
        n_pos = int((pred[pos] == values.index(pair.positive)).sum())
        n_neg = int((pred[neg] == values.index(pair.negative)).sum())
        if min(n_pos, n_neg) < min_count:
            report[pair.name] = {"kept": False, "confident_positive": n_pos, "confident_negative": n_neg}
            continue
        idx = torch.cat([neg, pos])
        labels = torch.cat([torch.zeros(k), torch.ones(k)])
        normal = fit_boundary(w[idx], labels)
        sigma = (w @ normal).std().item()
        direction = LinearDirection(pair.name, normal[None])
        directions.interfacegan[pair.name] = direction
        report[pair.name] = {"kept": True, "confident_positive": n_pos, "confident_negative": n_neg,
                             **evaluate_direction(G, net, pair, direction, 2 * sigma)}
    centred = w - w.mean(0)
    _, s, v = torch.linalg.svd(centred, full_matrices=False)
    directions.ganspace = GanSpace(w.mean(0), v[:32], s[:32] / (n - 1) ** 0.5)
    return directions, report


@torch.no_grad()
def style_std(G: Generator, n: int = 2000, seed: int = 3) -> list[torch.Tensor]:
    """σ of every style channel over random w, per conv layer.  -> [C_in] per layer"""
    w = G.mapping(torch.randn(n, G.z_dim, generator=torch.Generator().manual_seed(seed)))
    return [conv.conv.affine(w).std(0) for conv in G.synthesis.convs]


@torch.no_grad()
def localise_stylespace(G: Generator, net: EmojiNet, pairs: list[AttributePair], n: int = 24, alpha: float = 5.0,
                        seed: int = 7) -> tuple[dict[str, StyleChannel], dict]:
    """The most attribute-specific style channel for each pair (module docstring).  -> channels, report"""
    w = G.mapping(torch.randn(n, G.z_dim, generator=torch.Generator().manual_seed(seed)))
    ws = G.broadcast(w)
    base = net(G.synthesis(ws).clamp(-1, 1))["logits"]
    spread = torch.stack([head_score(base, p).std() + 1e-6 for p in pairs])  # [P]
    heads = [p.head for p in pairs]
    best: dict[str, tuple[float, int, int, float]] = {}
    for layer, sigma in enumerate(style_std(G)):
        for c in range(len(sigma)):
            def score(sign: float) -> torch.Tensor:
                offset = torch.zeros(1, len(sigma))
                offset[0, c] = sign * alpha * sigma[c]
                logits = net(G.synthesis(ws, style_offsets={layer: offset}).clamp(-1, 1))["logits"]
                return torch.stack([head_score(logits, p) for p in pairs])  # [P, n]
            effect = (score(1.0) - score(-1.0)).mean(1) / spread  # [P]
            for a, pair in enumerate(pairs):
                others = [abs(float(effect[b])) for b in range(len(pairs)) if heads[b] != pair.head] or [0.0]
                value = abs(float(effect[a])) - max(others)
                if value > best.get(pair.name, (-float("inf"),))[0]:
                    best[pair.name] = (value, layer, c, float(sigma[c]) * (1 if effect[a] > 0 else -1))
    channels = {k: StyleChannel(k, layer, c, std) for k, (_, layer, c, std) in best.items()}
    report = {k: {"layer": layer, "channel": c, "specificity": v} for k, (v, layer, c, _) in best.items()}
    return channels, report


def save_directions(directions: DirectionSet, report: dict, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {f"interfacegan.{k}": d.vector.contiguous() for k, d in directions.interfacegan.items()}
    gs = directions.ganspace
    tensors |= {"ganspace.mean": gs.mean, "ganspace.components": gs.components.contiguous(), "ganspace.std": gs.std}
    tensors |= {f"stylespace.{k}": torch.tensor([c.layer, c.channel, c.std]) for k, c in directions.stylespace.items()}
    save_file(tensors, str(folder / "directions.safetensors"))
    (folder / "directions.json").write_text(json.dumps(report, indent=1) + "\n")
    write_card(folder, report)


def write_card(folder, report: dict) -> None:
    """The directions' model card, from the fit's report (directions.json)."""
    fits = report.get("interfacegan", {})
    kept = [f"| {k} | {v['success']:.2f} | {v['identity_cosine']:.3f} |" for k, v in fits.items() if v.get("kept")]
    dropped = [f"{k} ({v['confident_positive']} / {v['confident_negative']})" for k, v in fits.items() if not v.get("kept")]
    style = [f"{k}: conv layer {v['layer']}, channel {v['channel']}" for k, v in report.get("stylespace", {}).items()]
    (folder / "README.md").write_text(
        "# emoji64 editing directions\n\nFitted by `python -m train.directions` on samples of the shipped emoji64 "
        "generator, labelled by the shipped EmojiNet (module docstring of train/directions.py: InterFaceGAN "
        "boundaries, GANSpace PCA of W, StyleSpace channel localisation).\n\n"
        "| InterFaceGAN direction | success at 2σ (200 samples) | identity cosine |\n|---|---:|---:|\n"
        + "\n".join(kept) + "\n\nDropped for too few confident labels (positive / negative among the top and bottom "
        "15 %): " + (", ".join(dropped) or "none") + ".\n\nStyleSpace channels: " + ("; ".join(style) or "none") + ".\n")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--samples", type=int, default=10000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--zoo", default="emoji64", help="zoo whose generator and EmojiNet the fit reads, and that it exports into")
    args = p.parse_args(argv)
    tune_cpu_allocator()
    zoo = open_zoo(args.zoo)
    G, net = zoo.load("generator"), zoo.load("perceptual")
    directions, report = fit_all(G, net, args.samples, args.seed)
    kept = [p for p in CANDIDATES if p.name in directions.interfacegan]
    directions.stylespace, style_report = localise_stylespace(G, net, kept)
    report = {"interfacegan": report, "stylespace": style_report}
    folder = export_folder(zoo, "directions")
    save_directions(directions, report, folder)
    print(json.dumps(report, indent=1))
    register_local_slot(zoo.manifest, "directions", folder, loader="project_directions",
                        note="InterFaceGAN (EmojiNet-labelled) and GANSpace directions, fitted by train/directions.py")


if __name__ == "__main__":
    main()
