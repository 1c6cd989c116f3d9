"""Each departure from a paper that is kept as an option, next to the paper's form, at equal budgets.

    python -m bench.fidelity [--images 6] [--rows all | ROW ...] [--readme]
        # table, bench/results/fidelity.json (rows merged under a lock: two lanes may run different rows)

On the first --images emoji of the Twitter test split (out-of-domain, as the papers' tables), every row
inverts each emoji with one method at the settings' default steps, once with the paper's form (the
default) and once with the option (docs/fidelity.md lists them): MSE, perceptual distance and ID cosine
of the reconstruction, seconds per image (one thread) and, for the tuning methods, the tuned
generator's drift (mean perceptual distance to the frozen generator on 200 random w: lower, the
tuning stayed local).

Rows (paper form vs option):
- `l2_scale` — the L2 terms (reconstruction and locality) on the images in [-1, 1] (e4e, PTI) vs on
  [0, 1] (`ReconstructionLoss.l2_on_unit_images`, the form the shipped emoji64 encoders were trained
  with), for RefineStyle's per-image optimisation (ours) and GaNI;
- `pti` — PTI at its paper's settings (lr 3e-4; L2 + LPIPS, weights 1 and 1; no ID term) vs this
  project's earlier settings (lr 1e-2, perceptual 0.8, ID 0.1, the L2 terms on [0, 1]);
- `gani_locality` — GaNI's localisation regulariser on codes w = f(z) vs PTI-style codes halfway
  between the pivot and f(z) (`gani_locality_mix = 0.5`).
"""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from pipelines.emojibench import load_emojibench
from pipelines.evaluation.styles import style_rows
from pipelines.inversion import InversionNetworks, InversionSettings, invert
from pipelines.methods.refinestyle_opt import OptimisationSettings
from pipelines.runtime import tune_cpu_allocator
from pipelines.tuning import TuningSettings, locality_drift
from pipelines.zoo import open_zoo

from .report import add_zoo_argument, locked_update, machine, publish, zoo_flag

RESULTS = Path(__file__).resolve().parent / "results" / "fidelity.json"


@dataclass(frozen=True)
class Variant:
    """One side of a row: a method run with these settings and this L2 form."""

    label: str
    method: str
    tuning: TuningSettings = field(default_factory=TuningSettings)
    l2_on_unit_images: bool = False


PAPER_L2, UNIT_L2 = "L2 on [-1, 1] (paper)", "L2 on [0, 1] (ours, earlier)"
ROWS: dict[str, list[Variant]] = {
    "l2_scale": [Variant(f"RefineStyle optimisation (ours), {PAPER_L2}", "refinestyle_opt"),
                 Variant(f"RefineStyle optimisation (ours), {UNIT_L2}", "refinestyle_opt", l2_on_unit_images=True),
                 Variant(f"GaNI, {PAPER_L2}", "gani"),
                 Variant(f"GaNI, {UNIT_L2}", "gani", l2_on_unit_images=True)],
    "pti": [Variant("PTI, paper settings (lr 3e-4, L2 + LPIPS)", "pti"),
            Variant("PTI, earlier settings (ours: lr 1e-2, perceptual 0.8, ID 0.1, L2 on [0, 1])", "pti",
                    TuningSettings(pti_lr=1e-2, pti_lpips=0.8, pti_id=0.1), l2_on_unit_images=True)],
    "gani_locality": [Variant("GaNI, locality codes w = f(z) (paper)", "gani"),
                      Variant("GaNI, PTI-style codes halfway to f(z) (ours, earlier)", "gani",
                              TuningSettings(gani_locality_mix=0.5))],
}


