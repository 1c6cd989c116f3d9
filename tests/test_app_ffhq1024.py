"""The whole app at 1024 px (issue 20 item 3): the ffhq zoo's networks in their official file formats with
random weights (bench/app1024.py writes them), every endpoint once through gradio_client with 1-2-step
settings on CPU, uploads aligned and pasted back. Prints each call's seconds and the server's resident memory
(the server runs in the test process)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.app1024 import build_zoo_in_child, drive, memory, photos, reset_peak
from pipelines.methods import REGISTRY

pytestmark = pytest.mark.slow


def _image(item) -> Image.Image:
    """A gallery item as gradio_client returns it (the file downloaded: a path, or a dict with one)."""
    image = item["image"]
    return Image.open(image if isinstance(image, str) else image["path"])


@pytest.fixture(scope="module")
def ffhq_layouts(tmp_path_factory) -> Path:
    return build_zoo_in_child(tmp_path_factory.mktemp("ffhq1024"))


def test_every_endpoint_at_1024_px_with_alignment_and_paste_back(ffhq_layouts, serve_app, tmp_path):
    uploads = photos(tmp_path)
    reset_peak()
    with serve_app(str(ffhq_layouts)) as client:
        calls, out = drive(client, uploads)
    for name, r in calls.items():
        print(f"{name}: {r['seconds']:.1f} s, peak RSS {r['peak_rss_mib'] / 1024:.2f} GiB")
    print(f"RSS after the calls {memory()['rss_mib'] / 1024:.2f} GiB")

    status = {row[0]: row[1] for row in out["zoo status"]["data"]}
    for slot in ("generator", "e4e", "perceptual", "identity", "parsing", "clip", "directions"):
        assert status[slot] == "✅ ready", slot
    assert status["refinestyle_1s"] == "— missing"  # as in the real manifest: no public checkpoint
    gallery, info = out["generate (1 sample)"]
    assert _image(gallery[0]).size == (1024, 1024) and "1024 px" in info

    moved = Image.open(uploads["moved"]).convert("RGB")
    shots, pair, table, note, sheet, _, pasted, pasted_png, _ = out[
        "invert, aligned: e4e, RefineStyle opt. 1+1 steps, GaNI 1, PTI 1"]
    assert shots[0]["caption"] == "input (aligned)" and note == ""
    assert _image(shots[0]).size == (1024, 1024)
    labels = [REGISTRY[m].label for m in ("e4e", "refinestyle_opt", "gani", "pti")]
    assert [row[0] for row in table["data"]] == labels and [p["caption"] for p in pasted] == labels
    back = np.asarray(Image.open(pasted_png).convert("RGB"))
    assert back.shape == (moved.height, moved.width, 3)
    assert np.array_equal(back[:, :200], np.asarray(moved)[:, :200])  # outside the face's square: the photo itself
    assert np.abs(back.astype(int) - np.asarray(moved)).mean() > 1  # inside it: the reconstruction

    shots, strip, table, note, *_, pasted, pasted_png = out[
        "edit, aligned, two faces: e4e, InterFaceGAN smile, 7-step sweep"]
    assert "2 faces found; the largest was aligned" in note and len(strip) == 7 and len(pasted) == 1
    assert Image.open(pasted_png).size == Image.open(uploads["group"]).size

    grid, info, _ = out["text adaptation, tokens, 1 iteration"]
    assert len(grid) == 8 and "1 iterations" in info
    grid, info, _ = out["one-shot adaptation, tokens, 1 iteration, aligned reference"]
    assert len(grid) == 8 and "reference MSE" in info
    assert "no face found" in out["no face: refused"] and "untick" in out["no face: refused"]
    assert "too small" in out["face too small: refused"]
    pair, preview, note, pasted, pasted_png = out["render an aligned photo in the text domain"]
    assert len(pair) == 2 and len(preview) == 8 and note == "" and len(pasted) == 1
    assert Image.open(pasted_png).size == Image.open(uploads["moved"]).size  # the whole photo, restyled face
    pair, preview, note, pasted, pasted_png = out["the one-shot domain's preview"]
    assert pair is None and len(preview) == 8 and pasted == [] and pasted_png is None
