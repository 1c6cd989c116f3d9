"""What every bench script does at the end, and the inversion settings the inversion and editing benches share."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from pipelines.methods.refinestyle_opt import OptimisationSettings
from pipelines.tuning import TuningSettings

from .readme import update_readme_block


def publish(name: str, result: dict, table: str, command: str, results: Path, readme: bool) -> None:
    """Write the results JSON, print the table and, with readme, put it into the README's block `name`."""
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps(result, indent=1) + "\n")
    print(table)
    if readme:
        update_readme_block(name, f"```\n$ {command}\n```\n\n{table}\n")


def add_inversion_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--w-steps", type=int, default=100, help="RefineStyle optimisation: W+ steps")
    p.add_argument("--residual-steps", type=int, default=200, help="RefineStyle optimisation: residual steps")
    p.add_argument("--tune-steps", type=int, default=100, help="GaNI and PTI steps")


def inversion_settings(args: argparse.Namespace) -> tuple[OptimisationSettings, TuningSettings]:
    return (OptimisationSettings(w_steps=args.w_steps, residual_steps=args.residual_steps),
            TuningSettings(steps=args.tune_steps))
