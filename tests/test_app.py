"""The app builds without a server, says when the generator is missing, and serves its endpoints."""
from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from gradio_client import handle_file
from PIL import Image

import app
from nets.emoji_clip import EmojiClip
from nets.emojinet import EmojiNet
from nets.stylegan2 import Generator
from pipelines.clip_text import tokenize
from pipelines.directions import DirectionSet, GanSpace, LinearDirection, StyleChannel
from pipelines.domain import AdaptedDomain
from pipelines.generate import generate, kernel_spectrum
from pipelines.zoo import register_local_slot
from train.directions import save_directions
from ui import adaptation_tabs
from ui.faces import save_bounded
from ui.jobs import job_threads
from ui.session import Session


@pytest.fixture(scope="module")
def tiny_zoo(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("assets")
    torch.manual_seed(0)
    Generator(size=16, style_dim=16, n_mlp=2, channels=[16, 16, 16]).save_pretrained(root / "zoo" / "tiny" / "generator")
    (root / "zoos").mkdir()
    manifest = root / "zoos" / "tiny.json"
    manifest.write_text(json.dumps({"name": "tiny", "resolution": 16, "slots": {}}))
    register_local_slot(manifest, "generator", root / "zoo" / "tiny" / "generator", options={"class": "Generator"})
    EmojiNet(widths=[8, 8, 16, 16, 16], embed_dim=8).save_pretrained(root / "zoo" / "tiny" / "judge")
    for slot in ("perceptual", "identity"):
        register_local_slot(manifest, slot, root / "zoo" / "tiny" / "judge", options={"class": "EmojiNet"})
    dirs = DirectionSet({"smile": LinearDirection("smile", torch.nn.functional.normalize(torch.randn(1, 16), dim=1))},
                        GanSpace(torch.zeros(16), torch.eye(16)[:3], torch.ones(3)), {"smile": StyleChannel("smile", 2, 3, 0.5)})
    save_directions(dirs, {}, root / "zoo" / "tiny" / "directions")
    words = tokenize(["google style emoji", "twitter style emoji"])[:, :16].flatten().tolist()
    EmojiClip(16, {"image_size": 16, "patch_size": 8, "width": 32, "layers": 1, "head_width": 16},
              {"context_length": 16, "width": 32, "heads": 2, "layers": 1},
              sorted(set(words) - {0})).save_pretrained(root / "zoo" / "tiny" / "clip")
    register_local_slot(manifest, "clip", root / "zoo" / "tiny" / "clip", options={"class": "EmojiClip"})
    register_local_slot(manifest, "directions", root / "zoo" / "tiny" / "directions", loader="project_directions")
    return manifest



@pytest.fixture(scope="module")
def client(tiny_zoo, serve_app):
    """One launched app on the tiny zoo for every endpoint test (as a Space serves many visitors)."""
    with serve_app(str(tiny_zoo)) as c:
        yield c


def test_blocks_build_without_a_server_and_name_their_endpoints(tiny_zoo):
    demo = app.build_demo(str(tiny_zoo))
    names = {dep.get("api_name") for dep in demo.config["dependencies"]}
    assert {"generate", "invert", "edit", "adapt_text", "adapt_oneshot", "render_text_domain", "kernel_spectrum",
            "zoo_status"} <= names


def test_missing_generator_is_announced_not_faked(tmp_path):
    (tmp_path / "zoos").mkdir()
    manifest = tmp_path / "zoos" / "empty.json"
    manifest.write_text(json.dumps({"name": "empty", "resolution": 64, "slots": {
        "generator": {"loader": "project", "options": {"class": "Generator"},
                      "files": [{"path": "zoo/empty/generator", "filename": "model.safetensors"}]}}}))
    session = Session.open("ffhq", "cpu", default=str(manifest))  # offline here: falls back, says both things
    assert session.zoo.name == "empty"
    assert "ffhq" in session.notice and "does not exist yet" in session.notice
    with pytest.raises(app.gr.Error, match="cannot provide 'generator'"):
        session.load("generator")


def test_pipelines_are_seeded_and_validated(tiny_zoo):
    g = Generator.from_pretrained(tiny_zoo.parents[1] / "zoo" / "tiny" / "generator").eval()
    a, b = generate(g, seed=5, count=3), generate(g, seed=5, count=3)
    assert torch.equal(a.images, b.images) and a.images.shape == (3, 3, 16, 16) and a.seeds == [5, 6, 7]
    torch.testing.assert_close(generate(g, seed=6, count=1).images[0], a.images[1])
    mixed = generate(g, seed=5, count=2, mix_seed=99, inject_index=3)
    assert torch.equal(mixed.ws[0, 3:], mixed.ws[1, 3:]) and not torch.equal(mixed.ws[0, :3], mixed.ws[1, :3])
    with pytest.raises(ValueError):
        generate(g, seed=0, count=0)
    with pytest.raises(ValueError):
        generate(g, seed=0, mix_seed=1, inject_index=g.num_ws)
    spec = kernel_spectrum(g, samples=3)
    assert len(spec.singular_values) == len(g.synthesis.convs)
    for sv in spec.singular_values:
        assert sv[0] == pytest.approx(1.0) and torch.all(sv[:-1] >= sv[1:] - 1e-6)


def test_endpoints_through_gradio_client(client, tmp_path):
    gallery, info = client.predict(7, 3, 0.7, False, 1000, 2, api_name="/generate")
    assert len(gallery) == 3 and "3 samples at 16 px" in info
    rows = client.predict(api_name="/zoo_status")
    assert rows["data"][0][:2] == ["generator", "✅ ready"]
    plot, info = client.predict(3, 0, api_name="/kernel_spectrum")
    assert plot["type"] == "matplotlib" and "3 samples, 5 layers" in info
    Image.new("RGB", (40, 30), (200, 80, 40)).save(tmp_path / "in.png")
    shots, pair, table, status, sheet, metrics, pasted, pasted_png, plot = client.predict(
        handle_file(str(tmp_path / "in.png")), ["refinestyle_opt"], 5, 5, 2, 5, 0, api_name="/invert")
    assert len(shots) == 2 and len(pair) == 2 and status == "" and shots[0]["caption"] == "input"
    assert plot["type"] == "matplotlib"  # the quality-time plot of this run
    assert pasted == [] and pasted_png is None  # this zoo takes images as they are: nothing to paste back
    with pytest.raises(Exception, match="takes images as they are"):  # and refuses to align them
        client.predict(handle_file(str(tmp_path / "in.png")), ["refinestyle_opt"], 5, 5, 2, 5, 0, True,
                       api_name="/invert")
    record = json.loads(Path(metrics).read_text())
    assert record["settings"]["methods"] == "refinestyle_opt" and record["results"][0]["method"] == table["data"][0][0]
    assert Image.open(sheet).size[0] > 5 * 160  # five tiles a row, the table and the settings below
    assert table["headers"][0] == "method" and table["data"][0][0].startswith("RefineStyle")
    assert 0 <= table["data"][0][1] <= 1  # MSE on [0, 1] images
    with pytest.raises(Exception, match="e4e"):
        client.predict(handle_file(str(tmp_path / "in.png")), ["e4e"], 5, 5, 2, 5, 0, api_name="/invert")
    shots, strip, table, *_ = client.predict(handle_file(str(tmp_path / "in.png")), ["refinestyle_opt"], "StyleSpace",
                                             "smile", 2, 0, 5, 5, 5, 5, api_name="/edit")
    assert len(shots) == 2 and len(strip) == 7 and -1 <= table["data"][0][1] <= 1
    assert [item["caption"] for item in strip[:2]] == ["-3σ refinestyle_opt", "-2σ refinestyle_opt"]
    for name in ("2", "component 2"):  # the dropdown shows "component 2"; the bare index is accepted too
        shots, strip, table, *_ = client.predict(handle_file(str(tmp_path / "in.png")), ["refinestyle_opt"],
                                                 "GANSpace", name, -1, 1, 3, 5, 5, 5, api_name="/edit")
        assert len(shots) == 2 and table["data"][0][0].startswith("RefineStyle")
    with pytest.raises(Exception, match="unknown InterFaceGAN direction"):
        client.predict(handle_file(str(tmp_path / "in.png")), ["refinestyle_opt"], "InterFaceGAN", "nose", 1, 0, 5,
                       5, 5, 5, api_name="/edit")


def test_adaptation_endpoints_train_download_and_render(client, tmp_path):
    grid, info, domain_file = client.predict("google style emoji", "twitter style emoji", "tokens", 10, 0, 0.003,
                                             api_name="/adapt_text")
    assert len(grid) == 8 and "tokens" in info and "10 iterations at lr 0.003" in info
    back = AdaptedDomain.load(Path(domain_file))
    assert back.kind == "tokens" and back.info["settings"]["target"] == "twitter style emoji"
    assert back.info["settings"]["lr"] == 0.003
    with pytest.raises(Exception, match="learning rate must be in"):
        client.predict("google style emoji", "twitter style emoji", "tokens", 10, 0, 5.0, api_name="/adapt_text")
    Image.new("RGB", (24, 24), (30, 160, 90)).save(tmp_path / "ref.png")
    grid, info, oneshot_file = client.predict(handle_file(str(tmp_path / "ref.png")), "full", False, 10, 0,
                                              api_name="/adapt_oneshot")
    assert "full" in info and "reference MSE" in info
    pair, preview, status, in_photo, in_photo_png = client.predict(
        handle_file(str(tmp_path / "ref.png")), handle_file(domain_file), api_name="/render_text_domain")
    assert len(pair) == 2 and len(preview) == 8 and status == ""
    assert in_photo == [] and in_photo_png is None  # nothing to paste back into: the upload was not aligned
    pair, preview, status, *_ = client.predict(None, handle_file(oneshot_file), api_name="/render_oneshot_domain")
    assert pair is None and len(preview) == 8  # no image: the domain's preview only
    with pytest.raises(Exception, match="empty"):
        client.predict("", "twitter style emoji", "tokens", 10, 0, api_name="/adapt_text")
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(Exception, match="not a domain file"):
        client.predict(None, handle_file(str(tmp_path / "junk.safetensors")), api_name="/render_text_domain")
    with pytest.raises(Exception):  # noqa: B017  a .png where a .safetensors domain belongs is refused at upload
        client.predict(None, handle_file(str(tmp_path / "ref.png")), api_name="/render_text_domain")
    grid, _, _ = client.predict("google style emoji", "twitter style emoji", "full", 10, 1, api_name="/adapt_text")
    assert len(grid) == 8  # and the server still serves


def _bad_inputs(folder: Path) -> dict[str, tuple[Path, str | None]]:
    """name -> (file, expected error fragment or None when the image is unusual but valid)."""
    import io
    import struct
    import zlib

    files: dict[str, tuple[Path, str | None]] = {}

    def put(name: str, data: bytes, expect: str | None) -> None:
        path = folder / name
        path.write_bytes(data)
        files[name] = (path, expect)

    def png_bytes(img: Image.Image) -> bytes:
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        return buf.getvalue()

    put("not_an_image.png", b"hello, this is text", "not an image")
    jpeg = io.BytesIO()
    Image.new("RGB", (64, 64), (10, 200, 30)).save(jpeg, format="JPEG")
    put("truncated.jpg", jpeg.getvalue()[: len(jpeg.getvalue()) // 2], "damaged or truncated")
    put("empty.png", b"", "the file is empty")
    chunk = lambda kind, body: struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))  # noqa: E731
    bomb = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)) + \
        chunk(b"IDAT", zlib.compress(b"\x00" * 1000)) + chunk(b"IEND", b"")
    put("bomb.png", bomb, "too many pixels|limit is 40 MP")
    put("fifty_mp.png", png_bytes(Image.new("L", (8200, 6200), 128)), "MP")
    put("strip.png", png_bytes(Image.new("RGB", (1, 2000), (0, 0, 0))), "too small")
    put("wide.png", png_bytes(Image.new("RGB", (2000, 100), (0, 0, 0))), "aspect ratio")
    sixteen = Image.fromarray((torch.arange(64 * 64).reshape(64, 64).numpy() * 16).astype("uint16"))
    put("sixteen_bit.png", png_bytes(sixteen), None)
    cmyk = io.BytesIO()
    Image.new("CMYK", (48, 48), (0, 128, 128, 0)).save(cmyk, format="JPEG")
    put("cmyk.jpg", cmyk.getvalue(), None)
    put("rgba.png", png_bytes(Image.new("RGBA", (40, 40), (255, 0, 0, 128))), None)
    put("gray.png", png_bytes(Image.new("L", (40, 40), 90)), None)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90°
    rotated = io.BytesIO()
    Image.new("RGB", (60, 40), (200, 100, 0)).save(rotated, format="JPEG", exif=exif.tobytes())
    put("exif_rotated.jpg", rotated.getvalue(), None)
    return files


