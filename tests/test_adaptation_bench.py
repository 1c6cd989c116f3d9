"""Issue #22's machinery on tiny networks: the paper's token capacity, the targets table, the paired changes, the
style-judge share, and the adaptation bench's core function end to end."""
from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from bench.adaptation import (METHODS, UNADAPTED, BenchNetworks, bench_style, figure_rows, floors, paired_changes,
                              picture, table)
from nets.configs import FFHQ1024
from nets.e4e import E4EEncoder
from nets.emoji_clip import EmojiClip
from nets.emojinet import EmojiNet
from nets.refinestyle import RefineStyleEncoder
from nets.style_judge import StyleJudge
from nets.stylegan2 import Generator
from pipelines.clip_loss import clip_towers
from pipelines.clip_text import tokenize
from pipelines.domain import (OFFICIAL_SYNTHESIS_PARAMETERS, PAPER_TOKEN_RATIO, DomainParameters, paper_rank,
                              synthesis_parameters, token_parameters)
from pipelines.emojibench import EXTRA, STYLE_PROMPTS, STYLES, EmojiBench
from pipelines.evaluation.style_judge import style_judge_of, style_share
from pipelines.inversion import InversionNetworks
from pipelines.losses import ReconstructionLoss
from pipelines.style_targets import REFERENCE_CODE, SOURCE_STYLE, TARGETS, reference_row, reference_rule
from pipelines.zoo import open_zoo


def test_paper_rank_matches_table_2s_share_of_the_official_synthesis_network():
    with torch.device("meta"):  # shapes only: no memory, no time
        official = Generator(**FFHQ1024)
    assert synthesis_parameters(official) == OFFICIAL_SYNTHESIS_PARAMETERS == 28_268_812
    assert sum(c.conv.weight.numel() for c in official.synthesis.convs) == 23_583_744
    assert token_parameters(official, 1) == 11_650  # 17 convs: Σ (C_out + C_in + 2)
    assert token_parameters(official, 256) == 2_982_400  # Table 2's 2.98 M
    assert paper_rank(official) == 256
    assert PAPER_TOKEN_RATIO == pytest.approx(0.10542, abs=1e-5)
    with torch.device("meta"):
        emoji64 = Generator(**open_zoo("emoji64").architecture("generator"))
    L = paper_rank(emoji64)
    share = token_parameters(emoji64, L) / synthesis_parameters(emoji64)
    assert abs(share - PAPER_TOKEN_RATIO) <= token_parameters(emoji64, 1) / synthesis_parameters(emoji64) / 2
    full = sum(c.conv.weight.numel() for c in emoji64.synthesis.convs)
    assert token_parameters(emoji64, L) <= 0.15 * full  # #22's floor against this project's full fine-tuning
    g = Generator(size=16, style_dim=16, n_mlp=2, channels=[16, 16, 8])
    assert DomainParameters.create(g, "tokens", None, None).count() == token_parameters(g, paper_rank(g))
    assert DomainParameters.create(g, "tokens", [1, 2], 3).count() == token_parameters(g, 3, [1, 2])


def test_start_factors_of_a_smaller_rank_fill_the_first_token_rows():
    torch.manual_seed(0)
    g = Generator(size=16, style_dim=16, n_mlp=2, channels=[16, 16, 8]).eval().requires_grad_(False)
    conv = g.synthesis.convs[2].conv
    start = {2: (torch.randn(1, 2, conv.out_channels), torch.randn(1, 2, conv.in_channels))}
    params = DomainParameters.create(g, "tokens", None, 5, start=start)
    assert params.count() == token_parameters(g, 5)
    ws = g.broadcast(g.mapping(torch.randn(2, 16)))
    with torch.no_grad():  # the fresh rows have Q = 0: the residual is exactly the start's
        torch.testing.assert_close(params.render(g, ws), g.synthesis(ws, residuals=start))


def test_targets_cover_every_style_but_google_with_the_clip_prompts():
    assert set(TARGETS) == set(STYLES) - {SOURCE_STYLE}
    for style, t in TARGETS.items():
        assert (t.source_prompt, t.target_prompt) == (STYLE_PROMPTS["google"], STYLE_PROMPTS[style])
        assert t.reference_file.is_file(), t.reference_file


@pytest.mark.slow
def test_the_reference_emoji_follows_its_rule_and_is_drawn_by_every_style(emojibench):
    from PIL import Image

    assert reference_rule(emojibench) == REFERENCE_CODE
    i = reference_row(emojibench)
    assert emojibench.records[i]["split"] == "train"
    for style, t in TARGETS.items():
        assert emojibench.has_style(style)[i]
        shipped = np.asarray(Image.open(t.reference_file).convert("RGB"))
        assert np.array_equal(shipped, emojibench.style(style)[i]), style  # the app's preset is the bench's reference


