"""Zoo manifests: local and Hub files, sha256 checks, the lock file, caching and offline behaviour."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import torch

from nets.stylegan2 import Generator
from pipelines import zoo as zoo_mod
from pipelines.converters import load_official_directions
from pipelines.zoo import SlotUnavailable, Zoo, open_zoo, register_local_slot


def _tiny_generator() -> Generator:
    return Generator(size=8, style_dim=8, n_mlp=1, channels=[8, 8])


def _manifest(root: Path, slots: dict) -> Path:
    (root / "zoos").mkdir(parents=True, exist_ok=True)
    path = root / "zoos" / "t.json"
    path.write_text(json.dumps({"name": "t", "resolution": 8, "slots": slots}))
    return path


def test_local_project_slot_loads_verified_and_cached(tmp_path):
    g = _tiny_generator()
    g.save_pretrained(tmp_path / "zoo" / "t" / "generator")
    manifest = _manifest(tmp_path, {})
    register_local_slot(manifest, "generator", tmp_path / "zoo" / "t" / "generator", options={"class": "Generator"})
    entry = json.loads(manifest.read_text())["slots"]["generator"]
    assert {f["filename"] for f in entry["files"]} == {"config.json", "model.safetensors"}
    assert all(len(f["sha256"]) == 64 for f in entry["files"])
    zoo = Zoo(manifest)
    assert zoo.slot_status("generator").available
    loaded = zoo.load("generator")
    assert loaded is zoo.load("generator")  # one instance per process and device
    ws = torch.randn(2, g.num_ws, 8)
    with torch.no_grad():
        torch.testing.assert_close(loaded.synthesis(ws), g.eval().synthesis(ws))


def test_local_slot_with_wrong_or_missing_hash_does_not_load(tmp_path):
    folder = tmp_path / "zoo" / "t" / "generator"
    _tiny_generator().save_pretrained(folder)
    manifest = _manifest(tmp_path, {})
    register_local_slot(manifest, "generator", folder, options={"class": "Generator"})
    data = json.loads(manifest.read_text())
    data["slots"]["generator"]["files"][1]["sha256"] = "0" * 64
    manifest.write_text(json.dumps(data))
    with pytest.raises(SlotUnavailable, match="sha256"):
        Zoo(manifest).load("generator")
    del data["slots"]["generator"]["files"][1]["sha256"]
    manifest.write_text(json.dumps(data))
    with pytest.raises(SlotUnavailable, match="no sha256"):
        Zoo(manifest).load("generator")


def test_missing_local_files_are_named(tmp_path):
    manifest = _manifest(tmp_path, {"generator": {"loader": "project", "options": {"class": "Generator"},
                                                  "files": [{"path": "zoo/t/g", "filename": "model.safetensors"}]}})
    status = Zoo(manifest).slot_status("generator")
    assert not status.available and "assets/zoo/t/g/model.safetensors" in status.reason


def _fake_hub_cache(cache: Path, repo_id: str, filename: str, payload: bytes, commit: str = "a" * 40) -> Path:
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    target = repo / "snapshots" / commit / filename
    target.parent.mkdir(parents=True)
    target.write_bytes(payload)
    return target


def test_offline_hub_slot_fails_fast_and_names_the_file(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    zoo_mod.hub_reachable.cache_clear()
    start = time.monotonic()
    ffhq = Zoo(zoo_mod.ZOOS_DIR / "ffhq.json")
    statuses = {s.name: s for s in ffhq.status()}
    with pytest.raises(SlotUnavailable, match="stylegan2-ffhq-config-f.pt"):
        ffhq.load("generator")
    elapsed = time.monotonic() - start
    zoo_mod.hub_reachable.cache_clear()
    assert elapsed < 2.0, f"offline zoo took {elapsed:.2f} s"
    assert not any(s.available for s in statuses.values())
    assert "stylegan2-ffhq-config-f.pt" in statuses["generator"].reason and "offline" in statuses["generator"].reason


def test_cached_hub_file_is_used_offline_and_locked(tmp_path, monkeypatch, shared):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    zoo_mod.hub_reachable.cache_clear()
    payload = (shared / "golden" / "stylegan2_narrow64_rosinality.pt").read_bytes()
    cached = _fake_hub_cache(tmp_path / "hub", "someone/sg2", "g.pt", payload)
    manifest = _manifest(tmp_path, {"generator": {"loader": "stylegan2_rosinality",
                                                  "files": [{"repo_id": "someone/sg2", "filename": "g.pt"}]}})
    zoo = Zoo(manifest)
    assert zoo.slot_status("generator").available
    g = zoo.load("generator")
    assert g.size == 64 and g.num_ws == 10
    lock = json.loads(manifest.with_suffix(".lock.json").read_text())
    assert lock["someone/sg2/g.pt"]["revision"] == "a" * 40
    assert len(lock["someone/sg2/g.pt"]["sha256"]) == 64
    cached.write_bytes(payload[:-1] + bytes([payload[-1] ^ 1]))  # the cached file changes behind our back
    with pytest.raises(SlotUnavailable, match="sha256"):
        Zoo(manifest).load("generator")
    zoo_mod.hub_reachable.cache_clear()


def test_shipped_manifests_parse_and_unknown_zoo_is_an_error():
    for name in zoo_mod.zoo_names():
        z = open_zoo(name)
        assert z.resolution in (64, 1024) and "generator" in z.slots
    ffhq = open_zoo("ffhq")
    expected = {"generator", "e4e", "refinestyle_1s", "refinestyle_2s", "gradstyle", "perceptual",
                "identity", "parsing", "clip", "directions"}
    assert expected <= set(ffhq.slots)
    assert all(f.repo_id for s in ("generator", "e4e", "perceptual", "identity", "parsing", "clip", "directions")
               for f in ffhq.slots[s].files)
    with pytest.raises(ValueError, match="unknown zoo"):
        open_zoo("nope")


def test_ffhq_perceptual_slot_names_timms_vgg16_pinned_and_loads_it_as_lpips_vgg(tmp_path, monkeypatch):
    """The slot names a file (it reported itself missing before): LPIPS-VGG on torchvision's VGG16 weights
    as timm publishes them, at a pinned commit; a file in timm's layout in the Hub cache at that commit
    loads through the manifest, offline, and the lock records it."""
    import shutil

    from huggingface_hub import constants
    from safetensors.torch import save

    from pipelines.converters import timm_vgg16_layout

    spec = open_zoo("ffhq").slots["perceptual"]
    assert spec.loader == "lpips" and spec.options["net"] == "vgg" and spec.options["resize"] == 256
    (f,) = spec.files
    assert (f.repo_id, f.filename, f.revision) == ("timm/vgg16.tv_in1k", "model.safetensors",
                                                   "3394518cba29aee1ea82a49d971be90d2dd1dab7")

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    zoo_mod.hub_reachable.cache_clear()
    gen = torch.Generator().manual_seed(0)
    state = {k: torch.randn(shape if k.startswith("features.") else (1,), generator=gen) * 0.05
             for k, shape in timm_vgg16_layout().items()}  # the classifier, never read, as 1-element stand-ins
    _fake_hub_cache(tmp_path / "hub", f.repo_id, f.filename, save(state), commit=f.revision)
    (tmp_path / "zoos").mkdir()
    manifest = tmp_path / "zoos" / "ffhq.json"
    shutil.copy(zoo_mod.ZOOS_DIR / "ffhq.json", manifest)  # the lock is written beside the copy
    zoo = Zoo(manifest)
    assert zoo.slot_status("perceptual").available
    judge = zoo.load("perceptual")
    assert torch.equal(getattr(judge.lpips.net.slice5, "28").weight, state["features.28.weight"])
    assert json.loads(manifest.with_suffix(".lock.json").read_text())[f"{f.repo_id}/{f.filename}"]["revision"] == f.revision
    zoo_mod.hub_reachable.cache_clear()


def test_manifest_names_the_alignment_of_its_images(tmp_path):
    assert open_zoo("ffhq").aligned == "ffhq" and open_zoo("emoji64").aligned is None
    path = _manifest(tmp_path, {})
    path.write_text(json.dumps({**json.loads(path.read_text()), "aligned": "celeba"}))
    with pytest.raises(ValueError, match="unknown alignment 'celeba'"):
        Zoo(path)


def test_official_direction_files_load_and_edit(shared):
    root = shared / "fixtures" / "ffhq_directions"
    dirs = load_official_directions({n: root / f"{n}.pt" for n in ("age", "smile", "pose")} | {"pca": root / "ffhq_pca.pt"})
    assert dirs.interfacegan["age"].vector.shape == (1, 512)
    assert dirs.interfacegan["pose"].vector.shape == (18, 512)
    assert dirs.ganspace.components.shape == (80, 512) and dirs.ganspace.std.shape == (80,)
    ws = torch.randn(2, 18, 512)
    aged = dirs.interfacegan["age"].apply(ws, 3.0)
    torch.testing.assert_close(aged - ws, 3.0 * dirs.interfacegan["age"].vector.expand(2, 18, 512))
    posed = dirs.interfacegan["pose"].apply(ws, -2.0)
    torch.testing.assert_close(posed - ws, -2.0 * dirs.interfacegan["pose"].vector.expand(2, 18, 512))
    edited = dirs.ganspace.apply(ws, component=3, first=4, last=7, strength=2.0)
    changed = (edited - ws).abs().sum((0, 2)) > 0
    assert changed.tolist() == [4 <= i <= 7 for i in range(18)]
    step = (edited - ws)[0, 5]
    torch.testing.assert_close(step, 2.0 * dirs.ganspace.std[3] * dirs.ganspace.components[3])
    with pytest.raises(ValueError):
        dirs.interfacegan["age"].apply(torch.randn(1, 10, 64), 1.0)


def test_emoji64_architectures_build_the_shipped_networks():
    """The manifest's architectures are the constructor arguments of the shipped checkpoints."""
    zoo = open_zoo("emoji64")
    for slot in ("generator", "e4e", "gradstyle", "clip"):
        shipped = json.loads((zoo.assets_root / "zoo" / "emoji64" / slot / "config.json").read_text())
        assert {k: shipped[k] for k in zoo.architecture(slot)} == zoo.architecture(slot), slot
    with pytest.raises(ValueError, match="no architecture for 'emojinet'"):
        zoo.architecture("emojinet")