def test_the_alignment_note_shows_on_the_oneshot_tab_and_the_render_section(client, tmp_path, monkeypatch):
    """Several faces in an upload: the one-shot summary and the render section's status say the largest was
    used, as the Inversion and Editing tabs' status does (the tiny zoo does not align, so the note is faked)."""
    real = adaptation_tabs.prepare_upload
    note = "2 faces found; the largest was aligned"

    def with_two_faces(*args, **kwargs):
        return dataclasses.replace(real(*args, **kwargs), alignment=SimpleNamespace(note=note))

    monkeypatch.setattr(adaptation_tabs, "DOMAIN_DIR", tmp_path / "domains")
    monkeypatch.setattr(adaptation_tabs, "prepare_upload", with_two_faces)
    monkeypatch.setattr(adaptation_tabs, "pasted", lambda prepared, images: ([], None))  # the fake has no transform
    Image.new("RGB", (24, 24), (30, 160, 90)).save(tmp_path / "ref.png")
    image = handle_file(str(tmp_path / "ref.png"))
    _, info, oneshot_file = client.predict(image, "tokens", False, 2, 0, api_name="/adapt_oneshot")
    assert info.startswith(note) and "reference MSE" in info
    pair, preview, status, *_ = client.predict(image, handle_file(oneshot_file), api_name="/render_oneshot_domain")
    assert len(pair) == 2 and status == note


