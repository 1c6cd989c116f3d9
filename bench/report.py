"""What every bench script does at the end, the machine it ran on, the zoo flag, and the inversion settings
the inversion and editing benches share."""
from __future__ import annotations

import argparse
import fcntl
import json
import os
import platform
from collections.abc import Callable
from pathlib import Path

import torch

from pipelines.methods.refinestyle_opt import OptimisationSettings
from pipelines.settings import add_flag
from pipelines.tuning import TuningSettings

from .readme import update_readme_block

DEFAULT_ZOO = "emoji64"


def publish(name: str, result: dict, table: str, command: str | list[str], results: Path | None,
            readme: bool) -> None:
    """Write the results JSON (unless `results` is None: a bench that merges lanes has written it under
    its lock), print the table and, with readme, put it into the README's block `name` under the
    command (or the commands, one per lane) that measured it."""
    if results is not None:
        results.parent.mkdir(parents=True, exist_ok=True)
        results.write_text(json.dumps(result, indent=1) + "\n")
    print(table)
    if readme:
        shown = "\n$ ".join([command] if isinstance(command, str) else command)
        update_readme_block(name, f"```\n$ {shown}\n```\n\n{table}\n")


def locked_update(path: Path, update: Callable[[dict | None], dict]) -> dict:
    """Replace the results file at `path` with update(what it holds, None where there is none) and return that,
    under an exclusive lock, since another lane may be updating the same file; a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        result = update(json.loads(path.read_text()) if path.exists() else None)
        part = path.with_suffix(".part")
        part.write_text(json.dumps(result, indent=1) + "\n")
        os.replace(part, path)
    return result


def machine() -> dict:
    """The CPU a timing was measured on: its model name, its vector-extension flags (avx*, amx*, fma*, as
    lscpu lists them, from /proc/cpuinfo), its logical CPUs, torch's threads and version."""
    name, flags = platform.processor() or platform.machine(), []
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                name = value.strip()
            elif key.strip() == "flags":
                flags = sorted(f for f in value.split() if f.startswith(("avx", "amx", "fma")))
                break
    except OSError:
        pass
    return {"cpu": name, "flags": flags, "cpus": os.cpu_count(), "threads": torch.get_num_threads(),
            "torch": torch.__version__}


def add_zoo_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--zoo", default=DEFAULT_ZOO,
                   help="the zoo to measure: a name in assets/zoos/ or a manifest path (the data is EmojiBench, 64 px)")


def zoo_flag(zoo: str) -> str:
    """The --zoo part of a command line as the README prints it (nothing for the default zoo)."""
    return "" if zoo == DEFAULT_ZOO else f" --zoo {zoo}"


def add_inversion_arguments(p: argparse.ArgumentParser) -> None:
    add_flag(p, OptimisationSettings, "w_steps", help="RefineStyle optimisation: W+ steps")
    add_flag(p, OptimisationSettings, "residual_steps", help="RefineStyle optimisation: residual steps")
    add_flag(p, TuningSettings, "steps", "--tune-steps", help="GaNI and PTI steps")


def inversion_settings(args: argparse.Namespace) -> tuple[OptimisationSettings, TuningSettings]:
    return (OptimisationSettings(w_steps=args.w_steps, residual_steps=args.residual_steps),
            TuningSettings(steps=args.tune_steps))
