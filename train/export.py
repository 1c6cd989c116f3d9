"""Shipping a trained network: fp16 safetensors where that keeps its outputs, plus its training record."""
from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
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


@dataclass
class ModelCard:
    """What a shipped network says about itself: the card's title and description, the command and
    arguments that trained it, its training meta (`step`, `seconds`) and the zoo manifest's note."""

    title: str
    description: str
    command: str
    args: dict
    meta: dict
    note: str = ""

    def text(self, parameters: int, half: bool, drift: float) -> str:
        """The README.md of the checkpoint folder."""
        return (f"# {self.title}\n\n{self.description}; {parameters / 1e6:.2f} M parameters. Trained by "
                f"`{self.command}` ({self.meta['step']} steps, {self.meta['seconds'] / 3600:.2f} h on "
                f"{torch.get_num_threads()} CPU thread(s)). Weights {'fp16' if half else 'fp32'} (max output change "
                f"{drift:.4f} against fp32). Metrics: `python -m bench.inversion`.\n")


def ship(net: nn.Module, folder: Path, card: ModelCard, probe: Callable[[nn.Module], Tensor], tolerance: float,
         slot: str | None = None, zoo: str | Path = "emoji64") -> None:
    """save_network + the model card and, with a slot name, the entry in the zoo's manifest (a zoo
    name or a manifest path)."""
    from pipelines.zoo import open_zoo, register_local_slot

    half, drift = save_network(net, folder, probe, tolerance,
                               {"meta": card.meta, "command": card.command, "args": card.args})
    (folder / "README.md").write_text(card.text(sum(p.numel() for p in net.parameters()), half, drift))
    if slot is not None:
        register_local_slot(open_zoo(str(zoo)).manifest, slot, folder, options={"class": type(net).__name__},
                            note=card.note)