def test_pasted_back_pngs_do_not_accumulate(tmp_path):
    keep = 3
    written = [save_bounded(Image.new("RGB", (4, 4), (i, 0, 0)), tmp_path, "pasted", keep) for i in range(7)]
    left = sorted(tmp_path.glob("pasted-*.png"))
    assert len(left) == keep and Path(written[-1]) in left  # the newest stays (Gradio has yet to copy it)
    assert all(Path(p).exists() for p in written[-keep:])


def test_bad_input_gets_a_clear_error_and_the_server_keeps_serving(client, tmp_path):
    for name, (path, expect) in _bad_inputs(tmp_path).items():
        if expect is None:  # unusual but valid: inverted like any other image
            shots, _, table, *_ = client.predict(handle_file(str(path)), ["refinestyle_opt"], 2, 0, 1, 0, 0,
                                                 api_name="/invert")
            assert len(shots) == 2 and 0 <= table["data"][0][1] <= 1, name
        else:
            with pytest.raises(Exception, match=expect):
                client.predict(handle_file(str(path)), ["refinestyle_opt"], 2, 0, 1, 0, 0, api_name="/invert")
    for prompt, expect in (("", "empty"), ("x" * 1000, "limit is 300")):
        with pytest.raises(Exception, match=expect):
            client.predict(prompt, "twitter style emoji", "tokens", 10, 0, api_name="/adapt_text")
    with pytest.raises(Exception, match="Upload an image first"):
        client.predict(None, ["refinestyle_opt"], 2, 0, 1, 0, 0, api_name="/invert")
    gallery, info = client.predict(7, 2, 0.7, False, 1000, 2, api_name="/generate")
    assert len(gallery) == 2


