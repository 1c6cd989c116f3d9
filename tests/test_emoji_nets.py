"""EmojiNet and the emoji CLIP: interfaces, the distance's properties, the compact vocabulary."""
from __future__ import annotations

import pytest
import torch

from nets.emoji_clip import BPE_END, BPE_START, EmojiClip
from nets.emojinet import (
    ATTRIBUTES,
    EmojiNet,
    cosine_feature_distance,
    feature_distance,
)
from pipelines.clip_text import tokenize
from pipelines.zoo import open_zoo


def test_emojinet_outputs():
    net = EmojiNet(widths=[8, 8, 16, 16, 16], embed_dim=12).eval()
    out = net(torch.rand(3, 3, 64, 64) * 2 - 1)
    assert [f.shape[-1] for f in out["features"]] == [64, 32, 16, 8, 4]
    assert out["embedding"].shape == (3, 12)
    torch.testing.assert_close(out["embedding"].norm(dim=1), torch.ones(3))
    assert {k: v.shape[1] for k, v in out["logits"].items()} == {k: len(v) for k, v in ATTRIBUTES.items()}


def test_perceptual_distance_is_a_normalised_feature_distance():
    net = EmojiNet(widths=[8, 8, 16, 16, 16]).eval()
    x, y = torch.rand(2, 3, 64, 64) * 2 - 1, torch.rand(2, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        assert torch.allclose(net.perceptual_distance(x, x), torch.zeros(2), atol=1e-6)
        d = net.perceptual_distance(x, y)
        torch.testing.assert_close(d, net.perceptual_distance(y, x))
    assert ((d > 0) & (d <= 4)).all()
    a = torch.randn(2, 5, 4, 4)
    torch.testing.assert_close(feature_distance(a, 3 * a), torch.zeros(2), atol=1e-6, rtol=0)  # scale-free
    torch.testing.assert_close(feature_distance(a, -a), torch.full((2,), 4.0))
    torch.testing.assert_close(cosine_feature_distance(a, -a), torch.full((2,), 2.0))


def test_emoji_clip_compact_vocabulary():
    arch = open_zoo("emoji64").architecture("clip")
    tok = tokenize(["a grinning face emoji, google style", "zebra"], arch["text"]["context_length"])
    words = tok[0][(tok[0] > 0) & (tok[0] < BPE_START)].tolist()
    model = EmojiClip(arch["embed_dim"], arch["vision"], arch["text"], words).eval()
    ids = model.bpe_to_id[tok]
    assert ids[0, 0] == 2 and ids[0].max() == len(set(words)) + 3  # start, ..., end = the largest id
    assert ids[0, len(words) + 1] == ids[0].max()
    zebra = tok[1][(tok[1] > 0) & (tok[1] < BPE_START)]
    assert not set(zebra.tolist()) & set(words) and (model.bpe_to_id[zebra] == 1).all()  # unknown words
    assert model.bpe_to_id[BPE_END] == model.clip.vocab_size - 1
    with torch.no_grad():
        t, i = model.encode_text(tok), model.encode_image(torch.rand(2, 3, 64, 64) * 2 - 1)
    assert t.shape == i.shape == (2, arch["embed_dim"])
    torch.testing.assert_close(t.norm(dim=1), torch.ones(2))


@pytest.mark.parametrize("text, message", [("   ", "empty"), ("x" * 1000, "characters")])
def test_prompts_are_checked(text, message):
    with pytest.raises(ValueError, match=message):
        tokenize([text])


def test_clip_captions_name_every_style_in_the_words_people_type():
    from pipelines.emojibench import STYLE_PROMPTS, STYLE_WORDS, STYLES
    from train.clip import captions

    record = {"name": "man cook", "skin": "medium", "tags": ["chef"]}
    for style in STYLES:
        texts = captions(record, style)
        for word in STYLE_WORDS[style]:
            assert f"a man cook emoji, {word} style" in texts and f"an emoji of chef, {word} style" in texts
        assert STYLE_PROMPTS[style] in texts  # the zero-shot prompt is a training caption
    words = [w for ws in STYLE_WORDS.values() for w in ws]
    assert len(words) == len(set(words))  # no word names two styles
    assert {"3d", "flat", "black and white", "line art", "high contrast", "outline", "glossy", "cartoon"} <= set(words)
    context = open_zoo("emoji64").architecture("clip")["text"]["context_length"]
    tokens = tokenize(list(STYLE_PROMPTS.values()), context)
    assert len({tuple(t.tolist()) for t in tokens}) == len(STYLES)  # the prompts differ as token sequences
