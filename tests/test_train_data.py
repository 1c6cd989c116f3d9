"""EmojiBench builder on a small fabricated package tree, its labels, styles and name matching, and the real build (slow)."""
from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from train import data_emoji
from train.data_emoji import (IconSet, Unrenderable, build, candidates, install_packages, load_emojibench, match_icons,
                              name_labels, rasterise, slug)

V1_ROWS_SHA1 = "cc38bdbce54a57b7e87c24c2e63e078454aae13c"  # sha1 of "code split" per row of emojibench-v1, in row order


def _png(path: Path, colour: tuple[int, int, int], **options) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    img.paste(Image.new("RGBA", (32, 32), (*colour, 255)), (16, 16))
    img.save(path, **options)


def _square(colour: str) -> dict:
    return {"body": f'<path fill="{colour}" d="M8 8h16v16H8z"/>'}


def _write_packages(mods: Path, versions: dict[str, str] | None = None) -> None:
    for spec in data_emoji.PACKAGES.values():
        name, version = spec.rsplit("@", 1)
        (mods / name).mkdir(parents=True, exist_ok=True)
        (mods / name / "package.json").write_text(json.dumps({"name": name, "version": (versions or {}).get(name, version)}))


def _iconify(mods: Path, style: str, icons: dict[str, dict], aliases: dict | None = None) -> None:
    folder = mods / data_emoji.PACKAGES[style].rsplit("@", 1)[0]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "icons.json").write_text(json.dumps({"prefix": style, "icons": icons, "aliases": aliases or {},
                                                   "width": 32, "height": 32}))


@pytest.fixture()
def fake_modules(tmp_path) -> Path:
    mods = tmp_path / "node_modules"
    emoji = [
        {"name": "GRINNING FACE", "unified": "1F600", "image": "1f600.png", "category": "Smileys & Emotion",
         "subcategory": "face-smiling", "sort_order": 1},
        {"name": "WOMAN: RED HAIR", "unified": "1F469-200D-1F9B0", "image": "w.png", "category": "People & Body",
         "subcategory": "person", "sort_order": 2,
         "skin_variations": {"1F3FB": {"unified": "1F469-1F3FB-200D-1F9B0", "image": "w1.png"},
                             "1F3FB-1F3FC": {"unified": "X", "image": "wx.png"}}},
        {"name": "RED HEART", "unified": "2764-FE0F", "image": "h.png", "category": "Smileys & Emotion",
         "subcategory": "heart", "sort_order": 3},
        {"name": "FROWNING FACE", "unified": "2639-FE0F", "image": "f.png", "category": "Smileys & Emotion",
         "subcategory": "face-concerned", "sort_order": 4},
    ]
    _write_packages(mods)
    (mods / "emoji-datasource-google" / "emoji.json").write_text(json.dumps(emoji))
    for style, colour in (("google", (255, 0, 0)), ("twitter", (0, 0, 255))):
        for name in ("1f600.png", "w.png", "w1.png", "wx.png", "h.png"):  # f.png missing: dropped
            _png(mods / f"emoji-datasource-{style}" / "img" / style / "64" / name, colour)
    base = mods / "emojibase-data"
    (base / "en" / "shortcodes").mkdir(parents=True)
    (base / "meta").mkdir()
    (base / "en" / "data.json").write_text(json.dumps([
        {"label": "grinning face", "hexcode": "1F600", "tags": ["face", "grin"]},
        {"label": "woman: red hair", "hexcode": "1F469-200D-1F9B0", "tags": [],
         "skins": [{"label": "woman: light skin tone, red hair", "hexcode": "1F469-1F3FB-200D-1F9B0"}]}]))
    (base / "meta" / "unicode-names.json").write_text(json.dumps({"1F600": "GRINNING FACE"}))
    for source in data_emoji.SHORTCODES:
        shortcodes = {"1F600": "grinning"} if source == "github" else {}
        (base / "en" / "shortcodes" / f"{source}.json").write_text(json.dumps(shortcodes))
    _iconify(mods, "fluent", {"grinning-face": _square("#00ff00"), "woman-red-hair": _square("#00ff00"),
                              "woman-red-hair-light": _square("#00ff00")})
    _iconify(mods, "fluent_flat", {"grinning-face": {"body": '<path fill="#00ff00" d=""/>'}})  # draws nothing
    _iconify(mods, "fluent_high_contrast", {"grinning-face": {"body": '<path fill="currentColor" d="M8 8h16v16H8z"/>'}})
    _iconify(mods, "emojione", {"grinning": {"body": "<g>"},  # matched by a shortcode, not valid SVG
                                "woman-red-hair-light-skin-tone": _square("#ffff00")})
    assets = mods / "@lobehub" / "fluent-emoji-3d" / "assets"
    for name in ("1f600.webp", "1f469-1f3fb-200d-1f9b0.webp"):
        _png(assets / name, (255, 0, 255), lossless=True)
    return mods


