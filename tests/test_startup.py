"""The real app, as a visitor starts it: offline, on the shipped emoji64 zoo, answering within 20 s."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from gradio_client import Client

ROOT = Path(__file__).resolve().parents[1]
START_LIMIT_S = 20.0



@pytest.mark.slow
def test_offline_app_answers_its_first_request_within_20_s(free_port):
    port = free_port()
    env = dict(os.environ, HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False")
    start = time.monotonic()
    proc = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        answer, last_error = None, None
        while time.monotonic() - start < 60 and proc.poll() is None:
            try:
                client = Client(f"http://127.0.0.1:{port}/", verbose=False)
                answer = client.predict(0, 2, 0.7, False, 1000, 5, api_name="/generate")
                break
            except Exception as err:  # noqa: BLE001  not up yet
                last_error = err
                time.sleep(0.25)
        elapsed = time.monotonic() - start
        assert answer is not None, f"no answer after {elapsed:.1f} s ({last_error}); exit code {proc.poll()}"
        gallery, info = answer
        assert len(gallery) == 2 and "64 px" in info
        assert elapsed < START_LIMIT_S, f"first answer after {elapsed:.1f} s"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
