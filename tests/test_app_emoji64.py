"""Every endpoint through gradio_client against the app on the shipped emoji64 zoo, with its trained
encoders: the numbers the tables show come from the trained networks, not from a tiny fixture."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from gradio_client import handle_file

from pipelines.adapt_oneshot import OneShotSettings
from pipelines.adapt_text import TextAdaptSettings
from pipelines.domain import AdaptedDomain
from pipelines.editing import EditSettings
from pipelines.methods.refinestyle_opt import OptimisationSettings
from pipelines.tuning import TuningSettings
from ui.budget import APP_ITERATIONS
from ui.examples import example_images
from ui.methods import default_methods, label, missing_methods
from ui.session import Session

EXAMPLES = Path(__file__).resolve().parents[1] / "assets" / "examples"
ENCODERS = ["e4e", "refinestyle_1s", "refinestyle_2s", "gradstyle"]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client(serve_app):
    with serve_app("emoji64") as c:
        yield c


def test_every_inversion_method_is_ready_and_the_methods_built_on_e4e_improve_on_it(client):
    status = {row[0]: row[1] for row in client.predict(api_name="/zoo_status")["data"]}
    for slot in ENCODERS:
        assert status[slot] == "✅ ready", slot
    image = handle_file(str(EXAMPLES / "google_1f929.png"))
    shots, pair, table, *_ = client.predict(image, ENCODERS + ["gani"], 0, 0, 8, 20, 0, api_name="/invert")
    assert len(shots) == 1 + len(ENCODERS) + 1 and len(pair) == 2
    mse = {row[0]: row[1] for row in table["data"]}
    e4e = mse[label("e4e")]
    assert 0 < e4e < 0.05  # a real emoji, reconstructed by a trained encoder
    assert 0 < mse[label("refinestyle_1s")] < 0.1
    for method in ("refinestyle_2s", "gradstyle", "gani"):  # residuals or tuning on top of e4e's code
        assert mse[label(method)] < e4e, (method, mse)


def test_editing_and_adaptation_endpoints_on_the_shipped_zoo(client, tmp_path):
    image = handle_file(str(EXAMPLES / "google_1f9d2-1f3fd.png"))
    shots, strip, table, *_ = client.predict(image, ["e4e", "refinestyle_2s"], "InterFaceGAN", "gender", 2, 0, 9, 0,
                                             0, 0, api_name="/edit")
    assert len(shots) == 3 and len(strip) == 14
    for _, id_to_input, id_to_reconstruction, _ in table["data"]:
        assert 0 < id_to_reconstruction < 1 and -1 <= id_to_input <= 1  # edited: changed, but still an emoji

    grid, info, domain_file = client.predict("google style emoji", "twitter style emoji", "tokens", 10, 0,
                                             api_name="/adapt_text")
    assert len(grid) == 8 and "10 iterations" in info
    assert AdaptedDomain.load(Path(domain_file)).kind == "tokens"
    pair, preview, status, *_ = client.predict(image, handle_file(domain_file), api_name="/render_text_domain")
    assert len(pair) == 2 and len(preview) == 8 and status == ""
    reference = handle_file(str(EXAMPLES / "twitter_1f600_reference.png"))
    grid, info, oneshot_file = client.predict(reference, "tokens", True, 10, 0, api_name="/adapt_oneshot")
    assert "reference MSE" in info and AdaptedDomain.load(Path(oneshot_file)).kind == "tokens"


def _timed(client, *args, api_name: str) -> float:
    start = time.perf_counter()
    client.predict(*args, api_name=api_name)
    return time.perf_counter() - start


def test_every_default_and_example_finishes_in_time(client):
    """What a visitor's first clicks cost on this zoo: each tab's default run and each example within
    20 s, the adaptation defaults within 60 s (the times are printed for the README)."""
    session = Session.open("emoji64", "cpu")
    methods = default_methods(missing_methods(session))
    opt, tune = OptimisationSettings(), TuningSettings()
    steps = (opt.w_steps, opt.residual_steps, opt.rank, tune.steps)
    runs = {"generate": ((0, 8, 0.7, False, 1000, session.num_ws // 2), "/generate", 20),
            "kernel spectrum": ((8, 0), "/kernel_spectrum", 20),
            "zoo status": ((), "/zoo_status", 20)}
    for path in example_images("google_", "emoji64") + example_images("twitter_1f9", "emoji64"):
        runs[f"inversion example {Path(path).name}"] = ((handle_file(path), methods, *steps, 0), "/invert", 20)
    for path in example_images("google_", "emoji64"):
        runs[f"editing example {Path(path).name}"] = (
            (handle_file(path), methods, "InterFaceGAN", "gender", EditSettings.sigmas, 0, session.num_ws - 1,
             *steps[:2], steps[3]), "/edit", 20)
    runs["text adaptation default"] = ((TextAdaptSettings.source, TextAdaptSettings.target, "tokens",
                                        APP_ITERATIONS["text"], 0, TextAdaptSettings.lr), "/adapt_text", 60)
    runs["one-shot adaptation example"] = (
        (handle_file(str(EXAMPLES / "twitter_1f600_reference.png")), "tokens", True, APP_ITERATIONS["oneshot"], 0,
         OneShotSettings.lr), "/adapt_oneshot", 60)
    for name, (args, api, limit) in runs.items():
        load = os.getloadavg()[0]
        seconds = _timed(client, *args, api_name=api)
        print(f"{name}: {seconds:.1f} s (load {load:.1f})")
        assert seconds <= limit, (name, seconds)
