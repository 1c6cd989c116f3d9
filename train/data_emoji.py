"""EmojiBench: faces and people drawn by seven emoji styles, paired by codepoint and labelled.

    python -m train.data_emoji                 # build into $EMOJIBENCH_HOME (default ~/.cache/emojibench)
    python -m train.data_emoji --docs docs     # also write the data card and the style picture there

Installs the pinned npm packages into a cache folder, keeps the faces-and-people part of the
emoji set (categories "Smileys & Emotion" faces and "People & Body" persons and families; hands,
body parts, hearts and symbols dropped; single-tone skin variants kept) that both Noto (Google)
and Twemoji (Twitter) draw, and writes a deterministic dataset:

    <root>/emojibench-v2/images.npz   google, twitter: uint8 [N, 64, 64, 3] (row i is one emoji in both styles);
                                      <style>: uint8 [N, 64, 64, 3] and has_<style>: bool [N] for every other style
    <root>/emojibench-v2/meta.json    one record per row: identity, labels, split, names and tags; per-style counts
    <root>/emojibench-v2/README.md    the data card: styles, packages, licences, counts

Rows and split are those of v1: the other styles never add or drop a row, they only fill it where
they draw that emoji (has_<style>; the rest stay white and are not to be used).

Styles: Google and Twitter are 64 px PNGs. Fluent colour, flat and high contrast and EmojiOne are
Iconify SVG sets; Fluent 3D is 256 px WebP named by codepoint. Every image goes through the same
step: RGBA at whatever size, resampled to 64 px with Lanczos (premultiplied alpha), composited
onto white. SVGs are rasterised at 256 px by resvg (the `resvg-py` wheel from PyPI): resvg is
maintained, renders the SVG features these sets use (gradients, masks, clip paths and the Gaussian
blur filters of Fluent colour, which cairosvg does not draw) and ships as one self-contained wheel,
so CI needs no system library. An icon that resvg rejects or that renders fully transparent is
skipped and counted as unrenderable, never stored as a blank image.

Matching Iconify names to codepoints (the 3D WebPs are named by codepoint): Iconify names icons by
slugs of English names (lower case ASCII, every run of other characters one "-"), mostly CLDR
short names, sometimes older Unicode names. For every emoji emojibase-data knows, the builder lists
candidate names in this priority order:
  1. the slug of its CLDR label, then of its Unicode character name, then of each of its shortcodes
     (cldr, emojibase, emojibase-legacy, github, iamcal, joypixels);
  2. for a single-tone skin variant, also every name of its toneless base followed by
     "-<tone>" (Fluent), "-<tone>-skin-tone" (EmojiOne) or "-tone<1..5>", tone one of
     light, medium-light, medium, medium-dark, dark;
  3. each name is tried as written, then singular (a leading people/men/women becomes
     person/man/woman), with "blond" spelled "blonde", and prefixed with "person-" (Fluent's
     spellings).
An emoji takes the first candidate the set holds (an alias counts as its parent drawn with the
alias's flips and turns). A drawing claimed by several emoji goes to the one that claimed it at the
earliest rank; a tie gives it to none. The rule runs over every emoji, not only faces and people,
so that a shortcode never steals an out-of-domain drawing ("dizzy" is 💫, not 😵).

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
import re
import shutil
import subprocess
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from pipelines.emojibench import (EXTRA, PAIRED, STYLE_NAMES, STYLES, VERSION, EmojiBench, default_root,
                                 load_emojibench)

PACKAGES = {
    "google": "emoji-datasource-google@16.0.0",
    "twitter": "emoji-datasource-twitter@16.0.0",
    "names": "emojibase-data@17.0.0",
    "fluent": "@iconify-json/fluent-emoji@1.2.7",
    "fluent_flat": "@iconify-json/fluent-emoji-flat@1.2.6",
    "fluent_high_contrast": "@iconify-json/fluent-emoji-high-contrast@1.2.6",
    "fluent_3d": "@lobehub/fluent-emoji-3d@1.1.0",
    "emojione": "@iconify-json/emojione@1.2.3",
}
ICONIFY = ("fluent", "fluent_flat", "fluent_high_contrast", "emojione")
LICENCES = {"google": "Apache-2.0", "twitter": "CC-BY-4.0", "fluent": "MIT", "fluent_flat": "MIT",
            "fluent_high_contrast": "MIT", "fluent_3d": "MIT", "emojione": "CC-BY-4.0"}
RENDER_PX = 256  # SVGs are rasterised at this size, then resampled to 64 px like every other image
SHORTCODES = ("cldr", "emojibase", "emojibase-legacy", "github", "iamcal", "joypixels")
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
_SINGULAR = {"people": "person", "men": "man", "women": "woman"}


class Unrenderable(ValueError):
    """An icon the rasteriser rejects or draws as nothing."""


def _name_version(spec: str) -> tuple[str, str]:
    name, version = spec.rsplit("@", 1)  # scoped names start with "@"
    return name, version


def package_problems(modules: Path) -> list[str]:
    """'name@version (missing | found X)' for every pinned package not installed as pinned."""
    problems = []
    for spec in PACKAGES.values():
        name, version = _name_version(spec)
        manifest = modules / name / "package.json"
        found = json.loads(manifest.read_text()).get("version") if manifest.is_file() else None
        if found != version:
            problems.append(f"{spec} ({'missing' if found is None else f'found {found}'})")
    return problems


def check_packages(modules: Path) -> None:
    problems = package_problems(modules)
    if problems:
        raise RuntimeError(f"EmojiBench needs the pinned npm packages in {modules}; not as pinned: "
                           + "; ".join(problems) + ". Run `python -m train.data_emoji` to (re)install them.")


def install_packages(cache: Path) -> Path:
    """npm-install the pinned packages into cache/npm; returns its node_modules folder."""
    modules = cache / "npm" / "node_modules"
    if not package_problems(modules):
        return modules
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is not installed: EmojiBench's images come from npm packages "
                           f"({', '.join(PACKAGES.values())}). Install Node.js and npm, then run again.")
    (cache / "npm").mkdir(parents=True, exist_ok=True)
    package_json = cache / "npm" / "package.json"
    if not package_json.is_file():
        package_json.write_text(json.dumps({"name": "emojibench-cache", "private": True}))
    subprocess.run([npm, "install", "--no-audit", "--no-fund", "--silent", "--save-exact", *PACKAGES.values()],
                   cwd=cache / "npm", check=True)
    check_packages(modules)
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
    """RGBA image file (PNG, WebP) -> uint8 [64, 64, 3]: Lanczos to 64 px (alpha premultiplied), then on white."""
    with Image.open(io.BytesIO(png)) as im:
        rgba = im.convert("RGBA")
    if rgba.size != (64, 64):
        rgba = rgba.resize((64, 64), Image.Resampling.LANCZOS)
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"), dtype=np.uint8)



def slug(text: str) -> str:
    """Iconify-style name: ASCII lower case, apostrophes dropped, other runs of non-alphanumerics one '-'."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.replace("'", "")).strip("-")


