"""bench/encoders.py: what a checkpoint says about itself, and the side-by-side table."""
from __future__ import annotations

import json

from bench import encoders
from nets.refinestyle import RefineStyleEncoder


def test_describe_reads_the_shape_the_training_record_and_the_file(tmp_path):
    chans = [[8, 8], [8, 4], [4, 4]]
    enc = RefineStyleEncoder(3, 8, 8, 2, chans, [1, 2], rank=2, d_model=16, heads=2, widths=[8, 8, 8, 8],
                             input_size=16, input_channels=6, predict_w=False)
    enc.save_pretrained(tmp_path)
    (tmp_path / "training.json").write_text(json.dumps({"meta": {"step": 7}}))
    row = encoders.describe(tmp_path, RefineStyleEncoder.from_pretrained(tmp_path))
    assert (row["stage"], row["rank"], row["layers"], row["token_sets"], row["d_model"], row["steps"],
            row["image_encoder"], row["optimiser"]) == (2, 2, [1, 2], 2, 16, 7, "cnn", "adam")  # runs before the flag
    (tmp_path / "training.json").write_text(json.dumps({"meta": {"step": 7}, "args": {"optimiser": "ranger"}}))
    assert encoders.describe(tmp_path, RefineStyleEncoder.from_pretrained(tmp_path))["optimiser"] == "ranger"
    assert row["parameters"] == sum(p.numel() for p in enc.parameters())
    assert row["bytes"] == (tmp_path / "model.safetensors").stat().st_size and len(row["sha256"]) == 64


def test_table_gives_each_row_its_ratio_to_e4e_on_each_split():
    scores = {"mse": 0.02, "perceptual": 0.3, "id": 0.7, "identity_r1": 0.5}
    shape = {"stage": 1, "rank": 16, "layers": [4, 5], "token_sets": 2, "d_model": 128, "image_encoder": "ir_se",
             "optimiser": "ranger", "steps": 3000,
             "parameters": 2_527_840, "bytes": 5_100_000}
    r = {"zoo": "emoji64", "images": 4, "machine": {"cpu": "test CPU"},
         "rows": {"e4e": {"splits": {"google": scores, "twitter": scores | {"mse": 0.04}}},
                  "candidate x": shape | {"splits": {"google": scores | {"mse": 0.01}, "twitter": scores}}}}
    text = encoders.table(r)
    row = next(line for line in text.splitlines() if line.startswith("| candidate x"))
    assert "| 0.0100 | 0.50× |" in row and "| 0.0200 | 0.50× |" in row and "| ir_se | ranger | 3000 | 2,527,840 | 5.1 |" in row
    e4e = next(line for line in text.splitlines() if line.startswith("| e4e"))
    assert e4e.count("1.00×") == 2 and e4e.count("|") == text.splitlines()[2].count("|")


def test_a_candidate_is_named_by_its_run_folder_or_by_itself(tmp_path):
    assert encoders.label(tmp_path / "runs" / "rs2s" / "export") == "rs2s"
    assert encoders.label(tmp_path / "63e53ca_refinestyle_1s") == "63e53ca_refinestyle_1s"
