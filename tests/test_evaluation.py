"""pipelines/evaluation (the shipped networks' scores on EmojiBench) and bench.zoo_emoji64's use of it."""
from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
import torch

from nets.emojinet import ATTRIBUTES, EmojiNet
from pipelines.emojibench import EXTRA, STYLES, EmojiBench
from pipelines.evaluation.emojinet import cross_style, cross_style_r1, evaluate
from pipelines.evaluation.styles import style_counts, style_rows

BENCH = Path(__file__).resolve().parents[1] / "bench"
TRAINING_BENCHES = {"generator.py", "generator_recipes.py", "gpu.py"}  # they time or score training runs


def toy_bench(splits: list[str], drawn: dict[str, list[bool]], bases: list[str] | None = None,
              images: dict[str, np.ndarray] | None = None) -> EmojiBench:
    """An EmojiBench of len(splits) rows: white images unless given, every attribute its first value."""
    n = len(splits)
    white = np.full((n, 64, 64, 3), 255, np.uint8)
    images = images or {}
    records = [{"split": s, "base": (bases or [str(i) for i in range(n)])[i],
                **{f: values[0] for f, values in ATTRIBUTES.items()}} for i, s in enumerate(splits)]
    return EmojiBench(images.get("google", white), images.get("twitter", white), records,
                      {f: list(v) for f, v in ATTRIBUTES.items()},
                      extra={s: images.get(s, white) for s in EXTRA},
                      available={s: np.array(drawn.get(s, [True] * n)) for s in EXTRA})


def test_cross_style_r1_on_a_toy_embedding():
    bases = np.array(["a", "b", "c", "a"])  # rows 0 and 3: one emoji (two skin tones)
    e = torch.eye(3)
    nan = torch.full((3,), float("nan"))  # a row a style does not draw is never read
    embeddings = {
        "x": torch.stack([e[0], e[1], e[2], e[0]]),
        "y": torch.stack([e[0], e[2], e[1], e[0]]),  # b and c swapped: x→y finds a's rows only
        "z": torch.stack([e[0], e[1], nan, e[0]]),  # z does not draw row 2
    }
    drawn = {"x": np.ones(4, bool), "y": np.ones(4, bool), "z": np.array([True, True, False, True])}
    r = cross_style_r1(embeddings, drawn, bases)
    assert r["pairs"]["x→y"] == 0.5 and r["pairs"]["y→x"] == 0.5  # rows 0 and 3 hit (either a), 1 and 2 miss
    assert r["pairs"]["x→z"] == 1.0 and r["pairs"]["z→x"] == 1.0  # on rows 0, 1, 3 only
    assert r["pairs"]["y→z"] == pytest.approx(2 / 3) and r["pairs"]["z→y"] == pytest.approx(2 / 3)
    assert set(r["pairs"]) == {f"{a}→{b}" for a in "xyz" for b in "xyz" if a != b}
    assert r["mean"] == pytest.approx(np.mean([0.5, 0.5, 1.0, 1.0, 2 / 3, 2 / 3]))


def test_cross_style_r1_leaves_out_pairs_that_share_no_row():
    e = torch.eye(2)
    r = cross_style_r1({"x": e, "y": e, "w": e}, {"x": np.array([True, True]), "y": np.array([True, False]),
                                                 "w": np.array([False, True])}, np.array(["a", "b"]))
    assert set(r["pairs"]) == {"x→y", "y→x", "x→w", "w→x"} and r["mean"] == 1.0


def test_cross_style_of_a_network_gives_the_recipes_google_to_twitter_figure():
    n = 6
    g = torch.Generator().manual_seed(0)
    images = {s: torch.randint(0, 256, (n, 64, 64, 3), generator=g, dtype=torch.uint8).numpy() for s in STYLES}
    data = toy_bench(["test"] * 5 + ["train"], {s: [True, False, True, True, False, True] for s in EXTRA},
                     bases=["a", "b", "c", "a", "d", "e"], images=images)
    torch.manual_seed(0)
    net = EmojiNet(widths=[8, 8, 16, 16, 16], embed_dim=8).eval()
    r = cross_style(net, data)
    assert len(r["pairs"]) == len(STYLES) * (len(STYLES) - 1)
    assert r["pairs"]["google→twitter"] == evaluate(net, data)["retrieval_r1_google_to_twitter"]
    rows = np.array([0, 2, 3])  # the test rows every extra style draws
    emb = {s: net.identity(data.tensor(data.style(s)[rows])) for s in ("fluent", "emojione")}
    bases = np.array(["a", "c", "a"])
    expected = float((bases[(emb["fluent"] @ emb["emojione"].t()).argmax(1).numpy()] == bases).mean())
    assert r["pairs"]["fluent→emojione"] == pytest.approx(expected)


def _modes(net: torch.nn.Module) -> list[bool]:
    return [m.training for m in net.modules()]


def _tiny_networks() -> dict:
    """One tiny network (or two) per evaluation module, with the call that scores it."""
    from nets.emoji_clip import EmojiClip
    from nets.parsing_unet import ParsingUNet
    from nets.style_judge import StyleJudge
    from pipelines.clip_text import tokenize
    from pipelines.evaluation import clip, parsing, style_judge

    emojinet = EmojiNet(widths=[8, 8, 16, 16, 16], embed_dim=8)
    words = tokenize(["google style emoji"])[:, :16].flatten().tolist()
    model = EmojiClip(8, {"image_size": 64, "patch_size": 16, "width": 16, "layers": 1, "head_width": 8},
                      {"context_length": 16, "width": 16, "heads": 2, "layers": 1}, sorted(set(words) - {0}))
    unet, probe = ParsingUNet(["background", "white", "dark", "warm", "red", "other"], widths=[4, 4, 8, 8, 8]), \
        EmojiNet(widths=[8, 8, 8, 8, 8])
    judge = StyleJudge(list(STYLES), widths=[4, 4, 8, 8], blocks=1)
    return {"emojinet.evaluate": ([emojinet], lambda data: evaluate(emojinet, data)),
            "emojinet.cross_style": ([emojinet], lambda data: cross_style(emojinet, data)),
            "clip.evaluate": ([model], lambda data: clip.evaluate(model, data)),
            "parsing.evaluate": ([unet, probe], lambda data: parsing.evaluate(unet, data, probe)),
            "style_judge.evaluate": ([judge], lambda data: style_judge.evaluate(judge, data))}


