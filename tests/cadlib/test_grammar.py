"""The prefix grammar accepts every text to_text writes and refuses what does not parse."""

from __future__ import annotations

import pytest

from cadlib import from_text, generate, normalize, parse_sequence, to_text
from cadlib.errors import CadlibError
from cadlib.grammar import Limits, TextPrefix, is_valid_text

H = "bits 8\n"


@pytest.mark.parametrize("i", range(16))
def test_every_written_text_is_accepted_at_every_prefix(i):
    name, data = generate(16, seed=4)[i]
    text = to_text(normalize(parse_sequence(data, name=name)))
    state = TextPrefix()
    for ch in text:
        state = state.feed(ch)
        assert state is not None
    assert state.can_end and is_valid_text(text)


@pytest.mark.parametrize("bad", [
    "sketch 1 2 3 4 5 6\n",                     # too few numbers
    "sketch 1 2 3 4 5 6 7 8\n",                 # too many
    "sketch 1 2 3 4 5 6 256\n",                 # out of the 8-bit range
    "sketch 1 2 3 4 5 6 07\n",                  # leading zero
    "loop\n",                                    # must start with a sketch
    "sketch 1 2 3 4 5 6 7\nline 1 2\n",          # a curve before a loop
    "sketch 1 2 3 4 5 6 7\nloop\nextrude new one 3\n",  # an empty loop
    "sketch 1 2 3 4 5 6 7\nloop\nline 1 2\nextrude new two 3\n",  # two needs two extents
    "sketch 1 2 3 4 5 6 7\nloop\nline 1 2\nextrude add one 3\n",  # no such operation
    "sketch  1 2 3 4 5 6 7\n",                  # double space
])
def test_refused_texts_do_not_parse_either(bad):
    assert not is_valid_text(H + bad)
    with pytest.raises(CadlibError):
        seq = from_text(H + bad)
        if not seq.extrudes:
            raise CadlibError("empty")


def test_an_unfinished_text_is_a_prefix_but_not_a_whole_sequence():
    state = TextPrefix().feed_text(H + "sketch 1 2 3 4 5 6 7\nloop\nline 1 2\narc 5 5 40\n")
    assert state is not None and not state.can_end
    assert state.feed_text("extrude new one 3\n").can_end


def test_limits_bound_the_length():
    block = "sketch 1 2 3 4 5 6 7\nloop\nline 1 2\narc 5 5 40\nextrude new one 3\n"
    assert is_valid_text(H + block * 2, Limits(max_extrudes=2))
    assert not is_valid_text(H + block * 3, Limits(max_extrudes=2))
    loop = "loop\n" + "line 1 2\n" * 3
    assert TextPrefix(Limits(max_curves=2)).feed_text(H + "sketch 1 2 3 4 5 6 7\n" + loop) is None
    assert TextPrefix(Limits(bits=4)).feed_text("bits 4\nsketch 1 2 3 4 5 6 16") is None


def test_the_header_comes_first_and_names_the_limits_bits():
    block = "sketch 1 2 3 4 5 6 7\nloop\nline 1 2\narc 5 5 40\nextrude new one 511\n"
    assert is_valid_text(H + block)  # version-2 extents reach 2^(bits+1) - 1
    assert from_text(H + block).extrudes
    assert not is_valid_text(block)  # no header
    assert not is_valid_text("bits 16\n" + block)  # not the limits' grid
    assert not is_valid_text(H + block.replace("511", "512"))
    assert is_valid_text(block.replace("511", "255"), Limits(header=False))  # the old form, on request


@pytest.mark.parametrize("bad", [
    "sketch 1 2 3 4 5 6 7\nloop\ncircle 5 5 3\nline 1 2\n",            # a circle is a loop on its own
    "sketch 1 2 3 4 5 6 7\nloop\nline 1 2\nextrude new one 3\n",        # one line is no loop
    "sketch 1 2 3 4 5 6 7\nloop\nline 1 2\nline 5 5\nextrude new one 3\n",  # two lines are no loop
    "sketch 1 2 3 4 5 6 7\nloop\nline 1 2\nline 1 2\n",                 # zero length
    "sketch 1 2 3 4 5 6 7\nloop\nline 1 2\narc 5 5 40\nline 1 2\nextrude new one 3\n",  # first curve: zero length
    "sketch 1 2 3 4 5 6 7\nloop\ncircle 5 5 0\n",                        # radius 0
    "sketch 1 2 3 4 5 6 7\nloop\nline 255 2\n",                          # past the sketch grid (0..254)
    "sketch 1 2 3 4 5 6 7\nloop\nline 1 2\narc 5 5 128\n",               # a zero-turn arc
    "sketch 1 2 3 4 5 6 0\n",                                            # scale 0
])
def test_loop_and_range_rules_match_the_parser(bad):
    state = TextPrefix().feed_text(H + bad)
    assert state is None or not state.can_end
    with pytest.raises(CadlibError):
        from_text(H + bad + ("" if bad.rstrip().split("\n")[-1].startswith("extrude") else "extrude new one 3\n"))


def test_random_constrained_walks_always_parse():
    """Random walks that only take characters the grammar allows, ending where it allows: every
    text they produce parses."""
    import random

    alphabet = "abcdeghijklmnoprstuwxyz0123456789 \n"
    rng = random.Random(0)
    for _ in range(200):
        state, text = TextPrefix(Limits(max_extrudes=2, max_commands=20)), ""
        for _ in range(2000):
            if state.can_end and rng.random() < 0.3:
                break
            options = [(c, nxt) for c in alphabet if (nxt := state.feed(c)) is not None]
            assert options or state.can_end, f"dead end after {text!r}"
            if not options:
                break
            c, state = rng.choice(options)
            text += c
        assert state.can_end, text
        assert from_text(text).extrudes


def test_the_first_extrude_makes_a_new_body():
    head = "bits 8\nsketch 128 128 128 32 38 109 192\nloop\ncircle 127 127 127\nextrude "
    state = TextPrefix(Limits()).feed_text(head)
    assert state.feed("n") is not None and all(state.feed(c) is None for c in "jci")
    second = head + "new one 20\nsketch 128 128 128 32 38 109 192\nloop\ncircle 127 127 60\nextrude "
    assert all(TextPrefix(Limits()).feed_text(second).feed(c) is not None for c in "njci")
    assert not is_valid_text(head + "cut one 20\n")
