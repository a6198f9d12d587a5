"""Constrained decoding: a logits processor that only lets the model write valid sequence text
(`cadlib.grammar`), so every generated answer parses, stays in the quantisation range and within
DeepCAD's length limits.

At each step the generated text's grammar state is computed, and a depth-first walk over a trie of
the vocabulary's token strings collects the tokens whose every character the grammar accepts (the
walk stops at the first refused character, so most of a large vocabulary is never visited). The
end-of-utterance token is allowed only where the text is a whole sequence.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from cadlib.grammar import IntRule, Limits, TextPrefix

_DIGITS = frozenset("0123456789")


@dataclass
class _Node:
    children: dict[str, _Node] = field(default_factory=dict)
    ids: list[int] = field(default_factory=list)


@dataclass(slots=True)
class _Allowed:
    """The tokens a grammar state allows and the characters each leaves to write; as tensors too,
    made the first time a decoding step indexes its mask with them."""

    ids: list[int]
    need: list[int]
    tensors: tuple | None = None

    def as_tensors(self) -> tuple:
        if self.tensors is None:
            import torch

            self.tensors = (torch.tensor(self.ids, dtype=torch.long), torch.tensor(self.need, dtype=torch.long))
        return self.tensors


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
        self._by_state: dict[tuple[TextPrefix, bool], _Allowed] = {}
        self._end_only = _Allowed(sorted(self.end_ids), [0] * len(self.end_ids))
        self._rows: dict[int, tuple[str, TextPrefix | None]] = {}
        self._numbers: dict[tuple, tuple] = {}  # (node, digits so far, rule) -> `_digits_below`

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
        hit = self._lookup(generated, row)
        if budget is None:
            return hit.ids
        fits = [i for i, n in zip(hit.ids, hit.need, strict=True) if n <= budget]
        return fits or hit.ids  # cannot be empty while the budget was kept at every step

    def _lookup(self, generated: str, row: int) -> _Allowed:
        body = generated.lstrip(" ")
        state = self._state(row, body)
        if state is None:
            return self._end_only  # cannot happen when every step was constrained
        key = (state, not body)
        hit = self._by_state.get(key)
        if hit is None:
            hit = self._by_state[key] = _Allowed(*self._walk(state, not body))
        return hit

    def _allowed_tensor(self, generated: str, row: int, budget: int | None):
        """`allowed` as an index tensor (a decoding step indexes its mask with it instead of
        converting a thousand ids every step)."""
        ids_t, need_t = self._lookup(generated, row).as_tensors()
        if budget is None:
            return ids_t
        fits = ids_t[need_t <= budget]
        return fits if len(fits) else ids_t

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
            rule: IntRule | None | bool = False  # False: not asked yet
            for ch, child in node.children.items():
                if lead and ch == " ":
                    stack.append((child, st, True))  # "Assistant: sketch": a space before the answer
                    continue
                if ch in _DIGITS:
                    rule = st.int_rule() if rule is False else rule
                    if isinstance(rule, IntRule):
                        self._walk_number(child, st, st.word + ch, rule, stack, ids, need)
                        continue
                nxt = st.feed(ch)
                if nxt is not None:
                    stack.append((child, nxt, False))
        if state.can_end:
            ids.extend(self.end_ids)
            need.extend([0] * len(self.end_ids))
        return ids, need

    def _walk_number(self, node: _Node, st: TextPrefix, word: str, rule: IntRule, stack: list, ids: list[int],
                     need: list[int]) -> None:
        """The digits below `node` (`word` so far) without a grammar state per character: a number's
        digits are checked against its rule alone (memoised: most numbers share a few rules), and
        the characters left after a partial number are those of a whole one
        (`TextPrefix.min_to_finish` of a state that takes it as it is), plus one where it is not a
        whole number yet (the shortest finish writes one more digit). Where a digit is followed by
        anything else, the walk goes on with a real state."""
        key = (id(node), word, rule)
        hit = self._numbers.get(key)
        if hit is None:
            hit = self._numbers[key] = _digits_below(node, word, rule)
        whole_ids, partial_ids, sample, branches = hit
        if sample is not None:
            finish = replace(st, word=sample[0]).min_to_finish() - (0 if sample[1] else 1)
            ids.extend(whole_ids)
            need.extend([finish] * len(whole_ids))
            ids.extend(partial_ids)
            need.extend([finish + 1] * len(partial_ids))
        for child, w, ch in branches:
            nxt = replace(st, word=w).feed(ch)
            if nxt is not None:
                stack.append((child, nxt, False))

    def __call__(self, input_ids, scores):
        import torch

        mask = torch.full_like(scores, float("-inf"))
        budget = None
        if self.max_new_tokens is not None:
            budget = self.max_new_tokens - (input_ids.shape[1] - self.prompt_len) - 1  # left after this token
        for row in range(input_ids.shape[0]):
            text = self.tokenizer.decode(input_ids[row, self.prompt_len:], skip_special_tokens=True)
            mask[row, self._allowed_tensor(text, row, budget).to(mask.device)] = 0.0
        return scores + mask


def _digits_below(node: _Node, word: str, rule: IntRule):
    """The token ids below `node` whose digits (after `word`) make a whole number of `rule`, those
    that make only the start of one, one such word (and whether it is whole), and the non-digit
    continuations (child node, word, character) left for a real state."""
    whole_ids: list[int] = []
    partial_ids: list[int] = []
    sample: tuple[str, bool] | None = None
    branches = []
    todo = [(node, word)]
    while todo:
        n, w = todo.pop()
        if not rule.takes(w, complete=False):
            continue
        complete = rule.takes(w, complete=True)
        if n.ids:
            (whole_ids if complete else partial_ids).extend(n.ids)
            sample = sample or (w, complete)
        for ch, child in n.children.items():
            if ch in _DIGITS:
                todo.append((child, w + ch))
            else:
                branches.append((child, w, ch))
    return whole_ids, partial_ids, sample, branches
