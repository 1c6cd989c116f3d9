"""Model zoos (DESIGN §2): the only code that reads manifests and touches disk or Hub for weights.

A zoo is `assets/zoos/<name>.json`: a named set of slots (generator, e4e, perceptual, clip,
directions, ...), each found in a local folder under assets/ or in a Hub repository, plus the
converter that turns the file into a project network. Loaded networks are cached per process.

Integrity: every file is checked against a sha256 — from the manifest, or, for a Hub file
whose hash was not known when the manifest was written, from `<name>.lock.json`, which the
first successful download writes (with the resolved commit) and every later load verifies.

Offline: a zoo whose files are not all local reports its Hub slots unavailable within two
seconds (a bounded connectivity probe, then `local_files_only=True`); files already in the Hub
cache are still used.
"""
from __future__ import annotations

import hashlib
import json
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Literal, overload
from urllib.parse import urlparse

import torch
from torch import nn

from .align import ALIGNERS
from .directions import DirectionSet
from .slots import ClipModel, Identity, Parsing, Perceptual

ASSETS = Path(__file__).resolve().parents[1] / "assets"
ZOOS_DIR = ASSETS / "zoos"
PROBE_TIMEOUT_S = 1.5
ALIGNMENTS = set(ALIGNERS)  # how a zoo's training images were cut from photos; uploads are cut alike


class SlotUnavailable(RuntimeError):
    """A slot cannot be loaded; the message says why (missing files, offline, bad hash)."""


@dataclass(frozen=True)
class FileSpec:
    """One file of a slot: a path relative to the manifest's assets root, or a Hub file."""

    filename: str
    path: str | None = None  # local: relative to assets/
    repo_id: str | None = None  # hub
    repo_type: str = "model"
    revision: str = "main"
    sha256: str | None = None

    @property
    def where(self) -> str:
        if self.repo_id:
            kind = "" if self.repo_type == "model" else f"{self.repo_type}s/"
            return f"hf://{kind}{self.repo_id}/{self.filename}@{self.revision}"
        return f"assets/{self.path}/{self.filename}" if self.path else f"assets/{self.filename}"


@dataclass(frozen=True)
class SlotSpec:
    name: str
    loader: str  # key of LOADERS
    files: tuple[FileSpec, ...]
    options: dict = field(default_factory=dict)
    note: str = ""


@dataclass(frozen=True)
class SlotStatus:
    name: str
    available: bool
    source: str
    reason: str = ""


def sha256_file(path: Path) -> str:
    """The hex sha256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@cache
def hub_reachable() -> bool:
    """True when the Hub answers a TCP connect within PROBE_TIMEOUT_S (never raises, never hangs)."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes"}:
        return False
    from huggingface_hub import constants

    url = urlparse(constants.ENDPOINT)
    host, port = url.hostname or "huggingface.co", url.port or (80 if url.scheme == "http" else 443)
    result: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S):
                result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, daemon=True)  # getaddrinfo has no timeout of its own
    thread.start()
    thread.join(PROBE_TIMEOUT_S)
    return bool(result and result[0])


