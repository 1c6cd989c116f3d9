"""The inversion method registry: what a method declares, the networks it draws on, what it returns.

A method is one module in this package that builds an `InversionMethod` and passes it to
`register`; `pipelines/methods/__init__.py` imports the built-in ones in table order. Everything
that lists, runs, renders, times or counts methods (pipelines/inversion.py, pipelines/editing.py,
the Inversion and Editing tabs, ui/serving.py, bench/) reads `REGISTRY` and nothing else.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, Protocol

import torch
from torch import Tensor, nn

from nets.e4e import E4EEncoder
from nets.gradstyle import GradStyle, Stream
from nets.modconv import LowRankFactors
from nets.refinestyle import RefineStyleEncoder
from nets.stylegan2 import Generator

from ..jobs import Cancel, Progress
from ..losses import ReconstructionLoss
from ..tuning import Features, WeightDeltas

GPU_SECONDS_PER_STEP = 0.02  # a generous GPU cost of one optimisation step at any zoo's resolution


@dataclass
class InversionNetworks:
    """The generator, the reconstruction loss and every optional network a registered method needs.

    Slots with a field below are typed; a slot only a newer method needs is loaded into `others`.
    """

    generator: Generator
    loss: ReconstructionLoss
    e4e: E4EEncoder | None = None
    refinestyle_1s: RefineStyleEncoder | None = None
    refinestyle_2s: RefineStyleEncoder | None = None
    gradstyle: GradStyle | None = None
    parsing: Features | None = None  # GaNI's parsing network: image -> feature maps
    others: dict[str, nn.Module] = field(default_factory=dict)

    def network(self, slot: str) -> Any:
        """The network in a slot, or None when the zoo lacks it."""
        return getattr(self, slot) if slot in _TYPED_SLOTS else self.others.get(slot)

    @classmethod
    def build(cls, load: Callable[[str], nn.Module], available: Callable[[str], bool]) -> InversionNetworks:
        """From a slot loader (a zoo's or the app session's); optional slots the zoo lacks stay None."""
        net, ident = load("perceptual"), load("identity")
        slots = dict.fromkeys(slot for m in REGISTRY.values() for slot in m.needs if slot != "parsing")
        loaded = {s: load(s) for s in slots if available(s)}
        parsing = load("parsing").features if available("parsing") else None  # kept as its feature function
        return cls(load("generator"), ReconstructionLoss(net.perceptual_distance, ident.identity), parsing=parsing,
                   others={s: n for s, n in loaded.items() if s not in _TYPED_SLOTS},
                   **{s: n for s, n in loaded.items() if s in _TYPED_SLOTS})

    @classmethod
    def from_zoo(cls, zoo, device: str = "cpu") -> InversionNetworks:
        return cls.build(lambda slot: zoo.load(slot, device), zoo.available)


_TYPED_SLOTS = {f.name for f in fields(InversionNetworks)} - {"generator", "loss", "others"}


@dataclass
class InversionResult:
    """One method's inversion of one image; a method fills the detail carriers it uses."""

    method: str
    image: Tensor  # [1, 3, R, R] in [-1, 1]
    ws: Tensor  # [1, num_ws, w_dim]
    residuals: dict[int, LowRankFactors] = field(default_factory=dict)  # RefineStyle: ΔW factors per conv layer
    weight_deltas: WeightDeltas = field(default_factory=dict)  # GaNI, PTI: kernel changes per conv layer
    stream: Stream = field(default_factory=dict)  # GradStyle: (F_m, f_m) per stage
    metrics: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass(frozen=True)
class NoSettings:
    """The settings of a method that has none (a feed-forward encoder)."""


class Runner(Protocol):
    def __call__(self, nets: InversionNetworks, target: Tensor, settings: Any, seed: int,
                 progress: Progress | None, cancel: Cancel | None) -> InversionResult: ...


class Renderer(Protocol):
    def __call__(self, nets: InversionNetworks, result: InversionResult, ws: Tensor,
                 style_offsets: dict[int, Tensor] | None, use_gam: bool) -> Tensor: ...


def synthesise(nets: InversionNetworks, result: InversionResult, ws: Tensor, style_offsets: dict[int, Tensor] | None,
               use_gam: bool = True) -> Tensor:
    """The generator on `ws` with the result's kernel residuals and deltas (the default renderer).  -> [1, 3, R, R]"""
    with torch.no_grad():
        return nets.generator.synthesis(ws, residuals=result.residuals, weight_deltas=result.weight_deltas,
                                        style_offsets=style_offsets).clamp(-1, 1)


def one_pass(settings: Any) -> float:
    """The GPU estimate of a feed-forward method: one encoder pass and one synthesis."""
    return 1.0


@dataclass(frozen=True)
class InversionMethod:
    """What a method declares.

    name: its key in requests and tables; label: what people read ("(ours)" marks methods that are
    not from a paper); needs: the zoo slots it cannot run without; settings: its settings dataclass
    (defaults when a request names none); run: invert one image [1, 3, R, R]; parameters: the
    trainable parameters it brings (encoders, modules or per-image variables); gpu_seconds: a
    generous GPU estimate for one image; render: synthesise an edited code the way the method
    keeps details.
    """

    name: str
    label: str
    needs: tuple[str, ...]
    run: Runner
    parameters: Callable[[InversionNetworks, Any], int]
    settings: type = NoSettings
    gpu_seconds: Callable[[Any], float] = one_pass
    render: Renderer = synthesise

    def unavailable(self, nets: InversionNetworks) -> str:
        """The empty string when the method can run on these networks, else the reason."""
        return next((f"no {slot} network in this zoo" for slot in self.needs if nets.network(slot) is None), "")


REGISTRY: dict[str, InversionMethod] = {}


def register(method: InversionMethod) -> InversionMethod:
    """Add a method (after the ones registered before it); a name can be registered once."""
    if method.name in REGISTRY:
        raise ValueError(f"an inversion method named '{method.name}' is already registered")
    REGISTRY[method.name] = method
    return method


def count_parameters(*modules: nn.Module) -> int:
    return sum(p.numel() for m in modules for p in m.parameters())