def emoji_names(modules: Path) -> dict[str, list[str]]:
    """{code key: slugs}: CLDR labels, then Unicode names, then shortcodes, from emojibase-data."""
    data = modules / "emojibase-data"
    names: dict[str, list[str]] = {}

    def add(hexcode: str, *texts: str) -> None:
        found = names.setdefault(_key(hexcode), [])
        found.extend(s for s in map(slug, texts) if s and s not in found)

    for item in json.loads((data / "en" / "data.json").read_text()):
        for emoji in (item, *(item.get("skins") or ())):
            add(emoji["hexcode"], emoji["label"])
    for hexcode, name in json.loads((data / "meta" / "unicode-names.json").read_text()).items():
        add(hexcode, name)
    for source in SHORTCODES:
        for hexcode, codes in json.loads((data / "en" / "shortcodes" / f"{source}.json").read_text()).items():
            add(hexcode, *([codes] if isinstance(codes, str) else codes))
    return names


def spellings(name: str) -> list[str]:
    """The name as written, singular, with 'blonde', and with a 'person-' prefix (rule 3)."""
    first, _, rest = name.partition("-")
    singular = "-".join(filter(None, (_SINGULAR.get(first, first), rest)))
    blonde = re.sub(r"(^|-)blond(-|$)", r"\1blonde\2", singular)
    return list(dict.fromkeys([name, singular, blonde, f"person-{name}"]))


def candidates(key: str, names: dict[str, list[str]]) -> list[str]:
    """Iconify names to try for one emoji, in priority order (rules 1-3 of the module docstring)."""
    parts = key.split("-")
    tones = {SKIN_CODES[p] for p in parts if p in SKIN_CODES}
    own = list(names.get(key, ()))
    if len(tones) == 1:
        tone = tones.pop()
        number = list(SKIN_CODES.values()).index(tone) + 1
        base = "-".join(p for p in parts if p not in SKIN_CODES)
        own += [f"{b}-{suffix}" for b in names.get(base, ()) for suffix in (tone, f"{tone}-skin-tone", f"tone{number}")]
    return list(dict.fromkeys(s for name in own for s in spellings(name)))


