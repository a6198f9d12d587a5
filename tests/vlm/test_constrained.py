"""Constrained decoding: every generated text parses, even from an untrained model."""

from __future__ import annotations

import pytest

from cadlib.errors import CadlibError
from cadlib.grammar import Limits
from cadlib.text import from_text
from tests.conftest import record


def parse_rate(texts: list[str]) -> float:
    ok = 0
    for t in texts:
        try:
            from_text(t)
            ok += 1
        except CadlibError:
            pass
    return ok / len(texts)


@pytest.mark.slow
def test_fifty_constrained_generations_all_parse(tiny_model, tiny_dataset):
    from vlm.generate import generate_batch
    from vlm.loading import load_model

    model, processor = load_model(tiny_model)
    images = [[str(tiny_dataset / f"images/train_{i}_front.png")] for i in range(5)]
    limits = Limits(max_extrudes=2, max_commands=14)
    got = generate_batch(model, processor, images, "Write the construction sequence of this part.",
                         max_new_tokens=400, constrained=True, samples=10, limits=limits, seed=3)
    texts = [t for row in got for t in row]
    assert len(texts) == 50 and parse_rate(texts) == 1.0
    steps: list[int] = []
    free = generate_batch(model, processor, images, "Write the construction sequence of this part.",
                          max_new_tokens=60, constrained=False, samples=2, seed=3,
                          on_token=lambda step, total: steps.append(step))
    free_texts = [t for r in free for t in r]
    assert steps[0] == 1 and steps == sorted(steps) and steps[-1] == 60  # a decoding step each, then done
    record("10 unconstrained generations (untrained tiny model)", "parsed",
           round(parse_rate(free_texts) * len(free_texts)))


def test_allowed_tokens_follow_the_grammar(tiny_model):
    from transformers import AutoTokenizer

    from vlm.constrained import SequenceConstraint

    tok = AutoTokenizer.from_pretrained(tiny_model)
    c = SequenceConstraint(tok, prompt_len=0)
    start = {tok.decode([i]) for i in c.allowed("")}
    assert start and all("bits".startswith(s.lstrip(" ")) for s in start)
    after = {tok.decode([i]) for i in c.allowed("bits 8\nsketch 1 2 3 4 5 6 7\nloop\ncircle 5 5 3\n")}
    assert all(s and ("loop\n".startswith(s) or "extrude".startswith(s.split(" ")[0])) for s in after)
    done = c.allowed("bits 8\nsketch 1 2 3 4 5 6 7\nloop\ncircle 5 5 3\nextrude new one 9\n")
    assert tok.eos_token_id in done


def _walk_by_character(c, state, leading: bool) -> list[tuple[int, int]]:
    """The walk as first written: a grammar state for every character of every token."""
    ids, need = [], []
    stack = [(c.root, state, leading)]
    while stack:
        node, st, lead = stack.pop()
        if node.ids:
            ids += node.ids
            need += [st.min_to_finish()] * len(node.ids)
        for ch, child in node.children.items():
            if lead and ch == " ":
                stack.append((child, st, True))
                continue
            nxt = st.feed(ch)
            if nxt is not None:
                stack.append((child, nxt, False))
    if state.can_end:
        ids += sorted(c.end_ids)
        need += [0] * len(c.end_ids)
    return sorted(zip(ids, need, strict=True))


@pytest.mark.parametrize("bits, vocab", [(8, 1536), (16, 1536), (8, 400)])
def test_the_number_walk_allows_what_the_grammar_allows(bits, vocab):
    """The walk checks a number's digits against its rule, memoised, not one grammar state a
    character: at every other character of real texts (every sixth at 16 bits) (8 and 16 bits; numbers as one token, and
    in BPE pieces with a small vocabulary, so partial numbers continue), under DeepCAD's limits
    and tight ones, it allows the same tokens with the same characters left to write as the
    character-by-character walk."""
    from cadlib.deepcad_json import parse_sequence
    from cadlib.grammar import TextPrefix
    from cadlib.synth import generate
    from cadlib.text import to_text
    from vlm.constrained import SequenceConstraint
    from vlm.tiny import train_tokenizer

    texts = [to_text(parse_sequence(doc), bits) for _, doc in generate(6, seed=5, bits=None)]
    tok = train_tokenizer(texts, vocab_size=vocab, number_limit=1024 if vocab > 1024 else 10)
    if vocab < 1024:
        assert any(len(tok.encode(f" {n}", add_special_tokens=False)) > 1 for n in range(100, 255))  # pieces
    checked, step = 0, 2 if bits == 8 else 6  # 16-bit texts are longer
    for limits, chosen in ((Limits(bits=bits, max_commands=200, max_curves=40), texts[:4]),
                           (Limits(bits=bits, max_extrudes=2, max_commands=14, max_loops=2, max_curves=4), texts[4:])):
        c = SequenceConstraint(tok, 0, limits)
        for text in chosen:
            state: TextPrefix | None = TextPrefix(limits)
            for i, ch in enumerate(text):
                if state is None:
                    break  # past what the tight limits allow
                for lead in ((True, False) if not state.after and not state.word else (False,)) if i % step == 0 else ():
                    assert sorted(zip(*c._walk(state, lead), strict=True)) == _walk_by_character(c, state, lead)
                    checked += 1
                state = state.feed(ch)
    assert checked > 300
