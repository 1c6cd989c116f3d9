"""Training bookkeeping: resumable state in safetensors + JSON (no pickles) and progress lines."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from .optimisers import Ranger


def parameter_names(modules: dict[str, nn.Module]) -> dict[int, str]:
    """id(parameter) -> "module.parameter" over every module, the key optimiser state is stored under."""
    return {id(q): f"{name}.{key}" for name, module in modules.items() for key, q in module.named_parameters()}


def optimiser_names(opt: torch.optim.Optimizer, names: dict[int, str]) -> list[str]:
    """The optimiser's parameters by name, in its own index order (what state_dict() numbers them by)."""
    params = [q for group in opt.param_groups for q in group["params"]]
    if any(id(q) not in names for q in params):
        raise ValueError("an optimised parameter belongs to none of the saved modules: its state has no name")
    return [names[id(q)] for q in params]


def save_state(folder: Path, modules: dict[str, nn.Module], optimizers: dict[str, torch.optim.Optimizer],
               meta: dict) -> None:
    """Atomically write folder/state.safetensors and folder/state.json.  Optimiser state is keyed by
    parameter name, not by index, so a run resumes after a refactor that registers parameters in
    another order (same names)."""
    folder.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, Tensor] = {}
    groups = {}
    names = parameter_names(modules)
    for name, module in modules.items():
        for key, value in module.state_dict().items():
            tensors[f"module.{name}.{key}"] = value.detach().cpu().contiguous()
    for name, opt in optimizers.items():
        order = optimiser_names(opt, names)
        sd = opt.state_dict()
        groups[name] = [{**group, "params": [order[i] for i in group["params"]]} for group in sd["param_groups"]]
        for idx, state in sd["state"].items():
            for key, value in state.items():
                tensors[f"opt.{name}.{order[idx]}:{key}"] = torch.as_tensor(value).detach().cpu().contiguous()
    tmp = folder / "state.safetensors.tmp"
    save_file(tensors, str(tmp))
    kinds = {name: type(opt).__name__ for name, opt in optimizers.items()}
    (folder / "state.json.tmp").write_text(json.dumps({"meta": meta, "param_groups": groups, "optimisers": kinds},
                                                      indent=1))
    os.replace(tmp, folder / "state.safetensors")
    os.replace(folder / "state.json.tmp", folder / "state.json")


def load_state(folder: Path, modules: dict[str, nn.Module], optimizers: dict[str, torch.optim.Optimizer]) -> dict | None:
    """Restore what save_state wrote; returns its meta, or None when there is no state yet."""
    if not (folder / "state.safetensors").is_file():
        return None
    tensors = load_file(str(folder / "state.safetensors"))
    info = json.loads((folder / "state.json").read_text())
    for name, module in modules.items():
        prefix = f"module.{name}."
        module.load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
    names = parameter_names(modules)
    for name, opt in optimizers.items():
        index = {param: i for i, param in enumerate(optimiser_names(opt, names))}
        saved = info["param_groups"][name]
        kind = info.get("optimisers", {}).get(name)  # states written before the field name none: none is Ranger's
        if kind is None and isinstance(opt, Ranger):
            raise ValueError(f"{folder}: optimiser {name!r} was saved before run states named their optimiser, "
                             f"so not by Ranger (resume with --optimiser adam)")
        if kind is not None and kind != type(opt).__name__:
            raise ValueError(f"{folder}: optimiser {name!r} was saved as {kind}, this run's is {type(opt).__name__} "
                             f"(resume with the optimiser the run started with)")
        if [sorted(g["params"]) for g in saved] != [sorted(names[id(q)] for q in g["params"]) for g in opt.param_groups]:
            raise ValueError(f"{folder}: optimiser {name!r} was saved over other parameters than this run's "
                             f"(a state from an earlier format or another configuration)")
        prefix = f"opt.{name}."
        state: dict[int, dict] = {}
        for key, value in tensors.items():
            if key.startswith(prefix):
                param, field = key[len(prefix):].rsplit(":", 1)
                state.setdefault(index[param], {})[field] = value
        current = opt.state_dict()["param_groups"]  # torch pairs saved and current parameters by position
        groups = [{**g, "params": c["params"]} for g, c in zip(saved, current)]
        opt.load_state_dict({"state": state, "param_groups": groups})
    return info["meta"]


class StepLogger:
    """Counts steps and wall time into a resumable `meta` dict and prints a line every `every` steps
    (when verbose: one process of a distributed run prints)."""

    def __init__(self, meta: dict, every: int, total: int | None = None, verbose: bool = True) -> None:
        self.meta, self.every, self.total, self.verbose = meta, every, total, verbose
        self.start = time.time()

    def step(self, parts: dict[str, float]) -> None:
        self.meta["step"] += 1
        if self.meta["step"] % self.every == 0 or self.meta["step"] == self.total:
            self.meta["seconds"] += time.time() - self.start
            self.start = time.time()
            of = f"/{self.total}" if self.total else ""
            if self.verbose:
                print(f"step {self.meta['step']:6d}{of}  " + "  ".join(f"{k} {v:.4f}" for k, v in parts.items()) +
                      f"  {self.meta['seconds'] / 60:.1f} min", flush=True)