@dataclass(frozen=True)
class Drawing:
    """One Iconify icon as drawn: its body and the flips and quarter turns an alias adds."""

    icon: str
    hflip: bool = False
    vflip: bool = False
    turns: int = 0


@dataclass
class IconSet:
    """An Iconify JSON set (icons.json)."""

    icons: dict[str, dict]
    aliases: dict[str, dict]
    width: float
    height: float

    @classmethod
    def load(cls, path: Path) -> IconSet:
        data = json.loads(path.read_text())
        return cls(data["icons"], data.get("aliases", {}), data.get("width", 16), data.get("height", 16))

    def drawing(self, name: str) -> Drawing | None:
        """The drawing a name stands for, following aliases; None if the set lacks it."""
        hflip = vflip = False
        turns = 0
        for _ in range(len(self.aliases) + 1):
            if name in self.icons:
                return Drawing(name, hflip, vflip, turns % 4)
            alias = self.aliases.get(name)
            if alias is None:
                return None
            hflip ^= bool(alias.get("hFlip"))
            vflip ^= bool(alias.get("vFlip"))
            turns += int(alias.get("rotate", 0))
            name = alias["parent"]
        return None  # an alias cycle

    def svg(self, icon: str, size: int) -> str:
        data = self.icons[icon]
        box = (data.get("left", 0), data.get("top", 0), data.get("width", self.width), data.get("height", self.height))
        return (f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
                f'width="{size}" height="{size}" viewBox="{" ".join(map(str, box))}" color="#000">'
                f'{data["body"]}</svg>')


def match_icons(icon_set: IconSet, names: dict[str, list[str]]) -> dict[str, Drawing]:
    """{code key: drawing} for every emoji the set draws (rules of the module docstring)."""
    claims: dict[Drawing, list[tuple[int, str]]] = {}
    for key in names:
        for rank, name in enumerate(candidates(key, names)):
            drawing = icon_set.drawing(name)
            if drawing is not None:
                claims.setdefault(drawing, []).append((rank, key))
                break
    matched = {}
    for drawing, claimants in claims.items():
        claimants.sort()
        if len(claimants) == 1 or claimants[0][0] < claimants[1][0]:
            matched[claimants[0][1]] = drawing
    return matched


def rasterise(svg: str, size: int = RENDER_PX) -> bytes:
    """SVG -> RGBA PNG bytes of size x size by resvg; Unrenderable if resvg fails or draws nothing."""
    import resvg_py

    try:
        png = bytes(resvg_py.svg_to_bytes(svg_string=svg, width=size, height=size, skip_system_fonts=True))
    except (ValueError, RuntimeError) as err:
        raise Unrenderable(str(err)) from err
    with Image.open(io.BytesIO(png)) as im:
        if im.convert("RGBA").getchannel("A").getextrema()[1] == 0:
            raise Unrenderable("the SVG draws nothing")
    return png


def _oriented(image: np.ndarray, drawing: Drawing) -> np.ndarray:
    if drawing.hflip:
        image = image[:, ::-1]
    if drawing.vflip:
        image = image[::-1]
    return np.ascontiguousarray(np.rot90(image, -drawing.turns))


def iconify_source(icon_set: IconSet, names: dict[str, list[str]]) -> dict[str, Callable[[], np.ndarray]]:
    """{code key: function drawing that emoji as uint8 [64, 64, 3] on white} for one Iconify set."""
    def draw(drawing: Drawing) -> Callable[[], np.ndarray]:
        return lambda: _oriented(composite_on_white(rasterise(icon_set.svg(drawing.icon, RENDER_PX))), drawing)

    return {key: draw(drawing) for key, drawing in match_icons(icon_set, names).items()}


def file_source(folder: Path, suffix: str) -> dict[str, Callable[[], np.ndarray]]:
    """{code key: loader} for image files named by codepoint (e.g. '1f468-200d-1f373.webp')."""
    def draw(path: Path) -> Callable[[], np.ndarray]:
        return lambda: composite_on_white(_visible(path.read_bytes()))

    return {_key(p.name[: -len(suffix)]): draw(p) for p in sorted(folder.glob(f"*{suffix}"))}


def _visible(image: bytes) -> bytes:
    try:
        with Image.open(io.BytesIO(image)) as im:
            empty = im.convert("RGBA").getchannel("A").getextrema()[1] == 0
    except OSError as err:
        raise Unrenderable(str(err)) from err
    if empty:
        raise Unrenderable("the image is fully transparent")
    return image