def test_paired_changes_on_known_data():
    rng = np.random.default_rng(0)
    base = torch.from_numpy(rng.uniform(0.5, 1.0, 400))
    noisy = base + torch.from_numpy(rng.normal(-0.05, 0.1, 400))
    rows = {UNADAPTED: {"per_image": {"mse": base.clone(), "perceptual": base.clone()}},
            "shifted": {"per_image": {"mse": base - 0.1, "perceptual": base - 0.1}},
            "noisy": {"per_image": {"mse": noisy, "perceptual": noisy}}}
    paired_changes(rows)
    assert rows["shifted"]["delta_perceptual"] == pytest.approx((-0.1, -0.1, -0.1))
    assert rows["shifted"]["relative_mse"] == pytest.approx(-0.1 / base.mean().item())
    assert rows["shifted"]["closer_fraction"] == 1.0
    mean, low, high = rows["noisy"]["delta_perceptual"]
    half = 1.96 * 0.1 / 400**0.5  # the normal interval of a mean of 400 draws with σ = 0.1
    assert low < -0.05 < high and (high - low) / 2 == pytest.approx(half, rel=0.2) and low < mean < high
    assert "per_image" not in rows["noisy"] and "delta_mse" not in rows[UNADAPTED]


class ToyJudge(nn.Module):
    """'fluent_3d' for bright images, 'google' for dark ones."""

    styles = list(STYLES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bright = x.mean((1, 2, 3))  # [B]
        logits = torch.zeros(len(x), len(self.styles))
        logits[:, self.styles.index("fluent_3d")] = bright
        logits[:, self.styles.index("google")] = -bright
        return logits


def test_style_judge_share_counts_the_target_style_and_a_zoo_without_a_judge_says_so():
    images = torch.cat([torch.full((3, 3, 8, 8), 0.5), torch.full((1, 3, 8, 8), -0.5)])
    assert style_share(ToyJudge(), images, "fluent_3d") == 0.75
    assert style_share(ToyJudge(), images, "google") == 0.25
    with pytest.raises(ValueError, match="does not know"):
        style_share(ToyJudge(), images, "sketch")
    judge, note = style_judge_of(SimpleNamespace(name="toy", slots={}))
    assert judge is None and "has no style_judge slot" in note


# ---- the bench's core function on a tiny world -------------------------------------------------------------------
R = 16


def tiny_world() -> EmojiBench:
    """Six emoji at 16 px: the reference (train, every style), two train and three test rows."""
    gen = np.random.default_rng(1)
    n = 6
    splits = ["train", "train", "test", "train", "test", "test"]
    records = [{"code": REFERENCE_CODE if i == 0 else f"1F6{i:02d}", "base": f"b{i}", "name": f"emoji {i}",
                "split": splits[i]} for i in range(n)]

    def images() -> np.ndarray:
        return gen.integers(0, 256, (n, R, R, 3), dtype=np.uint8)

    return EmojiBench(images(), images(), records, {}, extra={s: images() for s in EXTRA},
                      available={s: np.ones(n, dtype=bool) for s in EXTRA})


def tiny_networks(judged: bool) -> BenchNetworks:
    torch.manual_seed(0)
    g = Generator(size=R, style_dim=16, n_mlp=2, channels=[16, 16, 8]).eval().requires_grad_(False)
    g.w_avg.copy_(g.estimate_w_avg(64))
    judge = EmojiNet(widths=[8, 8, 16, 16, 16], embed_dim=8).eval().requires_grad_(False)
    nets = InversionNetworks(g, ReconstructionLoss(judge.perceptual_distance, judge.identity))
    nets.e4e = E4EEncoder(input_size=R, stages=[[16, 1], [16, 1], [16, 1], [16, 1]], stem=16, w_dim=16,
                          num_ws=g.num_ws, coarse=3, middle=4).eval().requires_grad_(False)
    chans = [[c.conv.in_channels, c.conv.out_channels] for c in g.synthesis.convs]
    nets.refinestyle_2s = RefineStyleEncoder(g.num_ws, 16, 16, 2, chans, refined_layers=[2, 3, 4], rank=4,
                                             d_model=32, widths=[16, 16, 32, 32], input_size=R, input_channels=6,
                                             predict_w=False).eval().requires_grad_(False)
    words = tokenize(list(STYLE_PROMPTS.values()))[:, :16].flatten().tolist()
    clip = EmojiClip(16, {"image_size": R, "patch_size": 8, "width": 32, "layers": 1, "head_width": 16},
                     {"context_length": 16, "width": 32, "heads": 2, "layers": 1}, sorted(set(words) - {0}))
    style_judge = StyleJudge(list(STYLES), widths=[4, 4, 8, 8], blocks=1).eval() if judged else None
    return BenchNetworks(nets, judge, clip_towers(clip), style_judge, "" if judged else "no judge here", "tiny")


def test_bench_core_adapts_every_method_and_scores_the_pairs():
    data, bn = tiny_world(), tiny_networks(judged=True)
    g_before = {k: v.clone() for k, v in bn.nets.generator.state_dict().items()}
    run = bench_style(bn, data, "fluent_3d", list(METHODS), iterations=2, lrs=[1e-3, 1e-2], n_images=2,
                      log=lambda line: None)
    r = run.result
    assert r["images"] == 2 and r["style"] == "fluent_3d" and set(run.domains) == set(METHODS)
    rows = r["rows"]
    L = paper_rank(bn.nets.generator)
    assert rows[f"text: tokens, L = {L}"]["parameters"] == token_parameters(bn.nets.generator, L)
    assert rows["text: tokens, L = 16"]["rank"] == 16
    assert rows[f"one-shot: tokens, L = {L}, init from inversion"]["rank"] == L  # 4 inverter rows + fresh ones
    for name, row in rows.items():
        assert 0.0 <= row["style_share"] <= 1.0
        assert ("delta_perceptual" in row) == (name != UNADAPTED)
        if "method" in row:
            assert row["s_per_iteration"] > 0 and row["lr"] in (1e-3, 1e-2) and row["clip_direction"] is not None
    assert rows["real target rendering"]["mse"] == 0.0 and rows["real target rendering"]["perceptual"] < 1e-6
    assert set(r["validation_perceptual"][f"text: tokens, L = {L}"]) == {"0.001", "0.01"}
    assert set(r["floors"]) == {bn.label(k) for k, m in METHODS.items() if m.kind == "tokens"}
    for k, v in bn.nets.generator.state_dict().items():  # the generator is never modified
        assert torch.equal(v, g_before[k]), k
    fig_rows = figure_rows(data, 8)
    assert len(fig_rows) == 3  # every test emoji of the tiny world is drawn by every style
    image = picture(bn, data, "fluent_3d", run.domains, fig_rows)
    assert image.size[1] == (3 + len(METHODS)) * (R + 4)
    result = {"styles": {"fluent_3d": r}, "iterations": 2, "images": 2, "lrs": [1e-3, 1e-2], "paper_rank": L,
              "small_rank": 16, "style_judge": True, "style_judge_note": "", "skipped_methods": {}, "figures": {},
              "missing": []}
    text = table(result)
    assert "judge: target style" in text and "Microsoft Fluent 3D" in text and "Floors" in text


def test_bench_core_without_a_style_judge_skips_the_column():
    data, bn = tiny_world(), tiny_networks(judged=False)
    r = bench_style(bn, data, "emojione", ["text-tokens", "text-full"], iterations=2, lrs=[1e-3], n_images=2,
                    log=lambda line: None).result
    assert all("style_share" not in row for row in r["rows"].values())
    assert r["validation_perceptual"] == {}
    assert all(f["style_share"] is None for f in floors(r["rows"], judged=False).values())
    result = {"styles": {"emojione": r}, "iterations": 2, "images": 2, "lrs": [1e-3], "paper_rank": 1,
              "small_rank": 16, "style_judge": False, "style_judge_note": bn.judge_note, "skipped_methods": {},
              "figures": {}, "missing": []}
    text = table(result)
    assert "judge: target style" not in text and "no judge here" in text


def test_the_tabs_preview_the_generate_tabs_seeds_and_offer_a_preset_per_target():
    from pipelines.domain import AdaptedDomain
    from pipelines.generate import generate
    from pipelines.images import tensor_to_pil
    from ui.adaptation_tabs import PREVIEW_SEEDS, PREVIEW_TRUNCATION, _preview
    from ui.examples import style_targets

    torch.manual_seed(0)
    g = Generator(size=R, style_dim=16, n_mlp=2, channels=[16, 16, 8]).eval().requires_grad_(False)
    grid = _preview(g, AdaptedDomain("tokens"))  # an empty domain: "adapted" equals "before"
    samples = generate(g, PREVIEW_SEEDS[0], len(PREVIEW_SEEDS), PREVIEW_TRUNCATION)
    for (image, caption), seed, expected in zip(grid, samples.seeds, samples.images):
        assert caption.startswith(f"seed {seed} (ψ 0.7)")
        assert np.array_equal(np.asarray(image), np.asarray(tensor_to_pil(expected)))
    assert [t.style for t in style_targets("emoji64")] == list(TARGETS) and style_targets("ffhq") == []


def test_the_zoo_loads_a_style_judge_slot_by_its_class_name(tmp_path):
    from pipelines.zoo import _load_project_network

    judge = StyleJudge(list(STYLES), widths=[4, 4, 8, 8], blocks=1).eval()
    judge.save_pretrained(tmp_path)
    loaded = _load_project_network([tmp_path / "config.json"], {"class": "StyleJudge"}).eval()
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    assert loaded.styles == list(STYLES)
    torch.testing.assert_close(loaded(x), judge(x))


def test_oneshot_reconstruction_carries_eq6s_identity_term():
    """recon_id_weight adds λ_id (1 − cos(ID(G'(w_r)), ID(I_r))) to the reconstruction loss (RefineStyle Eq. 6)."""
    from pipelines.adapt_oneshot import OneShotSettings, adapt_oneshot

    torch.manual_seed(2)
    g = Generator(size=R, style_dim=16, n_mlp=2, channels=[16, 16, 8]).eval().requires_grad_(False)
    judge = EmojiNet(widths=[8, 8, 16, 16, 16], embed_dim=8).eval().requires_grad_(False)
    reference = torch.rand(1, 3, R, R) * 2 - 1
    w_ref = g.broadcast(g.mapping(torch.randn(1, 16)))

    def first_recon(weight: float) -> float:
        s = OneShotSettings(iterations=1, lr=0.0, rank=2, id_weight=0.0, recon_id_weight=weight)
        return adapt_oneshot(g, reference, w_ref, judge.features, judge.perceptual_distance, s,
                             identity=judge.identity).info["loss_first"][0]

    with torch.no_grad():
        cos = (judge.identity(g.synthesis(w_ref)) * judge.identity(reference)).sum().item()
    assert first_recon(2.0) - first_recon(0.0) == pytest.approx(2.0 * (1 - cos), rel=1e-4, abs=1e-6)


def test_merge_keeps_the_other_styles_of_the_same_settings_and_refuses_other_settings(tmp_path):
    from bench.adaptation import merged
    from bench.report import locked_update

    settings = {"methods": {"text-tokens": "text: tokens, L = 87"}, "iterations": 300, "images": 96, "lrs": [1e-3],
                "seed": 0, "paper_rank": 87, "small_rank": 16, "style_judge": True, "missing": []}
    path = tmp_path / "adaptation.json"
    lane_a = settings | {"styles": {"fluent_3d": {"rows": "3d"}}, "figures": {"fluent_3d": "docs/a_3d.png"}}
    locked_update(path, lambda old: merged(old, lane_a, "cmd a"))  # nothing yet: just lane a
    assert json.loads(path.read_text())["commands"] == ["cmd a"] and not path.with_suffix(".part").exists()
    lane_b = settings | {"styles": {"twitter": {"rows": "tw"}, "fluent_3d": {"rows": "3d again"}}, "figures": {}}
    both = locked_update(path, lambda old: merged(old, lane_b, "cmd b"))
    assert list(both["styles"]) == ["twitter", "fluent_3d"]  # in TARGETS order; the rerun style is lane b's
    assert both["styles"]["fluent_3d"]["rows"] == "3d again" and both["figures"] == lane_a["figures"]
    assert both["commands"] == ["cmd a", "cmd b"] and json.loads(path.read_text()) == both
    with pytest.raises(SystemExit, match="other settings .iterations"):
        merged(both, lane_b | {"iterations": 30}, "cmd c")
    with pytest.raises(SystemExit, match="style_judge_weights"):  # scored by another judge
        merged(both | {"style_judge_weights": "aa"}, lane_b | {"style_judge_weights": "bb"}, "cmd d")
    with pytest.raises(SystemExit, match="oneshot_l2_on_unit_images"):  # a file of the earlier L2 form
        merged(both | {"oneshot_l2_on_unit_images": True}, lane_b | {"oneshot_l2_on_unit_images": False}, "cmd e")


def test_report_rewrites_the_table_from_the_results_file_without_measuring(tmp_path, monkeypatch, capsys):
    import bench.adaptation as bench_adaptation

    shipped = bench_adaptation.RESULTS_DIR / "adaptation.json"
    (tmp_path / "lanes.json").write_text(shipped.read_text())
    monkeypatch.setattr(bench_adaptation, "RESULTS_DIR", tmp_path)
    monkeypatch.setattr(bench_adaptation, "run", None)  # measuring anything would fail
    bench_adaptation.main(["--report", "--name", "lanes"])
    out = capsys.readouterr().out
    assert all(f"(`{style}`)" in out for style in json.loads(shipped.read_text())["styles"])
