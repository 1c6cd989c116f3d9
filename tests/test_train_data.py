"""EmojiBench builder on a small fabricated package tree, its labels, and the real build (slow)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from train import data_emoji
from train.data_emoji import build, install_packages, load_emojibench, name_labels


def _png(path: Path, colour: tuple[int, int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    img.paste(Image.new("RGBA", (32, 32), (*colour, 255)), (16, 16))
    img.save(path)


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
    (mods / "emoji-datasource-google").mkdir(parents=True)
    (mods / "emoji-datasource-google" / "emoji.json").write_text(json.dumps(emoji))
    for style, colour in (("google", (255, 0, 0)), ("twitter", (0, 0, 255))):
        for name in ("1f600.png", "w.png", "w1.png", "wx.png", "h.png"):  # f.png missing: dropped
            _png(mods / f"emoji-datasource-{style}" / "img" / style / "64" / name, colour)
    (mods / "emojibase-data" / "en").mkdir(parents=True)
    (mods / "emojibase-data" / "en" / "data.json").write_text(json.dumps(
        [{"label": "grinning face", "hexcode": "1F600", "tags": ["face", "grin"]}]))
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


def test_missing_npm_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(data_emoji.shutil, "which", lambda _: None)
    with pytest.raises(RuntimeError, match="npm is not installed"):
        install_packages(tmp_path)


@pytest.mark.slow
def test_real_emojibench_build(tmp_path):
    modules = install_packages(data_emoji.default_root())  # npm, cached after the first run
    build(tmp_path, modules)
    bench = load_emojibench(tmp_path)
    assert len(bench.records) == 1814 and bench.google.shape == bench.twitter.shape == (1814, 64, 64, 3)
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
