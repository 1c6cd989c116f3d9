"""What every tab shares: the active zoo, the device, the notice, and error translation."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import gradio as gr

from pipelines.zoo import SlotUnavailable, Zoo, open_zoo

from .serving import SlowLane

DEFAULT_ZOO = "emoji64"


@dataclass
class Session:
    zoo: Zoo
    device: str
    notice: str
    lane: SlowLane = field(default_factory=SlowLane)  # per-image optimisation and adaptation

    @classmethod
    def open(cls, zoo_name: str, device: str, default: str = DEFAULT_ZOO, slow_jobs: int = 1) -> Session:
        """The requested zoo, or the default one with a notice saying why; `slow_jobs` slow-lane slots."""
        notice = ""
        try:
            zoo = open_zoo(zoo_name)
        except ValueError as err:
            zoo, notice = open_zoo(default), f"⚠️ {err}; running on **{default}**."
        status = zoo.slot_status("generator")
        if not status.available and zoo_name != default:
            notice = f"⚠️ The **{zoo.name}** zoo is unavailable ({status.reason}); running on **{default}** instead."
            zoo = open_zoo(default)
            status = zoo.slot_status("generator")
        if not status.available:
            notice += (f"\n\n⚠️ The **{zoo.name}** generator does not exist yet ({status.reason}). "
                       "Generation, the kernel spectrum and inversion stay off until it is trained "
                       "(`python -m train.generator`) — no untrained network is shown in its place.")
        return cls(zoo, device, notice.strip(), SlowLane(slow_jobs))

    def load(self, slot: str):
        """A network from the zoo, or a gr.Error that says what is missing."""
        try:
            return self.zoo.load(slot, self.device)
        except SlotUnavailable as err:
            raise gr.Error(f"The {self.zoo.name} zoo cannot provide '{slot}': {err}") from None

    @property
    def num_ws(self) -> int:
        return 2 * self.zoo.resolution.bit_length() - 4  # 2·log2(size) − 2


@contextmanager
def user_errors() -> Iterator[None]:
    """Bad input from a pipeline (ValueError) becomes a gr.Error the visitor can read."""
    try:
        yield
    except ValueError as err:
        raise gr.Error(str(err)) from None
