"""Settings dataclasses are the one source of defaults and ranges: a field that people set declares
its control, `field(default=100, metadata=control(0, 500, 10, "W+ steps"))`; the app's sliders
(ui/controls.py) and the CLI flags (`add_flag`) read default, range and label from it."""
from __future__ import annotations

import argparse
from dataclasses import MISSING, Field, dataclass, fields
from typing import Any


@dataclass(frozen=True)
class Control:
    minimum: float
    maximum: float
    step: float
    label: str


def control(minimum: float, maximum: float, step: float, label: str) -> dict[str, Control]:
    """Field metadata: the range, step and label of the control that sets the field."""
    return {"control": Control(minimum, maximum, step, label)}


def _field(cls: type, name: str) -> Field:
    found = {f.name: f for f in fields(cls)}
    if name not in found:
        raise ValueError(f"{cls.__name__} has no setting '{name}'")
    return found[name]


def default_of(cls: type, name: str) -> Any:
    f = _field(cls, name)
    return f.default_factory() if f.default is MISSING else f.default


def control_of(cls: type, name: str) -> Control:
    f = _field(cls, name)
    if "control" not in f.metadata:
        raise ValueError(f"{cls.__name__}.{name} declares no control")
    return f.metadata["control"]


def add_flag(parser: argparse.ArgumentParser, cls: type, name: str, flag: str | None = None,
             help: str | None = None) -> None:
    """A CLI flag (default `--<name>`) with the field's type, default and, unless `help` is given, label."""
    default = default_of(cls, name)
    parser.add_argument(flag or f"--{name.replace('_', '-')}", type=type(default), default=default,
                        help=help or control_of(cls, name).label)
