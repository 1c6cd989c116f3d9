from __future__ import annotations

import socket
from pathlib import Path

import pytest
import torch

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(scope="session")
def shared() -> Path:
    if not SHARED.is_dir():
        pytest.fail(f"../shared is missing beside the checkout (looked in {SHARED})")
    return SHARED


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def emojibench():
    """The EmojiBench dataset, built on first use (npm, about 10 s) where the machine lacks it."""
    from train.data_emoji import build, default_root, install_packages, load_emojibench

    try:
        return load_emojibench()
    except FileNotFoundError:
        root = default_root()
        build(root, install_packages(root))
        return load_emojibench()


@pytest.fixture(scope="session")
def free_port():
    """A function returning a free local TCP port (for launching the app)."""
    def port() -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    return port


@pytest.fixture(scope="session")
def serve_app():
    """A context manager: the app on a zoo, launched on a free port, as a gradio_client Client."""
    from contextlib import contextmanager

    from gradio_client import Client

    import app

    @contextmanager
    def serve(zoo: str):
        with app.served(zoo) as url:
            yield Client(url, verbose=False)

    return serve