def test_build_selects_labels_and_composites(fake_modules, tmp_path):
    counts = build(tmp_path / "out", fake_modules)
    bench = load_emojibench(tmp_path / "out")
    codes = [r["code"] for r in bench.records]
    assert codes == ["1F600", "1F469-200D-1F9B0", "1F469-1F3FB-200D-1F9B0"]  # heart, mixed tones, missing PNG dropped
    grin, woman, woman_light = bench.records
    assert grin["name"] == "grinning face" and grin["tags"] == ["face", "grin"] and grin["smiling"] == "yes"
    assert (woman["gender"], woman["age"], woman["hair"], woman["skin"]) == ("woman", "adult", "red", "none")
    assert woman_light["skin"] == "light" and woman_light["base"] == woman["base"]
    assert woman_light["split"] == woman["split"]  # all variants of an identity on one side
    assert bench.google.shape == (3, 64, 64, 3) and bench.google.dtype == np.uint8
    assert (bench.google[0, 0, 0] == 255).all() and tuple(bench.google[0, 32, 32]) == (255, 0, 0)  # white + content
    assert tuple(bench.twitter[0, 32, 32]) == (0, 0, 255)
    assert list(bench.identity_ids()) == [1, 0, 0] or list(bench.identity_ids()) == [0, 1, 1]
    assert sum(counts["rows"].values()) == 3
    assert (tmp_path / "out" / data_emoji.VERSION / "README.md").read_text().startswith("# EmojiBench data card")


def test_extra_styles_are_matched_rendered_and_masked(fake_modules, tmp_path):
    styles = build(tmp_path / "out", fake_modules)["styles"]
    bench = load_emojibench(tmp_path / "out")
    expected = {"fluent": [1, 1, 1], "fluent_flat": [0, 0, 0], "fluent_high_contrast": [1, 0, 0],
                "fluent_3d": [1, 0, 1], "emojione": [0, 0, 1]}
    for style, has in expected.items():
        assert bench.has_style(style).tolist() == [bool(h) for h in has], style
        assert bench.style(style).shape == (3, 64, 64, 3) and bench.style(style).dtype == np.uint8
        assert (bench.style(style)[~bench.has_style(style)] == 255).all(), style  # missing rows stay white
    assert tuple(bench.style("fluent")[0, 32, 32]) == (0, 255, 0) and (bench.style("fluent")[0, 2, 2] == 255).all()
    assert tuple(bench.style("fluent_high_contrast")[0, 32, 32]) == (0, 0, 0)  # currentColor is black
    assert tuple(bench.style("emojione")[2, 32, 32]) == (255, 255, 0)  # "-light-skin-tone" name of a tone variant
    assert tuple(bench.style("fluent_3d")[0, 32, 32]) == (255, 0, 255)
    # the blank flat icon and the broken EmojiOne one are counted, not stored
    assert {k: styles["fluent_flat"][k] for k in ("matched", "unmatched", "unrenderable", "images")} == \
        {"matched": 1, "unmatched": 2, "unrenderable": 1, "images": 0}
    assert {k: styles["emojione"][k] for k in ("matched", "unmatched", "unrenderable", "images")} == \
        {"matched": 2, "unmatched": 1, "unrenderable": 1, "images": 1}
    assert styles["google"]["images"] == styles["twitter"]["images"] == 3 and bench.has_style("google").all()
    assert bench.style("google") is bench.google and bench.style("twitter") is bench.twitter
    with pytest.raises(KeyError, match="no style 'comic'"):
        bench.style("comic")


def test_extra_styles_do_not_change_rows_or_split(fake_modules, tmp_path):
    build(tmp_path / "full", fake_modules)
    for style in data_emoji.ICONIFY:
        _iconify(fake_modules, style, {})
    for webp in (fake_modules / "@lobehub" / "fluent-emoji-3d" / "assets").iterdir():
        webp.unlink()
    build(tmp_path / "bare", fake_modules)
    assert load_emojibench(tmp_path / "full").records == load_emojibench(tmp_path / "bare").records