def test_eight_simultaneous_inversions_all_complete(client, tmp_path):
    jobs = []
    for i in range(8):
        Image.new("RGB", (32, 32), (30 * i, 255 - 30 * i, 90)).save(tmp_path / f"{i}.png")
        jobs.append(client.submit(handle_file(str(tmp_path / f"{i}.png")), ["refinestyle_opt"], 5, 0, 1, 0, i,
                                  api_name="/invert"))
    results = [job.result(timeout=300) for job in jobs]
    for i, (shots, pair, table, *_) in enumerate(results):
        assert len(shots) == 2 and len(pair) == 2 and 0 <= table["data"][0][1] <= 1, i
    # each call answered its own image: the inputs differ, so the reconstructions' errors do too
    assert len({round(r[2]["data"][0][1], 6) for r in results}) > 1


def _cpu_rate(seconds: float) -> float:
    """This process's CPU seconds per second over a window (every thread: the server runs in-process)."""
    start_cpu, start = time.process_time(), time.perf_counter()
    time.sleep(seconds)
    return (time.process_time() - start_cpu) / (time.perf_counter() - start)


def _wait(condition, timeout: float) -> float:
    """Poll until condition() is true; the seconds it took (AssertionError after `timeout`)."""
    start = time.perf_counter()
    while not condition():
        assert time.perf_counter() - start < timeout, "timed out"
        time.sleep(0.02)
    return time.perf_counter() - start


