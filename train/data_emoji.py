"""EmojiBench: faces and people from Noto (Google) and Twemoji (Twitter), paired and labelled.

    python -m train.data_emoji                 # build into $EMOJIBENCH_HOME (default ~/.cache/emojibench)

Installs the pinned npm packages into a cache folder, keeps the faces-and-people part of the
emoji set (categories "Smileys & Emotion" faces and "People & Body" persons and families; hands,
body parts, hearts and symbols dropped; single-tone skin variants kept), composites each 64 px
RGBA PNG onto white and writes a deterministic dataset:

    <root>/emojibench-v1/images.npz   google, twitter: uint8 [N, 64, 64, 3] (row i is one emoji in both styles)
    <root>/emojibench-v1/meta.json    one record per row: identity, labels, split, names and tags

Labels (DESIGN §5): identity (base emoji, skin-tone agnostic), skin tone (none + 5), gender,
age, hair, smiling. The split is by base emoji, so every skin-tone variant of an emoji falls on
the same side, and stratified: within each group of bases that share category, age, hair and
smiling labels, the first round(n/10) bases in sha1 order go to test (at least one when n ≥ 3),
so that rare attributes appear on both sides; about 90/10.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image

PACKAGES = {
    "google": "emoji-datasource-google@16.0.0",
    "twitter": "emoji-datasource-twitter@16.0.0",
    "names": "emojibase-data@17.0.0",
}
VERSION = "emojibench-v1"
STYLES = ("google", "twitter")
SKIN_CODES = {"1F3FB": "light", "1F3FC": "medium-light", "1F3FD": "medium", "1F3FE": "medium-dark", "1F3FF": "dark"}
VOCAB = {
    "skin": ["none", "light", "medium-light", "medium", "medium-dark", "dark"],
    "gender": ["n.a.", "man", "woman", "person"],
    "age": ["n.a.", "baby", "child", "adult", "older"],
    "hair": ["n.a.", "red", "curly", "white", "bald", "blond"],
    "smiling": ["n.a.", "yes", "no"],
}
_MALE = {"MAN", "MEN", "BOY", "KING", "PRINCE", "FATHER", "GENTLEMAN"}
_FEMALE = {"WOMAN", "WOMEN", "GIRL", "QUEEN", "PRINCESS", "MOTHER", "MRS"}
_SMILE = {"SMILING", "SMILE", "GRINNING", "GRIN", "LAUGHING", "JOY", "BEAMING", "ROLLING"}
_HAIR = {"RED": "red", "CURLY": "curly", "WHITE": "white", "BALD": "bald", "BLOND": "blond"}


def default_root() -> Path:
    return Path(os.environ.get("EMOJIBENCH_HOME", Path.home() / ".cache" / "emojibench"))


def install_packages(cache: Path) -> Path:
    """npm-install the pinned packages into cache/npm; returns its node_modules folder."""
    modules = cache / "npm" / "node_modules"
    wanted = {spec.rsplit("@", 1)[0]: spec.rsplit("@", 1)[1] for spec in PACKAGES.values()}
    installed = {name: json.loads((modules / name / "package.json").read_text()).get("version")
                 for name in wanted if (modules / name / "package.json").is_file()}
    if installed == wanted:
        return modules
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is not installed: EmojiBench's images come from npm packages "
                           f"({', '.join(PACKAGES.values())}). Install Node.js and npm, then run again.")
    (cache / "npm").mkdir(parents=True, exist_ok=True)
    package_json = cache / "npm" / "package.json"
    if not package_json.is_file():
        package_json.write_text(json.dumps({"name": "emojibench-cache", "private": True}))
    subprocess.run([npm, "install", "--no-audit", "--no-fund", "--silent", *PACKAGES.values()],
                   cwd=cache / "npm", check=True)
    return modules


@dataclass(frozen=True)
class Record:
    code: str  # unified code of this variant, e.g. "1F468-1F3FD-200D-1F373"
    base: str  # unified code of the base emoji: the identity
    image: str  # PNG file name, the same in both packages
    name: str  # lower-case name, e.g. "man cook"
    tags: tuple[str, ...]
    category: str
    subcategory: str
    skin: str
    gender: str
    age: str
    hair: str
    smiling: str
    split: str


def in_domain(category: str, subcategory: str) -> bool:
    """Faces and people: smiley faces, cat and monkey faces, persons and families."""
    if category == "Smileys & Emotion":
        return subcategory.startswith("face") or subcategory in ("cat-face", "monkey-face")
    if category == "People & Body":
        return (subcategory.startswith("person") and subcategory != "person-symbol") or subcategory == "family"
    return False


def name_labels(name: str, category: str, subcategory: str) -> dict[str, str]:
    """gender, age, hair and smiling from the Unicode name (n.a. where the name does not say)."""
    words = set(re.findall(r"[A-Z]+", name.upper()))
    if category != "People & Body":
        smiling = "yes" if words & _SMILE else "no"
        return {"gender": "n.a.", "age": "n.a.", "hair": "n.a.", "smiling": smiling}
    male, female = bool(words & _MALE), bool(words & _FEMALE)
    gender = "man" if male and not female else "woman" if female and not male else "person"
    if subcategory == "family":
        age = "n.a."
    elif "OLDER" in words or "OLD" in words:
        age = "older"
    elif "BABY" in words and not words & {"FEEDING", "BOTTLE"}:
        age = "baby"
    elif words & {"CHILD", "BOY", "GIRL"}:
        age = "child"
    else:
        age = "adult"
    hair = next((v for k, v in _HAIR.items() if k in words and ("HAIR" in words or k in {"BALD", "BLOND"})), "n.a.")
    return {"gender": gender, "age": age, "hair": hair, "smiling": "n.a."}


def stratified_test_bases(strata: dict[str, tuple]) -> set[str]:
    """{base: stratum} -> the bases that go to test (see the module docstring)."""
    groups: dict[tuple, list[str]] = {}
    for base, stratum in strata.items():
        groups.setdefault(stratum, []).append(base)
    test = set()
    for bases in groups.values():
        bases.sort(key=lambda b: hashlib.sha1(b.encode()).hexdigest())
        k = max(1, round(len(bases) / 10)) if len(bases) >= 3 else 0
        test.update(bases[:k])
    return test


def select(emoji: list[dict], names: dict[str, dict], has_image) -> list[Record]:
    """Records for every in-domain emoji (and single-tone skin variant) present in both styles."""
    records = []
    for e in sorted(emoji, key=lambda e: e["sort_order"]):
        if not in_domain(e["category"], e["subcategory"]):
            continue
        info = names.get(_key(e["unified"]), {})
        label = (info.get("label") or e["name"]).lower()
        tags = tuple(info.get("tags", ()))
        variants = [(e["unified"], e["image"], "none")]
        for tones, v in sorted((e.get("skin_variations") or {}).items()):
            if len(set(tones.split("-"))) == 1:  # one tone for every person in the emoji
                variants.append((v["unified"], v["image"], SKIN_CODES[tones.split("-")[0]]))
        for code, image, skin in variants:
            if has_image(image):
                records.append(Record(code, e["unified"], image, label, tags, e["category"], e["subcategory"],
                                      skin, split="train", **name_labels(e["name"], e["category"], e["subcategory"])))
    test = stratified_test_bases({r.base: (r.category, r.age, r.hair, r.smiling) for r in records})
    return [replace(r, split="test") if r.base in test else r for r in records]


def _key(unified: str) -> str:
    return "-".join(p for p in unified.upper().split("-") if p != "FE0F")


def composite_on_white(png: bytes) -> np.ndarray:
    """RGBA PNG -> uint8 [64, 64, 3] on white."""
    with Image.open(io.BytesIO(png)) as im:
        rgba = im.convert("RGBA")
    if rgba.size != (64, 64):
        rgba = rgba.resize((64, 64), Image.Resampling.LANCZOS)
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"), dtype=np.uint8)


def build(out_root: Path, modules: Path) -> dict:
    """Write images.npz and meta.json under out_root/VERSION; returns the counts."""
    img_dirs = {s: modules / f"emoji-datasource-{s}" / "img" / s / "64" for s in STYLES}
    emoji = json.loads((modules / "emoji-datasource-google" / "emoji.json").read_text())
    names_file = modules / "emojibase-data" / "en" / "data.json"
    names = {}
    if names_file.is_file():
        for item in json.loads(names_file.read_text()):
            names[_key(item["hexcode"])] = item
    records = select(emoji, names, lambda f: all((img_dirs[s] / f).is_file() for s in STYLES))
    if not records:
        raise RuntimeError(f"no emoji found under {modules}")
    images = {s: np.stack([composite_on_white((img_dirs[s] / r.image).read_bytes()) for r in records]) for s in STYLES}
    out = out_root / VERSION
    out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out / "images.npz", **images)
    meta = {"version": VERSION, "packages": PACKAGES, "vocab": VOCAB,
            "records": [r.__dict__ | {"tags": list(r.tags)} for r in records]}
    (out / "meta.json").write_text(json.dumps(meta, indent=1, ensure_ascii=False) + "\n")
    return counts(records)


def counts(records: list[Record]) -> dict:
    out: dict = {"rows": Counter(r.split for r in records),
                 "identities": Counter(r.split for r in {(r.base, r.split): r for r in records}.values())}
    for field in VOCAB:
        out[field] = {split: Counter(getattr(r, field) for r in records if r.split == split) for split in ("train", "test")}
    return out


@dataclass
class EmojiBench:
    """The built dataset in memory. Images uint8 [N, 64, 64, 3]; use `tensor()` for [-1, 1]."""

    google: np.ndarray
    twitter: np.ndarray
    records: list[dict]
    vocab: dict[str, list[str]]

    def indices(self, split: str) -> np.ndarray:
        return np.array([i for i, r in enumerate(self.records) if r["split"] == split])

    def label_ids(self, field: str) -> np.ndarray:
        vocab = self.vocab[field]
        return np.array([vocab.index(r[field]) for r in self.records])

    def identity_ids(self) -> np.ndarray:
        bases = sorted({r["base"] for r in self.records})
        return np.array([bases.index(r["base"]) for r in self.records])

    @staticmethod
    def tensor(images: np.ndarray):
        import torch

        return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1.0  # [N, 3, 64, 64]


def load_emojibench(root: Path | None = None) -> EmojiBench:
    folder = (root or default_root()) / VERSION
    if not (folder / "images.npz").is_file():
        raise FileNotFoundError(f"EmojiBench is not built in {folder}: run `python -m train.data_emoji`")
    meta = json.loads((folder / "meta.json").read_text())
    with np.load(folder / "images.npz", allow_pickle=False) as data:
        return EmojiBench(data["google"], data["twitter"], meta["records"], meta["vocab"])


def _print_counts(c: dict) -> None:
    print(f"rows: {dict(c['rows'])}  identities: {dict(c['identities'])}")
    for field in VOCAB:
        for split in ("train", "test"):
            print(f"  {field:8s} {split:5s} " + ", ".join(f"{k}={v}" for k, v in sorted(c[field][split].items())))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=None, help="output folder (default $EMOJIBENCH_HOME or ~/.cache/emojibench)")
    args = parser.parse_args(argv)
    root = args.root or default_root()
    modules = install_packages(root)
    _print_counts(build(root, modules))
    print(f"wrote {root / VERSION}")


if __name__ == "__main__":
    main()
