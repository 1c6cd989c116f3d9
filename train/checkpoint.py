"""Training bookkeeping: resumable state in safetensors + JSON (no pickles) and progress lines."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn


def save_state(folder: Path, modules: dict[str, nn.Module], optimizers: dict[str, torch.optim.Optimizer],
               meta: dict) -> None:
    """Atomically write folder/state.safetensors and folder/state.json."""
    folder.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, Tensor] = {}
    groups = {}
    for name, module in modules.items():
        for key, value in module.state_dict().items():
            tensors[f"module.{name}.{key}"] = value.detach().cpu().contiguous()
    for name, opt in optimizers.items():
        sd = opt.state_dict()
        groups[name] = sd["param_groups"]
        for idx, state in sd["state"].items():
            for key, value in state.items():
                tensors[f"opt.{name}.{idx}.{key}"] = torch.as_tensor(value).detach().cpu().contiguous()
    tmp = folder / "state.safetensors.tmp"
    save_file(tensors, str(tmp))
    (folder / "state.json.tmp").write_text(json.dumps({"meta": meta, "param_groups": groups}, indent=1))
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
    for name, opt in optimizers.items():
        prefix = f"opt.{name}."
        state: dict[int, dict] = {}
        for key, value in tensors.items():
            if key.startswith(prefix):
                idx, field = key[len(prefix):].split(".", 1)
                state.setdefault(int(idx), {})[field] = value
        opt.load_state_dict({"state": state, "param_groups": info["param_groups"][name]})
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