class Zoo:
    """A parsed manifest with slot status, verified file access and a network cache."""

    def __init__(self, manifest: Path, assets_root: Path | None = None) -> None:
        data = json.loads(manifest.read_text())
        self.manifest = manifest
        self.name: str = data["name"]
        self.title: str = data.get("title", self.name)
        self.resolution: int = int(data["resolution"])
        self.description: str = data.get("description", "")
        self.aligned: str | None = data.get("aligned")  # None: images are taken as they are
        if self.aligned is not None and self.aligned not in ALIGNMENTS:
            raise ValueError(f"{manifest.name}: unknown alignment '{self.aligned}' (known: {', '.join(sorted(ALIGNMENTS))})")
        self.assets_root = assets_root or manifest.resolve().parents[1]
        self.lock_path = manifest.with_suffix(".lock.json")
        self.architectures: dict[str, dict] = {k: v["config"] for k, v in data.get("architectures", {}).items()}
        self.slots: dict[str, SlotSpec] = {}
        for name, spec in data["slots"].items():
            files = tuple(FileSpec(**f) for f in spec.get("files", []))
            self.slots[name] = SlotSpec(name, spec["loader"], files, spec.get("options", {}), spec.get("note", ""))
        self._cache: dict[tuple, object] = {}
        self._lock = threading.Lock()

    # ---- status -------------------------------------------------------------------------
    def status(self) -> list[SlotStatus]:
        return [self.slot_status(name) for name in self.slots]

    def slot_status(self, name: str) -> SlotStatus:
        """Whether a slot can load, without downloading anything (at most one bounded probe)."""
        spec = self._spec(name)
        source = ", ".join(f.where for f in spec.files) or spec.options.get("source", "")
        if spec.loader not in LOADERS:
            return SlotStatus(name, False, source, f"no loader '{spec.loader}' in this version")
        if not spec.files:
            return SlotStatus(name, False, source, spec.note or "no checkpoint named in the manifest")
        pending = []
        for f in spec.files:
            try:
                self._locate(f, download=False)
            except SlotUnavailable as err:
                if not (f.repo_id and hub_reachable()):
                    return SlotStatus(name, False, source, str(err))
                pending.append(f.filename)
        note = f"{spec.note}; downloads on first use: {', '.join(pending)}" if pending else spec.note
        return SlotStatus(name, True, source, note)

    def available(self, name: str) -> bool:
        return name in self.slots and self.slot_status(name).available

    def architecture(self, slot: str) -> dict:
        """The constructor arguments a recipe builds a new `slot` network with (the manifest's
        "architectures"; a shipped network carries its own in its config.json)."""
        if slot not in self.architectures:
            raise ValueError(f"zoo '{self.name}' names no architecture for '{slot}' (it has: "
                             f"{', '.join(sorted(self.architectures)) or 'none'}); add one to {self.manifest.name}")
        return self.architectures[slot]

    # ---- loading ------------------------------------------------------------------------
    @overload
    def load(self, name: Literal["perceptual"], device: str | torch.device = ...) -> Perceptual: ...
    @overload
    def load(self, name: Literal["identity"], device: str | torch.device = ...) -> Identity: ...
    @overload
    def load(self, name: Literal["parsing"], device: str | torch.device = ...) -> Parsing: ...
    @overload
    def load(self, name: Literal["clip"], device: str | torch.device = ...) -> ClipModel | dict[str, ClipModel]: ...
    @overload
    def load(self, name: Literal["directions"], device: str | torch.device = ...) -> DirectionSet: ...
    @overload
    def load(self, name: str, device: str | torch.device = ...) -> object: ...

    def load(self, name: str, device: str | torch.device = "cpu") -> object:
        """The slot's network (or data), loaded once per process and device; slots that name the
        same files with the same loader (perceptual, identity, parsing on emoji64) share one."""
        spec = self._spec(name)
        key = (spec.loader, spec.files, json.dumps(spec.options, sort_keys=True), str(device))
        with self._lock:
            if key not in self._cache:
                status = self.slot_status(name)
                if not status.available:
                    raise SlotUnavailable(f"{self.name}/{name}: {status.reason}")
                paths = [self.fetch(f) for f in spec.files]
                obj = LOADERS[spec.loader](paths, spec.options)
                if isinstance(obj, nn.Module):
                    obj = obj.to(device).eval().requires_grad_(False)
                self._cache[key] = obj
            return self._cache[key]

    def fetch(self, f: FileSpec) -> Path:
        """A verified local path for one file (downloading a Hub file when online)."""
        path = self._locate(f, download=True)
        expected = f.sha256 or self._locked(f).get("sha256")
        if not f.repo_id and not expected:
            raise SlotUnavailable(f"{f.where}: the manifest gives no sha256 for this local file")
        actual = sha256_file(path)
        if expected and actual != expected:
            raise SlotUnavailable(f"{f.where}: sha256 {actual[:12]}… does not match {expected[:12]}…")
        if f.repo_id and not expected:
            self._record_lock(f, path, actual)
        return path

    # ---- internals ----------------------------------------------------------------------
    def _spec(self, name: str) -> SlotSpec:
        if name not in self.slots:
            raise KeyError(f"zoo '{self.name}' has no slot '{name}' (slots: {sorted(self.slots)})")
        return self.slots[name]

    def _locate(self, f: FileSpec, download: bool) -> Path:
        if not f.repo_id:
            path = self.assets_root / (f.path or "") / f.filename
            if not path.is_file():
                raise SlotUnavailable(f"missing file {f.where}")
            return path
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import LocalEntryNotFoundError

        revision = self._locked(f).get("revision", f.revision)
        online = download and hub_reachable()
        try:
            return Path(hf_hub_download(f.repo_id, f.filename, repo_type=f.repo_type, revision=revision,
                                        local_files_only=not online))
        except LocalEntryNotFoundError:
            raise SlotUnavailable(f"{f.where}: offline and not in the local Hub cache") from None
        except Exception as err:  # network or repository errors: the slot is unavailable, never the app
            raise SlotUnavailable(f"{f.where}: {type(err).__name__}: {err}") from None

    def _locked(self, f: FileSpec) -> dict:
        if not self.lock_path.is_file():
            return {}
        return json.loads(self.lock_path.read_text()).get(f"{f.repo_id}/{f.filename}", {})

    def _record_lock(self, f: FileSpec, path: Path, sha256: str) -> None:
        lock = json.loads(self.lock_path.read_text()) if self.lock_path.is_file() else {}
        commit = path.parent.name if path.parent.parent.name == "snapshots" else f.revision
        lock[f"{f.repo_id}/{f.filename}"] = {"revision": commit, "sha256": sha256}
        try:
            self.lock_path.write_text(json.dumps(lock, indent=2, sort_keys=True) + "\n")
        except OSError:
            pass  # a read-only checkout still loads; the hash is checked from the next writable run


