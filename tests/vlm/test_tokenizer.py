"""The CPU model's tokenizer: numbers, the chat template's role words and a dataset's repeated
prompts are one token each; everything round-trips."""

from __future__ import annotations

from vlm.tiny import frequent_phrases, train_tokenizer

PROMPT = "These are the front, top, right and iso views of a mechanical part. Write the construction sequence."
ONCE = "Here are the views of one part. Give its CAD construction sequence."


def _texts() -> list[str]:
    answers = [f"bits 8\nsketch 128 128 64 {i} {2 * i} 128 192\nloop\ncircle 127 127 {i + 3}\nextrude new one {300 + i}\n"
               for i in range(40)]
    prompts = [f"<image>\n{ONCE if i == 0 else PROMPT}" for i in range(40)]
    return [t for pair in zip(prompts, answers, strict=True) for t in pair]


def _conversation(prompt: str, answer: str) -> list[dict]:
    return [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]},
            {"role": "assistant", "content": [{"type": "text", "text": answer}]}]


def test_role_words_and_a_repeated_prompt_are_one_token_and_the_text_round_trips():
    tok = train_tokenizer(_texts())
    answer = "bits 8\nsketch 128 128 64 7 14 128 192\nloop\ncircle 127 127 10\nextrude new one 307\n"
    text = tok.apply_chat_template(_conversation(PROMPT, answer), tokenize=False)
    ids = tok.encode(text, add_special_tokens=False)
    pieces = [tok.decode([i]) for i in ids]
    assert pieces[:4] == ["<|im_start|>", "User:", "<image>", PROMPT], pieces[:6]
    assert "Assistant:" in pieces and " 307" in pieces
    assert tok.decode(ids) == text
    # A wording seen once is spelt in ordinary pieces; it still round-trips.
    once = tok.encode(ONCE, add_special_tokens=False)
    assert len(once) > 5 and tok.decode(once) == ONCE
    # Every number below 1,024 is still one token after the added ones.
    assert all(len(tok.encode(f" {n}", add_special_tokens=False)) == 1 for n in range(1024))


def test_frequent_phrases_are_the_repeated_prompts_most_frequent_first():
    texts = _texts() + ["<image>\nAnother wording."] * 12
    assert frequent_phrases(texts) == [PROMPT, "Another wording."]
    assert frequent_phrases(texts, min_count=13) == [PROMPT]
    # 1% of the texts is the floor on a large dataset: 8 repeats among 2,000 texts are not enough.
    assert frequent_phrases(["<image>\nrare"] * 8 + [f"answer {i}" for i in range(1992)]) == []
    assert frequent_phrases(["answer"] * 50) == []  # only human turns (they open with the image)
