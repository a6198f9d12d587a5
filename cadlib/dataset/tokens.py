"""Counting tokens for the length filter without a tokenizer.

`estimate_tokens` is deliberately pessimistic for the text cadrecon writes: every digit counts as
a token (Llama 3, Qwen and SmolLM tokenizers split numbers into single digits or short groups),
every run of letters as one, every other non-space character as one. It does not under-count a
tokenizer that splits numbers into digits and keeps common words whole, and it over-counts those
that merge digits, so a sample it keeps fits. Pass a real tokenizer (`dataset.tokenizer`, see
`vlm.tokens`) for exact counts.
"""

from __future__ import annotations

import re

_PIECES = re.compile(r"\d|[^\W\d_]+|[^\s\w]|_")


def estimate_tokens(text: str) -> int:
    """A documented upper-bound estimate of a text's token count (see the module docstring)."""
    return len(_PIECES.findall(text))
