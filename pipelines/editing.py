"""Editing an inversion result with InterFaceGAN, GANSpace or StyleSpace, the way its method keeps details.

`apply_edit(nets, result, directions, edit)` edits one inversion result; each method's renderer
(pipelines/methods/) keeps its details:
- e4e: the edited W+;
- RefineStyle (one-stage, two-stage, optimisation): the edited W+ with the same residuals ΔW
  (RefineStyle §4.3: the residuals carry the details, the code carries the attributes);
- GradStyle: the editing stream — GAM aligns the stored residual features to the edited
  features before Gate & Fusion adds them;
- GaNI and PTI: the edited W+ through the tuned generator (the same kernel deltas).
StyleSpace edits move one style channel instead of the code; every method renders them the same way.

`edit(nets, target, directions, settings)` is the whole use case: invert an image with each
method (through an `InversionCache`), apply one edit in units of the direction's σ, render a
strength sweep, and score identity.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
from torch import Tensor

from .directions import DirectionSet
from .inversion import InversionCache, InversionNetworks, InversionResult, InversionSettings, render
from .jobs import Cancel, Progress
from .settings import control

FAMILIES = ("interfacegan", "ganspace", "stylespace")
SWEEP = (-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0)  # σ


@dataclass(frozen=True)
class Edit:
    """family: interfacegan (direction = name), ganspace (direction = component index, layers
    first..last inclusive; last −1: the final layer) or stylespace (direction = name)."""

    family: str
    direction: str | int
    strength: float
    first: int = 0
    last: int = -1


def edited_code(nets: InversionNetworks, ws: Tensor, directions: DirectionSet, edit: Edit
                ) -> tuple[Tensor, dict[int, Tensor] | None]:
    """ws [1, num_ws, w_dim] -> (edited ws, StyleSpace offsets or None); ValueError names what is wrong."""
    if edit.family == "interfacegan":
        if edit.direction not in directions.interfacegan:
            raise ValueError(f"unknown InterFaceGAN direction '{edit.direction}' "
                             f"(known: {', '.join(sorted(directions.interfacegan)) or 'none'})")
        return directions.interfacegan[edit.direction].apply(ws, edit.strength), None
    if edit.family == "ganspace":
        if directions.ganspace is None:
            raise ValueError("this zoo has no GANSpace components")
        last = ws.shape[1] - 1 if edit.last == -1 else edit.last
        return directions.ganspace.apply(ws, int(edit.direction), edit.first, last, edit.strength), None
    if edit.family == "stylespace":
        if edit.direction not in directions.stylespace:
            raise ValueError(f"unknown StyleSpace channel '{edit.direction}' "
                             f"(known: {', '.join(sorted(directions.stylespace)) or 'none'})")
        channel = directions.stylespace[edit.direction]
        width = nets.generator.synthesis.convs[channel.layer].conv.in_channels
        return ws, {k: v.to(ws) for k, v in channel.offsets(width, edit.strength).items()}
    raise ValueError(f"unknown edit family '{edit.family}' (known: {', '.join(FAMILIES)})")


def apply_edit(nets: InversionNetworks, result: InversionResult, directions: DirectionSet, edit: Edit,
               use_gam: bool = True) -> Tensor:
    """The edited image of one inversion result.  -> [1, 3, R, R] in [-1, 1]

    use_gam=False renders GradStyle's editing stream with the unaligned reconstruction residuals
    (the naive dual stream, for the GAM ablation).
    """
    ws, offsets = edited_code(nets, result.ws, directions, edit)
    return render(nets, result, ws, offsets, use_gam)


def strength_sweep(nets: InversionNetworks, result: InversionResult, directions: DirectionSet, edit: Edit,
                   strengths: list[float]) -> list[Tensor]:
    """The same edit at each strength (a sweep strip).  -> [1, 3, R, R] per strength"""
    return [apply_edit(nets, result, directions, Edit(edit.family, edit.direction, s, edit.first, edit.last))
            for s in strengths]


def sigma_unit(g, directions: DirectionSet, family: str, direction: str | int, samples: int = 2000) -> float:
    """The raw strength of one σ for a direction: InterFaceGAN's σ of w·n over random w; GANSpace
    and StyleSpace strengths are already in units of their σ."""
    if family != "interfacegan":
        return 1.0
    if direction not in directions.interfacegan:
        raise ValueError(f"unknown InterFaceGAN direction '{direction}'")
    with torch.no_grad():
        w = g.mapping(torch.randn(samples, g.z_dim, generator=torch.Generator().manual_seed(1)).to(g.w_avg))
        return (w @ directions.interfacegan[direction].vector[0].to(w)).std().item()


@dataclass(frozen=True)
class EditSettings:
    """One edit request: the methods that invert the image, the edit (strength in σ of the direction;
    GANSpace layers first..last), the sweep strengths in σ, and the inversion settings."""

    methods: tuple[str, ...]
    family: str
    direction: str | int
    sigmas: float = field(default=2.0, metadata=control(-5, 5, 0.25, "Strength (σ of the direction)"))
    first: int = 0
    last: int = -1
    sweep: tuple[float, ...] = SWEEP
    inversion: InversionSettings = field(default_factory=InversionSettings)


@dataclass
class EditResult:
    """One method's edit of the image: the edited image, the sweep, identity scores and seconds."""

    inversion: InversionResult
    image: Tensor  # [1, 3, R, R] in [-1, 1]
    sweep: list[Tensor]  # one [1, 3, R, R] per sweep strength
    metrics: dict[str, float]  # id_to_input: cos(edited, input); id_kept: cos(edited, reconstruction)
    seconds: float  # the edit alone (the inversion's seconds are in `inversion`)


def edit(nets: InversionNetworks, target: Tensor, directions: DirectionSet, settings: EditSettings, seed: int = 0,
         progress: Progress | None = None, cancel: Cancel | None = None, cache: InversionCache | None = None
         ) -> list[EditResult]:
    """Invert target [1, 3, R, R] with each method (cached), then edit, sweep and score each result."""
    # 1. check inputs: the direction exists and has a σ
    unit = sigma_unit(nets.generator, directions, settings.family, settings.direction)
    one = Edit(settings.family, settings.direction, settings.sigmas * unit, settings.first, settings.last)
    # 2. invert
    cache = cache or InversionCache()
    results = cache.invert(nets, target, list(settings.methods), settings.inversion, seed, progress, cancel)
    # 3. edit, sweep, score
    out = []
    with torch.no_grad():
        ident = nets.loss.identity
        target_id = ident(target)
        for r in results:
            start = time.perf_counter()
            edited = apply_edit(nets, r, directions, one)
            seconds = time.perf_counter() - start
            sweep = strength_sweep(nets, r, directions, one, [k * unit for k in settings.sweep])
            edited_id = ident(edited)
            metrics = {"id_to_input": (edited_id * target_id).sum().item(),
                       "id_kept": (edited_id * ident(r.image)).sum().item()}
            out.append(EditResult(r, edited, sweep, metrics, seconds))
    return out
