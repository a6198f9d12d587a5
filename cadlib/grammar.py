"""The sequence text's grammar as an incremental prefix checker, for constrained decoding: feed
characters one at a time; a character that could not continue any valid sequence text is refused.

It accepts what `cadlib.text.from_text` accepts, in the spelling `to_text` writes (see
docs/sequence-format.md): the `bits B` header (B = the limits' bits), one command per line, single spaces, integers in each argument's range
without leading zeros, the right number of arguments, the loop rules (a circle is a loop on its
own; a loop of lines and arcs has at least 2 curves, not 2 lines, and no curve of zero length),
DeepCAD's limits (extrudes, commands, loops per sketch, curves per loop), and a first extrude that
makes a new body (there is nothing yet to join, cut or intersect). States are immutable,
so a decoder can branch from one cheaply.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from cadlib.quantize import CurveKind

_OPS = ("new", "join", "cut", "intersect")
_EXTENTS = ("one", "sym", "two")
_ARITY = {"bits": 1, "sketch": 7, "loop": 0, "line": 2, "arc": 3, "circle": 3}
_CURVES = ("line", "arc", "circle")
_LINE = {"bits": 7, "sketch": 21, "loop": 5, "line": 9, "arc": 10, "circle": 13, "extrude": 18}
"""The shortest line of each command, newline included (single-digit numbers, `extrude new one 1`)."""
_SKETCH_FULL = _LINE["sketch"] + _LINE["loop"] + _LINE["circle"] + _LINE["extrude"]


@dataclass(frozen=True, slots=True)
class Limits:
    bits: int = 8
    max_extrudes: int = 10
    max_commands: int = 60
    max_loops: int = 6
    max_curves: int = 15
    header: bool = True
    """The text starts with `bits B` (version 2, extents 0..2^(B+1)-1); False: old headerless text."""

    @property
    def max_value(self) -> int:
        return 2**self.bits - 1

    @property
    def unit_max(self) -> int:
        """The largest sketch coordinate (`cadlib.quantize.Grid.unit_max`)."""
        return 2**self.bits - 2

    def int_range(self, keyword: str, index: int) -> tuple[int, int, int | None]:
        """(low, high, excluded value) of argument `index` of a command."""
        top, unit = self.max_value, self.unit_max
        if keyword == "bits":
            return (self.bits, self.bits, None)
        if keyword == "sketch":
            return (1, top, None) if index == 6 else (0, top, None)
        if keyword == "arc" and index == 2:
            return (1, top, 2 ** (self.bits - 1))  # a sweep of half the range is a zero turn
        if keyword == "circle" and index == 2:
            return (1, unit, None)
        if keyword in _CURVES:
            return (0, unit, None)
        if self.header:  # extrude extents, signed: 2^bits is zero depth, which builds nothing
            return (0, 2 * top + 1, 2**self.bits if index == 3 else None)
        return (0, top, None)


@dataclass(frozen=True, slots=True)
class IntRule:
    """The numbers an argument may take: [lo, hi] without `banned`, written without leading zeros."""

    lo: int
    hi: int
    banned: frozenset[int]

    def takes(self, word: str, complete: bool) -> bool:
        """Whether `word` is such a number (`complete`) or the start of one."""
        if not word.isdigit() or (len(word) > 1 and word[0] == "0"):
            return False
        if complete:
            v = int(word)
            return self.lo <= v <= self.hi and v not in self.banned
        return _completes(word, self.lo, self.hi, self.banned)


@dataclass(frozen=True, slots=True)
class TextPrefix:
    """Where a prefix of sequence text stands. `after` is the last complete line's keyword ("" at
    the start); `words` the complete words of the current line; `word` the partial word."""

    limits: Limits = Limits()
    after: str = ""
    words: tuple[str, ...] = ()
    word: str = ""
    extrudes: int = 0
    commands: int = 0
    loops: int = 0  # loops in the current sketch
    curves: int = 0  # curves in the current loop
    first_kind: str = ""  # the current loop's first curve
    all_lines: bool = True
    first_end: tuple[int, int] | None = None
    prev_end: tuple[int, int] | None = None

    def _loop_closable(self) -> bool:
        if self.first_kind == "circle":
            return True
        if self.curves < 2 or (self.curves == 2 and self.all_lines):
            return False
        return self.first_end != self.prev_end  # else the first curve has zero length

    def _last_chance(self) -> bool:
        """True when the curve being written must close its loop (no budget for one more after it)."""
        lim = self.limits
        return not (self.curves + 2 <= lim.max_curves and self.commands + 3 <= lim.max_commands)

    def _allowed_keywords(self) -> tuple[str, ...]:
        """The commands that may start the next line, each leaving a way to finish the text within
        the limits (so a constrained decoder can never paint itself into a corner)."""
        lim = self.limits
        if self.after == "" and lim.header:
            return ("bits",)
        if self.after in ("", "extrude", "bits"):
            ok = self.extrudes < lim.max_extrudes and self.commands + 4 <= lim.max_commands  # sketch loop circle extrude
            return ("sketch",) if ok else ()
        if self.after == "sketch":
            return ("loop",)
        if self.after == "loop":
            first = ["circle"] if self.commands + 2 <= lim.max_commands else []
            if self.commands + 3 <= lim.max_commands and lim.max_curves >= 2:
                first += ["line", "arc"]
            return tuple(first)
        # after a curve
        out: list[str] = []
        closable = self._loop_closable()
        if self.first_kind != "circle" and self.curves < lim.max_curves and self.commands + 2 <= lim.max_commands:
            out += ["arc"] if (self._last_chance() and self.curves == 1 and self.all_lines) else ["line", "arc"]
        if closable:
            if self.loops < lim.max_loops and self.commands + 3 <= lim.max_commands:
                out.append("loop")
            out.append("extrude")
        return tuple(out)

    def _slot(self) -> tuple[str, ...] | str | None:
        """What the next word of the current line may be: a tuple of words, "int", or None when
        the line is complete."""
        if not self.words:
            return self._allowed_keywords()
        kw = self.words[0]
        if kw == "extrude":
            n = len(self.words)
            if n == 1:
                return ("new",) if self.extrudes == 0 else _OPS  # the first extrude has nothing to join or cut
            if n == 2:
                return _EXTENTS
            want = 2 if self.words[2] == "two" else 1
            return "int" if n - 3 < want else None
        return "int" if len(self.words) - 1 < _ARITY[kw] else None

    def int_rule(self) -> IntRule | None:
        """The rule of the number being written (its range and banned values), or None when the
        next word is not a number."""
        if self._slot() != "int":
            return None
        kw, index = self.words[0], len(self.words) - 1
        lo, hi, excluded = self.limits.int_range(kw, index)
        banned = set() if excluded is None else {excluded}
        if kw in (CurveKind.LINE.value, CurveKind.ARC.value) and index == 1:
            x = int(self.words[1])
            if self.prev_end is not None and self.prev_end[0] == x:
                banned.add(self.prev_end[1])  # would end where it starts
            if self.curves and self._last_chance() and self.first_end is not None and self.first_end[0] == x:
                banned.add(self.first_end[1])  # the loop must close with this curve, and could not
        return IntRule(lo, hi, frozenset(banned))

    def _word_ok(self, word: str, complete: bool) -> bool:
        slot = self._slot()
        if slot is None:
            return False
        if slot == "int":
            if not word.isdigit():
                return False
            rule = self.int_rule()
            return rule is not None and rule.takes(word, complete)
        return any(w == word if complete else w.startswith(word) for w in slot)

    def feed(self, ch: str) -> TextPrefix | None:
        """The state after `ch`, or None when no valid text continues this way."""
        if ch.isalnum():
            word = self.word + ch
            return replace(self, word=word) if self._word_ok(word, complete=False) else None
        if not self.word or not self._word_ok(self.word, complete=True):
            return None
        line = self.words + (self.word,)
        if ch == " ":
            nxt = replace(self, words=line, word="")
            return nxt if nxt._slot() is not None else None
        if ch == "\n":
            done = replace(self, words=line, word="")
            if done._slot() is not None:
                return None
            return _close_line(done, line)
        return None

    def feed_text(self, text: str) -> TextPrefix | None:
        state: TextPrefix | None = self
        for ch in text:
            state = state.feed(ch) if state is not None else None
            if state is None:
                return None
        return state

    def min_to_finish(self) -> int:
        """The length in characters of a shortest way to finish the text from here (single-digit
        numbers, the shortest keywords, a loop closed with one arc, one extrude), such that each
        character along it lowers the value by one. A decoder with a token budget keeps this
        within the tokens it has left (a token is at least one character), so the answer is
        always whole when the budget runs out."""
        if self.can_end:
            return 0
        if not self.words and not self.word:
            return self._after_cost()
        if not self.words:  # a keyword being typed: the cheapest allowed one it can still become
            return min(_LINE[k] - len(self.word) + self._post(k) for k in self._allowed_keywords()
                       if k.startswith(self.word))
        kw = self.words[0]
        return self._rest_of_line(kw) + self._post(kw)

    def _rest_of_line(self, kw: str) -> int:
        """Characters left in the current line (its newline included) on the shortest path."""
        slot = self._slot()
        n = 0
        if self.word:  # finish the partial word
            word = self.word
            if isinstance(slot, tuple):
                word = min((w for w in slot if w.startswith(self.word)), key=len)
            elif not self._word_ok(self.word, complete=True):
                word += "0"
            n += len(word) - len(self.word)
            after = replace(self, words=self.words + (word,), word="")
        else:
            after = self
            n -= 1  # the state follows a space: the next word's separator is typed already
        if kw == "extrude":
            typed = len(after.words) - 1  # op, extent type, values
            kind = after.words[2] if len(after.words) > 2 else "one"
            need = [4, 4] + [2] * (2 if kind == "two" else 1)
            n += sum(need[typed:])
        else:
            n += 2 * (_ARITY[kw] - (len(after.words) - 1))
        return n + 1

    def _post(self, kw: str) -> int:
        """The shortest finish once the current line (keyword `kw`) is complete."""
        if kw == "bits":
            return _SKETCH_FULL
        if kw == "sketch":
            return _LINE["loop"] + _LINE["circle"] + _LINE["extrude"]
        if kw == "loop":
            return _LINE["circle"] + _LINE["extrude"]
        if kw == "extrude":
            return 0
        return _LINE["extrude"] + (0 if self._closes_with(kw) else _LINE["arc"])

    def _closes_with(self, kw: str) -> bool:
        """Whether the loop can be closed once the curve `kw` being written is complete."""
        if kw == "circle" or self.first_kind == "circle":
            return True
        curves = self.curves + 1
        if curves < 2 or (curves == 2 and self.all_lines and kw == "line"):
            return False
        if len(self.words) >= 3 and self.first_end is not None:  # its end is known
            return (int(self.words[1]), int(self.words[2])) != self.first_end
        return True  # its end can still avoid the loop's start

    def _after_cost(self) -> int:
        """The shortest finish at the start of a line."""
        if self.after == "" and self.limits.header:
            return 6 + len(str(self.limits.bits)) + _SKETCH_FULL
        if self.after in ("", "bits"):
            return _SKETCH_FULL
        if self.after == "extrude":
            return 0 if self.extrudes else _SKETCH_FULL
        if self.after in ("sketch", "loop"):
            return self._post(self.after)
        return _LINE["extrude"] + (0 if self._loop_closable() else _LINE["arc"])

    @property
    def can_end(self) -> bool:
        """True when the text so far is a whole sequence (ends with an extrude line)."""
        return self.after == "extrude" and not self.words and not self.word


def _completes(word: str, lo: int, hi: int, banned: frozenset[int]) -> bool:
    """Whether some integer in [lo, hi] and not in `banned`, written without leading zeros,
    starts with the digits `word` (a partial word that no digit can save is refused now, not
    after the decoder is stuck with it)."""
    if word == "0":
        return lo == 0 and 0 not in banned
    v, scale = int(word), 1
    while v * scale <= hi:
        first, last = max(v * scale, lo), min((v + 1) * scale - 1, hi)
        if first <= last and (last - first + 1) > sum(1 for b in banned if first <= b <= last):
            return True
        scale *= 10
    return False


def _close_line(s: TextPrefix, line: tuple[str, ...]) -> TextPrefix:
    kw = line[0]
    if kw == "bits":
        return replace(s, after=kw, words=())
    if kw == "sketch":
        return replace(s, after=kw, words=(), commands=s.commands + 1, loops=0, curves=0)
    if kw == "loop":
        return replace(s, after=kw, words=(), commands=s.commands + 1, loops=s.loops + 1, curves=0, first_kind="",
                       all_lines=True, first_end=None, prev_end=None)
    if kw == "extrude":
        return replace(s, after=kw, words=(), commands=s.commands + 1, extrudes=s.extrudes + 1)
    end = (int(line[1]), int(line[2]))
    return replace(s, after=kw, words=(), commands=s.commands + 1, curves=s.curves + 1,
                   first_kind=s.first_kind or kw, all_lines=s.all_lines and kw == "line",
                   first_end=s.first_end or end, prev_end=end)


def is_valid_text(text: str, limits: Limits | None = None) -> bool:
    """True when `text` is a whole sequence text within the limits."""
    state = TextPrefix(limits or Limits()).feed_text(text)
    return state is not None and state.can_end