# ---- loaders: files -> network or data ------------------------------------------------------
def _load_project_network(paths: list[Path], options: dict) -> nn.Module:
    from nets import registry

    cls = registry.network_class(options["class"])
    folder = paths[0].parent
    return cls.from_pretrained(folder)


def _load_rosinality(paths: list[Path], options: dict) -> nn.Module:
    from .converters import load_rosinality_generator

    return load_rosinality_generator(paths[0], options.get("lr_mlp", 0.01))


def _load_e4e(paths: list[Path], options: dict) -> nn.Module:
    from .converters import load_official_e4e

    return load_official_e4e(paths[0])


def _load_directions(paths: list[Path], options: dict) -> object:
    from .converters import load_official_directions

    return load_official_directions(dict(zip(options["names"], paths)))


def _load_project_directions(paths: list[Path], options: dict) -> object:
    from .directions import load_directions

    return load_directions(next(p for p in paths if p.suffix == ".safetensors"))


def _load_lpips(paths: list[Path], options: dict) -> object:
    """LPIPS: linear layers from the pip package; the backbone from the slot's file (torchvision's
    classifier state dict), which the manifest must name like any other weight. Options: "net" (alex,
    vgg), "resize" (the largest side LPIPS sees; larger images are area-downsampled; absent: full size)."""
    from .converters import load_lpips

    resize = options.get("resize")
    return load_lpips(paths[0] if paths else None, options.get("net", "alex"),
                      None if resize is None else int(resize)).eval().requires_grad_(False)


def _load_arcface(paths: list[Path], options: dict) -> object:
    from .converters import load_official_arcface

    return load_official_arcface(paths[0]).eval().requires_grad_(False)


def _load_bisenet(paths: list[Path], options: dict) -> object:
    from .converters import load_official_bisenet

    return load_official_bisenet(paths[0]).eval().requires_grad_(False)


def _load_open_clip(paths: list[Path], options: dict) -> object:
    """One or more OpenAI CLIP towers in open_clip (ffhq: ViT-B/32 and ViT-B/16)."""
    import open_clip

    return {name: open_clip.create_model(name, pretrained=str(path)) for name, path in zip(options["models"], paths)}


LOADERS: dict[str, Callable[[list[Path], dict], object]] = {
    "project": _load_project_network,
    "stylegan2_rosinality": _load_rosinality,
    "e4e_official": _load_e4e,
    "official_directions": _load_directions,
    "project_directions": _load_project_directions,
    "open_clip": _load_open_clip,
    "lpips": _load_lpips,
    "arcface_ir_se50": _load_arcface,
    "bisenet": _load_bisenet,
}


def register_local_slot(manifest: Path, slot: str, folder: Path, loader: str = "project",
                        options: dict | None = None, note: str = "") -> None:
    """Write (or replace) a slot that points at a local folder, with the sha256 of every file.

    Training scripts call this when they ship a checkpoint under assets/.
    """
    data = json.loads(manifest.read_text())
    root = manifest.resolve().parents[1]
    rel = folder.resolve().relative_to(root).as_posix()
    files = [{"path": rel, "filename": p.name, "sha256": sha256_file(p)}
             for p in sorted(folder.iterdir()) if p.is_file() and p.suffix in {".json", ".safetensors"}]
    data["slots"][slot] = {"loader": loader, "options": options or {}, "files": files, "note": note}
    manifest.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    open_zoo.cache_clear()


def zoo_names() -> list[str]:
    return sorted(p.stem for p in ZOOS_DIR.glob("*.json") if not p.name.endswith(".lock.json"))


@cache
def open_zoo(name_or_manifest: str) -> Zoo:
    """A zoo by name (assets/zoos/<name>.json) or by manifest path; one instance per process."""
    path = Path(name_or_manifest)
    if path.suffix == ".json" and path.is_file():
        return Zoo(path)
    manifest = ZOOS_DIR / f"{name_or_manifest}.json"
    if not manifest.is_file():
        raise ValueError(f"unknown zoo '{name_or_manifest}' (known: {', '.join(zoo_names())})")
    return Zoo(manifest)