def style_sources(modules: Path) -> dict[str, dict[str, Callable[[], np.ndarray]]]:
    """{style: {code key: loader}} for every style beyond Google and Twitter."""
    names = emoji_names(modules)
    sources = {s: iconify_source(IconSet.load(modules / _name_version(PACKAGES[s])[0] / "icons.json"), names)
               for s in ICONIFY}
    sources["fluent_3d"] = file_source(modules / _name_version(PACKAGES["fluent_3d"])[0] / "assets", ".webp")
    return {s: sources[s] for s in EXTRA}


def style_images(records: list[Record], source: dict[str, Callable[[], np.ndarray]]) -> tuple[np.ndarray, np.ndarray, dict]:
    """One style for every row: images (white where missing), availability mask, counts."""
    images = np.full((len(records), 64, 64, 3), 255, dtype=np.uint8)
    has = np.zeros(len(records), dtype=bool)
    unmatched = unrenderable = 0
    for i, record in enumerate(records):
        load = source.get(_key(record.code))
        if load is None:
            unmatched += 1
            continue
        try:
            images[i] = load()
            has[i] = True
        except Unrenderable:
            unrenderable += 1
    split = Counter(r.split for r, h in zip(records, has) if h)
    stats = {"matched": len(records) - unmatched, "unmatched": unmatched, "unrenderable": unrenderable,
             "images": int(has.sum()), "train": split["train"], "test": split["test"],
             "identities": len({r.base for r, h in zip(records, has) if h})}
    return images, has, stats


def build(out_root: Path, modules: Path) -> dict:
    """Write images.npz, meta.json and the data card under out_root/VERSION; returns the counts."""
    check_packages(modules)
    img_dirs = {s: modules / f"emoji-datasource-{s}" / "img" / s / "64" for s in PAIRED}
    emoji = json.loads((modules / "emoji-datasource-google" / "emoji.json").read_text())
    names = {}
    for item in json.loads((modules / "emojibase-data" / "en" / "data.json").read_text()):
        names[_key(item["hexcode"])] = item
    records = select(emoji, names, lambda f: all((img_dirs[s] / f).is_file() for s in PAIRED))
    if not records:
        raise RuntimeError(f"no emoji found under {modules}")
    images = {s: np.stack([composite_on_white((img_dirs[s] / r.image).read_bytes()) for r in records]) for s in PAIRED}
    styles = {s: paired_stats(records) for s in PAIRED}
    for style, source in style_sources(modules).items():
        images[style], images[f"has_{style}"], styles[style] = style_images(records, source)
    for style in STYLES:
        styles[style] = {"package": PACKAGES[style], "licence": LICENCES[style]} | styles[style]
    out = out_root / VERSION
    out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out / "images.npz", **images)
    meta = {"version": VERSION, "packages": PACKAGES, "vocab": VOCAB, "styles": styles,
            "records": [r.__dict__ | {"tags": list(r.tags)} for r in records]}
    (out / "meta.json").write_text(json.dumps(meta, indent=1, ensure_ascii=False) + "\n")
    (out / "README.md").write_text(data_card(meta))
    return counts(records) | {"styles": styles}


def paired_stats(records: list[Record]) -> dict:
    """Counts of a style that draws every row (Google, Twitter)."""
    split = Counter(r.split for r in records)
    return {"matched": len(records), "unmatched": 0, "unrenderable": 0, "images": len(records),
            "train": split["train"], "test": split["test"], "identities": len({r.base for r in records})}


def counts(records: list[Record]) -> dict:
    out: dict = {"rows": Counter(r.split for r in records),
                 "identities": Counter(r.split for r in {(r.base, r.split): r for r in records}.values())}
    for field_name in VOCAB:
        out[field_name] = {split: Counter(getattr(r, field_name) for r in records if r.split == split)
                           for split in ("train", "test")}
    return out


_ATTRIBUTION = {
    "google": "Noto Emoji © Google, Apache License 2.0",
    "twitter": "Twemoji graphics © Twitter, Inc. and other contributors, CC-BY 4.0",
    "fluent": "Fluent Emoji © Microsoft Corporation, MIT",
    "emojione": "Emoji icons provided free by EmojiOne (Emoji One 2.3, https://github.com/EmojiTwo/emojitwo), "
                "CC-BY 4.0 (https://creativecommons.org/licenses/by/4.0/)",
}


