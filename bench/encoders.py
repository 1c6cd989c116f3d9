"""RefineStyle encoder checkpoints side by side: the zoo's shipped encoders and candidates (run exports).

    python -m bench.encoders --candidates ~/.cache/emojibench/runs/NAME/export ... [--images 48] [--readme]

Before a retrained encoder replaces a shipped one, both reconstruct the same test emoji (the first
--images that Google and Twitter draw) through the zoo's generator, next to e4e: MSE, perceptual
distance, ID cosine and reconstruction identity R@1 (bench/inversion.py's `evaluate`), with what each
checkpoint costs to ship (parameters, bytes of its weights file) and how it was trained (stage, L,
refined layers, token sets, d, image encoder, optimiser, steps, from its config and training record). Writes
bench/results/encoders.json; with --readme, the README block `encoders` and its picture
docs/encoders.png (the first test emoji of each split as every encoder reconstructs them).
"""
from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import torch

from nets.refinestyle import IRSEFeatures, RefineStyleEncoder
from pipelines.emojibench import load_emojibench
from pipelines.evaluation.styles import style_rows
from pipelines.inversion import InversionNetworks, InversionSettings, invert
from pipelines.runtime import tune_cpu_allocator
from pipelines.zoo import open_zoo

from .figures import labelled_rows
from .inversion import evaluate
from .report import add_zoo_argument, machine, publish, zoo_flag

RESULTS = Path(__file__).resolve().parent / "results" / "encoders.json"
FIGURE = Path(__file__).resolve().parents[1] / "docs" / "encoders.png"
FIGURE_EMOJI = 8  # per split
SPLITS = ("google", "twitter")
METHOD = {True: "refinestyle_1s", False: "refinestyle_2s"}  # by predict_w: a two-stage encoder refines e4e's code


def describe(folder: Path, enc: RefineStyleEncoder) -> dict:
    """How a checkpoint was built and trained, and what it costs to ship."""
    weights = folder / "model.safetensors"
    record = json.loads((folder / "training.json").read_text())
    return {"folder": str(folder), "stage": 1 if enc.predict_w else 2, "rank": enc.rank,
            "layers": enc.refined_layers, "token_sets": enc.token_sets, "d_model": enc.tokens.shape[1],
            "image_encoder": "ir_se" if isinstance(enc.features, IRSEFeatures) else "cnn",
            "steps": record["meta"]["step"], "optimiser": record.get("args", {}).get("optimiser", "adam"),
            "parameters": sum(p.numel() for p in enc.parameters()),
            "bytes": weights.stat().st_size, "sha256": hashlib.sha256(weights.read_bytes()).hexdigest()}


def label(folder: Path) -> str:
    """A run's export is named by its run folder (runs/NAME/export), any other folder by itself."""
    return folder.parent.name if folder.name == "export" else folder.name


def reconstruct(nets: InversionNetworks, images: torch.Tensor, method: str) -> torch.Tensor:
    """Each image [N, 3, R, R] as `method` reconstructs it (the seed of image i is i, as in `evaluate`)."""
    return torch.cat([r.image for i in range(len(images))
                      for r in invert(nets, images[i : i + 1], [method], InversionSettings(), seed=i)])


def with_encoder(nets: InversionNetworks, enc: RefineStyleEncoder) -> tuple[InversionNetworks, str]:
    """The zoo's networks with `enc` in its method's slot, and that method's name."""
    method = METHOD[enc.predict_w]
    return InversionNetworks(nets.generator, nets.loss, e4e=nets.e4e, **{method: enc}), method


