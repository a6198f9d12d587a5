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