def data_card(meta: dict) -> str:
    """The markdown data card of a built dataset (meta.json's content)."""
    records = meta["records"]
    split = Counter(r["split"] for r in records)
    bases = {side: len({r["base"] for r in records if r["split"] == side}) for side in ("train", "test")}
    lines = [
        f"# EmojiBench data card ({meta['version']})", "",
        "Written by `python -m train.data_emoji`. Faces and people, one row per emoji (skin-tone variants "
        f"included): {len(records)} rows, {sum(bases.values())} identities; split by identity and stratified by "
        f"attribute, {split['train']} train / {split['test']} test rows ({bases['train']} / {bases['test']} identities).",
        "Google and Twitter draw every row; every other style fills the rows it draws (`has_style`).", "",
        "| style | drawn by | npm package | licence | images | train | test | identities | matched | unmatched "
        "| unrenderable |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for style, s in meta["styles"].items():
        lines.append(f"| `{style}` | {STYLE_NAMES[style]} | `{s['package']}` | {s['licence']} | {s['images']} "
                     f"| {s['train']} | {s['test']} | {s['identities']} | {s['matched']} | {s['unmatched']} "
                     f"| {s['unrenderable']} |")
    lines += [
        "", "Matched: the rows whose codepoint the package draws (Iconify names are matched to codepoints through "
        "emojibase-data's labels, Unicode names and shortcodes; the rule is in `train/data_emoji.py`'s docstring). "
        "Unrenderable: matched icons resvg could not draw; they are skipped, not stored blank. Names come from "
        f"`{PACKAGES['names']}` (MIT). SVGs are rasterised by resvg (`resvg-py`) at {RENDER_PX} px; every image is "
        "resampled to 64 px (Lanczos) and composited onto white.", "",
        "Unmatched, mostly absent from the package: Fluent draws no families, couples or kisses, and names the "
        "merpeople and the knocked-out face so that the rule misses them; high contrast is monochrome and has no "
        "skin-tone variants; EmojiOne 2.3 predates Emoji 4.0: no emoji after Unicode 9 and none of the gendered "
        "roles (man cook, woman astronaut...).", "",
        "## Attribution", "",
        *(f"- {_ATTRIBUTION[s]}" for s in ("google", "twitter", "fluent", "emojione")),
        "- Fluent flat, high contrast and 3D are the same Fluent Emoji (MIT), via Iconify and LobeHub's npm packages.",
        "",
    ]
    return "\n".join(lines)

def style_picture(bench: EmojiBench, count: int = 8) -> Image.Image:
    """One labelled row per style of the same `count` emoji, chosen evenly among those every style draws."""
    everywhere = np.flatnonzero(np.all([bench.has_style(s) for s in STYLES], axis=0))
    rows = everywhere[np.linspace(0, len(everywhere) - 1, count).round().astype(int)]
    label_px, gap = 150, 4
    picture = Image.new("RGB", (label_px + count * (64 + gap), len(STYLES) * (64 + gap)), "white")
    draw = ImageDraw.Draw(picture)
    for y, style in enumerate(STYLES):
        draw.text((4, y * (64 + gap) + 26), style, fill="black")
        for x, row in enumerate(rows):
            picture.paste(Image.fromarray(bench.style(style)[row]), (label_px + x * (64 + gap), y * (64 + gap)))
    return picture


def _print_counts(c: dict) -> None:
    print(f"rows: {dict(c['rows'])}  identities: {dict(c['identities'])}")
    for field_name in VOCAB:
        for split in ("train", "test"):
            print(f"  {field_name:8s} {split:5s} " + ", ".join(f"{k}={v}" for k, v in sorted(c[field_name][split].items())))
    for style, s in c["styles"].items():
        print(f"  {style:21s} matched {s['matched']:4d}  unmatched {s['unmatched']:4d}  unrenderable "
              f"{s['unrenderable']:2d}  images {s['images']:4d} (train {s['train']}, test {s['test']})")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=None, help="output folder (default $EMOJIBENCH_HOME or ~/.cache/emojibench)")
    parser.add_argument("--docs", type=Path, default=None, help="also write emojibench.md and emojibench_styles.png here")
    args = parser.parse_args(argv)
    root = args.root or default_root()
    modules = install_packages(root)
    _print_counts(build(root, modules))
    print(f"wrote {root / VERSION}")
    if args.docs is not None:
        args.docs.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / VERSION / "README.md", args.docs / "emojibench.md")
        style_picture(load_emojibench(root)).save(args.docs / "emojibench_styles.png", optimize=True)
        print(f"wrote {args.docs / 'emojibench.md'} and {args.docs / 'emojibench_styles.png'}")


if __name__ == "__main__":
    main()
