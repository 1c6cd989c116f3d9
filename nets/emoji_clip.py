"""The emoji64 zoo's CLIP: open_clip's own CLIP architecture at emoji size (the zoo's `clip` architecture).

Text goes in as open_clip BPE token ids (pipelines.clip_text.tokenize); the model maps them into a
compact vocabulary — the BPE ids its training captions use, listed in the config — so the token
table holds a few hundred rows instead of 49 408. Compact ids: 0 pad, 1 unknown, 2 start, ...,
last = end of text, so open_clip's argmax pooling still lands on the end token.
"""
from __future__ import annotations

import open_clip
import torch
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin
from torch import Tensor, nn

BPE_VOCAB = 49408
BPE_START, BPE_END = 49406, 49407
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


class EmojiClip(nn.Module, PyTorchModelHubMixin):
    def __init__(self, embed_dim: int, vision: dict, text: dict, bpe_ids: list[int]) -> None:
        super().__init__()
        words = sorted(set(bpe_ids) - {BPE_START, BPE_END})
        table = torch.ones(BPE_VOCAB, dtype=torch.long)  # unknown
        table[0] = 0
        table[BPE_START] = 2
        table[torch.tensor(words, dtype=torch.long)] = torch.arange(3, 3 + len(words))
        table[BPE_END] = 3 + len(words)
        self.register_buffer("bpe_to_id", table, persistent=False)
        self.clip = open_clip.CLIP(embed_dim, vision_cfg=vision, text_cfg=dict(text, vocab_size=4 + len(words)))
        self.register_buffer("mean", torch.tensor(CLIP_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(CLIP_STD).view(1, 3, 1, 1), persistent=False)

    @property
    def logit_scale(self) -> Tensor:
        return self.clip.logit_scale.exp()

    def encode_image(self, img: Tensor) -> Tensor:
        """[B, 3, 64, 64] in [-1, 1] -> unit embeddings [B, D]."""
        x = ((img + 1) / 2 - self.mean) / self.std
        return F.normalize(self.clip.encode_image(x), dim=-1)

    def encode_text(self, bpe_tokens: Tensor) -> Tensor:
        """open_clip BPE ids [B, T] (T ≥ the config's context length is cut) -> unit embeddings [B, D]."""
        ids = self.bpe_to_id[bpe_tokens[:, : self.clip.context_length]]
        return F.normalize(self.clip.encode_text(ids), dim=-1)
