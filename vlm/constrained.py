"""Constrained decoding: a logits processor that only lets the model write valid sequence text
(`cadlib.grammar`), so every generated answer parses, stays in the quantisation range and within
DeepCAD's length limits.

At each step the generated text's grammar state is computed, and a depth-first walk over a trie of
the vocabulary's token strings collects the tokens whose every character the grammar accepts (the
walk stops at the first refused character, so most of a large vocabulary is never visited). The
end-of-utterance token is allowed only where the text is a whole sequence.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cadlib.grammar import Limits, TextPrefix


@dataclass
class _Node:
    children: dict[str, _Node] = field(default_factory=dict)
    ids: list[int] = field(default_factory=list)


class SequenceConstraint:
    """A `transformers` logits processor; `prompt_len` is the prompt's length in tokens (padded
    batch: the longest), so the answer is `input_ids[:, prompt_len:]`."""

    def __init__(self, tokenizer, prompt_len: int, limits: Limits | None = None,
                 max_new_tokens: int | None = None) -> None:
        self.tokenizer = tokenizer
        self.prompt_len = prompt_len
        self.limits = limits or Limits()
        self.max_new_tokens = max_new_tokens
        shortest = TextPrefix(self.limits).min_to_finish()
        if max_new_tokens is not None and max_new_tokens < shortest + 1:
            raise ValueError(f"max_new_tokens={max_new_tokens} cannot hold the shortest sequence text "
                             f"({shortest} characters and the end token); raise it")
        self.end_ids = {i for i in (tokenizer.eos_token_id,) if i is not None}
        special = set(tokenizer.all_special_ids)
        self.root = _Node()
        for tid in range(len(tokenizer)):
            if tid in special:
                continue
            text = tokenizer.decode([tid])
            if not text:
                continue
            node = self.root
            for ch in text:
                node = node.children.setdefault(ch, _Node())
            node.ids.append(tid)
        self._by_state: dict[tuple[TextPrefix, bool], tuple[list[int], list[int]]] = {}
        self._rows: dict[int, tuple[str, TextPrefix | None]] = {}

    def _state(self, row: int, body: str) -> TextPrefix | None:
        """The grammar state after `body`, continued from the row's last step where it can be."""
        seen, state = self._rows.get(row, ("", TextPrefix(self.limits)))
        if state is not None and body.startswith(seen):
            state = state.feed_text(body[len(seen):])
        else:
            state = TextPrefix(self.limits).feed_text(body)
        self._rows[row] = (body, state)
        return state

    def allowed(self, generated: str, row: int = -1, budget: int | None = None) -> list[int]:
        """The token ids that may follow `generated` (memoised by grammar state); with `budget`
        (the tokens left after this one), only those after which the text can still be finished."""
        body = generated.lstrip(" ")
        state = self._state(row, body)
        if state is None:
            return sorted(self.end_ids)  # cannot happen when every step was constrained
        key = (state, not body)
        hit = self._by_state.get(key)
        if hit is None:
            hit = self._by_state[key] = self._walk(state, not body)
        ids, need = hit
        if budget is None:
            return ids
        fits = [i for i, n in zip(ids, need, strict=True) if n <= budget]
        return fits or ids  # cannot be empty while the budget was kept at every step

    def _walk(self, state: TextPrefix, leading: bool) -> tuple[list[int], list[int]]:
        """Every token the grammar allows after `state`, and the characters each leaves to write."""
        ids: list[int] = []
        need: list[int] = []
        stack = [(self.root, state, leading)]
        while stack:
            node, st, lead = stack.pop()
            if node.ids:
                left = st.min_to_finish()
                ids.extend(node.ids)
                need.extend([left] * len(node.ids))
            for ch, child in node.children.items():
                if lead and ch == " ":
                    stack.append((child, st, True))  # "Assistant: sketch": a space before the answer
                    continue
                nxt = st.feed(ch)
                if nxt is not None:
                    stack.append((child, nxt, False))
        if state.can_end:
            ids.extend(self.end_ids)
            need.extend([0] * len(self.end_ids))
        return ids, need

    def __call__(self, input_ids, scores):
        import torch

        mask = torch.full_like(scores, float("-inf"))
        budget = None
        if self.max_new_tokens is not None:
            budget = self.max_new_tokens - (input_ids.shape[1] - self.prompt_len) - 1  # left after this token
        for row in range(input_ids.shape[0]):
            text = self.tokenizer.decode(input_ids[row, self.prompt_len:], skip_special_tokens=True)
            ids = self.allowed(text, row, budget)
            mask[row, ids] = 0.0
        return scores + mask