@pytest.mark.parametrize("name", ["emojinet.evaluate", "emojinet.cross_style", "clip.evaluate", "parsing.evaluate",
                                  "style_judge.evaluate"])
def test_evaluation_runs_in_eval_mode_and_gives_each_module_its_mode_back(name):
    """The zoo's networks are shared and cached, and recipes score mid-training: an evaluation scores in eval
    mode and leaves every module as it found it (here a training network with one module frozen in eval mode,
    then a network wholly in eval mode)."""
    g = torch.Generator().manual_seed(0)
    images = {s: torch.randint(0, 256, (6, 64, 64, 3), generator=g, dtype=torch.uint8).numpy() for s in STYLES}
    data = toy_bench(["test"] * 5 + ["train"], {}, bases=["a", "b", "c", "a", "d", "e"], images=images)
    for i, record in enumerate(data.records):
        record["name"] = f"emoji {i}"
    nets, score = _tiny_networks()[name]
    seen = []
    for module in (m for net in nets for m in net.modules()):
        module.register_forward_pre_hook(lambda module, args: seen.append(module.training))
    for net in nets:
        net.train()
        list(net.modules())[-1].eval()
    entry = [_modes(net) for net in nets]
    assert any(any(m) for m in entry) and not all(all(m) for m in entry)  # mixed
    score(data)
    assert [_modes(net) for net in nets] == entry
    for net in nets:
        net.eval()
    score(data)
    assert all(not any(_modes(net)) for net in nets)
    assert seen and not any(seen)  # every module the evaluation called ran in eval mode


def test_style_counts_per_split():
    drawn = {s: [True] * 5 for s in EXTRA} | {"fluent_3d": [True, False, False, True, True]}
    data = toy_bench(["train", "test", "train", "test", "train"], drawn)
    counts = style_counts(data)
    assert list(counts) == list(STYLES)
    assert counts["google"] == {"train": 3, "test": 2, "total": 5}
    assert counts["fluent_3d"] == {"train": 2, "test": 1, "total": 3}
    assert style_rows(data, "test")["fluent_3d"].tolist() == [3]


def _imports_of(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_bench_imports_train_only_where_it_times_or_scores_training_runs():
    offenders = {p.name: sorted(m for m in _imports_of(p) if m == "train" or m.startswith("train."))
                 for p in sorted(BENCH.glob("*.py")) if p.name not in TRAINING_BENCHES}
    assert {k: v for k, v in offenders.items() if v} == {}
    assert "zoo_emoji64.py" in offenders  # the scan read the bench scripts


def test_merge_partial_carries_the_generator_part_over():
    from bench.zoo_emoji64 import merge_partial

    fresh = {"missing": [], "styles": {"google": {}}, "emojinet": {"x": 1.0}}
    previous = {"missing": ["old"], "emojinet": {"x": 0.5}, "generator": {"fd": 1}, "real_test": {"p": 2},
                "directions": {"old": 1}}
    merged = merge_partial(fresh, previous)
    assert merged == {**fresh, "generator": {"fd": 1}, "real_test": {"p": 2}, "carried_over": ["generator", "real_test"]}
    assert merge_partial(fresh, {}) == fresh  # nothing to carry over: no marker
    assert merge_partial(merged, previous)["generator"] == {"fd": 1}  # a second partial run keeps carrying it


def test_bench_table_shows_the_new_parts():
    from bench.zoo_emoji64 import table

    styles = list(STYLES[:3])
    pairs = {f"{a}→{b}": 0.5 for a in styles for b in styles if a != b}
    result = {
        "missing": ["parsing", "style_judge"], "stand_ins": {"parsing": "EmojiNet"},
        "styles": {s: {"train": 10, "test": 2, "total": 12} for s in styles},
        "emojinet": {"retrieval_r1_google_to_twitter": 0.7, "cross_style_r1": 0.5, "cross_style_r1_pairs": pairs},
        "clip": {"style_accuracy": 0.4, "style_accuracy_per_style": {s: 0.4 for s in styles}, "text_to_image_r5": 0.6,
                 "text_queries": 3, "gallery": 4},
        "style_judge": {"accuracy": 0.5, "count": 4, "styles": ["a", "b"], "confusion": [[1, 1], [1, 1]],
                        "per_style": {"a": 0.5, "b": 0.5}},
        "parsing": {"google": {"pixel_accuracy": 0.9, "mean_iou": 0.8}, "mean_iou": 0.8,
                    "linear_probe_r2_from_emojinet": [0.1, 0.2, 0.3, 0.4, 0.5]},
    }
    text = table(result)
    assert "| google | 10 | 2 | 12 |" in text
    assert "| cross_style_r1 | 0.500 |" in text and "| google | – | 0.500 | 0.500 |" in text
    assert "| zero-shot style accuracy, all styles | 0.400 |" in text
    assert "accuracy 0.500 over 4 images" in text and "| google | 0.900 | 0.800 |" in text
    assert "Not shipped yet: parsing (EmojiNet stands in), style_judge." in text
