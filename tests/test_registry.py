"""A method registered from outside pipelines/methods/ appears everywhere methods are listed, run,
rendered, timed and counted, with no other edit."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from torch import Tensor

import app
from bench.inversion import runnable_methods
from nets.emojinet import EmojiNet
from nets.stylegan2 import Generator
from pipelines.inversion import InversionSettings, available_methods, invert, lookup, render
from pipelines.losses import ReconstructionLoss
from pipelines.methods import REGISTRY, InversionMethod, InversionNetworks, InversionResult, register
from pipelines.methods.e4e import kernel_result
from pipelines.zoo import register_local_slot
from ui.serving import inversion_seconds


@dataclass
class ToySettings:
    seconds: float = 42.0


def run_toy(nets: InversionNetworks, target: Tensor, settings: ToySettings, seed: int, progress, cancel
            ) -> InversionResult:
    """The average code, whatever the image."""
    g = nets.generator
    return kernel_result("toy", nets, g.broadcast(g.w_avg[None]))


TOY = InversionMethod("toy", "Toy average (test)", (), run_toy, lambda nets, s: 7, ToySettings,
                      lambda s: s.seconds)


@pytest.fixture()
def toy():
    register(TOY)
    yield TOY
    del REGISTRY[TOY.name]


@pytest.fixture()
def tiny_zoo(tmp_path) -> Path:
    """A zoo with a generator and a judge: enough for the app's Inversion and Editing tabs."""
    torch.manual_seed(0)
    Generator(size=16, style_dim=16, n_mlp=2, channels=[16, 16, 16]).save_pretrained(tmp_path / "generator")
    EmojiNet(widths=[8, 8, 16, 16, 16], embed_dim=8).save_pretrained(tmp_path / "judge")
    manifest = tmp_path / "toy.json"
    manifest.write_text(json.dumps({"name": "toy", "resolution": 16, "slots": {}}))
    register_local_slot(manifest, "generator", tmp_path / "generator", options={"class": "Generator"})
    for slot in ("perceptual", "identity"):
        register_local_slot(manifest, slot, tmp_path / "judge", options={"class": "EmojiNet"})
    return manifest


def test_a_registered_method_appears_everywhere(toy, tiny_zoo):
    g = Generator.from_pretrained(tiny_zoo.parent / "generator").eval()
    judge = EmojiNet.from_pretrained(tiny_zoo.parent / "judge").eval()
    nets = InversionNetworks(g, ReconstructionLoss(judge.perceptual_distance, judge.identity))
    assert available_methods(nets)["toy"] == "" and lookup("toy") is TOY
    (result,) = invert(nets, torch.zeros(1, 3, 16, 16), ["toy"])
    assert result.method == "toy" and set(result.metrics) == {"mse", "ssim", "perceptual", "id"}
    assert render(nets, result, result.ws + 0.1).shape == (1, 3, 16, 16)
    assert inversion_seconds(["toy"], InversionSettings()) == 5.0 + 42.0
    assert inversion_seconds(["toy"], InversionSettings(ToySettings(seconds=1.0))) == 5.0 + 1.0
    methods, missing = runnable_methods(nets)
    assert methods[-1] == "toy" and "toy" not in missing
    demo = app.build_demo(str(tiny_zoo))
    boxes = [[tuple(c) for c in box["props"]["choices"]] for box in demo.config["components"]
             if box["type"] == "checkboxgroup"]
    assert len(boxes) == 2 and all(("Toy average (test)", "toy") in choices for choices in boxes)  # Inversion, Editing


def test_a_name_is_registered_once(toy):
    with pytest.raises(ValueError, match="already registered"):
        register(TOY)
