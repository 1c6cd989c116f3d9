"""train/recipe.py: a recipe under torchrun (two CPU processes, gloo) takes the steps one process
takes at the same global batch; --data reads an image folder."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from train.recipe import Distributed, training_images

ROOT = Path(__file__).resolve().parents[1]


def _image_folder(folder: Path, count: int = 8) -> Path:
    rng = np.random.default_rng(0)
    folder.mkdir()
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, (80, 96, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return folder


def _refinestyle(run_dir: Path, data: Path, processes: int) -> dict[str, torch.Tensor]:
    # The CNN image encoder has no BatchNorm: the IR-SE pyramid's BatchNorm statistics are per process on CPU
    # (train/recipe.py), so its steps over two processes are not the steps of one. Adam: the tolerance below.
    args = ["-m", "train.refinestyle", "--stage", "1", "--steps", "2", "--batch", "4", "--data", str(data),
            "--run-dir", str(run_dir), "--no-export", "--log-every", "1", "--image-encoder", "cnn",
            "--optimiser", "adam"]
    if processes > 1:
        args = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes)] + args
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return {k: v for k, v in load_file(run_dir / "state.safetensors").items() if k.startswith("module.encoder.")}


def test_image_folder_indexes_like_a_tensor(tmp_path):
    images = training_images(_image_folder(tmp_path / "images", 3), 64)
    assert len(images) == 3
    assert images[torch.tensor([2, 0])].shape == (2, 3, 64, 64) and images[:1].abs().max() <= 1


def test_shard_splits_the_global_batch():
    batch = torch.arange(8)
    assert [Distributed(r, 2).shard(batch).tolist() for r in range(2)] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    with pytest.raises(ValueError, match="does not split"):
        Distributed(0, 3).shard(batch)


@pytest.mark.slow
def test_two_gloo_processes_take_the_steps_of_one(tmp_path):
    data = _image_folder(tmp_path / "images")
    one = _refinestyle(tmp_path / "one", data, 1)
    two = _refinestyle(tmp_path / "two", data, 2)
    assert one.keys() == two.keys() and len(one) > 10
    # The global gradient is summed in another order, and Adam divides each gradient by its own size: where a
    # gradient is at float noise, its normalised step can differ. So: no element further apart than two Adam steps
    # at the largest learning rate (lr 1e-4, the scalings' 10x), and all but 0.01 % of elements equal.
    bad = total = 0
    for key, value in one.items():
        diff = (two[key] - value).abs()
        assert diff.max() <= 2 * 2 * 1e-4 * 10, key
        bad += int((diff > 1e-5 + 1e-4 * value.abs()).sum())
        total += value.numel()
    assert bad <= 1e-4 * total, (bad, total)
