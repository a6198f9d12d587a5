"""Token counting for the dataset's length filter: a real tokenizer when one is named, else the
documented estimate of `cadlib.dataset.tokens`."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from cadlib.dataset.tokens import estimate_tokens


@lru_cache(maxsize=4)
def token_counter(tokenizer: str | None) -> Callable[[str], int]:
    """A function that counts the tokens of a text: with `tokenizer` (an HF id or a local folder,
    loaded through `AutoTokenizer`), or `estimate_tokens` when it is None."""
    if not tokenizer:
        return estimate_tokens
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tokenizer)

    def count(text: str) -> int:
        return len(tok(text, add_special_tokens=False)["input_ids"])

    return count