def test_cancel_ends_the_work_and_fast_requests_skip_the_slow_lane(client, tmp_path, monkeypatch):
    monkeypatch.setattr(adaptation_tabs, "DOMAIN_DIR", tmp_path / "domains")
    long = client.submit("google style emoji", "twitter style emoji", "full", 1000, 0, 0.001, api_name="/adapt_text")
    _wait(lambda: len(job_threads()) == 1, 60)
    time.sleep(1.0)  # well into its iterations
    busy = _cpu_rate(0.5)
    Image.new("RGB", (32, 32), (90, 20, 200)).save(tmp_path / "q.png")
    queued = client.submit(handle_file(str(tmp_path / "q.png")), ["refinestyle_opt"], 5, 0, 1, 0, 0,
                           api_name="/invert")  # per-image: waits for the slow lane
    start = time.perf_counter()
    gallery, _ = client.predict(3, 2, 0.7, False, 1000, 2, api_name="/generate")  # fast lane: no wait
    fast = time.perf_counter() - start
    assert len(gallery) == 2 and fast < 10 and not queued.done()

    start = time.perf_counter()
    long.cancel()
    gone = _wait(lambda: not any(t.name == "job-adapt_text" for t in job_threads()), 2.0) + (
        time.perf_counter() - start)
    assert gone < 2.0
    shots, *_ = queued.result(timeout=60)  # the slow lane was held until then, and is free now
    assert len(shots) == 2
    _wait(lambda: not job_threads(), 5)
    idle = _cpu_rate(1.0)
    print(f"cancel: worker gone {gone:.2f} s after cancel; CPU {busy:.2f} -> {idle:.2f} cores; "
          f"fast lane {fast:.2f} s beside the slow job")
    assert idle < 0.5 * busy
    assert not (tmp_path / "domains").exists()  # nothing written for the cancelled job


@pytest.mark.parametrize("api_name", ["/invert", "/adapt_oneshot"])
def test_cancel_ends_every_long_path(client, tmp_path, monkeypatch, api_name):
    monkeypatch.setattr(adaptation_tabs, "DOMAIN_DIR", tmp_path / "domains")
    Image.new("RGB", (32, 32), (200, 120, 10)).save(tmp_path / "x.png")
    image = handle_file(str(tmp_path / "x.png"))
    args = {"/invert": (image, ["refinestyle_opt"], 500, 1000, 2, 0, 0),
            "/adapt_oneshot": (image, "tokens", False, 1000, 0, 1e-4)}
    job = client.submit(*args[api_name], api_name=api_name)
    _wait(lambda: len(job_threads()) == 1, 60)
    time.sleep(1.0)
    start = time.perf_counter()
    job.cancel()
    _wait(lambda: not job_threads(), 2.0)
    print(f"{api_name}: worker gone {time.perf_counter() - start:.2f} s after cancel")
    assert not (tmp_path / "domains").exists()
