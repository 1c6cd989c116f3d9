"""How a long pipeline job talks to its caller (the app connects these to gr.Progress and to a
stop button, the CLI to tqdm): every entry point takes `progress` and `cancel`, both optional."""
from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[float, str], None]  # (fraction done, what is happening)
Cancel = Callable[[], bool]  # True when the job should stop; loops check it before each step
