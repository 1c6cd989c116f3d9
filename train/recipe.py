"""What every recipe shares: the common training flags, the zoo it reads and exports into, its
training images, torchrun's distributed set-up and the resumable step loop.

    python -m train.<recipe> [--zoo emoji64] [--device cpu] ...            # one process
    torchrun --nproc_per_node 4 -m train.<recipe> --device cuda ...        # DDP, one GPU per process

Distributed training is PyTorch's DDP over torch.distributed (gloo on CPU, nccl on CUDA), set up
from torchrun's environment. Every process draws the same global batch from the same seed and
keeps its slice (`Distributed.shard`); DDP averages the gradients, so a step over W processes is
the step one process takes over the whole batch (for losses that are means over samples; BatchNorm
statistics are per process on CPU, synchronised on CUDA). Rank 0 alone logs, saves and exports.
"""
from __future__ import annotations

import argparse
import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from pipelines.emojibench import default_root, load_emojibench
from pipelines.images import ImageFolder
from pipelines.runtime import tune_cpu_allocator
from pipelines.zoo import Zoo

from .checkpoint import StepLogger, load_state, save_state

Loss = TypeVar("Loss")  # what a recipe's loss function returns: a loss tensor, or (loss, parts)


def add_training_flags(p: argparse.ArgumentParser, run: str | None, batch: int, lr: float, steps: int | None = None,
                       log_every: int = 50, ckpt_every: int | None = 500, batch_help: str = "global batch") -> None:
    """--steps (when given), --batch, --lr, --seed, --zoo, --device, --run-dir, --log-every, --ckpt-every
    (when given); run: the run folder's name under $EMOJIBENCH_HOME/runs (None: the recipe names it)."""
    if steps is not None:
        p.add_argument("--steps", type=int, default=steps)
    p.add_argument("--batch", type=int, default=batch, help=f"{batch_help} (split over torchrun's processes)")
    p.add_argument("--lr", type=float, default=lr)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--zoo", default="emoji64", help="zoo the recipe reads its networks from and exports into")
    p.add_argument("--device", default="cpu", help="cpu or cuda (under torchrun, each process takes its LOCAL_RANK GPU)")
    p.add_argument("--run-dir", type=Path, default=None if run is None else default_root() / "runs" / run,
                   help="resumable state of the run")
    p.add_argument("--log-every", type=int, default=log_every)
    if ckpt_every is not None:
        p.add_argument("--ckpt-every", type=int, default=ckpt_every, help="steps between saved states")


def add_data_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", type=Path, default=None,
                   help="folder of training images, e.g. aligned FFHQ (default: the EmojiBench Google train split)")


def training_images(folder: Path | None, resolution: int) -> Tensor | ImageFolder:
    """The images an encoder trains on, indexed like a tensor: an image folder read on demand, or
    the EmojiBench Google train split in memory.  -> [N, 3, R, R] in [-1, 1]"""
    if folder is not None:
        return ImageFolder(folder, resolution)
    data = load_emojibench()
    return data.tensor(data.google[data.indices("train")])


def data_name(folder: Path | None) -> str:
    """How a model card names the images training_images(folder, ...) gives."""
    return "EmojiBench Google train images" if folder is None else f"the images under {folder}"


def export_folder(zoo: Zoo, slot: str) -> Path:
    """Where a recipe writes the network it ships into a zoo: assets/zoo/<zoo>/<slot>."""
    return zoo.assets_root / "zoo" / zoo.name / slot


@dataclass(frozen=True)
class Distributed:
    """This process's place in a torchrun job (rank 0 of 1 without torchrun)."""

    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def main(self) -> bool:
        return self.rank == 0

    def shard(self, batch: Tensor) -> Tensor:
        """This process's slice of a global batch [B, ...] -> [B / world, ...]."""
        if len(batch) % self.world:
            raise ValueError(f"a global batch of {len(batch)} does not split over {self.world} processes")
        per = len(batch) // self.world
        return batch[self.rank * per : (self.rank + 1) * per]

    def objective(self, trained: dict[str, nn.Module], loss: Callable[..., Loss]) -> Callable[..., Loss]:
        """`loss` as DDP runs it: the trained modules and the loss over them become one module whose
        forward DDP wraps, so backward averages their gradients over the processes (`loss` itself
        in one process)."""
        if self.world == 1:
            return loss
        module = Objective(trained, loss)
        if self.device.type == "cuda":
            module = nn.SyncBatchNorm.convert_sync_batchnorm(module)
        return DistributedDataParallel(module)

    def close(self) -> None:
        if self.world > 1:
            dist.destroy_process_group()


class Objective(nn.Module):
    """Trained modules and a loss over them as one module (`Distributed.objective`)."""

    def __init__(self, trained: dict[str, nn.Module], loss: Callable[..., Loss]) -> None:
        super().__init__()
        self.trained = nn.ModuleDict(trained)
        self.loss = loss

    def forward(self, *args: object) -> Loss:
        return self.loss(*args)


def setup_distributed(device: str) -> Distributed:
    """torchrun's WORLD_SIZE / LOCAL_RANK -> a process group (nccl on CUDA, gloo on CPU)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Distributed(0, 1, torch.device(device))
    local = int(os.environ["LOCAL_RANK"])
    dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    dev = torch.device(f"cuda:{local}") if device.startswith("cuda") else torch.device("cpu")
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    return Distributed(dist.get_rank(), world, dev)


def cosine_lr(opt: torch.optim.Optimizer, base: float, step: int, total: int) -> None:
    """Set the learning rate of every group to the cosine schedule's value at `step` of `total`."""
    for group in opt.param_groups:
        group["lr"] = base * 0.5 * (1 + math.cos(math.pi * step / total))


def descend(opt: torch.optim.Optimizer, loss: Tensor) -> dict[str, float]:
    """One optimiser step on `loss`; -> the logged loss."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return {"loss": loss.item()}


def train_evaluate_export(args: argparse.Namespace, train: Callable[[argparse.Namespace, Distributed], tuple[nn.Module, dict]],
                          evaluate: Callable[[nn.Module], dict], export: Callable[..., None],
                          report: Callable[[dict], str] = lambda m: json.dumps(m, indent=1)) -> None:
    """A recipe's whole run: train (every process); then on rank 0 evaluate on the CPU, print the report
    and export(net, metrics, meta, args) unless the recipe has a --no-export flag that is set."""
    tune_cpu_allocator()
    ddp = setup_distributed(args.device)
    net, meta = train(args, ddp)
    if ddp.main:
        metrics = evaluate(net.cpu())
        print(report(metrics))
        if not getattr(args, "no_export", False):
            export(net, metrics, meta, args)
    ddp.close()


def run_steps(args: argparse.Namespace, ddp: Distributed, modules: dict[str, nn.Module],
              optimizers: dict[str, torch.optim.Optimizer], step: Callable[[int], dict[str, float]], total: int,
              ckpt_every: int) -> dict:
    """The resumable loop: restore args.run_dir's state, call step(i) until `total` steps, log every
    args.log_every steps and save every `ckpt_every` and at the end (rank 0).  -> the run's meta"""
    meta = load_state(args.run_dir, modules, optimizers) or {"step": 0, "seconds": 0.0}
    log = StepLogger(meta, args.log_every, total, verbose=ddp.main)
    while meta["step"] < total:
        log.step(step(meta["step"]))
        if ddp.main and (meta["step"] % ckpt_every == 0 or meta["step"] == total):
            save_state(args.run_dir, modules, optimizers, meta)
    return meta