@pytest.mark.parametrize("name, category, subcategory, expected", [
    ("MAN: RED HAIR", "People & Body", "person", ("man", "adult", "red", "n.a.")),
    ("OLDER WOMAN", "People & Body", "person", ("woman", "older", "n.a.", "n.a.")),
    ("BABY", "People & Body", "person", ("person", "baby", "n.a.", "n.a.")),
    ("MAN FEEDING BABY", "People & Body", "person-role", ("man", "adult", "n.a.", "n.a.")),
    ("GIRL", "People & Body", "person", ("woman", "child", "n.a.", "n.a.")),
    ("PERSON WITH BLOND HAIR", "People & Body", "person", ("person", "adult", "blond", "n.a.")),
    ("FAMILY: MAN, WOMAN, BOY", "People & Body", "family", ("person", "n.a.", "n.a.", "n.a.")),
    ("GRINNING FACE WITH SMILING EYES", "Smileys & Emotion", "face-smiling", ("n.a.", "n.a.", "n.a.", "yes")),
    ("FROWNING FACE", "Smileys & Emotion", "face-concerned", ("n.a.", "n.a.", "n.a.", "no")),
])
def test_name_labels(name, category, subcategory, expected):
    labels = name_labels(name, category, subcategory)
    assert (labels["gender"], labels["age"], labels["hair"], labels["smiling"]) == expected


def test_stratified_split_keeps_rare_groups_on_both_sides():
    strata = {f"b{i}": ("faces",) for i in range(40)} | {f"c{i}": ("child",) for i in range(3)}
    test = data_emoji.stratified_test_bases(strata)
    assert len([b for b in test if b.startswith("b")]) == 4 and len([b for b in test if b.startswith("c")]) == 1
    assert test == data_emoji.stratified_test_bases(dict(reversed(list(strata.items()))))  # order-free


@pytest.mark.parametrize("text, expected", [
    ("man: red hair", "man-red-hair"), ("woman’s hat", "womans-hat"), ("piñata", "pinata"),
    ("Face With Tears of Joy", "face-with-tears-of-joy"), ("A button (blood type)", "a-button-blood-type"),
])
def test_slug(text, expected):
    assert slug(text) == expected


def test_name_matching_rule():
    names = {  # slugs as emoji_names gives them: CLDR label, Unicode name, shortcodes
        "1F601": ["beaming-face-with-smiling-eyes", "grinning-face-with-smiling-eyes", "grin"],
        "1F604": ["grinning-face-with-smiling-eyes", "smiling-face-with-open-mouth-and-smiling-eyes", "smile"],
        "1F476": ["baby"], "1F476-1F3FB": ["baby-light-skin-tone", "baby-emoji-modifier-fitzpatrick-type-1-2"],
        "1F46F": ["people-with-bunny-ears", "woman-with-bunny-ears"],
        "1F46F-200D-2640": ["women-with-bunny-ears", "woman-with-bunny-ears-female-sign"],
        "1F635": ["face-with-crossed-out-eyes", "dizzy-face", "dizzy"], "1F4AB": ["dizzy", "dizzy-symbol"],
        "1F471": ["person-blond-hair"], "1F9B8": ["superhero"],
        "1F449": ["backhand-index-pointing-right"], "1F448": ["backhand-index-pointing-left"],
    }
    fluent = IconSet({n: _square("#000") for n in (
        "grinning-face-with-smiling-eyes", "beaming-face-with-smiling-eyes", "baby-light", "person-with-bunny-ears",
        "woman-with-bunny-ears", "dizzy", "person-blonde-hair", "person-superhero", "backhand-index-pointing-left")},
        {"backhand-index-pointing-right": {"parent": "backhand-index-pointing-left", "hFlip": True}}, 32, 32)
    matched = {key: d.icon + ("+flip" if d.hflip else "") for key, d in match_icons(fluent, names).items()}
    assert matched == {
        "1F601": "beaming-face-with-smiling-eyes", "1F604": "grinning-face-with-smiling-eyes",  # CLDR label first
        "1F476-1F3FB": "baby-light",  # Fluent's tone suffix
        "1F46F": "person-with-bunny-ears", "1F46F-200D-2640": "woman-with-bunny-ears",  # singular beats a Unicode name
        "1F4AB": "dizzy",  # a label beats another emoji's shortcode; 1F635 stays unmatched
        "1F471": "person-blonde-hair", "1F9B8": "person-superhero",
        "1F448": "backhand-index-pointing-left", "1F449": "backhand-index-pointing-left+flip",
    }
    assert candidates("1F476-1F3FB", names)[:3] == ["baby-light-skin-tone", "person-baby-light-skin-tone",
                                                    "baby-emoji-modifier-fitzpatrick-type-1-2"]
    assert "baby-light-skin-tone" in candidates("1F476-1F3FB", {"1F476": ["baby"]})  # EmojiOne's tone suffix


