"""Shipping a trained network: fp16 safetensors where that keeps its outputs, plus its training record."""
from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor, nn


def save_network(net: nn.Module, folder: Path, probe: Callable[[nn.Module], Tensor], tolerance: float,
                 record: dict) -> tuple[bool, float]:
    """Save `net` (PyTorchModelHubMixin) in fp16 when probe(fp16 copy) stays within `tolerance`
    (max abs) of probe(net), else in fp32; write `record` + the decision to training.json."""
    half = copy.deepcopy(net).half().float()  # what an fp16 file loads back as
    with torch.no_grad():
        drift = (probe(half) - probe(net)).abs().max().item()
    use_half = drift < tolerance
    (copy.deepcopy(net).half() if use_half else net).save_pretrained(folder)
    info = dict(record, fp16=use_half, fp16_max_abs_change=drift)
    (folder / "training.json").write_text(json.dumps(info, indent=1, default=str) + "\n")
    return use_half, drift


def ship(net: nn.Module, folder: Path, slot: str | None, probe: Callable[[nn.Module], Tensor], tolerance: float,
         meta: dict, command: str, args: dict, title: str, description: str, note: str = "") -> None:
    """save_network + a model card (description, parameters, command, steps, wall time, precision) and,
    with a slot name, the emoji64 manifest entry."""
    from pipelines.zoo import ZOOS_DIR, register_local_slot

    half, drift = save_network(net, folder, probe, tolerance, {"meta": meta, "command": command, "args": args})
    params = sum(p.numel() for p in net.parameters()) / 1e6
    (folder / "README.md").write_text(
        f"# {title}\n\n{description}; {params:.2f} M parameters. Trained by `{command}` ({meta['step']} steps, "
        f"{meta['seconds'] / 3600:.2f} h on {torch.get_num_threads()} CPU thread(s)). Weights {'fp16' if half else 'fp32'} (max output change "
        f"{drift:.4f} against fp32). Metrics: `python -m bench.inversion`.\n")
    if slot is not None:
        register_local_slot(ZOOS_DIR / "emoji64.json", slot, folder, options={"class": type(net).__name__}, note=note)