def run_variant(nets: InversionNetworks, images: torch.Tensor, v: Variant) -> dict:
    """Mean MSE, perceptual, ID, seconds per image (and drift for tuning methods) of one variant on images."""
    variant_nets = replace(nets, loss=replace(nets.loss, l2_on_unit_images=v.l2_on_unit_images))
    settings = InversionSettings(OptimisationSettings(), v.tuning)
    sums: dict[str, float] = {}
    for i in range(len(images)):
        (r,) = invert(variant_nets, images[i : i + 1], [v.method], settings, seed=i)
        scores = {k: r.metrics[k] for k in ("mse", "perceptual", "id")} | {"seconds": r.seconds}
        if r.weight_deltas:  # a tuning method: how far the tuned generator moved
            scores["drift"] = locality_drift(nets.generator, r.weight_deltas, nets.loss.perceptual, n=200)
        sums = {k: sums.get(k, 0.0) + x for k, x in scores.items()}
    return {"label": v.label, "method": v.method, **{k: s / len(images) for k, s in sums.items()}}


def run(rows: list[str], n_images: int, zoo_name: str) -> dict:
    torch.set_num_threads(1)
    data = load_emojibench()
    nets = InversionNetworks.from_zoo(open_zoo(zoo_name))
    images = data.tensor(data.style("twitter")[style_rows(data, "test")["twitter"][:n_images]])
    measured = {row: [run_variant(nets, images, v) for v in ROWS[row]] for row in rows}
    return {"zoo": zoo_name, "images": n_images, "steps": {"tuning": TuningSettings().steps,
            "w": OptimisationSettings().w_steps, "residual": OptimisationSettings().residual_steps},
            "rows": measured, "machine": machine()}


SETUP = ("zoo", "images", "steps")


def merged(old: dict | None, new: dict) -> dict:
    """new's rows over old's (another lane's, or an earlier run's), which must have measured the same images on
    the same zoo at the same steps: results of another setup are an error, not silently mixed."""
    if old is None:
        return new
    differ = [k for k in SETUP if old.get(k) != new[k]]
    if differ:
        raise SystemExit(f"bench.fidelity: bench/results/fidelity.json was measured with another {', '.join(differ)}; "
                         "move it away or rerun every row")
    rows = old["rows"] | new["rows"]
    return new | {"rows": {k: rows[k] for k in ROWS if k in rows}}


def table(r: dict) -> str:
    lines = [f"The first {r['images']} emoji of the Twitter test split; default steps (GaNI and PTI "
             f"{r['steps']['tuning']}, RefineStyle optimisation {r['steps']['w']} W+ + {r['steps']['residual']} "
             "residual); one CPU thread. Drift: mean perceptual distance of the tuned generator to the frozen one "
             f"on 200 random w. CPU: {r['machine']['cpu']} ({' '.join(r['machine']['flags'])}).", "",
             "| row | variant | MSE ↓ | perceptual ↓ | ID ↑ | drift ↓ | s / image |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for row, variants in r["rows"].items():
        for v in variants:
            drift = f"{v['drift']:.4f}" if "drift" in v else "–"
            lines.append(f"| {row} | {v['label']} | {v['mse']:.4f} | {v['perceptual']:.4f} | {v['id']:.3f} | "
                         f"{drift} | {v['seconds']:.1f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=6)
    p.add_argument("--rows", nargs="+", default=["all"], choices=["all", *ROWS])
    add_zoo_argument(p)
    p.add_argument("--readme", action="store_true")
    p.add_argument("--report", action="store_true",
                   help="measure nothing: print (and with --readme, publish) the table of bench/results/fidelity.json")
    args = p.parse_args(argv)
    if args.report:
        result = json.loads(RESULTS.read_text())
    else:
        rows = list(ROWS) if "all" in args.rows else args.rows
        tune_cpu_allocator()
        measured = run(rows, args.images, args.zoo)
        result = locked_update(RESULTS, lambda old: merged(old, measured))
    publish("fidelity", result, table(result), f"python -m bench.fidelity --images {result['images']}"
            f"{zoo_flag(result['zoo'])}", results=None, readme=args.readme)


if __name__ == "__main__":
    main()