def test_tied_claims_match_nothing():
    names = {"A": ["shared"], "B": ["shared"]}
    assert match_icons(IconSet({"shared": _square("#000")}, {}, 32, 32), names) == {}


def _rgba(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGBA")).astype(float)


def _svg(body: str, box: int = 64) -> str:
    return f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {box} {box}">{body}</svg>'


def test_rasteriser_draws_known_pixels():
    half = _rgba(rasterise(_svg('<rect width="32" height="64" fill="#ff0000"/>'), 64))
    assert (half[:, :32] == (255, 0, 0, 255)).all() and (half[:, 32:, 3] == 0).all()
    disc = _rgba(rasterise(_svg('<circle cx="32" cy="32" r="20" fill="#000"/>'), 64))
    assert disc[..., 3].sum() / 255 == pytest.approx(np.pi * 20 ** 2, rel=0.01)  # antialiased coverage = area
    ramp = _rgba(rasterise(_svg('<defs><linearGradient id="g"><stop offset="0" stop-color="#000"/>'
                                '<stop offset="1" stop-color="#fff"/></linearGradient></defs>'
                                '<rect width="64" height="64" fill="url(#g)"/>'), 64))
    assert np.abs(ramp[32, :, 0] - (np.arange(64) + 0.5) / 64 * 255).max() < 3  # linear in x, pixel centres
    blur = _rgba(rasterise(_svg('<defs><filter id="b" x="-1" y="-1" width="3" height="3">'
                                '<feGaussianBlur stdDeviation="4"/></filter></defs>'
                                '<rect x="16" y="16" width="32" height="32" fill="#000" filter="url(#b)"/>'), 64))
    edge = blur[32, 8:24, 3]
    assert edge[0] < 20 and edge[-1] > 235 and (np.diff(edge) > 0).all()  # Fluent's blur filters are drawn


def test_rasteriser_scales_like_a_high_resolution_rendering():
    svg = _svg('<circle cx="32" cy="32" r="24" fill="#f4c430"/><circle cx="24" cy="26" r="4" fill="#402000"/>'
               '<circle cx="40" cy="26" r="4" fill="#402000"/><path d="M20 40q12 10 24 0" stroke="#402000" '
               'stroke-width="3" fill="none"/>')
    ours = data_emoji.composite_on_white(rasterise(svg)).astype(float)
    sharp = Image.open(io.BytesIO(rasterise(svg, 1024))).convert("RGBA")
    on_white = Image.alpha_composite(Image.new("RGBA", sharp.size, "white"), sharp).convert("RGB")
    reference = np.asarray(on_white.reduce(16), dtype=float)  # the mean of every 16 x 16 block: area sampling
    assert np.abs(ours - reference).mean() < 2.0 and np.abs(ours - reference).max() < 60


@pytest.mark.parametrize("svg", [
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><g>',  # not well-formed
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><path fill="#000" d=""/></svg>',  # draws nothing
    "not an svg",
])
def test_unrenderable_svg_is_refused(svg):
    with pytest.raises(Unrenderable):
        rasterise(svg)


def test_missing_npm_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(data_emoji.shutil, "which", lambda _: None)
    with pytest.raises(RuntimeError, match="npm is not installed"):
        install_packages(tmp_path)


def test_missing_or_changed_package_stops_the_build(fake_modules, tmp_path):
    _write_packages(fake_modules, {"@iconify-json/emojione": "1.2.4"})
    (fake_modules / "@lobehub" / "fluent-emoji-3d" / "package.json").unlink()
    with pytest.raises(RuntimeError) as err:
        build(tmp_path / "out", fake_modules)
    assert "@iconify-json/emojione@1.2.3 (found 1.2.4)" in str(err.value)
    assert "@lobehub/fluent-emoji-3d@1.1.0 (missing)" in str(err.value)
    assert "emoji-datasource-google" not in str(err.value)
    assert not (tmp_path / "out").exists()


def test_install_stops_when_npm_leaves_a_package_out(tmp_path, monkeypatch):
    _write_packages(tmp_path / "npm" / "node_modules", {"@iconify-json/fluent-emoji-flat": "1.2.5"})
    monkeypatch.setattr(data_emoji.shutil, "which", lambda _: "/usr/bin/npm")
    monkeypatch.setattr(data_emoji.subprocess, "run", lambda *a, **k: None)  # an npm that installs nothing
    with pytest.raises(RuntimeError, match=r"@iconify-json/fluent-emoji-flat@1\.2\.6 \(found 1\.2\.5\)"):
        install_packages(tmp_path)


@pytest.mark.slow
def test_real_emojibench_build(tmp_path):
    modules = install_packages(data_emoji.default_root())  # npm, cached after the first run
    styles = build(tmp_path, modules)["styles"]
    bench = load_emojibench(tmp_path)
    assert len(bench.records) == 1814 and bench.google.shape == bench.twitter.shape == (1814, 64, 64, 3)
    rows = "\n".join(f"{r['code']} {r['split']}" for r in bench.records)
    assert hashlib.sha1(rows.encode()).hexdigest() == V1_ROWS_SHA1  # rows, order and split exactly as in v1
    test = bench.indices("test")
    assert 0.08 < len(test) / len(bench.records) < 0.13
    train_ids = {bench.records[i]["base"] for i in bench.indices("train")}
    assert not train_ids & {bench.records[i]["base"] for i in test}
    for field in ("age", "hair", "smiling"):  # a value that 3+ identities share is on both sides
        bases: dict[str, set] = {}
        for r in bench.records:
            bases.setdefault(r[field], set()).add(r["base"])
        common = {v for v, b in bases.items() if len(b) >= 3}
        assert common <= {bench.records[i][field] for i in test}, field
        assert common <= {bench.records[i][field] for i in bench.indices("train")}, field
    floors = {"fluent": 1600, "fluent_flat": 1600, "fluent_high_contrast": 380, "fluent_3d": 1650, "emojione": 400}
    for style, floor in floors.items():
        has, images = bench.has_style(style), bench.style(style)
        assert styles[style]["images"] == has.sum() >= floor, style
        assert styles[style]["matched"] + styles[style]["unmatched"] == 1814
        assert (images[has].reshape(has.sum(), -1).min(axis=1) < 200).all(), style  # no blank image stored
        assert (images[has][:, 0, 0] == 255).mean() > 0.99, style  # composited on white, no black background
        assert (images[~has] == 255).all(), style


@pytest.mark.slow
def test_name_matching_agrees_with_iconify_codepoints():
    """Fluent flat and high contrast ship chars.json (codepoint -> name): the rule must never contradict it."""
    modules = install_packages(data_emoji.default_root())
    names = data_emoji.emoji_names(modules)
    for style in ("fluent_flat", "fluent_high_contrast"):
        folder = modules / data_emoji.PACKAGES[style].rsplit("@", 1)[0]
        icon_set = IconSet.load(folder / "icons.json")
        truth = {data_emoji._key(k): icon_set.drawing(v) for k, v in json.loads((folder / "chars.json").read_text()).items()}
        matched = match_icons(icon_set, names)
        assert not [k for k, d in matched.items() if k in truth and truth[k] != d], style
        assert sum(k in matched for k in truth) / len(truth) > 0.97, style


@pytest.mark.slow
def test_rasteriser_on_real_icons_matches_a_high_resolution_rendering():
    modules = install_packages(data_emoji.default_root())
    for style in data_emoji.ICONIFY:
        icon_set = IconSet.load(modules / data_emoji.PACKAGES[style].rsplit("@", 1)[0] / "icons.json")
        for icon in ("grinning-face", "face-with-tears-of-joy", "thinking-face", "baby", "older-man", "cat-face"):
            if icon not in icon_set.icons:
                continue
            svg = icon_set.svg(icon, data_emoji.RENDER_PX)
            ours = data_emoji.composite_on_white(rasterise(svg)).astype(float)
            high = data_emoji.composite_on_white(rasterise(svg, 1024)).astype(float)
            assert np.abs(ours - high).mean() < 2.0, (style, icon)
            assert ours.min() < 100 and (ours[0, 0] == 255).all(), (style, icon)
