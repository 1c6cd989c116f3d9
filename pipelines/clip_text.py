"""Text prompts -> open_clip BPE token ids (the tokenizer ships inside the open_clip package)."""
from __future__ import annotations

import open_clip
from torch import Tensor

MAX_PROMPT_CHARS = 300


def tokenize(texts: list[str], context_length: int = 77) -> Tensor:
    """Check and tokenize prompts.  -> [B, context_length] BPE ids (start, ..., end, 0 padding)."""
    cleaned = [" ".join(str(t).split()) for t in texts]
    for t in cleaned:
        if not t:
            raise ValueError("the text prompt is empty")
        if len(t) > MAX_PROMPT_CHARS:
            raise ValueError(f"the text prompt has {len(t)} characters; the limit is {MAX_PROMPT_CHARS}")
    return open_clip.tokenize(cleaned, context_length=context_length)