def run(candidates: list[Path], n_images: int, zoo_name: str, figure: Path | None = None) -> dict:
    torch.set_num_threads(1)
    zoo = open_zoo(zoo_name)
    nets = InversionNetworks.from_zoo(zoo)
    data = load_emojibench()
    test = style_rows(data, "test")
    identities = data.identity_ids()
    shipped = {f"shipped {slot}": zoo.assets_root / "zoo" / zoo.name / slot for slot in METHOD.values()}
    folders = {name: folder for name, folder in shipped.items() if folder.is_dir()}  # a Hub zoo ships none here
    folders |= {f"candidate {label(folder)}": folder for folder in candidates}
    encoders = {name: RefineStyleEncoder.from_pretrained(folder).eval() for name, folder in folders.items()}
    result: dict = {"zoo": zoo.name, "images": n_images, "machine": machine(),
                    "rows": {"e4e": {"splits": {}}} | {name: describe(folders[name], enc) | {"splits": {}}
                                                       for name, enc in encoders.items()}}
    for split in SPLITS:
        idx = test[split][:n_images]
        images, ids = data.tensor(data.style(split)[idx]), identities[idx].tolist()
        result["rows"]["e4e"]["splits"][split] = evaluate(nets, images, ["e4e"], InversionSettings(), ids)["e4e"]
        for name, enc in encoders.items():
            trial, method = with_encoder(nets, enc)
            result["rows"][name]["splits"][split] = evaluate(trial, images, [method], InversionSettings(), ids)[method]
    if figure is not None:
        shown = [data.tensor(data.style(split)[test[split][:FIGURE_EMOJI]]) for split in SPLITS]
        lines = [(f"input ({' | '.join(SPLITS)})", torch.cat(shown)),
                 ("e4e", torch.cat([reconstruct(nets, images, "e4e") for images in shown]))]
        for name, enc in encoders.items():
            trial, method = with_encoder(nets, enc)
            lines.append((name, torch.cat([reconstruct(trial, images, method) for images in shown])))
        labelled_rows(lines).save(figure)
    return result


def table(r: dict) -> str:
    lines = [f"The first {r['images']} test emoji that each split draws, through the {r['zoo']} generator; one CPU "
             f"thread ({r['machine']['cpu']}). vs e4e: MSE ratio to e4e's on the same images. MB: the weights file.",
             "", "| encoder | stage | L | N_r | token sets | d | image encoder | optimiser | steps | parameters | MB | "
             + " | ".join(f"{s} MSE ↓ | vs e4e | perceptual ↓ | ID ↑ | ID R@1 ↑" for s in SPLITS) + " |",
             "|---|---:|---:|---:|---:|---:|---|---|---:|---:|---:|" + "---:|" * 5 * len(SPLITS)]
    e4e = r["rows"]["e4e"]["splits"]
    for name, row in r["rows"].items():
        shape = "| – " * 10 if name == "e4e" else (
            f"| {row['stage']} | {row['rank']} | {len(row['layers'])} | {row['token_sets']} | {row['d_model']} | "
            f"{row['image_encoder']} | {row['optimiser']} | {row['steps']} | {row['parameters']:,} | {row['bytes'] / 1e6:.1f} ")
        cells = [f"{v['mse']:.4f} | {v['mse'] / e4e[s]['mse']:.2f}× | {v['perceptual']:.4f} | {v['id']:.3f} | "
                 f"{v['identity_r1']:.2f}" for s, v in row["splits"].items()]
        lines.append(f"| {name} {shape}| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--candidates", type=Path, nargs="*", default=[], help="export folders of RefineStyle runs")
    p.add_argument("--images", type=int, default=48)
    add_zoo_argument(p)
    p.add_argument("--readme", action="store_true")
    args = p.parse_args(argv)
    tune_cpu_allocator()
    result = run(args.candidates, args.images, args.zoo, FIGURE if args.readme else None)
    command = (f"python -m bench.encoders --images {args.images}{zoo_flag(args.zoo)}"
               + "".join(f" --candidates {c}" if i == 0 else f" {c}" for i, c in enumerate(args.candidates)))
    publish("encoders", result, table(result), command, RESULTS, args.readme)


if __name__ == "__main__":
    main()
