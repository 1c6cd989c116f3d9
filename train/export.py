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
