"""Editing an inversion result with InterFaceGAN, GANSpace or StyleSpace, the way its method keeps details.

One entry point, `apply_edit(nets, result, directions, edit)`:
- e4e: the edited W+;
- RefineStyle (one-stage, two-stage, optimisation): the edited W+ with the same residuals ΔW
  (RefineStyle §4.3: the residuals carry the details, the code carries the attributes);
- GradStyle: the editing stream — GAM aligns the stored residual features to the edited
  features before Gate & Fusion adds them;
- GaNI and PTI: the edited W+ through the tuned generator (the same kernel deltas).
StyleSpace edits move one style channel instead of the code; every method renders them the same way.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .directions import DirectionSet
from .inversion import InversionNetworks, InversionResult, render

FAMILIES = ("interfacegan", "ganspace", "stylespace")


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
